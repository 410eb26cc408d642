"""Following a real container's log through broken connections: every line once, in order."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from kubernetes import client

from airflow_k8s_async._kube.client import (
    KEEPALIVE_IDLE,
    KEEPALIVE_PROBES,
    KubeClient,
    close_clients,
    get_client,
)
from airflow_k8s_async._kube.cluster import ClusterConfig
from airflow_k8s_async._kube.logs import LogCursor, follow_container_log, parse_log_time
from airflow_k8s_async.triggers import logcursor
from airflow_k8s_async.triggers.logcursor import CURSOR_ANNOTATION
from airflow_k8s_async.triggers.logdrain import DRAIN_IDLE_SECONDS
from airflow_k8s_async.triggers.logstream import LogStreams
from tests.integration.test_watch_hub import proxied
from tests.support import kube
from tests.support.waiting import until


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
        for _ in range(5):  # each cut once new lines came: mid-stream, never before it started
            seen = len(lines)
            await until(lambda n=seen: len(lines) > n and proxy.open_connections > 0)  # type: ignore[misc]
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


async def _follow_until_done(
    core: client.CoreV1Api,
    namespace: str,
    pod: str,
    kubeconfig: dict[str, object],
    *,
    during: Callable[[list[str]], Awaitable[None]],
    read_timeout: float = 300.0,
) -> list[str]:
    """The lines a follower through ``kubeconfig`` passes on until the pod succeeded; ``during``
    acts on the connection meanwhile (it gets the lines seen so far)."""
    kube_client = await get_client(ClusterConfig.from_kubeconfig_dict(kubeconfig))
    lines: list[str] = []
    done = False

    def succeeded() -> bool:
        return core.read_namespaced_pod(pod, namespace).status.phase == "Succeeded"

    follower = asyncio.create_task(
        follow_container_log(
            kube_client,
            namespace=namespace,
            pod=pod,
            container="base",
            cursor=LogCursor(),
            on_line=lines.append,
            finished=lambda: done,
            read_timeout=read_timeout,
        )
    )
    try:
        await during(lines)
        await asyncio.to_thread(kube.eventually, succeeded, timeout=120)
        done = True
        await asyncio.wait_for(follower, 60)
    finally:
        follower.cancel()
        await close_clients()
    return lines


async def test_a_half_open_log_stream_is_opened_again_after_its_silence(
    core: client.CoreV1Api, namespace: str
) -> None:
    """The connection goes silent mid-log and stays open (a lost node, a dropped NAT entry): the
    follower opens it again after ``read_timeout`` and passes every line on once."""
    body = kube.running_pod("quiet", "for i in $(seq 1 80); do echo line-$i; sleep 0.05; done")
    await asyncio.to_thread(core.create_namespaced_pod, namespace, body)
    frozen = 0

    async with proxied(kube.kubeconfig_dict()) as (proxy, kubeconfig):

        async def freeze_after_ten(lines: list[str]) -> None:
            nonlocal frozen
            await until(lambda: len(lines) >= 10, timeout=60)
            frozen = proxy.freeze()

        lines = await _follow_until_done(
            core, namespace, "quiet", kubeconfig, during=freeze_after_ten, read_timeout=2.0
        )
        opened = proxy.connections_opened
    assert frozen >= 1, "the test must really have frozen the stream's connection"
    assert opened >= 2, "the follower must have opened a new connection"
    assert lines == [f"line-{i}" for i in range(1, 81)]


async def test_lines_of_100_kib_arrive_whole_and_once_across_cut_streams(
    core: client.CoreV1Api, namespace: str
) -> None:
    """Long lines (JSON documents, base64 blobs) are passed on whole, and a reconnect in the
    middle of the log neither repeats nor loses one (their pieces carry no timestamp)."""
    count, size = 40, 100 * 1024
    script = (
        f"pad=$(head -c {size} /dev/zero | tr '\\0' x); "
        f'for i in $(seq 1 {count}); do echo "$i-$pad"; sleep 0.1; done'
    )
    await asyncio.to_thread(core.create_namespaced_pod, namespace, kube.running_pod("wide", script))
    cuts = 0

    async with proxied(kube.kubeconfig_dict()) as (proxy, kubeconfig):

        async def cut_a_few_times(lines: list[str]) -> None:
            nonlocal cuts
            for seen in (5, 15, 25):
                await until(lambda n=seen: len(lines) >= n and proxy.open_connections > 0, timeout=60)
                cuts += proxy.cut()

        lines = await _follow_until_done(core, namespace, "wide", kubeconfig, during=cut_a_few_times)
    assert cuts >= 3, "the test must really have broken the stream"
    assert [line.partition("-")[0] for line in lines] == [str(i) for i in range(1, count + 1)]
    assert lines == [f"{i}-{'x' * size}" for i in range(1, count + 1)], "lines cut or changed"


async def test_streams_probe_a_silent_peer_with_tcp_keepalive(namespace: str) -> None:
    """Log follows and watches carry TCP keepalive: a peer that went away without a word (a lost
    node, a dropped NAT entry) is found in about a minute, not after the system's two hours."""
    kube_client = await get_client(ClusterConfig.from_kubeconfig_dict(kube.kubeconfig_dict()))
    try:
        path = f"/api/v1/namespaces/{namespace}/pods"
        async with kube_client.stream(path, query={"watch": "true", "timeoutSeconds": "2"}) as resp:
            assert resp.connection is not None and resp.connection.transport is not None
            sock = resp.connection.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == KEEPALIVE_IDLE
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == KEEPALIVE_PROBES
    finally:
        await close_clients()


