"""The cncf provider's resource, Job patch/delete and pod-exec operators, ours, run in-process as a
worker runs them (and the Delete Job wait as the triggerer runs it) on the real cluster."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowException, TaskDeferred
from kubernetes import client
from kubernetes.client import models as k8s

from airflow_k8s_async._kube.bodies import parse_body
from airflow_k8s_async._kube.client import close_clients, get_client
from airflow_k8s_async._kube.cluster import ClusterConfig
from airflow_k8s_async._kube.discovery import resolve_all
from airflow_k8s_async.errors import ConfigurationError
from airflow_k8s_async.operators.job import KubernetesDeleteJobOperator, KubernetesPatchJobOperator
from airflow_k8s_async.operators.jobcreate import create_all
from airflow_k8s_async.operators.pod_exec import KubernetesPodExecOperator
from airflow_k8s_async.operators.resource import (
    CREATED_BY,
    KubernetesCreateResourceOperator,
    KubernetesDeleteResourceOperator,
)
from airflow_k8s_async.triggers.resource import KubernetesResourceTrigger
from tests.integration.test_job_trigger import job_body
from tests.integration.test_pod_trigger import Output, first_event
from tests.integration.test_rbac import task_context
from tests.support import kube

CONNECTION = {"kubernetes_conn_id": None, "config_file": os.environ.get("KUBECONFIG")}


def configmaps(namespace: str, *names: str) -> str:
    return "\n---\n".join(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\n"
        f"data:\n  key: {name}"
        for name in names
    )


def names(core: client.CoreV1Api, namespace: str) -> set[str]:
    return {c.metadata.name for c in core.list_namespaced_config_map(namespace).items} - {"kube-root-ca.crt"}


# -- create / delete resources ------------------------------------------------------------------
def test_create_then_delete_several_objects(core: client.CoreV1Api, namespace: str) -> None:
    body = configmaps(namespace, "one", "two") + (
        "\n---\napiVersion: v1\nkind: List\nitems:\n"
        f"- apiVersion: v1\n  kind: ConfigMap\n  metadata: {{name: three, namespace: {namespace}}}\n"
    )
    KubernetesCreateResourceOperator(task_id="create", yaml_conf=body, **CONNECTION).execute(
        task_context("create")  # type: ignore[arg-type]
    )
    assert names(core, namespace) == {"one", "two", "three"}
    annotations = core.read_namespaced_config_map("one", namespace).metadata.annotations
    assert annotations[CREATED_BY] == "rbac/create/manual__rbac/-1"

    KubernetesDeleteResourceOperator(task_id="delete", yaml_conf=body, **CONNECTION).execute(
        task_context("delete")  # type: ignore[arg-type]
    )
    kube.eventually(lambda: not names(core, namespace), timeout=30)
    # Gone already: the desired state, not a failure (a retry of a half-done delete succeeds).
    KubernetesDeleteResourceOperator(task_id="delete", yaml_conf=body, **CONNECTION).execute(
        task_context("delete")  # type: ignore[arg-type]
    )


def test_a_retry_takes_over_what_its_run_created_and_another_run_is_refused(
    core: client.CoreV1Api, namespace: str
) -> None:
    body = configmaps(namespace, "kept")
    operator = KubernetesCreateResourceOperator(task_id="create", yaml_conf=body, **CONNECTION)
    operator.execute(task_context("create"))  # type: ignore[arg-type]
    retry = task_context("create")
    retry["ti"].try_number = 2
    operator.execute(retry)  # type: ignore[arg-type]
    other = task_context("create")
    other["ti"].run_id = "manual__another"
    with pytest.raises(AirflowException, match="already exists"):
        operator.execute(other)  # type: ignore[arg-type]
    assert names(core, namespace) == {"kept"}


def test_a_failed_create_deletes_what_it_created_before(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "theirs"}})
    operator = KubernetesCreateResourceOperator(
        task_id="create", yaml_conf=configmaps(namespace, "mine", "theirs"), **CONNECTION
    )
    with pytest.raises(AirflowException, match=r"object 2 of 2 \(ConfigMap .*/theirs\).*1 created before"):
        operator.execute(task_context("create"))  # type: ignore[arg-type]
    kube.eventually(lambda: names(core, namespace) == {"theirs"}, timeout=30)


async def test_a_create_cancelled_midway_deletes_what_it_created(
    core: client.CoreV1Api, namespace: str
) -> None:
    """A timeout or kill on a worker cancels the creating coroutine (``asyncio.run``): the Job
    operators' creation undoes as the resource operator's does, leaving none of a body's objects."""
    kube_client = await get_client(ClusterConfig(config_file=os.environ["KUBECONFIG"]))
    resources = parse_body(configmaps(namespace, "c1", "c2", "c3", "c4"), source="body")
    kinds = await resolve_all(kube_client, resources=resources)
    creating = asyncio.current_task()
    assert creating is not None

    class CancelAfterTwo:
        """The task log; the second "Created" line is where the cancel lands (deterministically)."""

        created = 0

        def info(self, message: str, *args: Any) -> None:
            if message.startswith("Created"):
                self.created += 1
                if self.created == 2:
                    creating.cancel()

        def warning(self, message: str, *args: Any) -> None:
            pass

    with pytest.raises(asyncio.CancelledError):
        await create_all(
            kube_client, kinds, resources, namespace=namespace, labels={}, adopt=False, log=CancelAfterTwo()
        )
    creating.uncancel()
    assert names(core, namespace) == set()  # c1 and c2 deleted before the cancel went on
    await close_clients()


