"""Following a real container's log through broken connections: every line once, in order."""

from __future__ import annotations

import asyncio

from kubernetes import client

from airflow_k8s_async._kube.client import close_clients, get_client
from airflow_k8s_async._kube.cluster import ClusterConfig
from airflow_k8s_async._kube.logs import LogCursor, follow_container_log, parse_log_time
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