@pytest.mark.parametrize("run", range(5))
async def test_a_burst_of_20000_lines_at_exit_arrives_whole_and_once(
    core: client.CoreV1Api, namespace: str, run: int
) -> None:
    """The end of a log is what users read first: a burst as the container exits, with the log
    stream cut once in the middle of it, passes every line on once and in order (five runs)."""
    count = 20_000
    body = kube.running_pod("burst", f"sleep 2; seq 1 {count}; echo last-line-{run}")
    await asyncio.to_thread(core.create_namespaced_pod, namespace, body)
    sink = _SlowLog(per_line=0.0)
    async with proxied(kube.kubeconfig_dict()) as (proxy, kubeconfig):
        kube_client = await get_client(ClusterConfig.from_kubeconfig_dict(kubeconfig))
        streams = LogStreams(
            client=kube_client, namespace=namespace, log=sink, tag=lambda pod, container: None
        )
        cuts = 0
        try:
            while True:  # as the trigger does on each pod event
                pod = await asyncio.to_thread(core.read_namespaced_pod, "burst", namespace)
                streams.update(core.api_client.sanitize_for_serialization(pod), ["base"])
                if not cuts and len(sink.lines) >= count // 4:
                    cuts = proxy.cut()  # mid-burst
                if pod.status.phase in ("Succeeded", "Failed"):
                    break
                await asyncio.sleep(0.05)
            await streams.drain()
        finally:
            await streams.close()
            await close_clients()
    assert sink.lines == [str(n) for n in range(1, count + 1)] + [f"last-line-{run}"], (
        f"{len(sink.lines)} lines, the last {sink.lines[-1:]}, {len(set(sink.lines))} distinct"
    )
    assert sink.warnings == []


class _Sink:
    """A task log that keeps what it is given (lines and warnings apart)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.warnings: list[str] = []

    def info(self, fmt: str, *args: object) -> None:
        self.lines.append(fmt % args)

    def warning(self, fmt: str, *args: object) -> None:
        self.warnings.append(fmt % args)

    def debug(self, fmt: str, *args: object) -> None:
        pass


async def _pod_dict(core: client.CoreV1Api, namespace: str, name: str) -> dict[str, Any]:
    pod = await asyncio.to_thread(core.read_namespaced_pod, name, namespace)
    return dict(core.api_client.sanitize_for_serialization(pod))


async def _stream_while(
    streams: LogStreams, core: client.CoreV1Api, namespace: str, name: str, condition: Callable[[], bool]
) -> dict[str, Any]:
    """Feed ``streams`` the pod as a trigger does on each event while ``condition()``; the pod last read."""
    while True:
        pod = await _pod_dict(core, namespace, name)
        streams.update(pod, ["base"])
        if not condition() or pod["status"]["phase"] in ("Succeeded", "Failed"):
            return pod
        await asyncio.sleep(0.05)


async def _talking_pod(core: client.CoreV1Api, namespace: str, name: str, script: str) -> KubeClient:
    """A pod running ``script``, and a client of the test cluster."""
    await asyncio.to_thread(core.create_namespaced_pod, namespace, kube.running_pod(name, script))
    return await get_client(ClusterConfig.from_kubeconfig_dict(kube.kubeconfig_dict()))


def _streams(kube_client: KubeClient, namespace: str, sink: _Sink, **kwargs: Any) -> LogStreams:
    """A trigger's log streams (no prefix on lines) into ``sink``."""
    return LogStreams(client=kube_client, namespace=namespace, log=sink, tag=lambda p, c: None, **kwargs)


