"""KubernetesJobTrigger run in-process against real Jobs on the real kubelet."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes import client

from airflow_k8s_async._kube.client import close_clients
from airflow_k8s_async._kube.hub import get_hub
from airflow_k8s_async._kube.ownership import MANAGED_BY_KEY, MANAGED_BY_VALUE
from airflow_k8s_async._kube.subscription import JOBS
from airflow_k8s_async.triggers.finish import apply_finish_action
from airflow_k8s_async.triggers.job import KubernetesJobTrigger
from tests.integration.test_pod_trigger import Output, first_event
from tests.support import kube

OWNED = {MANAGED_BY_KEY: MANAGED_BY_VALUE}


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    await get_hub().close()
    await close_clients()


def job_body(name: str, script: str, **spec: Any) -> dict[str, Any]:
    container = {
        "name": "main",
        "image": kube.IMAGE,
        "imagePullPolicy": kube.PULL_POLICY,
        "command": ["sh", "-c", script],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": OWNED},
        "spec": {
            **spec,
            "template": {
                "metadata": {"labels": OWNED},
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 1,
                    "containers": [container],
                },
            },
        },
    }


def create_job(
    kube_api: client.ApiClient, namespace: str, body: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    job = client.BatchV1Api(kube_api).create_namespaced_job(namespace, body)
    uid = str(job.metadata.uid)
    resource = {
        "kind": "Job",
        "name": body["metadata"]["name"],
        "uid": uid,
        "path": JOBS.path(namespace=namespace, name=body["metadata"]["name"]),
    }
    return uid, resource


def trigger(namespace: str, name: str, uid: str, **kwargs: Any) -> KubernetesJobTrigger:
    return KubernetesJobTrigger(
        job_name=name,
        job_namespace=namespace,
        job_uid=uid,
        kubernetes_conn_id=None,
        config_file=os.environ["KUBECONFIG"],
        **kwargs,
    )


async def test_parallel_job_streams_every_pod_and_collects_kube_api_lines(
    kube_api: client.ApiClient, namespace: str, capfd: pytest.CaptureFixture[str]
) -> None:
    out = Output(capfd)
    script = (
        'echo "hello from $HOSTNAME"; sleep 2; '
        "echo '::kube_api:xcom={\"a\": 2}'; echo ::kube_api:progress=done"
    )
    uid, _ = create_job(kube_api, namespace, job_body("par", script, parallelism=3, completions=3))
    event = await first_event(trigger(namespace, "par", uid), timeout=180)
    assert event["status"] == "success", event
    text = out.read()
    pods = {line.split("hello from ", 1)[1].split()[0] for line in text.splitlines() if "hello from " in line}
    assert len(pods) == 3, text[-2000:]
    for pod in pods:  # every line tagged with its pod
        assert f"[{pod}] hello from {pod}" in text
    names = [e["name"] for e in event["kube_api_events"]]
    assert names.count("xcom") == 3 and names.count("progress") == 3
    assert {e["value"] for e in event["kube_api_events"] if e["name"] == "xcom"} == {'{"a": 2}'}


async def test_backoff_limit_failure_names_the_exit_code(kube_api: client.ApiClient, namespace: str) -> None:
    uid, _ = create_job(kube_api, namespace, job_body("fails", "echo bad; exit 2", backoffLimit=0))
    event = await first_event(trigger(namespace, "fails", uid), timeout=180)
    assert event["status"] == "failed" and event["reason"] == "BackoffLimitExceeded"
    assert event["exit_code"] == 2 and "code 2" in event["message"]
    assert any("bad" in line for line in event["last_log_lines"])


async def test_image_error_in_a_job_pod_fails_fast(kube_api: client.ApiClient, namespace: str) -> None:
    body = job_body("noimg", "true", backoffLimit=0)
    # "Never" on kind too: the reason is then ErrImageNeverPull at once, not a pull that may retry.
    body["spec"]["template"]["spec"]["containers"][0].update(image="no-such-image:1", imagePullPolicy="Never")
    uid, resource = create_job(kube_api, namespace, body)
    trig = trigger(namespace, "noimg", uid, resources=[resource])
    event = await first_event(trig, timeout=60)
    assert event["status"] == "failed" and event["reason"] == "ErrImageNeverPull"
    # Not ended: under the default delete_policy=IfSucceeded it goes, or its pod would wait for ever.
    await apply_finish_action(await trig._client(), event, action="IfSucceeded", log=trig.log)

    def job_going() -> bool:
        jobs = client.BatchV1Api(kube_api).list_namespaced_job(namespace).items
        return not jobs or jobs[0].metadata.deletion_timestamp is not None

    assert await asyncio.to_thread(kube.eventually, job_going, timeout=10)


async def test_on_kill_deletes_the_job_and_its_pods(
    kube_api: client.ApiClient, core: client.CoreV1Api, namespace: str
) -> None:
    uid, resource = create_job(
        kube_api, namespace, job_body("long", "sleep 300", parallelism=2, completions=2)
    )

    def pods() -> list[client.V1Pod]:
        return list(core.list_namespaced_pod(namespace, label_selector=f"controller-uid={uid}").items)

    await asyncio.to_thread(kube.eventually, lambda: len(pods()) == 2, timeout=60)
    await trigger(namespace, "long", uid, resources=[resource]).on_kill()

    def deletion_requested() -> bool:
        jobs = client.BatchV1Api(kube_api).list_namespaced_job(namespace).items
        job_gone = not jobs or jobs[0].metadata.deletion_timestamp is not None
        return job_gone and all(p.metadata.deletion_timestamp is not None for p in pods())

    assert await asyncio.to_thread(kube.eventually, deletion_requested, timeout=5)


def test_serialize_round_trip() -> None:
    trig = KubernetesJobTrigger(
        job_name="j", job_namespace="ns", job_uid="u", resources=[{"path": "/x", "uid": "u"}]
    )
    path, kwargs = trig.serialize()
    assert path == "airflow_k8s_async.triggers.job.KubernetesJobTrigger"
    assert KubernetesJobTrigger(**kwargs).serialize() == (path, kwargs)


async def test_unschedulable_job_fails_after_the_startup_timeout(
    kube_api: client.ApiClient, namespace: str
) -> None:
    body = job_body("stuck", "true", backoffLimit=0)
    body["spec"]["template"]["spec"]["nodeSelector"] = {"no-such-label": "x"}
    uid, _ = create_job(kube_api, namespace, body)
    event = await first_event(trigger(namespace, "stuck", uid, startup_timeout=5), timeout=60)
    assert event["status"] == "failed" and event["reason"] == "StartupTimeout"
    assert "within 5s" in event["message"] and "Unschedulable" in event["message"]
