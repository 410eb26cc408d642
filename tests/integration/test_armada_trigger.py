"""ArmadaJobTrigger against the in-process Armada server (real gRPC on loopback): one shared
stream per job set, resume after a cut, fallback to GetJobStatus, acknowledgement timeout, kill,
and (on the real cluster) the job's pod log in the task log: in the cluster the running event
names, from pod ``armada-<jobId>-0`` when the event names none, with a token retriever's token."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import structlog
import yaml
from kubernetes import client

from airflow_k8s_async._armada.channel import (
    KEEPALIVE_OPTIONS,
    channel_options_with_keepalive,
    close_channels,
)
from airflow_k8s_async._armada.client import forget_clients, get_armada_client
from airflow_k8s_async._armada.hub import HubSettings, JobSetHub, close_job_set_hub
from airflow_k8s_async._kube import client as kube_clients
from airflow_k8s_async.armada.auth import FileTokenRetriever, describe_token_retriever
from airflow_k8s_async.armada.model import GrpcChannelArgs
from airflow_k8s_async.triggers.armada import ArmadaJobTrigger
from tests.support import kube
from tests.support.armada_server import ArmadaTestServer, JobScript
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import until

SLOW = JobScript(steps=(("QUEUED", 0.2), ("RUNNING", 0.5), ("SUCCEEDED", 3.0)))
# The events carry only the first line of each error; GetJobErrors returns all of it.
SCENARIOS = {
    "fail": JobScript(
        steps=(("QUEUED", 0.1), ("RUNNING", 0.2), ("FAILED", 0.5)),
        error="container main exited with 137\nOOMKilled: used 2Gi of 1Gi",
    ),
    "preempt": JobScript(
        steps=(("QUEUED", 0.1), ("RUNNING", 0.2), ("PREEMPTED", 0.5)),
        error="preempted\nby job x of priority 10 in queue urgent",
    ),
    "reject": JobScript(
        steps=(("REJECTED", 0.3),), error="unschedulable\nrequests more memory than any node has"
    ),
    "stuck": JobScript(steps=()),
    "long": JobScript(steps=(("QUEUED", 0.1), ("RUNNING", 0.2), ("SUCCEEDED", 60.0))),
}


@pytest.fixture
def server() -> Iterator[ArmadaTestServer]:
    srv = ArmadaTestServer(scenarios=SCENARIOS).start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
async def _close_armada() -> AsyncIterator[None]:
    yield
    await close_job_set_hub()
    forget_clients()
    await close_channels()


def submit(
    server: ArmadaTestServer, count: int = 1, *, script: JobScript | None = None, job_set: str = "js"
) -> list[str]:
    return server.submit(queue="q", job_set_id=job_set, count=count, script=script)


def trigger(server: ArmadaTestServer, job_id: str, *, job_set: str = "js", **kwargs: Any) -> ArmadaJobTrigger:
    return ArmadaJobTrigger(
        job_id=job_id,
        job_set_id=job_set,
        armada_queue="q",
        channel_args=GrpcChannelArgs(server.target).serialize(),
        submit_time=time.time(),
        **kwargs,
    )


def caught_up(server: ArmadaTestServer, job_set: str = "js") -> bool:
    """The trigger's stream has sent every event of the job set so far (the trigger has them)."""
    return server.delivered[job_set] == len(server.job_set("q", job_set).messages)


async def event_of(trig: ArmadaJobTrigger, timeout: float = 60) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trig.run():
            return dict(event.payload)
        raise AssertionError("no event")

    return await asyncio.wait_for(first(), timeout)


async def test_many_triggers_of_one_job_set_share_one_stream(server: ArmadaTestServer) -> None:
    ids = submit(server, 30, script=SLOW)
    other = submit(server, 5, script=SLOW, job_set="js-2")
    events = await asyncio.gather(
        *(event_of(trigger(server, job_id)) for job_id in ids),
        *(event_of(trigger(server, job_id, job_set="js-2")) for job_id in other),
    )
    assert [e["status"] for e in events] == ["success"] * 35
    assert {e["job_id"] for e in events} == set(ids) | set(other)
    counts = server.counts()
    # 35 jobs in two job sets: two streams, and not one call per job.
    assert counts.calls == {"GetJobSetEvents": 2}, counts
    assert counts.streams_peak == 2


