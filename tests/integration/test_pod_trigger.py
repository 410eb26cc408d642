"""KubernetesPodTrigger run in-process against real pods on the real kubelet.

The end-to-end tests (tests/e2e) run the same trigger inside a real Airflow triggerer; these
cover its rules quickly and precisely.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from airflow_k8s_async._kube.client import close_clients, get_client
from airflow_k8s_async._kube.cluster import ClusterConfig
from airflow_k8s_async._kube.hub import get_hub
from airflow_k8s_async._kube.ownership import MANAGED_BY_KEY, MANAGED_BY_VALUE
from airflow_k8s_async._kube.podspec import XCOM_SIDECAR_NAME as XCOM_SIDECAR
from airflow_k8s_async._kube.subscription import PODS
from airflow_k8s_async.triggers.common import KubeTrigger
from airflow_k8s_async.triggers.finish import apply_finish_action
from airflow_k8s_async.triggers.pod import KubernetesPodTrigger
from tests.integration.test_watch_hub import proxied
from tests.support import kube
from tests.support.waiting import until

IMAGE = {"image": kube.IMAGE, "imagePullPolicy": kube.PULL_POLICY}


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    from airflow_k8s_async._kube.hub import get_hub

    await get_hub().close()
    await close_clients()


def pod_body(
    name: str, script: str, *, sidecar: bool = False, image: dict[str, str] = IMAGE
) -> dict[str, Any]:
    base = {"name": "base", **image, "command": ["sh", "-c", script]}
    containers: list[dict[str, Any]] = [base]
    volumes: list[dict[str, Any]] = []
    if sidecar:
        mount = [{"name": "xcom", "mountPath": "/airflow/xcom"}]
        base["volumeMounts"] = mount
        containers.append(
            {
                "name": XCOM_SIDECAR,
                **IMAGE,
                "command": ["sh", "-c", 'trap "exit 0" INT; while true; do sleep 1; done;'],
                "volumeMounts": mount,
            }
        )
        volumes.append({"name": "xcom", "emptyDir": {}})
    return {
        "metadata": {"name": name, "labels": {MANAGED_BY_KEY: MANAGED_BY_VALUE}},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": containers,
            "volumes": volumes,
        },
    }


def create(core: client.CoreV1Api, namespace: str, body: dict[str, Any]) -> str:
    return str(core.create_namespaced_pod(namespace, body).metadata.uid)


def trigger(namespace: str, name: str, uid: str, **kwargs: Any) -> KubernetesPodTrigger:
    return KubernetesPodTrigger(
        pod_name=name,
        pod_namespace=namespace,
        pod_uid=uid,
        kubernetes_conn_id=None,
        config_file=os.environ["KUBECONFIG"],
        **kwargs,
    )


async def first_event(trig: KubeTrigger, timeout: float = 120) -> dict[str, Any]:
    """The trigger's one event (also used by the Job trigger tests)."""

    async def first() -> dict[str, Any]:
        async for event in trig.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return await asyncio.wait_for(first(), timeout)


class Said:
    """A log that keeps what it was told."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, fmt: str, *args: object) -> None:
        self.lines.append(fmt % args)

    warning = info


class Output:
    """What the trigger logged (Airflow routes a trigger's log through structlog to stdout)."""

    def __init__(self, capfd: pytest.CaptureFixture[str]) -> None:
        self.capfd = capfd
        self.text = ""

    def read(self) -> str:
        self.text += self.capfd.readouterr().out
        return self.text

    async def until(self, needle: str, timeout: float = 60) -> None:
        async def seen() -> None:
            while True:  # stdout has no event to wait on: poll it
                if needle in self.read():
                    return
                await asyncio.sleep(0.1)

        await asyncio.wait_for(seen(), timeout)


async def test_success_streams_logs_while_running(
    core: client.CoreV1Api, namespace: str, capfd: pytest.CaptureFixture[str]
) -> None:
    out = Output(capfd)
    script = "for i in 1 2 3; do echo line-$i; sleep 1; done"
    uid = create(core, namespace, pod_body("ok", script))
    task = asyncio.create_task(first_event(trigger(namespace, "ok", uid)))
    await out.until("[base] line-1")
    assert not task.done(), "the first line must show while the pod still runs"
    event = await task
    assert event["status"] == "success" and event["exit_code"] == 0
    assert "last_log_lines" not in event  # only failures quote them
    assert all(f"[base] line-{i}" in out.read() for i in (1, 2, 3))
    assert out.read().count("[base] line-2") == 1


def record_event(core: client.CoreV1Api, namespace: str, name: str, uid: str, *, reason: str) -> str:
    """Record an event about a pod, as a controller would; its message.

    The kubelet's own events are rate limited (``eventRecordQPS``, 5/s by default): after a burst
    of pods (the 200-pod e2e test) they reach the API server minutes late, or after the namespace
    is gone. Tests of the trigger's event reading therefore use an event of their own.
    """
    message = f"{reason} recorded by the test for {name}"
    core.create_namespaced_event(
        namespace,
        client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{name}."),
            involved_object=client.V1ObjectReference(kind="Pod", namespace=namespace, name=name, uid=uid),
            reason=reason,
            message=message,
            type="Warning",
            source=client.V1EventSource(component="tests"),
        ),
    )
    return message


