"""Smoke of the benchmark harness (bench/): our contender only, small N, a schedule of seconds.

It proves the harness end to end on the real API server (bench kubelet process, contender
process, /metrics) and that our triggers' request count does not grow with N. Performance
figures are the benchmark's business, not asserted here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from bench import run as bench_run

SIZES = (10, 50)


@pytest.fixture(scope="module")
def results(kube_api: client.ApiClient) -> dict[tuple[str, int], dict[str, Any]]:
    path = bench_run.main(
        [
            "--sizes", ",".join(map(str, SIZES)),
            "--kinds", "pod,job",
            "--contenders", "ours",
            "--start", "0.5,1.5",
            "--run", "2,4",
            "--failure-rate", "0.2",
            "--grace", "60",
            "--allow-node",  # CI's cluster has a node; bench objects are never scheduled on it
        ]
    )  # fmt: skip
    runs = json.loads(path.read_text())["runs"]
    return {(r["kind"], r["n"]): r for r in runs}


@pytest.mark.parametrize("kind", ["pod", "job"])
@pytest.mark.parametrize("count", SIZES)
def test_every_outcome_is_right(
    results: dict[tuple[str, int], dict[str, Any]], kind: str, count: int
) -> None:
    run = results[(kind, count)]
    assert run["objects"] == count
    assert run["missing"] == 0 and run["timed_out"] == 0
    assert run["correct"] == count, f"wrong outcomes: {run['wrong']}"
    assert run["fired_before_patch"] == 0  # an event before the terminal patch would be a wrong read


@pytest.mark.parametrize("kind", ["pod", "job"])
def test_requests_do_not_grow_with_n(results: dict[tuple[str, int], dict[str, Any]], kind: str) -> None:
    small, large = (results[(kind, n)]["requests"] for n in SIZES)
    both = [{**r["client_startup"], **r["client_steady"]} for r in (small, large)]
    assert both[0] == both[1], f"requests differ between N={SIZES[0]} and N={SIZES[1]}: {both}"
    watched = ["pods"] if kind == "pod" else ["jobs", "pods"]  # the Job trigger also follows its pods
    assert both[1] == {f"{verb} {res}": 1 for res in watched for verb in ("LIST", "WATCH")}


@pytest.mark.parametrize("kind", ["pod", "job"])
def test_server_saw_the_kubelets_patches(results: dict[tuple[str, int], dict[str, Any]], kind: str) -> None:
    """The /metrics path works: the API server counted at least the bench kubelet's status patches.

    A Job's pod moves with it (Running, then the end) and ends first, as under a real controller."""
    run = results[(kind, SIZES[1])]
    resources = ["pods/status"] if kind == "pod" else ["pods/status", "jobs/status"]
    played = run["requests"]["kubelet_play"]
    assert played == {f"PATCH {resource}": 2 * SIZES[1] for resource in resources}
    for resource in resources:
        # what is left after taking the kubelet's patches out of the delta: negative if the server missed some
        assert run["requests"]["server_steady"].get(f"PATCH {resource}", 0) >= 0


def test_namespaces_are_gone(results: dict[tuple[str, int], dict[str, Any]], core: client.CoreV1Api) -> None:
    names = {item.metadata.name for item in core.list_namespace().items}
    assert not names & {r["namespace"] for r in results.values()}