def test_an_unknown_kind_creates_nothing(core: client.CoreV1Api, namespace: str) -> None:
    unknown = "apiVersion: example.com/v1\nkind: Nothing\nmetadata:\n  name: x\n"
    body = configmaps(namespace, "first") + "\n---\n" + unknown
    operator = KubernetesCreateResourceOperator(task_id="create", yaml_conf=body, **CONNECTION)
    with pytest.raises(ConfigurationError, match=r"example\.com/v1"):
        operator.execute(task_context("create"))  # type: ignore[arg-type]
    assert names(core, namespace) == set()


def test_a_file_is_read_from_the_dag_folder_and_objects_take_the_namespace_keyword(
    core: client.CoreV1Api, namespace: str, tmp_path: Path
) -> None:
    (tmp_path / "objects.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-file\n")
    with DAG("resources") as dag:
        operator = KubernetesCreateResourceOperator(
            task_id="create", yaml_conf_file="objects.yaml", namespace=namespace, **CONNECTION
        )
    dag.fileloc = str(tmp_path / "resources.py")
    operator.execute(task_context("create"))  # type: ignore[arg-type]
    assert names(core, namespace) == {"from-file"}


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ({}, "give one of yaml_conf"),
        ({"yaml_conf": "a: b", "yaml_conf_file": "/x.yaml"}, "give one of yaml_conf"),
        ({"yaml_conf": "kind: ConfigMap\nmetadata: {name: x}"}, "apiVersion is missing"),
        ({"yaml_conf": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}"}, "Bad_Name"),
    ],
)
def test_bad_yaml_is_refused_where_the_dag_is_parsed(given: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        KubernetesCreateResourceOperator(task_id="create", **given)


# -- Job patch / delete -------------------------------------------------------------------------
@pytest.fixture
def batch(kube_api: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(kube_api)


def job_pods(core: client.CoreV1Api, namespace: str, name: str) -> list[str]:
    pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items
    return [p.metadata.name for p in pods]


def test_patch_releases_a_held_job(batch: client.BatchV1Api, namespace: str) -> None:
    # (parallelism 0 holds a Job on every version; spec.suspend needs Kubernetes >= 1.21)
    batch.create_namespaced_job(namespace, job_body("held", "true", parallelism=0))
    answer = KubernetesPatchJobOperator(
        task_id="patch", name="held", namespace=namespace, body={"spec": {"parallelism": 1}}, **CONNECTION
    ).execute(task_context("patch"))  # type: ignore[arg-type]
    assert answer["spec"]["parallelism"] == 1
    assert answer["metadata"]["name"] == "held"
    model = k8s.V1Job(spec=k8s.V1JobSpec(parallelism=0, template=k8s.V1PodTemplateSpec()))
    KubernetesPatchJobOperator(
        task_id="patch", name="held", namespace=namespace, body=model, **CONNECTION
    ).execute(
        task_context("patch")  # type: ignore[arg-type]
    )
    assert batch.read_namespaced_job("held", namespace).spec.parallelism == 0
    json_patch = [
        {"op": "replace", "path": "/spec/parallelism", "value": 1},
        {"op": "add", "path": "/metadata/labels/patched", "value": "yes"},
    ]
    KubernetesPatchJobOperator(
        task_id="patch", name="held", namespace=namespace, body=json_patch, **CONNECTION
    ).execute(task_context("patch"))  # type: ignore[arg-type]
    assert batch.read_namespaced_job("held", namespace).metadata.labels["patched"] == "yes"
    kube.eventually(lambda: batch.read_namespaced_job("held", namespace).status.succeeded, timeout=60)


def test_delete_waits_deferred_for_the_job_then_deletes_it_with_its_pods(
    batch: client.BatchV1Api, core: client.CoreV1Api, namespace: str
) -> None:
    batch.create_namespaced_job(namespace, job_body("slow", "sleep 3"))
    operator = KubernetesDeleteJobOperator(
        task_id="delete",
        name="slow",
        namespace=namespace,
        wait_for_completion=True,
        delete_on_status="Complete",
        **CONNECTION,
    )
    context = task_context("delete")
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)  # type: ignore[arg-type]
    assert isinstance(deferred.value.trigger, KubernetesResourceTrigger)
    _, kwargs = deferred.value.trigger.serialize()
    kwargs["finish"] = None  # the event resumes the operator here (no task instance to end)
    event = asyncio.run(first_event(KubernetesResourceTrigger(**kwargs), timeout=60))
    assert event["status"] == "success", event
    assert job_pods(core, namespace, "slow"), "the Job's pod is there until the Job is deleted"
    getattr(operator, deferred.value.method_name)(context, event)
    kube.eventually(lambda: not batch.list_namespaced_job(namespace).items, timeout=30)
    kube.eventually(lambda: not job_pods(core, namespace, "slow"), timeout=60)  # none orphaned


def test_a_namesake_made_during_the_wait_is_not_deleted(
    batch: client.BatchV1Api, namespace: str, capfd: pytest.CaptureFixture[str]
) -> None:
    batch.create_namespaced_job(namespace, job_body("again", "true"))
    operator = KubernetesDeleteJobOperator(
        task_id="delete", name="again", namespace=namespace, wait_for_completion=True, **CONNECTION
    )
    context = task_context("delete")
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)  # type: ignore[arg-type]
    _, kwargs = deferred.value.trigger.serialize()
    event = asyncio.run(first_event(KubernetesResourceTrigger(**{**kwargs, "finish": None}), timeout=60))
    # Before the worker resumes, the pipeline replaces the Job with one of the same name.
    batch.delete_namespaced_job("again", namespace, propagation_policy="Background")
    kube.eventually(lambda: not batch.list_namespaced_job(namespace).items, timeout=30)
    batch.create_namespaced_job(namespace, job_body("again", "sleep 30"))
    operator.execute_complete(context, event)  # type: ignore[arg-type]
    assert batch.read_namespaced_job("again", namespace).status.succeeded is None  # still there, running
    assert "one of its name made since is not deleted" in Output(capfd).read()


