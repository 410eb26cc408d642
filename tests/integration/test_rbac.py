"""deploy/rbac on the real cluster: each component runs with exactly its Role, and fails clearly
without one of its permissions.

The manifests are applied as they ship (service accounts, Roles, RoleBindings; only namespaces are
set to the test's), each service account's token goes into a kubeconfig of its own, and the task is
split as Airflow splits it: the operator's ``execute`` and ``execute_complete`` run with the worker's
token, the trigger (rebuilt from its serialized kwargs, as the triggerer does) with the triggerer's.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from airflow.sdk.exceptions import AirflowException, TaskDeferred
from kubernetes import client

from airflow_k8s_async._kube.client import close_clients
from airflow_k8s_async._kube.hub import get_hub
from airflow_k8s_async.errors import KubeForbiddenError
from airflow_k8s_async.operators.job import KubernetesJobOperator
from airflow_k8s_async.operators.pod import KubernetesPodOperator
from airflow_k8s_async.triggers.common import KubeTrigger
from airflow_k8s_async.triggers.job import KubernetesJobTrigger
from airflow_k8s_async.triggers.pod import KubernetesPodTrigger
from tests.integration.test_pod_trigger import first_event
from tests.support import kube

RBAC = Path(__file__).parents[2] / "deploy" / "rbac"
WORKER_ROLE, TRIGGERER_ROLE = "airflow-k8s-async-worker", "airflow-k8s-async-triggerer"
IMAGE: dict[str, Any] = {"image": kube.IMAGE, "image_pull_policy": kube.PULL_POLICY}
# Runs past the operator's short wait on the worker, so the trigger does the rest.
SCRIPT = (
    "for i in 1 2 3 4 5 6; do echo rbac-line-$i; sleep 1; done; "
    "echo '{\"granted\": true}' > /airflow/xcom/return.json"
)
JOB_SCRIPT = "for i in 1 2 3 4 5 6; do echo rbac-line-$i; sleep 1; done; echo '::kube_api:xcom={\"rows\": 3}'"


def manifests(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((RBAC / name).read_text()) if doc]


@dataclass
class Identities:
    namespace: str
    worker: Path  # kubeconfig with the worker service account's token
    triggerer: Path  # kubeconfig with the triggerer service account's token


def _without(role: dict[str, Any], remove: dict[str, tuple[str, tuple[str, ...]]] | None) -> dict[str, Any]:
    """``role`` minus the verbs ``remove[role name] = (resource, verbs)`` names."""
    role = copy.deepcopy(role)
    if remove and role["metadata"]["name"] in remove:
        resource, verbs = remove[role["metadata"]["name"]]
        for rule in role["rules"]:
            if resource in rule["resources"]:
                assert set(verbs) <= set(rule["verbs"]), f"{resource} has no {verbs} to remove"
                rule["verbs"] = [v for v in rule["verbs"] if v not in verbs]
        role["rules"] = [rule for rule in role["rules"] if rule["verbs"]]
    return role


def apply_rbac(
    api: client.ApiClient,
    namespace: str,
    directory: Path,
    *,
    remove: dict[str, tuple[str, tuple[str, ...]]] | None = None,
) -> Identities:
    """Apply the shipped manifests in ``namespace`` (Airflow's and the tasks' namespace at once)."""
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    for account in manifests("serviceaccounts.yaml"):
        account["metadata"]["namespace"] = namespace
        core.create_namespaced_service_account(namespace, account)
    for role in manifests("namespaced/roles.yaml"):
        rbac.create_namespaced_role(namespace, _without(role, remove))
    for binding in manifests("namespaced/rolebindings.yaml"):
        for subject in binding["subjects"]:
            subject["namespace"] = namespace
        rbac.create_namespaced_role_binding(namespace, binding)
    return Identities(
        namespace=namespace,
        worker=token_kubeconfig(core, namespace, "airflow-worker", directory),
        triggerer=token_kubeconfig(core, namespace, "airflow-triggerer", directory),
    )


def token_kubeconfig(core: client.CoreV1Api, namespace: str, account: str, directory: Path) -> Path:
    """A kubeconfig that authenticates as the service account, with nothing else of the admin's."""
    token = kube.service_account_token(core, namespace, account)
    admin = kube.kubeconfig_dict()
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])["context"]
    cluster = next(c for c in admin["clusters"] if c["name"] == context["cluster"])["cluster"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": account, "context": {"cluster": "c", "user": account}}],
        "current-context": account,
    }
    path = directory / f"{account}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def task_context(task_id: str) -> dict[str, Any]:
    pushed: dict[str, Any] = {}
    ti = SimpleNamespace(
        dag_id="rbac",
        task_id=task_id,
        run_id="manual__rbac",
        try_number=1,
        map_index=-1,
        start_date=None,
        xcom_push=lambda key, value: pushed.__setitem__(key, value),
        pushed=pushed,
    )
    return {"ti": ti, "run_id": "manual__rbac"}