@pytest.mark.parametrize(
    ("scenario", "state", "text"),
    [
        ("fail", "FAILED", "OOMKilled: used 2Gi of 1Gi"),
        ("preempt", "PREEMPTED", "by job x of priority 10 in queue urgent"),
        ("reject", "REJECTED", "requests more memory than any node has"),
    ],
)
async def test_unsuccessful_end_carries_get_job_errors_text(
    server: ArmadaTestServer, scenario: str, state: str, text: str
) -> None:
    """``text`` is in GetJobErrors' answer only, not in the failed / preempted event's reason."""
    [job_id] = submit(server, script=SCENARIOS[scenario])
    event = await event_of(trigger(server, job_id))
    assert (event["status"], event["reason"], event["state"]) == ("failed", state, state)
    assert event["message"] == SCENARIOS[scenario].error and text in event["message"]
    assert server.counts().calls.get("GetJobErrors") == 1


async def test_cancelled_from_outside(server: ArmadaTestServer) -> None:
    [job_id] = submit(server, script=SCENARIOS["long"])
    trig = trigger(server, job_id)
    waiting = asyncio.create_task(event_of(trig))
    await until(lambda: server.jobs[job_id].state == "RUNNING" and caught_up(server))
    server.cancel_from_outside(job_id, "an admin cancelled it")
    event = await waiting
    assert (event["status"], event["reason"], event["message"]) == (
        "failed",
        "CANCELLED",
        "an admin cancelled it",
    )


async def test_resumes_from_the_last_message_id_after_the_stream_is_cut(
    server: ArmadaTestServer, capfd: pytest.CaptureFixture[str]
) -> None:
    [job_id] = submit(server, script=JobScript(steps=(("QUEUED", 0.1), ("RUNNING", 0.2), ("SUCCEEDED", 3.0))))
    waiting = asyncio.create_task(event_of(trigger(server, job_id)))
    await until(lambda: server.jobs[job_id].state == "RUNNING" and caught_up(server))
    assert server.cut_streams() == 1
    event = await waiting
    assert event["status"] == "success"
    first, second = server.stream_requests
    assert first == ("js", "")
    assert second == ("js", "3"), "the second stream starts after the 3 messages already seen"
    assert server.counts().calls == {"GetJobSetEvents": 2}
    out = capfd.readouterr().out
    assert out.count(f"Armada job {job_id} is running (RUNNING)") == 1, "nothing is delivered twice"