def test_delete_waits_on_the_worker_when_not_deferrable(batch: client.BatchV1Api, namespace: str) -> None:
    batch.create_namespaced_job(namespace, job_body("quick", "sleep 2"))
    KubernetesDeleteJobOperator(
        task_id="delete",
        name="quick",
        namespace=namespace,
        wait_for_completion=True,
        deferrable=False,
        **CONNECTION,
    ).execute(task_context("delete"))  # type: ignore[arg-type]
    kube.eventually(lambda: not batch.list_namespaced_job(namespace).items, timeout=30)


def test_delete_on_status_keeps_a_job_that_ended_otherwise(
    batch: client.BatchV1Api, namespace: str, capfd: pytest.CaptureFixture[str]
) -> None:
    batch.create_namespaced_job(namespace, job_body("done", "true"))
    kube.eventually(lambda: batch.read_namespaced_job("done", namespace).status.succeeded, timeout=60)
    KubernetesDeleteJobOperator(
        task_id="delete", name="done", namespace=namespace, delete_on_status="Failed", **CONNECTION
    ).execute(task_context("delete"))  # type: ignore[arg-type]
    assert batch.read_namespaced_job("done", namespace)
    assert "not deleted (delete_on_status=Failed)" in Output(capfd).read()
    KubernetesDeleteJobOperator(task_id="delete", name="done", namespace=namespace, **CONNECTION).execute(
        task_context("delete")  # type: ignore[arg-type]
    )
    kube.eventually(lambda: not batch.list_namespaced_job(namespace).items, timeout=30)
    KubernetesDeleteJobOperator(task_id="delete", name="done", namespace=namespace, **CONNECTION).execute(
        task_context("delete")  # type: ignore[arg-type]
    )
    assert "does not exist" in Output(capfd).read()


