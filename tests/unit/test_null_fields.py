"""Explicit nulls from the API server: every reader of ``status.conditions`` (and of the other lists
and mappings it reads) takes ``null`` as "none yet", never as a crash.

The real API server sends ``"status": {"conditions": null}`` for a CRD right after its creation;
a Job, a pod or a custom object can carry the same before a controller writes its status.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from airflow_k8s_async._kube.kinds import evaluate, rule_from_dict
from airflow_k8s_async._kube.mapping import as_list, as_map
from airflow_k8s_async._kube.states import Phase, generic_state, job_state, object_state, pod_state
from airflow_k8s_async.triggers.pod import _scheduled_at

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"


def _example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _with_null_conditions(kind: str, api_version: str, **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "x", "namespace": "ns", "uid": "u", "labels": None, "annotations": None},
        "spec": {"containers": [{"name": "base", "env": None}], "initContainers": None},
        "status": {"conditions": None, **status},
    }


def test_helpers_take_null_and_wrong_types_as_empty() -> None:
    assert as_map(None) == {} and as_map([1]) == {} and as_map("x") == {}
    body = {"a": 1}
    assert as_map(body) is body  # the same object: callers that change it change the body
    assert as_list(None) == [] and as_list({"a": 1}) == [] and as_list("abc") == []
    item = {"type": "Ready"}
    assert as_list([item, None, 3, "x"]) == [item] and as_list([item])[0] is item


def test_the_example_crd_reader_takes_null_conditions() -> None:
    established = _example("example_custom_kind").established
    crd = {"status": {"conditions": None}}
    assert established(crd) is False
    assert established({"status": None}) is False
    assert established({}) is False
    ready = {"status": {"conditions": [{"type": "Established", "status": "True"}]}}
    assert established(ready) is True


def test_pod_state_with_null_conditions_and_statuses() -> None:
    pod = _with_null_conditions(
        "Pod", "v1", phase="Pending", containerStatuses=None, initContainerStatuses=None
    )
    state = pod_state(pod)
    assert state.phase == Phase.PENDING and not state.terminal
    assert _scheduled_at(pod) is None


def test_job_state_with_null_conditions() -> None:
    job = _with_null_conditions("Job", "batch/v1", active=None)
    assert job_state(job).phase == Phase.PENDING
    assert object_state(job).phase == Phase.PENDING


def test_custom_kind_with_null_conditions() -> None:
    obj = _with_null_conditions("Sleeper", "example.com/v1", phase=None)
    assert not generic_state(obj).terminal
    rule = rule_from_dict({"condition": {"type": "Ready"}, "failure_condition": {"type": "Failed"}})
    assert not evaluate(rule, obj).terminal
    done = {**obj, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert evaluate(rule, done).phase == Phase.SUCCEEDED


@pytest.mark.parametrize("status", [None, {"conditions": None}, {"conditions": [None, "x"]}])
def test_null_status_shapes(status: Any) -> None:
    for kind, version in (("Pod", "v1"), ("Job", "batch/v1"), ("Sleeper", "example.com/v1")):
        body = {"apiVersion": version, "kind": kind, "metadata": {"name": "x"}, "status": status}
        assert not object_state(body).terminal