async def test_a_trigger_after_a_graceful_stop_resumes_where_the_last_one_saved_its_place(
    core: client.CoreV1Api, namespace: str
) -> None:
    """A triggerer restart (SIGTERM): the first trigger's streams close and save their place on the
    pod; the next trigger, given nothing but the pod, shows the rest: every line once, no warning."""
    count = 300
    script = f"for i in $(seq 1 {count}); do echo line-$i; echo same-$i; sleep 0.02; done"
    kube_client = await _talking_pod(core, namespace, "resumed", script)
    first, second = _Sink(), _Sink()
    try:
        streams = _streams(kube_client, namespace, first)
        await _stream_while(streams, core, namespace, "resumed", lambda: len(first.lines) < count // 2)
        await streams.close()  # the triggerer stops: the place is saved
        saved = (await _pod_dict(core, namespace, "resumed"))["metadata"]["annotations"][CURSOR_ANNOTATION]
        assert json.loads(saved)["final"] is True
        streams = _streams(kube_client, namespace, second)
        await _stream_while(streams, core, namespace, "resumed", lambda: True)
        await streams.drain()
        await streams.close()
    finally:
        await close_clients()
    expected = [x for i in range(1, count + 1) for x in (f"line-{i}", f"same-{i}")]
    assert first.lines and second.lines, "both triggers must have shown part of the log"
    assert first.lines + second.lines == expected
    assert first.warnings == second.warnings == []


async def test_a_trigger_after_a_killed_one_resumes_at_its_last_save_and_says_lines_may_repeat(
    core: client.CoreV1Api, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A triggerer SIGKILLed: nothing is saved as it dies, so the next trigger resumes at the last
    periodic save: no line is lost, those since that save may repeat, and the task log says so."""
    monkeypatch.setattr(logcursor, "CHECKPOINT_SECONDS", 0.5)
    count = 400
    script = f"for i in $(seq 1 {count}); do echo line-$i; sleep 0.02; done"
    kube_client = await _talking_pod(core, namespace, "killed", script)
    first, second = _Sink(), _Sink()
    try:
        streams = _streams(kube_client, namespace, first)

        def saved() -> str:
            pod = core.read_namespaced_pod("killed", namespace)
            return (pod.metadata.annotations or {}).get(CURSOR_ANNOTATION, "")

        await _stream_while(streams, core, namespace, "killed", lambda: len(first.lines) < count // 3)
        await asyncio.to_thread(kube.eventually, saved, timeout=30)
        for task in asyncio.all_tasks():  # SIGKILL: the streams stop, nothing more is saved
            if task.get_name().startswith(("log killed", "log cursors")):
                task.cancel()
        await asyncio.sleep(0)
        assert json.loads(saved())["final"] is False
        streams = _streams(kube_client, namespace, second)
        await _stream_while(streams, core, namespace, "killed", lambda: True)
        await streams.drain()
        await streams.close()
    finally:
        await close_clients()
    expected = [f"line-{i}" for i in range(1, count + 1)]
    assert second.lines[-1] == expected[-1] and set(first.lines + second.lines) == set(expected)
    repeated = len(first.lines) + len(second.lines) - count
    assert 0 <= repeated < len(first.lines), "the second trigger must not start from the beginning"
    assert second.lines == expected[count - len(second.lines) :], "in order, from where it resumed"
    assert len(second.warnings) == 1 and "may be shown twice" in second.warnings[0], second.warnings


async def test_the_log_budget_stops_the_streams_says_so_once_and_holds_for_the_next_trigger(
    core: client.CoreV1Api, namespace: str
) -> None:
    """Past ``max_bytes`` one line says so (with the command for the rest) and the streams stop;
    the pod runs on; a trigger after a restart shows nothing more of it."""
    limit, width = 20_000, 99  # 100 bytes a line with its newline: 200 lines fit
    pad = f"pad=$(head -c {width - 4} /dev/zero | tr '\\0' x)"
    script = f"{pad}; for i in $(seq 1000 1999); do echo $i$pad; done; sleep 3"
    kube_client = await _talking_pod(core, namespace, "chatty", script)
    first, second = _Sink(), _Sink()
    try:
        streams = _streams(kube_client, namespace, first, max_bytes=limit)
        await _stream_while(streams, core, namespace, "chatty", lambda: not first.warnings)
        await until(lambda: all(task.done() for task in streams._followers.values()), timeout=30)
        pod = await _pod_dict(core, namespace, "chatty")
        assert pod["status"]["phase"] == "Running", "the pod goes on"
        await streams.close()
        streams = _streams(kube_client, namespace, second, max_bytes=limit)
        await _stream_while(streams, core, namespace, "chatty", lambda: True)
        await streams.close()
    finally:
        await close_clients()
    assert first.lines == [f"{i}{'x' * (width - 4)}" for i in range(1000, 1200)]
    (note,) = first.warnings
    assert f"budget of {limit} bytes" in note and f"kubectl logs -n {namespace} chatty -c base" in note
    assert second.lines == [] and len(second.warnings) == 1 and "spent before" in second.warnings[0]


async def test_a_job_trigger_after_a_restart_reads_results_again_but_shows_each_line_once(
    core: client.CoreV1Api, namespace: str
) -> None:
    """Job triggers keep ``::kube_api:`` results in memory only: after a restart the next trigger
    reads the log again from the start for them, yet shows only what the first had not shown."""
    count = 200
    script = f"for i in $(seq 1 {count}); do echo line-$i; echo ::kube_api:n=$i; sleep 0.02; done"
    kube_client = await _talking_pod(core, namespace, "results", script)
    first, second = _Sink(), _Sink()
    results: list[str] = []
    try:
        streams = _streams(kube_client, namespace, first)
        await _stream_while(streams, core, namespace, "results", lambda: len(first.lines) < count)
        await streams.close()
        streams = _streams(
            kube_client, namespace, second, on_line=lambda pod, container, line: results.append(line)
        )
        await _stream_while(streams, core, namespace, "results", lambda: True)
        await streams.drain()
        await streams.close()
    finally:
        await close_clients()
    expected = [x for i in range(1, count + 1) for x in (f"line-{i}", f"::kube_api:n={i}")]
    assert first.lines and second.lines and first.lines + second.lines == expected
    assert results == expected, "the second trigger must have read every result again"


async def test_a_stale_trigger_cannot_move_the_saved_place_back(
    core: client.CoreV1Api, namespace: str
) -> None:
    """A triggerer that stalled while another took its trigger over comes back and saves on its old
    view of the pod: the save is refused (resourceVersion) and decided again on the pod as it is,
    where the other's place is further: nothing is written."""
    count = 300
    script = f"for i in $(seq 1 {count}); do echo line-$i; sleep 0.02; done"
    kube_client = await _talking_pod(core, namespace, "stale", script)
    old, new = _Sink(), _Sink()
    try:
        stale = _streams(kube_client, namespace, old)
        await _stream_while(stale, core, namespace, "stale", lambda: len(old.lines) < count // 3)
        for task in stale._followers.values():  # stalled: it shows no more
            task.cancel()
        await asyncio.sleep(0)
        taking_over = _streams(kube_client, namespace, new)
        await _stream_while(taking_over, core, namespace, "stale", lambda: True)
        await taking_over.drain()
        await taking_over.close()
        further = (await _pod_dict(core, namespace, "stale"))["metadata"]["annotations"][CURSOR_ANNOTATION]
        await stale.save(final=True)  # back, on its view of the pod from before the other's saves
        after = (await _pod_dict(core, namespace, "stale"))["metadata"]["annotations"][CURSOR_ANNOTATION]
        await stale.close()
    finally:
        await close_clients()
    assert json.loads(further)["c"]["base"] != json.loads(json.dumps(stale.positions()["stale/base"]))
    assert after == further, "the stale trigger moved the saved place back"
