"""Smoke of the Armada benchmark harness (bench/armada_*.py): our contender only, a schedule of seconds.

It proves the harness end to end (the bench's Armada server process, the contender process with
its worker pool, the server's counters) and that our calls do not grow with N: one job-set
stream, no GetJobStatus, one channel, whatever the number of jobs. Performance figures are the
benchmark's business, not asserted here. No cluster needed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench import armada_run
from bench.schedule import Timing, make_schedule

SIZES = (10, 50)
TIMING = Timing(start_min=0.5, start_max=1.5, run_min=2, run_max=4, failure_rate=0.2)
SEED = 7


@pytest.fixture(scope="module")
def results() -> dict[int, dict[str, Any]]:
    path = armada_run.main(
        [
            "--sizes", ",".join(map(str, SIZES)),
            "--contenders", "ours",
            "--start", f"{TIMING.start_min},{TIMING.start_max}",
            "--run", f"{TIMING.run_min},{TIMING.run_max}",
            "--failure-rate", str(TIMING.failure_rate),
            "--seed", str(SEED),
            "--grace", "60",
            "--workers", "4",
        ]
    )  # fmt: skip
    runs = json.loads(path.read_text())["runs"]
    return {r["n"]: r for r in runs}


def _failures(count: int) -> int:
    return sum(step.fails for step in make_schedule(count=count, timing=TIMING, seed=SEED))


@pytest.mark.parametrize("count", SIZES)
def test_every_outcome_is_right(results: dict[int, dict[str, Any]], count: int) -> None:
    run = results[count]
    assert run["objects"] == count
    assert run["missing"] == 0 and run["timed_out"] == 0
    assert run["correct"] == count, f"wrong outcomes (state or Armada's error text): {run['wrong']}"
    assert run["decided_before_end"] == 0  # an outcome before the job's end event would be a wrong read
    assert 0 < _failures(count) < count  # the schedule has both outcomes to get right


@pytest.mark.parametrize("count", SIZES)
def test_one_stream_one_channel_no_reentries(results: dict[int, dict[str, Any]], count: int) -> None:
    run = results[count]
    assert run["streams"] == {"opened": 1, "peak_open": 1}
    assert run["channels"] == {"startup": 1, "steady": 0}
    assert run["worker"] == {"first_runs": 0, "resumes": count, "reentries_while_active": 0}


def test_calls_do_not_grow_with_n(results: dict[int, dict[str, Any]]) -> None:
    seen = []
    for count in SIZES:
        calls = results[count]["calls"]
        server = {**calls["server_startup"], **calls["server_steady"]}
        client = {**calls["client_startup"], **calls["client_steady"]}
        assert client == server  # the contender's own count and the server's agree
        # GetJobErrors once per failed job (Armada's reason for the task's failure); nothing else per job
        assert server.pop("GetJobErrors", 0) == _failures(count)
        seen.append(server)
    assert seen[0] == seen[1] == {"GetJobSetEvents": 1}, seen