class _Contexts(logging.Handler):
    """The structlog context bound where each record is emitted (where Airflow routes it from)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.getMessage(), structlog.contextvars.get_contextvars()))


async def test_the_shared_stream_logs_in_no_triggers_context(server: ArmadaTestServer) -> None:
    """The triggerer routes a line to the task log of the trigger id bound where it is logged. The
    job set's stream is started by one trigger and serves others (and outlives it): its lines must
    carry no trigger's id, else they land in that task's log, or in any later trigger's that reuses
    the id."""
    [job_id] = submit(server, script=JobScript(steps=(("QUEUED", 0.1), ("RUNNING", 0.2), ("SUCCEEDED", 3.0))))
    contexts = _Contexts()
    hub_log = logging.getLogger("airflow_k8s_async._armada.hub")
    hub_log.addHandler(contexts)
    level, hub_log.level = hub_log.level, logging.DEBUG
    structlog.contextvars.bind_contextvars(trigger_id=41)  # as the triggerer binds it per trigger
    try:
        waiting = asyncio.create_task(event_of(trigger(server, job_id)))
        await until(lambda: server.jobs[job_id].state == "RUNNING", timeout=30)
        await until(lambda: len(server.stream_requests) == 1, timeout=30)
        assert server.cut_streams() == 1
        assert (await waiting)["status"] == "success"
    finally:
        structlog.contextvars.clear_contextvars()
        hub_log.removeHandler(contexts)
        hub_log.level = level
    broke = [context for message, context in contexts.seen if "broke" in message]
    assert broke, f"the cut was logged: {contexts.seen}"
    assert all("trigger_id" not in context for context in broke), broke


async def test_falls_back_to_get_job_status_while_the_stream_keeps_failing(server: ArmadaTestServer) -> None:
    server.fail_streams(1000)
    [job_id] = submit(server, script=JobScript(steps=(("QUEUED", 0.1), ("RUNNING", 0.2), ("SUCCEEDED", 2.0))))
    event = await event_of(trigger(server, job_id, poll_interval=1.0), timeout=60)
    assert event["status"] == "success"
    calls = server.counts().calls
    assert calls["GetJobStatus"] >= 1
    assert calls["GetJobSetEvents"] >= 5  # the stream was tried again and again before the fallback


@pytest.mark.parametrize("code", ["UNAUTHENTICATED", "PERMISSION_DENIED", "NOT_FOUND"])
async def test_a_permanent_grpc_error_fails_the_wait_at_once_with_its_code(
    server: ArmadaTestServer, code: str
) -> None:
    """A revoked token, a queue the caller may not read: no retry fixes it, the task says why."""
    [job_id] = submit(server, script=SCENARIOS["long"])
    server.deny(grpc.StatusCode[code], f"refused by the test ({code})")
    started = time.monotonic()
    event = await event_of(trigger(server, job_id), timeout=60)
    assert event["status"] == "error" and event["reason"] == "ArmadaError", event
    assert code in event["message"] and "refused by the test" in event["message"]
    assert time.monotonic() - started < 10, "failed at once, not after retries or a timeout"
    assert server.counts().calls["GetJobSetEvents"] == 2  # asked once more (a token just expired), no more
    # Fixed (e.g. a new token): the next trigger of the job set opens a new stream and succeeds.
    server.allow()
    [again] = submit(server, script=SLOW)
    assert (await event_of(trigger(server, again)))["status"] == "success"


async def test_a_permanent_error_while_polling_fails_the_wait(server: ArmadaTestServer) -> None:
    """The stream kept failing (UNAVAILABLE: the fallback polls GetJobStatus), then the token is revoked."""
    server.fail_streams(1000)
    [job_id] = submit(server, script=SCENARIOS["long"])
    trig = trigger(server, job_id, poll_interval=1.0)
    waiting = asyncio.create_task(event_of(trig, timeout=60))
    await asyncio.to_thread(
        kube.eventually, lambda: server.counts().calls.get("GetJobStatus", 0) >= 1, timeout=30
    )
    server.deny(grpc.StatusCode.UNAUTHENTICATED, "token revoked")
    event = await waiting
    assert event["status"] == "error" and "UNAUTHENTICATED" in event["message"], event


async def test_acknowledgement_timeout_cancels_the_job(server: ArmadaTestServer) -> None:
    [job_id] = submit(server, script=SCENARIOS["stuck"])
    started = time.time()
    event = await event_of(trigger(server, job_id, job_acknowledgement_timeout=2.0))
    assert event["status"] == "failed"
    assert event["reason"] == "AcknowledgementTimeout"
    assert "within job_acknowledgement_timeout=2s" in event["message"] and "cancelled" in event["message"]
    assert time.time() - started >= 2.0
    assert server.jobs[job_id].state == "CANCELLED"
    assert server.counts().calls.get("CancelJobs") == 1


async def test_a_late_trigger_does_not_cancel_a_job_armada_acknowledged(server: ArmadaTestServer) -> None:
    """As after a triggerer restart: the acknowledgement deadline has passed, and the new stream
    replays the job set from its SUBMITTED event on; the job itself has been running for a while."""
    [job_id] = submit(server, script=SLOW)
    await until(lambda: server.jobs[job_id].state == "RUNNING")
    late = trigger(server, job_id)
    late.submit_time, late.job_acknowledgement_timeout = time.time() - 100, 2.0
    event = await event_of(late)
    assert event["status"] == "success", event
    assert server.jobs[job_id].cancel_reasons == []
    assert server.counts().calls.get("GetJobStatus", 0) <= 1  # asked once at most, at the deadline


async def test_on_kill_cancels_the_job(server: ArmadaTestServer) -> None:
    [job_id] = submit(server, script=SCENARIOS["long"])
    trig = trigger(server, job_id)
    waiting = asyncio.create_task(event_of(trig))
    await until(lambda: server.jobs[job_id].state == "RUNNING" and caught_up(server))
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await trig.on_kill()
    assert server.jobs[job_id].state == "CANCELLED"
    assert server.jobs[job_id].cancel_reasons == ["the Airflow task was killed"]


def test_serialize_round_trip_holds_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_k8s_async.armada.auth import BearerTokenAuth, EnvTokenRetriever, describe_token_retriever

    monkeypatch.setenv("ARMADA_TEST_TOKEN", "s3cr3t-token")
    auth = BearerTokenAuth(token_retriever=EnvTokenRetriever(variable="ARMADA_TEST_TOKEN"))
    trig = ArmadaJobTrigger(
        job_id="j",
        job_set_id="js",
        armada_queue="q",
        channel_args=GrpcChannelArgs("armada:50051", auth=auth).serialize(),
        submit_time=1.0,
        k8s_token_retriever=describe_token_retriever(EnvTokenRetriever(variable="ARMADA_TEST_TOKEN")),
    )
    classpath, kwargs = trig.serialize()
    assert classpath == "airflow_k8s_async.triggers.armada.ArmadaJobTrigger"
    import json

    assert "s3cr3t-token" not in json.dumps(kwargs)
    again = ArmadaJobTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)


@pytest.mark.cluster
async def test_container_logs_stream_from_the_real_pod(
    core: client.CoreV1Api, capfd: pytest.CaptureFixture[str]
) -> None:
    script = JobScript(pod_command="for i in 1 2 3 4; do echo armada-line-$i; sleep 1; done")
    server = ArmadaTestServer(default=script, kube_core=core).start()
    try:
        [job_id] = submit(server)
        trig = trigger(
            server,
            job_id,
            container_logs="main",
            config_file=os.environ["KUBECONFIG"].split(os.pathsep)[0],
        )
        event = await event_of(trig, timeout=120)
        assert event["status"] == "success", event
        out = capfd.readouterr().out
        for i in range(1, 5):
            assert out.count(f"[main] armada-line-{i}") == 1, out[-3000:]
    finally:
        server.stop()


# -- reading the pod log: which cluster, which pod, whose credentials ------------------------------
LINES = "for i in 1 2 3 4; do echo armada-line-$i; sleep 1; done"
NOBODY = "nobody"  # a kubeconfig user whose token the API server refuses (401 on every call)


def kubeconfig_with(path: Path, *, extra_context: str | None = None) -> Path:
    """The test cluster's kubeconfig whose current context authenticates as nobody; with
    ``extra_context``, also a context of that name with the real credentials."""
    admin = kube.kubeconfig_dict()
    real = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])["context"]
    contexts = [{"name": NOBODY, "context": {"cluster": real["cluster"], "user": NOBODY}}]
    if extra_context is not None:
        contexts.append({"name": extra_context, "context": real})
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": admin["clusters"],
        "users": [*admin["users"], {"name": NOBODY, "user": {"token": "not-a-valid-token"}}],
        "contexts": contexts,
        "current-context": NOBODY,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def log_reader_token(api: client.ApiClient, namespace: str) -> str:
    """A token of a new service account that may only ``get pods/log`` in ``namespace``."""
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    name = "log-reader"
    core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    rule = {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}
    rbac.create_namespaced_role(namespace, {"metadata": {"name": name}, "rules": [rule]})
    binding = {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
    }
    rbac.create_namespaced_role_binding(namespace, binding)
    return kube.service_account_token(core, namespace, name)


async def log_lines_of_one_job(
    core: client.CoreV1Api,
    capfd: pytest.CaptureFixture[str],
    *,
    script: JobScript,
    namespace: str = "default",
    **trigger_kwargs: Any,
) -> tuple[ArmadaTestServer, str, str]:
    """Run one pod-backed job to its end with a trigger following its log; (server, job id, output)."""
    server = ArmadaTestServer(default=script, kube_core=core).start()
    try:
        [job_id] = server.submit(queue="q", job_set_id="js", count=1, namespace=namespace)
        event = await event_of(trigger(server, job_id, container_logs="main", **trigger_kwargs), timeout=120)
        assert event["status"] == "success", event
        return server, job_id, capfd.readouterr().out
    finally:
        server.stop()


def assert_all_lines(out: str) -> None:
    for i in range(1, 5):
        assert out.count(f"[main] armada-line-{i}") == 1, out[-3000:]


@pytest.mark.cluster
async def test_the_log_is_read_with_the_token_retrievers_token(
    kube_api: client.ApiClient,
    core: client.CoreV1Api,
    namespace: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The kubeconfig's own user is refused: only the retriever's token (allowed nothing but
    ``get pods/log``) can have read the lines."""
    token_file = tmp_path / "token"
    token_file.write_text(log_reader_token(kube_api, namespace))
    _, _, out = await log_lines_of_one_job(
        core,
        capfd,
        script=JobScript(pod_command=LINES),
        namespace=namespace,
        config_file=str(kubeconfig_with(tmp_path / "kubeconfig")),
        cluster_context=NOBODY,  # the cluster id's context: its user is replaced by the token
        k8s_token_retriever=describe_token_retriever(FileTokenRetriever(path=str(token_file))),
    )
    assert_all_lines(out)