def in_triggerer(trigger: KubeTrigger, kubeconfig: Path) -> KubeTrigger:
    """The trigger as the triggerer builds it from the stored kwargs, with the triggerer's identity.

    Without its finish plan: these tests read the event payload that ``execute_complete`` gets (a
    trigger run in-process has no task instance to end); the end in the triggerer is proven end to
    end (tests/e2e)."""
    classpath, kwargs = trigger.serialize()
    assert classpath.endswith(type(trigger).__name__)
    assert kwargs["finish"]["ends"], "the operator lets the trigger end the task"
    return type(trigger)(**{**kwargs, "config_file": str(kubeconfig), "finish": None})


def defer(operator: Any, context: dict[str, Any]) -> KubeTrigger:
    """The worker's part up to the deferral; call it in a thread, as ``execute`` runs its own loop."""
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, KubeTrigger)
    return trigger


def pod_operator(ids: Identities, **kwargs: Any) -> KubernetesPodOperator:
    return KubernetesPodOperator(
        task_id="pod",
        kubernetes_conn_id=None,
        config_file=str(ids.worker),
        namespace=ids.namespace,
        cmds=["sh", "-c"],
        arguments=[SCRIPT],
        do_xcom_push=True,
        xcom_sidecar_image=kube.IMAGE,
        termination_grace_period=1,
        wait_before_defer_seconds=1,
        **IMAGE,
        **kwargs,
    )


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    await get_hub().close()
    await close_clients()


@pytest.fixture
def rbac_namespace(kube_api: client.ApiClient) -> Iterator[str]:
    name = kube.create_namespace(kube_api, "rbac")
    yield name
    kube.delete_namespace(kube_api, name)


def pods(core: client.CoreV1Api, namespace: str) -> list[client.V1Pod]:
    return [
        p
        for p in core.list_namespaced_pod(namespace).items
        if p.metadata.deletion_timestamp is None and (p.metadata.labels or {}).get("task_id")
    ]