async def test_exit_code_failure_and_events(
    core: client.CoreV1Api, namespace: str, capfd: pytest.CaptureFixture[str]
) -> None:
    out = Output(capfd)
    uid = create(core, namespace, pod_body("bad", "echo about to fail; exit 3"))
    recorded = record_event(core, namespace, "bad", uid, reason="Probe")
    event = await first_event(trigger(namespace, "bad", uid, log_events_on_failure=True))
    assert event["status"] == "failed"
    assert event["exit_code"] == 3 and "code 3" in event["message"]
    assert event["last_log_lines"] == ["[base] about to fail"]
    assert f"Pod event: Warning Probe: {recorded}" in out.read()


async def test_a_pod_without_events_is_said_to_have_none(
    core: client.CoreV1Api, namespace: str, capfd: pytest.CaptureFixture[str]
) -> None:
    out = Output(capfd)
    body = pod_body("nowhere-bound", "true")
    body["spec"]["nodeName"] = "no-such-node"  # bound without the scheduler, never run: no one records events
    uid = create(core, namespace, body)
    event = await first_event(
        trigger(namespace, "nowhere-bound", uid, startup_timeout=3, log_events_on_failure=True)
    )
    assert event["status"] == "failed"
    assert "No events recorded for the pod within 5s" in out.read()


async def test_missing_image_fails_fast_with_the_reason_and_events(
    core: client.CoreV1Api, namespace: str, capfd: pytest.CaptureFixture[str]
) -> None:
    out = Output(capfd)
    # "Never" on kind too: the reason is then ErrImageNeverPull at once, not a pull that may retry.
    missing = {"image": "no-such-image:1", "imagePullPolicy": "Never"}
    uid = create(core, namespace, pod_body("noimage", "true", image=missing))
    recorded = record_event(core, namespace, "noimage", uid, reason="Probe")
    loop = asyncio.get_running_loop()
    started = loop.time()
    event = await first_event(trigger(namespace, "noimage", uid, startup_timeout=600))
    assert event["status"] == "failed" and event["reason"] == "ErrImageNeverPull"
    assert "no-such-image:1" in event["message"]
    assert loop.time() - started < 60, "must fail on the reason, not after the startup timeout"
    assert f"Pod event: Warning Probe: {recorded}" in out.read()  # events, without being asked


async def test_unschedulable_fails_after_schedule_timeout(core: client.CoreV1Api, namespace: str) -> None:
    body = pod_body("nowhere", "true")
    body["spec"]["nodeSelector"] = {"no-such-label": "x"}
    uid = create(core, namespace, body)
    event = await first_event(trigger(namespace, "nowhere", uid, schedule_timeout=5, startup_timeout=600))
    assert event["status"] == "failed" and event["reason"] == "Unschedulable"
    assert "not scheduled within 5s" in event["message"]


async def test_xcom_is_read_from_the_sidecar_and_the_pod_ends(core: client.CoreV1Api, namespace: str) -> None:
    script = 'echo \'{"answer": 42, "items": [1, 2]}\' > /airflow/xcom/return.json'
    uid = create(core, namespace, pod_body("xcom", script, sidecar=True))
    event = await first_event(trigger(namespace, "xcom", uid, do_xcom_push=True))
    assert event["status"] == "success"
    assert event["xcom"] == {"answer": 42, "items": [1, 2]}
    # The sidecar runs on until the finish action (below) stops it; the event says how it ends.
    assert (event["xcom_sidecar"], event["phase"]) == (True, "Succeeded")


