"""KubernetesJobTrigger's rules on Job and pod bodies, incl. indexed Jobs (Kubernetes >= 1.21).

The local cluster is 1.20, which has no indexed Jobs, so these bodies are hand-written after the
1.21+ API (completionMode Indexed, the job-completion-index annotation, completedIndexes); the
end-to-end case runs where such a cluster exists (tests/e2e, marked kubernetes_min_version).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import kmock

from airflow_k8s_async._kube.client import close_clients, get_client
from airflow_k8s_async._kube.cluster import ClusterConfig
from airflow_k8s_async._kube.hub import WatchHub
from airflow_k8s_async._kube.states import job_state
from airflow_k8s_async._kube.subscription import PODS, WatchEvent
from airflow_k8s_async.triggers.job import LATE_POD_SECONDS, KubernetesJobTrigger, _pump
from airflow_k8s_async.triggers.logstream import LogStreams
from tests.unit.fake_api import ok, pod_list
from tests.unit.test_watch_faults import kubeconfig

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
    """Pods deleted before the trigger started never arrive: the wait is short, not LATE_POD_SECONDS."""
    trig = trigger()
    trig._job = indexed_job({"failed": 1, "conditions": [{"type": "Failed", "status": "True"}]})
    queue: asyncio.Queue[tuple[str, WatchEvent]] = asyncio.Queue()
    assert LATE_POD_SECONDS > 5
    await asyncio.wait_for(trig._catch_up_pods(queue), 5)
    assert trig._pods == {}


async def test_a_restarted_trigger_waits_for_the_pods_list_before_a_startup_timeout(
    kmock: kmock.RawHandler,
) -> None:
    """A Job created long ago, its pod running: the Job's LIST answers first, the pods' later.

    The pods' LIST is held (an ordering the real API server does not show on cue); the trigger
    must not fail with StartupTimeout meanwhile, and ends as the Job does.
    """
    released = asyncio.Event()
    running = indexed_pod(0, exit_code=None, started="2026-01-01T00:00:05Z")

    async def pods_list(request: kmock.Request) -> kmock.Response:
        await released.wait()
        return ok(pod_list(10, running))

    kmock["get /api/v1/namespaces/ns/pods", kmock.params(watch="true")] << (lambda: ok(_hang()))
    kmock["get /api/v1/namespaces/ns/pods"] << pods_list
    cluster = ClusterConfig.from_kubeconfig_dict(kubeconfig(str(kmock.url).rstrip("/"), "t"))
    hub = WatchHub(linger=0, timeout_seconds=5)
    trig = KubernetesJobTrigger(
        job_name="idx", job_namespace="ns", job_uid=UID, get_logs=False, startup_timeout=1
    )
    trig._streams = LogStreams(client=await get_client(cluster), namespace="ns", log=trig.log, tag=trig._tag)
    job = indexed_job({"active": 1})
    job["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"  # long past startup_timeout
    try:
        async with hub.subscribe(
            cluster=cluster, resource=PODS, namespace="ns", labels={"controller-uid": UID}
        ) as pods:
            queue: asyncio.Queue[tuple[str, WatchEvent]] = asyncio.Queue()
            queue.put_nowait(("job", WatchEvent("ADDED", job)))
            pumps = [asyncio.create_task(_pump(pods, "pod", queue))]
            follow = asyncio.create_task(trig._follow(queue, pumps, pods=pods))
            done, _ = await asyncio.wait([follow], timeout=1.0)
            assert not done, f"ended while the pods' LIST was out: {follow.result() if done else ''}"
            released.set()
            await asyncio.wait_for(pods.synced(), 5)
            complete = indexed_job({"conditions": [{"type": "Complete", "status": "True"}]})
            queue.put_nowait(("job", WatchEvent("MODIFIED", complete)))
            event = await asyncio.wait_for(follow, 10)
            for pump in pumps:
                pump.cancel()
    finally:
        await hub.close()
        await close_clients()
    assert event["status"] == "success", event
    assert "idx-0-abcde" in trig._pods  # taken in from the watch when the startup deadline came


async def _hang() -> AsyncIterator[bytes]:
    yield b""  # the headers, then a watch stream that stays open
    await asyncio.Event().wait()