class TokensInTurn:
    """A token retriever (as users write them: importable, ``serialize()``) that gives the tokens
    of a file's lines one per call, the last one again and again."""

    def __init__(self, *, path: str) -> None:
        self.path = path

    def get_token(self) -> str:
        tokens = Path(self.path).read_text().split()
        if len(tokens) > 1:
            Path(self.path).write_text("\n".join(tokens[1:]))
        return tokens[0]

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{__name__}.{type(self).__qualname__}", {"path": self.path}


@pytest.mark.cluster
async def test_a_refused_token_is_replaced_by_a_new_one_and_no_client_is_left_open(
    kube_api: client.ApiClient,
    core: client.CoreV1Api,
    namespace: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The retriever's first token is refused (expired): the trigger asks it for a new one and
    reads the whole log with that; the clients made for the two tokens are closed at the end."""
    tokens = tmp_path / "tokens"
    tokens.write_text(f"an-expired-token\n{log_reader_token(kube_api, namespace)}\n")
    _, _, out = await log_lines_of_one_job(
        core,
        capfd,
        script=JobScript(pod_command=LINES),
        namespace=namespace,
        config_file=str(kubeconfig_with(tmp_path / "kubeconfig")),
        cluster_context=NOBODY,
        k8s_token_retriever=describe_token_retriever(TokensInTurn(path=str(tokens))),
    )
    assert_all_lines(out)
    assert out.count("was refused (expired?): asking k8s_token_retriever for a new one") == 1, out[-3000:]
    assert not kube_clients.CLIENTS.values(), "a token's client was left open"


@pytest.mark.cluster
async def test_the_log_is_read_in_the_cluster_the_running_event_names(
    core: client.CoreV1Api, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The events name cluster ``armada-cluster-b``, a context of the kubeconfig that is not its
    current one (which is refused): the trigger must pick the context by the event's cluster id."""
    server, _, out = await log_lines_of_one_job(
        core,
        capfd,
        script=JobScript(pod_command=LINES, cluster="armada-cluster-b"),
        config_file=str(kubeconfig_with(tmp_path / "kubeconfig", extra_context="armada-cluster-b")),
    )
    assert_all_lines(out)
    running = [m.message.running for m in server.job_set("q", "js").messages if m.message.HasField("running")]
    assert [event.cluster_id for event in running] == ["armada-cluster-b"]


@pytest.mark.cluster
async def test_without_a_pod_name_in_the_events_the_pod_is_armada_job_id_0(
    core: client.CoreV1Api, capfd: pytest.CaptureFixture[str]
) -> None:
    server, job_id, out = await log_lines_of_one_job(
        core,
        capfd,
        script=JobScript(pod_command=LINES, pod_name_in_events=False),
        config_file=str(kube.kubeconfig_path()),
    )
    assert_all_lines(out)
    running = [m.message.running for m in server.job_set("q", "js").messages if m.message.HasField("running")]
    assert [(event.pod_name, event.pod_namespace) for event in running] == [("", "default")]
    assert server.jobs[job_id].pod == f"armada-{job_id}-0"


async def test_a_half_open_event_stream_is_found_by_keepalive_and_resumed(server: ArmadaTestServer) -> None:
    """The connection to Armada goes silent and stays open (a lost node, a load balancer's idle
    timeout): HTTP/2 pings find it dead, the stream resumes from its last message on a new one.
    The pings here are every second (the user's channel options win over the 60 s default)."""
    proxy = await TcpProxy(target_host="127.0.0.1", target_port=server.port).start()
    try:
        [job_id] = submit(
            server, script=JobScript(steps=(("QUEUED", 0.1), ("RUNNING", 0.2), ("SUCCEEDED", 6.0)))
        )
        options = [(name, 1000) for name, _ in KEEPALIVE_OPTIONS if name.endswith("_ms")]
        trig = ArmadaJobTrigger(
            job_id=job_id,
            job_set_id="js",
            armada_queue="q",
            channel_args=GrpcChannelArgs(f"127.0.0.1:{proxy.port}", options=options).serialize(),
            submit_time=time.time(),
        )
        waiting = asyncio.create_task(event_of(trig, timeout=30))
        await until(lambda: server.jobs[job_id].state == "RUNNING" and proxy.open_connections > 0)
        assert proxy.freeze() >= 1
        event = await waiting
        assert (event["status"], event["state"]) == ("success", "SUCCEEDED")
        assert proxy.connections_opened >= 2, "the stream must have resumed on a new connection"
        assert len(server.stream_requests) >= 2 and server.stream_requests[-1][1] != ""
    finally:
        await proxy.close()


def test_channels_ping_by_default_and_the_users_options_win() -> None:
    default = dict(channel_options_with_keepalive(()))
    assert default["grpc.keepalive_time_ms"] == 60_000 and default["grpc.http2.ping_timeout_ms"] == 20_000
    mine = dict(channel_options_with_keepalive((("grpc.keepalive_time_ms", 300_000), ("x", 1))))
    assert mine["grpc.keepalive_time_ms"] == 300_000 and mine["x"] == 1


async def test_a_silent_event_stream_is_opened_again_from_its_last_message(server: ArmadaTestServer) -> None:
    """A job set with nothing to say for ``idle_reopen`` gets a fresh stream from its last message
    (a proxy may hold ours open while its upstream is gone); that is no failure, no fallback."""
    [job_id] = submit(server, script=JobScript(steps=(("QUEUED", 0.1), ("RUNNING", 0.2), ("SUCCEEDED", 4.0))))
    settings = HubSettings(idle_reopen=1.0, fallback_after=2)
    client = get_armada_client(GrpcChannelArgs(server.target).spec())
    hub = JobSetHub(settings)
    try:
        async with hub.subscribe(client=client, queue="q", job_set_id="js", job_id=job_id) as sub:
            states = []
            async for update in sub:
                states.append(update.state)
                if update.terminal:
                    break
        [stream] = hub.streams.values()
        assert states[-1] == "SUCCEEDED" and states.count("RUNNING") == 1
        assert stream.opened >= 3, "the silent stream must have been opened again"
        assert not stream.degraded and "GetJobStatus" not in server.counts().calls
        assert all(since != "" for _, since in server.stream_requests[1:]), "resumed from the last message"
    finally:
        await hub.close()


@pytest.mark.cluster
async def test_the_log_of_a_second_run_is_followed_too(
    core: client.CoreV1Api, capfd: pytest.CaptureFixture[str]
) -> None:
    """The first run's lease is returned (its pod deleted mid-log) and the job runs again in a new
    pod of the same name: the second run's lines are in the task log too, each line once."""
    script = JobScript(
        pod_command='echo "start-$ARMADA_RUN"; sleep 4; echo "end-$ARMADA_RUN"', lease_returned_after=2.0
    )
    _, _, out = await log_lines_of_one_job(core, capfd, script=script)
    for line in ("start-1", "start-2", "end-2"):
        assert out.count(f"[main] {line}") == 1, f"{line}: {out[-3000:]}"


@pytest.mark.cluster
async def test_the_log_budget_stops_the_armada_log_but_not_the_job_or_its_links(
    core: client.CoreV1Api, capfd: pytest.CaptureFixture[str]
) -> None:
    """Past ``max_log_bytes`` one line says so and the log is not shown further; the job runs to
    its end, and an extra link whose pattern matches a later line is still found."""
    lines = (
        "for i in $(seq 1000 1099); do echo armada-line-$i; done; echo 'report at https://example.test/r/42'"
    )
    script = JobScript(pod_command=f"{lines}; sleep 1")
    server = ArmadaTestServer(default=script, kube_core=core).start()
    try:
        [job_id] = submit(server)
        trig = trigger(
            server,
            job_id,
            container_logs="main",
            max_log_bytes=360,
            link_patterns={"report": r"https://example\.test/r/\d+"},
            config_file=os.environ["KUBECONFIG"].split(os.pathsep)[0],
        )
        event = await event_of(trig, timeout=120)
    finally:
        server.stop()
    assert event["status"] == "success", event
    assert event["links"] == {"report": "https://example.test/r/42"}
    out = capfd.readouterr().out
    shown = [int(n) for n in re.findall(r"\[main\] armada-line-(\d+)", out)]
    assert shown == list(range(1000, 1000 + 360 // 17)), shown  # 17 bytes a line: 21 fit in 360
    assert out.count("This task's log reached its budget of 360 bytes") == 1, out[-2000:]