async def test_pod_task_succeeds_with_exactly_the_shipped_roles(
    kube_api: client.ApiClient,
    core: client.CoreV1Api,
    rbac_namespace: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    ids = apply_rbac(kube_api, rbac_namespace, tmp_path)
    operator, context = pod_operator(ids), task_context("pod")
    trigger = await asyncio.to_thread(defer, operator, context)
    assert isinstance(trigger, KubernetesPodTrigger)
    event = await first_event(in_triggerer(trigger, ids.triggerer))
    assert event["status"] == "success", event
    assert event["xcom"] == {"granted": True}  # read over exec with the triggerer's token
    out = capfd.readouterr().out
    assert all(f"rbac-line-{i}" in out for i in range(1, 7)), out  # logs, worker then triggerer
    # The worker resumes with its own token: returns the XCom and deletes the pod.
    assert await asyncio.to_thread(operator.execute_complete, context, event) == {"granted": True}
    kube.eventually(lambda: not pods(core, rbac_namespace), timeout=30)


async def test_job_task_succeeds_with_exactly_the_shipped_roles(
    kube_api: client.ApiClient, rbac_namespace: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ids = apply_rbac(kube_api, rbac_namespace, tmp_path)
    operator = KubernetesJobOperator(
        task_id="job",
        kubernetes_conn_id=None,
        config_file=str(ids.worker),
        namespace=ids.namespace,
        **IMAGE,
        command=["sh", "-c", JOB_SCRIPT],
        delete_policy="Always",
        wait_before_defer_seconds=1,
    )
    context = task_context("job")
    trigger = await asyncio.to_thread(defer, operator, context)
    assert isinstance(trigger, KubernetesJobTrigger)
    event = await first_event(in_triggerer(trigger, ids.triggerer))
    assert event["status"] == "success", event
    assert "rbac-line-6" in capfd.readouterr().out
    await asyncio.to_thread(operator.execute_complete, context, event)
    pushed = context["ti"].pushed
    assert pushed["rows"] == 3  # the ::kube_api:xcom= line
    assert pushed["job"]["status"]["succeeded"] == 1 and pushed["job_namespace"] == rbac_namespace
    batch = client.BatchV1Api(kube_api)
    kube.eventually(lambda: not batch.list_namespaced_job(rbac_namespace).items, timeout=30)


async def test_triggerer_without_watch_on_pods_fails_naming_verb_and_resource(
    kube_api: client.ApiClient, rbac_namespace: str, tmp_path: Path
) -> None:
    ids = apply_rbac(kube_api, rbac_namespace, tmp_path, remove={TRIGGERER_ROLE: ("pods", ("watch",))})
    operator, context = pod_operator(ids), task_context("pod")
    trigger = await asyncio.to_thread(defer, operator, context)  # the worker still may watch
    event = await first_event(in_triggerer(trigger, ids.triggerer))
    assert event["status"] == "error" and event["reason"] == KubeForbiddenError.__name__, event
    with pytest.raises(AirflowException) as failed:
        await asyncio.to_thread(operator.execute_complete, context, event)
    message = str(failed.value)
    assert "403" in message and 'cannot watch resource "pods"' in message, message
    assert "system:serviceaccount:" + rbac_namespace + ":airflow-triggerer" in message, message
    assert "deploy/rbac" in message, message


async def test_triggerer_without_pods_exec_fails_the_xcom_read_clearly(
    kube_api: client.ApiClient, rbac_namespace: str, tmp_path: Path
) -> None:
    remove = {TRIGGERER_ROLE: ("pods/exec", ("get", "create"))}
    ids = apply_rbac(kube_api, rbac_namespace, tmp_path, remove=remove)
    operator, context = pod_operator(ids), task_context("pod")
    trigger = await asyncio.to_thread(defer, operator, context)
    event = await first_event(in_triggerer(trigger, ids.triggerer))
    assert event["status"] == "failed" and event["reason"] == "XComError", event
    with pytest.raises(AirflowException) as failed:
        await asyncio.to_thread(operator.execute_complete, context, event)
    message = str(failed.value)
    assert "403" in message and "pods/exec" in message and "create" in message, message


async def test_worker_without_create_on_pods_fails_before_anything_runs(
    kube_api: client.ApiClient, core: client.CoreV1Api, rbac_namespace: str, tmp_path: Path
) -> None:
    ids = apply_rbac(kube_api, rbac_namespace, tmp_path, remove={WORKER_ROLE: ("pods", ("create",))})
    with pytest.raises(KubeForbiddenError) as failed:
        await asyncio.to_thread(pod_operator(ids).execute, task_context("pod"))
    message = str(failed.value)
    assert 'cannot create resource "pods"' in message and "airflow-worker" in message, message
    assert not pods(core, rbac_namespace)


async def test_the_worker_role_alone_runs_the_whole_task_inline(
    kube_api: client.ApiClient, core: client.CoreV1Api, rbac_namespace: str, tmp_path: Path
) -> None:
    """deferrable=False: the worker runs the trigger's wait itself, with the worker role only."""
    ids = apply_rbac(kube_api, rbac_namespace, tmp_path)
    operator = pod_operator(ids, deferrable=False)
    result = await asyncio.to_thread(operator.execute, task_context("pod"))
    assert result == {"granted": True}
    kube.eventually(lambda: not pods(core, rbac_namespace), timeout=30)