async def test_an_interrupted_finish_reads_the_xcom_again_and_the_kept_pod_ends(
    core: client.CoreV1Api, namespace: str
) -> None:
    """The wait is repeated after it had read the value (a triggerer restart, the end of a
    worker's pre-defer wait): the sidecar still runs, so the value is read again; only the finish
    action, once the value is safe, stops it, and a kept pod then ends as Succeeded."""
    script = "echo '{\"answer\": 42}' > /airflow/xcom/return.json"
    uid = create(core, namespace, pod_body("again", script, sidecar=True))
    first = await trigger(namespace, "again", uid, do_xcom_push=True).wait()
    again = await trigger(namespace, "again", uid, do_xcom_push=True).wait()
    assert first["xcom"] == again["xcom"] == {"answer": 42}
    assert (again["status"], again["phase"]) == ("success", "Succeeded")
    kube_client = await get_client(ClusterConfig.from_kubeconfig_dict(kube.kubeconfig_dict()))
    log = Said()
    await apply_finish_action(kube_client, again, action="keep_pod", log=log)
    await apply_finish_action(kube_client, again, action="keep_pod", log=log)  # repeated: harmless

    def finished() -> bool:
        return core.read_namespaced_pod("again", namespace).status.phase == "Succeeded"

    await asyncio.to_thread(kube.eventually, finished, timeout=60)
    assert log.lines.count("Kept Pod again (on_finish_action=keep_pod)") == 2


async def test_deleted_pod_ends_the_wait(core: client.CoreV1Api, namespace: str) -> None:
    uid = create(core, namespace, pod_body("doomed", "sleep 300"))
    task = asyncio.create_task(first_event(trigger(namespace, "doomed", uid)))
    await until(lambda: any(stats.watch_streams for stats in get_hub().watches.values()))  # watching
    await asyncio.to_thread(core.delete_namespaced_pod, "doomed", namespace, grace_period_seconds=0)
    event = await task
    assert event["status"] == "failed" and event["reason"] == "PodDeleted"


async def test_on_kill_requests_deletion(core: client.CoreV1Api, namespace: str) -> None:
    uid = create(core, namespace, pod_body("killed", "sleep 300"))
    await trigger(namespace, "killed", uid, termination_grace_period=0).on_kill()

    def deletion_requested() -> bool:
        try:
            return core.read_namespaced_pod("killed", namespace).metadata.deletion_timestamp is not None
        except client.ApiException as exc:
            return exc.status == 404

    assert await asyncio.to_thread(kube.eventually, deletion_requested, timeout=5)


async def test_on_kill_of_a_body_led_by_a_pod_deletes_every_resource_it_created(
    core: client.CoreV1Api, namespace: str
) -> None:
    """A YAML body whose first resource is a Pod is watched by this trigger: a kill deletes the
    ConfigMap created with it too, not only the pod."""
    uid = create(core, namespace, pod_body("led", "sleep 300"))
    config = core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "led-config", "labels": {MANAGED_BY_KEY: MANAGED_BY_VALUE}}}
    )
    resources = [
        {"kind": "Pod", "name": "led", "uid": uid, "path": PODS.path(namespace=namespace, name="led")},
        {
            "kind": "ConfigMap",
            "name": "led-config",
            "uid": config.metadata.uid,
            "path": f"/api/v1/namespaces/{namespace}/configmaps/led-config",
        },
    ]
    await trigger(namespace, "led", uid, termination_grace_period=0, resources=resources).on_kill()

    def config_gone() -> bool:
        return not core.list_namespaced_config_map(namespace, field_selector="metadata.name=led-config").items

    assert await asyncio.to_thread(kube.eventually, config_gone, timeout=10)


async def test_deadline_ends_the_wait_with_timeout(core: client.CoreV1Api, namespace: str) -> None:
    uid = create(core, namespace, pod_body("slow", "sleep 300"))
    event = await first_event(trigger(namespace, "slow", uid, deadline=time.time() + 3), timeout=60)
    assert event["status"] == "timeout"