def test_a_bad_delete_on_status_is_refused_at_parse() -> None:
    with pytest.raises(ConfigurationError, match="delete_on_status='Succeeded'"):
        KubernetesDeleteJobOperator(task_id="d", name="n", namespace="ns", delete_on_status="Succeeded")


# -- pod exec -----------------------------------------------------------------------------------
@pytest.fixture
def running(core: client.CoreV1Api, namespace: str) -> Iterator[str]:
    """A pod with two containers, ``side`` the default one, both running."""
    pod = kube.running_pod("target", "sleep 600")
    spec = pod["spec"]
    spec["containers"].append({**spec["containers"][0], "name": "side"})
    pod["metadata"]["annotations"] = {"kubectl.kubernetes.io/default-container": "side"}
    core.create_namespaced_pod(namespace, pod)

    def both_running() -> bool:
        statuses = core.read_namespaced_pod("target", namespace).status.container_statuses or []
        return len(statuses) == 2 and all(s.state.running for s in statuses)

    kube.eventually(both_running, timeout=60)
    yield "target"


def exec_task(namespace: str, command: Any, **given: Any) -> KubernetesPodExecOperator:
    given = {"pod_name": "target", **CONNECTION, **given}
    return KubernetesPodExecOperator(task_id="exec", namespace=namespace, command=command, **given)


def test_exec_streams_lines_and_returns_stdout(
    running: str, namespace: str, capfd: pytest.CaptureFixture[str]
) -> None:
    script = "echo one; echo two >&2; printf 'no newline'; echo $HOSTNAME-$0 > /dev/null"
    out = exec_task(namespace, ["sh", "-c", script], do_xcom_push=True).execute(
        task_context("exec")  # type: ignore[arg-type]
    )
    assert out == "one\nno newline"
    log = Output(capfd).read()
    assert "[stdout] one" in log and "[stderr] two" in log and "[stdout] no newline" in log
    assert "container side of pod" in log  # the default-container annotation


def test_exec_failures_say_why(running: str, namespace: str, capfd: pytest.CaptureFixture[str]) -> None:
    context: Any = task_context("exec")
    with pytest.raises(AirflowException, match="failed with exit code 3"):
        exec_task(namespace, ["sh", "-c", "exit 3"]).execute(context)
    # The runtime answers: docker with exit code 126 and its word on stdout, others with a status.
    with pytest.raises(AirflowException, match=r"exit code 126|without an exit code: .*no-such-binary"):
        exec_task(namespace, ["no-such-binary"]).execute(context)
    assert "no-such-binary" in Output(capfd).read()
    with pytest.raises(AirflowException, match="max_xcom_output_size"):
        exec_task(namespace, ["sh", "-c", "seq 1 1000"], do_xcom_push=True, max_xcom_output_size=100).execute(
            context
        )
    with pytest.raises(ConfigurationError, match=r"container_name='nope': pod .* has base, side"):
        exec_task(namespace, ["true"], container_name="nope").execute(context)
    with pytest.raises(ConfigurationError, match="does not exist"):
        exec_task(namespace, ["true"], pod_name="absent").execute(context)


def test_exec_in_a_pod_that_is_not_running_is_refused(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(namespace, kube.unscheduled_pod("target"))
    with pytest.raises(AirflowException, match="the pod is Pending, not Running"):
        exec_task(namespace, ["true"]).execute(task_context("exec"))  # type: ignore[arg-type]


def test_a_command_string_is_refused_at_parse() -> None:
    with pytest.raises(ConfigurationError, match="give a list of strings"):
        KubernetesPodExecOperator(task_id="exec", pod_name="p", command="echo hi")
