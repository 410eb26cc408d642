"""The task's log budget and the log cursors saved on pods: pure rules, no cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.operators.armada import ArmadaOperator
from airflow_k8s_async.operators.job import KubernetesJobOperator, KubernetesLegacyJobOperator
from airflow_k8s_async.operators.pod import KubernetesPodOperator
from airflow_k8s_async.triggers.logbudget import DEFAULT_MAX_LOG_BYTES, LogBudget, log_budget
from airflow_k8s_async.triggers.logcursor import CURSOR_ANNOTATION, saved_cursors
from airflow_k8s_async.triggers.logstream import LogStreams


def test_the_budget_takes_lines_while_they_fit_then_nothing() -> None:
    budget = LogBudget(limit=10)
    assert budget.take("abcd") == 5  # with its newline
    assert budget.take("é") == 3  # bytes, not characters
    assert budget.take("abc") is None  # 12 > 10
    assert budget.spent and budget.take("") is None  # nothing after, however small
    assert LogBudget(limit=0).take("x" * 10_000_000) == 10_000_001  # 0: no budget
    earlier = LogBudget(limit=10)
    earlier.add_earlier(10)
    assert earlier.spent  # spent by an earlier trigger


def test_the_budget_defaults_to_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert log_budget(None) == DEFAULT_MAX_LOG_BYTES
    monkeypatch.setenv("AIRFLOW__KUBERNETES_ASYNC__MAX_LOG_BYTES", "1234")
    assert log_budget(None) == 1234
    assert log_budget(0) == 0 and log_budget(5) == 5


@pytest.mark.parametrize("value", [-1, "10MB", 1.5, True])
@pytest.mark.parametrize("make", ["pod", "job", "legacy", "armada"])
def test_a_wrong_budget_is_refused_at_parse_time_naming_the_keyword(make: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match="max_log_bytes="):
        if make == "pod":
            KubernetesPodOperator(task_id="t", image="x:1", max_log_bytes=value)
        elif make == "job":
            KubernetesJobOperator(task_id="t", image="x:1", max_log_bytes=value)
        elif make == "legacy":
            KubernetesLegacyJobOperator(task_id="t", image="x:1", max_log_bytes=value)
        else:
            from airflow_k8s_async.armada.model import GrpcChannelArgs

            ArmadaOperator(
                task_id="t",
                name="n",
                channel_args=GrpcChannelArgs(target="127.0.0.1:1"),
                armada_queue="q",
                job_request={},
                max_log_bytes=value,
            )


def _pod(saved: dict[str, Any] | None) -> dict[str, Any]:
    annotations = {} if saved is None else {CURSOR_ANNOTATION: json.dumps(saved)}
    return {"metadata": {"name": "p", "annotations": annotations}, "status": {"phase": "Pending"}}


class _Log:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, fmt: str, *args: object) -> None:
        self.warnings.append(fmt % args)


@pytest.mark.parametrize(
    "saved",
    [
        {"c": {"base": "x"}},
        {"c": {"base": [1, 2]}},
        {"c": {"base": [10**13, 0, 1]}},  # past year 9999: could not be written back as a time
        {"c": {"base": [1, 10**9, 1]}},
        {"c": {"base": [1, 0, -1]}},
        {"c": {"base": [1.5, 0, 1]}},
        {"c": {}, "shown": "lots"},
        {"c": {}, "shown": -3},
        {"c": {}, "final": "yes"},
        {"c": {"base": [1, 0, 1]}, "o": "another try"},
        ["not", "a", "dict"],
    ],
)
def test_saved_cursors_that_are_not_this_trys_or_not_well_formed_are_ignored(saved: Any) -> None:
    """Edited by hand, copied from a live pod into a template, or saved by another try (a retry
    that adopted the pod shows its own whole log): as if nothing were saved; no task fails."""
    assert saved_cursors(_pod(saved), owner=None) == ({}, {})
    log = _Log()
    streams = LogStreams(client=None, namespace="ns", log=log, tag=lambda p, c: None)  # type: ignore[arg-type]
    streams.resume("p", _pod(saved))
    assert streams.positions() == {} and log.warnings == []


def test_no_saved_value_and_not_json_are_nothing_saved() -> None:
    assert saved_cursors(_pod(None), owner=None) == ({}, {})
    bad = {"metadata": {"annotations": {CURSOR_ANNOTATION: "{not json"}}}
    assert saved_cursors(bad, owner=None) == ({}, {})
    try_a = _pod({"c": {"base": [5, 0, 1]}, "o": "a"})
    assert saved_cursors(try_a, owner="a")[0]["base"].same == 1


def test_a_trigger_resumes_at_the_further_of_its_kwargs_and_the_pod() -> None:
    log = _Log()
    streams = LogStreams(
        client=None,  # type: ignore[arg-type]  # no request is made here
        namespace="ns",
        log=log,
        tag=lambda p, c: None,
        positions={"p/base": [100, 5, 1], "p/init": [300, 0, 1]},
    )
    streams.resume("p", _pod({"c": {"base": [200, 0, 2], "init": [250, 0, 1]}, "shown": 7, "final": True}))
    assert streams.positions() == {"p/base": [200, 0, 2], "p/init": [300, 0, 1]}
    assert log.warnings == []  # saved as the streams closed: an exact resume


def test_a_trigger_behind_the_pods_saved_place_does_not_move_it_back() -> None:
    """A triggerer that stalled while another took over comes back: its save would move the
    cursor back and make a later restart repeat lines; it is skipped."""
    streams = LogStreams(client=None, namespace="ns", log=_Log(), tag=lambda p, c: None)  # type: ignore[arg-type]
    pod = _pod({"c": {"base": [100, 0, 1]}, "shown": 1, "final": False})
    streams.resume("p", pod)
    assert streams._checkpoints.value("p", final=True, claim=False, current=pod) is not None  # saves
    ahead = _pod({"c": {"base": [500, 0, 1]}, "shown": 9, "final": False})  # another saved further
    assert streams._checkpoints.value("p", final=True, claim=False, current=ahead) is None


def test_a_resume_after_a_kill_says_which_lines_may_repeat() -> None:
    log = _Log()
    streams = LogStreams(client=None, namespace="ns", log=log, tag=lambda p, c: None)  # type: ignore[arg-type]
    streams.resume("p", _pod({"c": {"base": [1_800_000_000, 0, 1]}, "shown": 1, "final": False}))
    (warning,) = log.warnings
    assert "may be shown twice" in warning and "2027-01-15T08:00:00Z" in warning


async def test_a_pod_deleted_before_its_stream_started_is_said_without_a_place() -> None:
    """The watch reports the pod deleted while its stream still waits to start (it reads the pod
    for a saved place first): the task log says no line was shown; nothing raises."""
    log = _Log()
    streams = LogStreams(client=None, namespace="ns", log=log, tag=lambda p, c: None)  # type: ignore[arg-type]
    running = {
        "metadata": {"name": "p"},
        "status": {"phase": "Running", "containerStatuses": [{"name": "base", "state": {"running": {}}}]},
    }
    streams.update(running, ["base"])
    streams.pod_deleted("p")
    (warning,) = log.warnings
    assert "The log of p[base] was not read to its end" in warning and "before any line" in warning
    await streams.close()
