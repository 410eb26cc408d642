"""KubernetesJobTrigger's rules on Job and pod bodies, incl. indexed Jobs (Kubernetes >= 1.21).

The local cluster is 1.20, which has no indexed Jobs, so these bodies are hand-written after the
1.21+ API (completionMode Indexed, the job-completion-index annotation, completedIndexes); the
end-to-end case runs where such a cluster exists (tests/e2e, marked kubernetes_min_version).
"""

from __future__ import annotations

import asyncio
from typing import Any

from airflow_k8s_async._kube.states import job_state
from airflow_k8s_async._kube.watch import WatchEvent
from airflow_k8s_async.triggers.job import KubernetesJobTrigger
from airflow_k8s_async.triggers.logstream import DRAIN_SECONDS

UID = "0b5c8a5e-1111-4222-8333-444455556666"


def indexed_job(status: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "idx", "namespace": "ns", "uid": UID},
        "spec": {"completionMode": "Indexed", "completions": 3, "parallelism": 3, "backoffLimit": 0},
        "status": status,
    }


def indexed_pod(index: int, *, exit_code: int | None, started: str) -> dict[str, Any]:
    state: dict[str, Any] = {"running": {"startedAt": started}}
    phase = "Running"
    if exit_code is not None:
        reason = "Completed" if exit_code == 0 else "Error"
        state = {"terminated": {"exitCode": exit_code, "reason": reason, "startedAt": started}}
        phase = "Succeeded" if exit_code == 0 else "Failed"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"idx-{index}-abcde",
            "namespace": "ns",
            "uid": f"pod-{index}",
            "labels": {"controller-uid": UID, "job-name": "idx"},
            "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
        },
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
        "status": {
            "phase": phase,
            "startTime": started,
            "containerStatuses": [{"name": "main", "state": state}],
        },
    }


def trigger() -> KubernetesJobTrigger:
    return KubernetesJobTrigger(job_name="idx", job_namespace="ns", job_uid=UID, get_logs=False)


def test_failed_indexed_job_names_the_failing_index_pod_and_its_exit_code() -> None:
    trig = trigger()
    pods = [
        indexed_pod(0, exit_code=0, started="2026-01-01T00:00:01Z"),
        indexed_pod(1, exit_code=4, started="2026-01-01T00:00:02Z"),
        indexed_pod(2, exit_code=0, started="2026-01-01T00:00:03Z"),
    ]
    for pod in pods:
        assert trig._on_pod(WatchEvent("MODIFIED", pod)) is None
    job = indexed_job(
        {
            "failed": 1,
            "succeeded": 2,
            "completedIndexes": "0,2",
            "conditions": [
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "limit"}
            ],
        }
    )
    event = trig._finish(job_state(job))
    assert event["status"] == "failed" and event["reason"] == "BackoffLimitExceeded"
    assert (event["pod"], event["exit_code"], event["container"]) == ("idx-1-abcde", 4, "main")


def test_complete_indexed_job_succeeds() -> None:
    trig = trigger()
    for index in range(3):
        trig._on_pod(WatchEvent("MODIFIED", indexed_pod(index, exit_code=0, started="2026-01-01T00:00:01Z")))
    job = indexed_job(
        {"succeeded": 3, "completedIndexes": "0-2", "conditions": [{"type": "Complete", "status": "True"}]}
    )
    assert trig._finish(job_state(job))["status"] == "success"


def test_a_pod_that_cannot_start_fails_the_wait_at_once() -> None:
    pod = indexed_pod(0, exit_code=None, started="2026-01-01T00:00:01Z")
    pod["status"] = {
        "phase": "Pending",
        "containerStatuses": [
            {"name": "main", "state": {"waiting": {"reason": "ErrImageNeverPull", "message": "not present"}}}
        ],
    }
    event = trigger()._on_pod(WatchEvent("MODIFIED", pod))
    assert event is not None and event["reason"] == "ErrImageNeverPull" and event["pod"] == "idx-0-abcde"


async def test_pods_that_ended_before_the_job_event_are_still_taken_in() -> None:
    """The Job's end can arrive before its pods' events (two watches): the trigger waits for them."""
    trig = trigger()
    trig._job = indexed_job({"succeeded": 2, "conditions": [{"type": "Complete", "status": "True"}]})
    queue: asyncio.Queue[tuple[str, WatchEvent]] = asyncio.Queue()
    for index in (0, 1):
        pod = indexed_pod(index, exit_code=0, started="2026-01-01T00:00:01Z")
        queue.put_nowait(("pod", WatchEvent("MODIFIED", pod)))
    await asyncio.wait_for(trig._catch_up_pods(queue), 5)
    assert sorted(trig._pods) == ["idx-0-abcde", "idx-1-abcde"]
    assert queue.empty()


async def test_pods_never_seen_are_not_waited_for_long() -> None:
    """Pods deleted before the trigger started never arrive: the wait is short, not DRAIN_SECONDS."""
    trig = trigger()
    trig._job = indexed_job({"failed": 1, "conditions": [{"type": "Failed", "status": "True"}]})
    queue: asyncio.Queue[tuple[str, WatchEvent]] = asyncio.Queue()
    assert DRAIN_SECONDS > 5
    await asyncio.wait_for(trig._catch_up_pods(queue), 5)
    assert trig._pods == {}
