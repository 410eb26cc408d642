"""Creating a task's pod once (``_kube/podsubmit.py``), on the real API server: the same submission
run twice makes one pod, an earlier try's pod is adopted, a foreign pod of the same name is not."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes import client

from airflow_k8s_async._kube.client import close_clients, get_client
from airflow_k8s_async._kube.cluster import ClusterConfig
from airflow_k8s_async._kube.ownership import MANAGED_BY_KEY, MANAGED_BY_VALUE
from airflow_k8s_async._kube.podsubmit import create_or_adopt, identity_labels, ownership_labels, stable_name
from airflow_k8s_async.errors import KubeConflictError
from tests.support import kube

LOG = logging.getLogger(__name__)
IDENTITY = {"dag_id": "d", "task_id": "t", "run_id": "manual__1", "map_index": None}


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    await close_clients()


def pod(namespace: str, *, try_number: int) -> dict[str, Any]:
    labels = ownership_labels(**IDENTITY, try_number=try_number, airflow_version="3.3.2")
    name = stable_name("t", "d", "manual__1", "t", -1, try_number)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "base",
                    "image": kube.IMAGE,
                    "imagePullPolicy": kube.PULL_POLICY,
                    "command": ["sleep", "30"],
                }
            ],
        },
    }


def test_stable_names_are_the_same_per_try_and_differ_between_tries() -> None:
    first = stable_name("my-task", "d", "r", "t", -1, 1)
    assert first == stable_name("my-task", "d", "r", "t", -1, 1)
    assert first != stable_name("my-task", "d", "r", "t", -1, 2)
    assert first.startswith("my-task-") and len(first) == len("my-task-") + 8
    assert len(stable_name("x" * 100, 1)) == 63


async def test_the_same_submission_twice_makes_one_pod(
    cluster: ClusterConfig, core: client.CoreV1Api, namespace: str
) -> None:
    kube_client = await get_client(cluster)
    identity = identity_labels(**IDENTITY)
    body = pod(namespace, try_number=1)
    first = await create_or_adopt(kube_client, body, identity=identity, reattach=False, log=LOG)
    again = await create_or_adopt(kube_client, body, identity=identity, reattach=False, log=LOG)
    assert again["metadata"]["uid"] == first["metadata"]["uid"]
    adopted = await create_or_adopt(
        kube_client, pod(namespace, try_number=2), identity=identity, reattach=True, log=LOG
    )
    assert adopted["metadata"]["uid"] == first["metadata"]["uid"]  # an earlier try's pod, reattached
    assert len(core.list_namespaced_pod(namespace).items) == 1


async def test_a_foreign_pod_of_the_same_name_is_refused(
    cluster: ClusterConfig, core: client.CoreV1Api, namespace: str
) -> None:
    kube_client = await get_client(cluster)
    body = pod(namespace, try_number=1)
    foreign = {
        **body,
        "metadata": {"name": body["metadata"]["name"], "labels": {MANAGED_BY_KEY: MANAGED_BY_VALUE}},
    }
    core.create_namespaced_pod(namespace, foreign)
    with pytest.raises(KubeConflictError):
        await create_or_adopt(
            kube_client, body, identity=identity_labels(**IDENTITY), reattach=False, log=LOG
        )
