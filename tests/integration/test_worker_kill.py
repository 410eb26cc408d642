"""A SIGTERM on the worker while the task runs there (``deferrable=False``): Airflow's task runner
calls ``on_kill()`` from its signal handler, in the middle of ``execute()``'s own event loop. The
kill must still delete what the task created (here on the real cluster, with a real signal)."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException
from kubernetes import client

from airflow_k8s_async.operators.job import KubernetesJobOperator
from airflow_k8s_async.operators.pod import KubernetesPodOperator
from tests.integration.test_rbac import task_context
from tests.support import kube
from tests.support.waiting import eventually

CONNECTION = {"kubernetes_conn_id": None, "config_file": os.environ.get("KUBECONFIG")}
IMAGE = {"image": kube.IMAGE, "image_pull_policy": kube.PULL_POLICY}


def killed_while_running(operator: Any, core: client.CoreV1Api, namespace: str) -> None:
    """Run ``operator.execute`` on this (main) thread; once its pod runs, SIGTERM this process with
    the handler Airflow's task runner installs (``ti.task.on_kill()``)."""
    previous = signal.signal(signal.SIGTERM, lambda *_: operator.on_kill())

    def kill_when_running() -> None:
        eventually(
            lambda: any(p.status.phase == "Running" for p in core.list_namespaced_pod(namespace).items),
            timeout=60,
        )
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=kill_when_running, daemon=True)
    killer.start()
    try:
        with pytest.raises(AirflowException):  # the wait ends: what it waited for was deleted
            operator.execute(task_context(operator.task_id))
    finally:
        killer.join(timeout=60)
        signal.signal(signal.SIGTERM, previous)


def test_a_sigterm_while_a_pod_task_waits_on_the_worker_deletes_its_pod(
    core: client.CoreV1Api, namespace: str
) -> None:
    operator = KubernetesPodOperator(
        task_id="inline",
        namespace=namespace,
        cmds=["sh", "-c", "sleep 120"],
        deferrable=False,
        termination_grace_period=1,
        **IMAGE,
        **CONNECTION,
    )
    killed_while_running(operator, core, namespace)
    eventually(lambda: not core.list_namespaced_pod(namespace).items, timeout=60)


def test_a_sigterm_while_a_job_task_waits_on_the_worker_deletes_its_job(
    kube_api: client.ApiClient, core: client.CoreV1Api, namespace: str
) -> None:
    batch = client.BatchV1Api(kube_api)
    operator = KubernetesJobOperator(
        task_id="inline",
        namespace=namespace,
        command=["sh", "-c", "sleep 120"],
        deferrable=False,
        **IMAGE,
        **CONNECTION,
    )
    killed_while_running(operator, core, namespace)
    eventually(lambda: not batch.list_namespaced_job(namespace).items, timeout=60)
    eventually(lambda: not core.list_namespaced_pod(namespace).items, timeout=60)
