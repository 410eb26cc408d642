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
from airflow_k8s_async._kube.ownership import ADOPTED_KEY, CHECKED_KEY, MANAGED_BY_KEY, MANAGED_BY_VALUE
from airflow_k8s_async._kube.podsubmit import (
    _claim,
    create_or_adopt,
    delete_unless_adopted,
    identity_labels,
    ownership_labels,
    stable_name,
)
from airflow_k8s_async._kube.subscription import PODS
from airflow_k8s_async.errors import KubeConflictError
from airflow_k8s_async.triggers.finish import apply_finish_action
from tests.support import kube
from tests.support.waiting import until

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


async def test_the_finish_action_keeps_a_pod_unadoptable_or_deletes_it_by_uid(
    cluster: ClusterConfig, core: client.CoreV1Api, namespace: str
) -> None:
    kube_client = await get_client(cluster)
    identity = identity_labels(**IDENTITY)
    first = pod(namespace, try_number=1)
    meta = (await create_or_adopt(kube_client, first, identity=identity, reattach=False, log=LOG))["metadata"]
    event = {"status": "failed", "namespace": namespace, "name": meta["name"], "uid": meta["uid"]}
    # Kept (a failure under delete_succeeded_pod): labelled, so the retry creates a new pod.
    await apply_finish_action(kube_client, event, action="delete_succeeded_pod", log=LOG)
    kept = core.read_namespaced_pod(meta["name"], namespace)
    assert kept.metadata.labels.get(CHECKED_KEY) == "True" and kept.metadata.deletion_timestamp is None
    second = pod(namespace, try_number=2)
    retry = await create_or_adopt(kube_client, second, identity=identity, reattach=True, log=LOG)
    assert retry["metadata"]["uid"] != meta["uid"]
    # Deleted only with the uid it was created with.
    await apply_finish_action(kube_client, {**event, "uid": "not-its-uid"}, action="delete_pod", log=LOG)
    assert core.read_namespaced_pod(meta["name"], namespace).metadata.deletion_timestamp is None
    await apply_finish_action(kube_client, event, action="delete_pod", log=LOG)
    gone = core.list_namespaced_pod(namespace, field_selector=f"metadata.name={meta['name']}").items
    assert not gone or gone[0].metadata.deletion_timestamp is not None


async def test_a_kill_after_a_later_try_adopted_the_pod_keeps_it(
    cluster: ClusterConfig, core: client.CoreV1Api, namespace: str
) -> None:
    """Cleared while deferred: the new try adopts the pod, then the old try's trigger is killed."""
    kube_client = await get_client(cluster)
    identity = identity_labels(**IDENTITY)
    first = await create_or_adopt(
        kube_client, pod(namespace, try_number=1), identity=identity, reattach=False, log=LOG
    )
    meta = first["metadata"]
    adopted = await create_or_adopt(
        kube_client, pod(namespace, try_number=2), identity=identity, reattach=True, log=LOG
    )
    assert adopted["metadata"]["uid"] == meta["uid"]
    assert adopted["metadata"]["labels"][ADOPTED_KEY] == "2"
    path = PODS.path(namespace=namespace, name=meta["name"])
    kill = {"path": path, "uid": meta["uid"], "grace_period": 0}
    assert await delete_unless_adopted(kube_client, **kill, own_try=1) == "adopted"  # the old try's
    assert await delete_unless_adopted(kube_client, **kill, own_try=None) == "adopted"  # unknown: kept
    assert core.read_namespaced_pod(meta["name"], namespace).metadata.deletion_timestamp is None
    # The adopting try, killed in turn, deletes the pod it adopted.
    assert await delete_unless_adopted(kube_client, **kill, own_try=2) == "deleted"


async def test_a_claim_between_the_look_and_the_delete_makes_the_delete_fail(
    cluster: ClusterConfig, namespace: str
) -> None:
    """The delete is conditional on the resourceVersion the kill looked at: a claim in between wins."""
    kube_client = await get_client(cluster)
    identity = identity_labels(**IDENTITY)
    first = await create_or_adopt(
        kube_client, pod(namespace, try_number=1), identity=identity, reattach=False, log=LOG
    )
    path = PODS.path(namespace=namespace, name=first["metadata"]["name"])
    looked = await kube_client.request("GET", path)
    await create_or_adopt(
        kube_client, pod(namespace, try_number=2), identity=identity, reattach=True, log=LOG
    )
    with pytest.raises(KubeConflictError):
        await kube_client.delete(
            path, uid=first["metadata"]["uid"], resource_version=looked["metadata"]["resourceVersion"]
        )


async def test_a_kill_that_came_first_makes_the_new_try_create_a_new_pod(
    cluster: ClusterConfig, core: client.CoreV1Api, namespace: str
) -> None:
    kube_client = await get_client(cluster)
    identity = identity_labels(**IDENTITY)
    body = pod(namespace, try_number=1)
    # Terminating for a while (SIGTERM ignored, 30 s grace): the adopter still sees the pod.
    body["spec"]["terminationGracePeriodSeconds"] = 30
    body["spec"]["containers"][0]["command"] = ["sh", "-c", "trap '' TERM; sleep 60"]
    first = await create_or_adopt(kube_client, body, identity=identity, reattach=False, log=LOG)
    meta = first["metadata"]
    # Running, so that the kill leaves it terminating (a pod not started yet goes at once).
    await until(lambda: core.read_namespaced_pod(meta["name"], namespace).status.phase == "Running")
    path = PODS.path(namespace=namespace, name=meta["name"])
    listed = await kube_client.request("GET", path)  # what the adopter's LIST returned, before the kill
    assert (
        await delete_unless_adopted(kube_client, path=path, uid=meta["uid"], grace_period=None, own_try=1)
        == "deleted"
    )
    assert await _claim(kube_client, listed, try_number=2) is None  # being deleted: not adopted
    second = await create_or_adopt(
        kube_client, pod(namespace, try_number=2), identity=identity, reattach=True, log=LOG
    )
    assert second["metadata"]["uid"] != meta["uid"]
    core.delete_namespaced_pod(meta["name"], namespace, grace_period_seconds=0)
