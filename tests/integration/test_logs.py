"""Following a real container's log through broken connections: every line once, in order."""

from __future__ import annotations

import asyncio
import time

from kubernetes import client

from airflow_k8s_async._kube.client import close_clients, get_client
from airflow_k8s_async._kube.cluster import ClusterConfig
from airflow_k8s_async._kube.logs import LogCursor, follow_container_log, parse_log_time
from airflow_k8s_async.triggers.logstream import DRAIN_IDLE_SECONDS, LogStreams
from tests.integration.test_watch_hub import proxied
from tests.support import kube


def test_parse_log_time_orders_nanoseconds() -> None:
    early = parse_log_time("2026-11-21T18:00:00.5Z")
    late = parse_log_time("2026-11-21T18:00:00.123456789Z")
    assert early is not None and late is not None and late < early
    assert parse_log_time("not a time") is None
    assert early.since_time() == "2026-11-21T18:00:00Z"


async def test_cut_log_streams_resume_without_duplicates_or_gaps(
    core: client.CoreV1Api, namespace: str
) -> None:
    # Several lines share each timestamp's second, and bursts share whole timestamps' seconds:
    # resuming by second-precision sinceTime must skip exactly what was already passed on.
    script = "for i in $(seq 1 60); do echo line-$i; echo burst-$i-a; echo burst-$i-b; sleep 0.1; done"
    body = kube.running_pod("talker", script)
    await asyncio.to_thread(core.create_namespaced_pod, namespace, body)

    def running_or_done() -> bool:
        phase = core.read_namespaced_pod("talker", namespace).status.phase
        return phase in ("Running", "Succeeded")

    await asyncio.to_thread(kube.eventually, running_or_done, timeout=60)
    lines: list[str] = []
    async with proxied(kube.kubeconfig_dict()) as (proxy, kubeconfig):
        kube_client = await get_client(ClusterConfig.from_kubeconfig_dict(kubeconfig))
        done = False

        def finished() -> bool:
            return done

        follower = asyncio.create_task(
            follow_container_log(
                kube_client,
                namespace=namespace,
                pod="talker",
                container="base",
                cursor=LogCursor(),
                on_line=lines.append,
                finished=finished,
            )
        )
        cuts = 0
        for _ in range(5):
            await asyncio.sleep(0.8)
            cuts += proxy.cut()

        def succeeded() -> bool:
            return core.read_namespaced_pod("talker", namespace).status.phase == "Succeeded"

        await asyncio.to_thread(kube.eventually, succeeded, timeout=120)
        done = True
        await asyncio.wait_for(follower, 60)
        await close_clients()
    expected = [x for i in range(1, 61) for x in (f"line-{i}", f"burst-{i}-a", f"burst-{i}-b")]
    assert cuts >= 3, "the test must really have broken the stream"
    assert lines == expected


class _SlowLog:
    """A task log that takes ``per_line`` seconds to write a line (a busy triggerer's, or a slow
    log handler's): the event loop is blocked meanwhile, as it would be."""

    def __init__(self, per_line: float) -> None:
        self.per_line = per_line
        self.lines: list[str] = []
        self.warnings: list[str] = []

    def info(self, fmt: str, *args: object) -> None:
        until = time.perf_counter() + self.per_line
        self.lines.append(fmt % args)
        while time.perf_counter() < until:
            pass

    def warning(self, fmt: str, *args: object) -> None:
        self.warnings.append(fmt % args)


async def test_a_burst_at_exit_reaches_a_slow_task_log_whole(core: client.CoreV1Api, namespace: str) -> None:
    """60 000 lines written as the container exits, into a task log that takes 15 s to write them:
    the drain waits while lines come (a fixed bound of DRAIN_IDLE_SECONDS would have lost the end)."""
    count, seconds = 60_000, 15.0
    body = kube.running_pod("burst", f"sleep 3; seq 1 {count}; echo last-line")
    await asyncio.to_thread(core.create_namespaced_pod, namespace, body)
    kube_client = await get_client(ClusterConfig.from_kubeconfig_dict(kube.kubeconfig_dict()))
    sink = _SlowLog(per_line=seconds / count)
    streams = LogStreams(client=kube_client, namespace=namespace, log=sink, tag=lambda pod, container: None)
    try:
        while True:  # as the trigger does on each pod event
            pod = await asyncio.to_thread(core.read_namespaced_pod, "burst", namespace)
            streams.update(core.api_client.sanitize_for_serialization(pod), ["base"])
            if pod.status.phase in ("Succeeded", "Failed"):
                break
            await asyncio.sleep(0.2)
        started = time.monotonic()
        await streams.drain()
        took = time.monotonic() - started
    finally:
        await streams.close()
        await close_clients()
    assert took > DRAIN_IDLE_SECONDS, f"the burst took {took:.1f}s: too fast to prove the drain"
    assert sink.lines == [str(n) for n in range(1, count + 1)] + ["last-line"], (
        f"{len(sink.lines)} lines, the last {sink.lines[-1:]}"
    )
    assert sink.warnings == []