def test_serialize_round_trip() -> None:
    trig = KubernetesPodTrigger(
        pod_name="p", pod_namespace="ns", pod_uid="u", do_xcom_push=True, deadline=5.0
    )
    path, kwargs = trig.serialize()
    assert path == "airflow_k8s_async.triggers.pod.KubernetesPodTrigger"
    again = KubernetesPodTrigger(**kwargs)
    assert again.serialize() == (path, kwargs)
    assert json.loads(json.dumps(kwargs)) == kwargs  # stored as plain JSON by Airflow


async def test_a_continuing_trigger_resumes_the_log_where_the_first_stopped(
    core: client.CoreV1Api, namespace: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """The operator's short wait on the worker, then the triggerer: no line twice, none lost."""
    out = Output(capfd)
    uid = create(core, namespace, pod_body("handoff", "for i in $(seq 1 12); do echo n-$i; sleep 0.5; done"))
    first = trigger(namespace, "handoff", uid)
    waiting = asyncio.ensure_future(first.wait())
    await out.until("[base] n-2")  # the first wait streamed some lines (however slow the start)
    waiting.cancel()  # as the operator's wait_before_defer_seconds ends it
    with pytest.raises(asyncio.CancelledError):
        await waiting
    positions = first.current_log_positions()
    assert list(positions) == ["handoff/base"]
    event = await first_event(trigger(namespace, "handoff", uid, log_positions=positions))
    assert event["status"] == "success"
    text = out.read()
    assert [text.count(f"[base] n-{i} ") + text.count(f"[base] n-{i}\n") for i in range(1, 13)] == [1] * 12


async def test_a_burst_at_exit_and_its_xcom_survive_a_cut_stream_and_a_repeated_finish(
    core: client.CoreV1Api, namespace: str, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """20 000 lines as the container exits, then an XCom; the connection is cut mid-burst, and a
    second trigger runs after the first ended (a triggerer restart before Airflow stored the end):
    every line once and in order across both, and the value both times."""
    count = 20_000
    script = f"sleep 2; seq 1 {count}; echo '{{\"lines\": {count}}}' > /airflow/xcom/return.json"
    uid = create(core, namespace, pod_body("burstx", script, sidecar=True))
    out = Output(capfd)

    def shown() -> list[int]:
        return [int(n) for n in re.findall(r"\[base\] (\d+)\b", out.read())]

    async with proxied(kube.kubeconfig_dict()) as (proxy, kubeconfig):
        path = tmp_path / "proxied.kubeconfig"
        path.write_text(yaml.safe_dump(kubeconfig))

        def make() -> KubernetesPodTrigger:
            return KubernetesPodTrigger(
                pod_name="burstx",
                pod_namespace=namespace,
                pod_uid=uid,
                kubernetes_conn_id=None,
                config_file=str(path),
                do_xcom_push=True,
            )

        task = asyncio.create_task(make().wait())
        await until(lambda: len(shown()) >= count // 4, timeout=120)
        cuts = proxy.cut()
        first = await asyncio.wait_for(task, 300)
        again = await asyncio.wait_for(make().wait(), 120)
    assert cuts >= 1, "the test must really have cut the stream"
    assert first["xcom"] == again["xcom"] == {"lines": count}
    lines = shown()
    assert lines == list(range(1, count + 1)), f"{len(lines)} lines; repeated: {len(lines) - len(set(lines))}"


async def test_a_pod_deleted_mid_log_says_its_log_was_not_read_to_the_end(
    core: client.CoreV1Api, namespace: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """Someone else deletes the pod while it logs: the task ends PodDeleted, and its log says
    that the container's log stops there, from which line on nothing was shown."""
    out = Output(capfd)
    uid = create(
        core, namespace, pod_body("cut", "i=0; while true; do i=$((i+1)); echo n-$i; sleep 0.1; done")
    )
    task = asyncio.create_task(first_event(trigger(namespace, "cut", uid)))
    await out.until("[base] n-5")
    await asyncio.to_thread(core.delete_namespaced_pod, "cut", namespace, grace_period_seconds=0)
    event = await task
    assert event["status"] == "failed" and event["reason"] == "PodDeleted"
    await out.until("The log of cut[base] was not read to its end: the pod was deleted (shown up to ")
