"""A pod's events in the task log: why it failed or never started, as the kubelet and the scheduler
recorded it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from airflow_k8s_async._kube.client import KubeClient
from airflow_k8s_async._kube.tasklog import TaskLog
from airflow_k8s_async.errors import AirflowK8sAsyncError

__all__ = [
    "log_pod_events",
]

EVENTS_WAIT_SECONDS = 5.0


async def log_pod_events(client: KubeClient, *, namespace: str, uid: Any, log: TaskLog) -> None:
    """Write a pod's events into the task log (why it failed or never started).

    The kubelet records events after the status change that ends the pod, by up to a few seconds
    on a busy node: ask again while the list still grows (a bound about progress: one more look
    a second after the last new event), for at most EVENTS_WAIT_SECONDS.
    """
    deadline = time.monotonic() + EVENTS_WAIT_SECONDS
    seen, settled = -1, time.monotonic() + 1.0
    while True:
        try:
            answer = await client.request(
                "GET",
                f"/api/v1/namespaces/{namespace}/events",
                query={"fieldSelector": f"involvedObject.uid={uid}"},
            )
        except AirflowK8sAsyncError as exc:
            log.warning("Could not read the pod's events: %s", exc)
            return
        now, count = time.monotonic(), len(answer.get("items") or [])
        if count != seen:
            seen, settled = count, now + 1.0
        if (count and now >= settled) or now >= deadline:
            break
        await asyncio.sleep(0.5)
    if not answer.get("items"):
        log.info("No events recorded for the pod within %gs", EVENTS_WAIT_SECONDS)
    for item in answer.get("items") or []:
        log.info(
            "Pod event: %s %s: %s", item.get("type", ""), item.get("reason", ""), item.get("message", "")
        )
