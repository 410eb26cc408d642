"""KubernetesJobOperator end to end: real Airflow 3 and the real cluster."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client

from tests.e2e.airflow_env import AirflowEnv
from tests.support import kube

TERMINAL = {"success", "failed", "skipped", "upstream_failed"}


def run(airflow: AirflowEnv, dag_id: str, namespace: str) -> str:
    airflow.wait_for_dag(dag_id, timeout=120)
    return airflow.trigger(dag_id, conf={"namespace": namespace})


def finish(airflow: AirflowEnv, dag_id: str, run_id: str, timeout: float = 180) -> str:
    return airflow.wait_for_task_state(dag_id, run_id, "run", TERMINAL, timeout=timeout)


def owned(kube_api: client.ApiClient, namespace: str, dag_id: str) -> dict[str, list[str]]:
    """What our operator created for ``dag_id`` and is not being deleted."""
    return kube.owned(kube_api, namespace, f"dag_id={dag_id}")


def test_two_document_body_succeeds_pushes_xcom_and_is_cleaned_up(
    airflow: AirflowEnv, kube_api: client.ApiClient, namespace: str
) -> None:
    run_id = run(airflow, "job_two_docs", namespace)
    airflow.eventually(lambda: owned(kube_api, namespace, "job_two_docs")["services"], timeout=120)
    assert finish(airflow, "job_two_docs", run_id) == "success"
    assert airflow.xcom("job_two_docs", run_id, "run", key="a") == 2
    assert airflow.xcom("job_two_docs", run_id, "run", key="job")["metadata"]["name"]  # as the provider
    log = airflow.task_log("job_two_docs", run_id, "run")
    assert "two-docs" in log
    # Ended in the triggerer (XComs carried by the event): one worker start, no resume.
    assert "The task ends here, in the triggerer, as success" in log
    assert airflow.executor_enqueues("job_two_docs", run_id, "run") == 1
    gone = airflow.eventually(
        lambda: not any(owned(kube_api, namespace, "job_two_docs").values()), timeout=120
    )
    assert gone, "delete_policy=IfSucceeded: the Job, its pod and the Service are deleted"


def test_backoff_limit_0_exit_2_fails_with_the_exit_code(airflow: AirflowEnv, namespace: str) -> None:
    run_id = run(airflow, "job_exit2", namespace)
    assert finish(airflow, "job_exit2", run_id) == "failed"
    log = airflow.task_log("job_exit2", run_id, "run")
    assert "exit code 2" in log and "BackoffLimitExceeded" in log
    assert "The task ends here, in the triggerer, as failed" in log


def test_parallel_job_shows_every_pods_log(airflow: AirflowEnv, namespace: str) -> None:
    run_id = run(airflow, "job_parallel", namespace)
    assert finish(airflow, "job_parallel", run_id) == "success"
    log = airflow.task_log("job_parallel", run_id, "run")
    senders = {line.split("line from ", 1)[1].split()[0] for line in log.splitlines() if "line from " in line}
    assert len(senders) == 3, senders
    assert all(f"[{pod}] line from {pod}" in log for pod in senders)  # tagged with its pod


@pytest.mark.parametrize("dag_id", ["job_bad_yaml", "job_second_rejected"])
def test_invalid_bodies_leave_nothing_on_the_cluster(
    airflow: AirflowEnv, kube_api: client.ApiClient, namespace: str, dag_id: str
) -> None:
    run_id = run(airflow, dag_id, namespace)
    assert finish(airflow, dag_id, run_id) == "failed"
    log = airflow.task_log(dag_id, run_id, "run")
    if dag_id == "job_bad_yaml":
        assert "invalid YAML at line 2" in log
    else:
        assert "creating resource 2 of 2 (Service" in log and "were deleted" in log
    assert airflow.eventually(lambda: not any(owned(kube_api, namespace, dag_id).values()), timeout=60)


def test_killing_the_deferred_task_deletes_the_job_and_its_pods(
    airflow: AirflowEnv, kube_api: client.ApiClient, namespace: str
) -> None:
    run_id = run(airflow, "job_long", namespace)
    airflow.wait_for_task_state("job_long", run_id, "run", {"deferred"}, timeout=120)
    airflow.eventually(lambda: "trigger job_long/" in airflow.task_log("job_long", run_id, "run"), timeout=60)
    airflow.eventually(lambda: len(owned(kube_api, namespace, "job_long")["pods"]) == 2, timeout=60)
    airflow.set_task_state("job_long", run_id, "run", "failed")
    marked = time.monotonic()
    airflow.eventually(lambda: not any(owned(kube_api, namespace, "job_long").values()), timeout=30)
    assert time.monotonic() - marked < 5 + 1, "deletion of the Job and its pods must be requested within 5 s"


@pytest.fixture(scope="module")
def sleeper_crd(kube_api: client.ApiClient) -> Iterator[str]:
    ext = client.ApiextensionsV1Api(kube_api)
    name = "sleepers.e2e.airflow-k8s-async.io"
    body = {
        "metadata": {"name": name},
        "spec": {
            "group": "e2e.airflow-k8s-async.io",
            "scope": "Namespaced",
            "names": {"plural": "sleepers", "singular": "sleeper", "kind": "Sleeper"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }
    try:
        ext.create_custom_resource_definition(body)
    except client.ApiException as exc:
        if exc.status != 409:
            raise

    def established() -> bool:
        conditions = ext.read_custom_resource_definition(name).status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    kube.eventually(established, timeout=60)
    yield name
    ext.delete_custom_resource_definition(name)  # leave the cluster as the suite found it


@pytest.mark.parametrize(("state", "expected"), [("Done", "success"), ("Broken", "failed")])
def test_custom_kind_succeeds_and_fails_by_its_declared_rule(
    airflow: AirflowEnv,
    kube_api: client.ApiClient,
    namespace: str,
    sleeper_crd: str,
    state: str,
    expected: str,
) -> None:
    custom = client.CustomObjectsApi(kube_api)
    run_id = run(airflow, "job_custom_kind", namespace)

    def created() -> list[dict[str, object]]:
        items = custom.list_namespaced_custom_object("e2e.airflow-k8s-async.io", "v1", namespace, "sleepers")
        return list(items["items"])

    (obj,) = airflow.eventually(created, timeout=120)
    name = obj["metadata"]["name"]  # type: ignore[index]
    airflow.eventually(
        lambda: "Waiting for Sleeper" in airflow.task_log("job_custom_kind", run_id, "run"), timeout=60
    )
    patch = {"status": {"state": state, "note": uuid.uuid4().hex}}
    custom.patch_namespaced_custom_object(
        "e2e.airflow-k8s-async.io", "v1", namespace, "sleepers", name, patch
    )
    assert finish(airflow, "job_custom_kind", run_id) == expected


def test_body_file_is_rendered_with_jinja(airflow: AirflowEnv, namespace: str) -> None:
    run_id = run(airflow, "job_body_file", namespace)
    assert finish(airflow, "job_body_file", run_id) == "success"
    assert "rendered-ok for job_body_file" in airflow.task_log("job_body_file", run_id, "run")


def test_legacy_operator_runs_pod_keywords_as_a_job(
    airflow: AirflowEnv, kube_api: client.ApiClient, namespace: str
) -> None:
    run_id = run(airflow, "job_legacy", namespace)
    assert finish(airflow, "job_legacy", run_id) == "success"
    log = airflow.task_log("job_legacy", run_id, "run")
    assert log.count("legacy job_legacy") >= 2  # both completions, env rendered by Jinja
    assert airflow.xcom("job_legacy", run_id, "run", key="legacy") is True
    assert airflow.eventually(lambda: not any(owned(kube_api, namespace, "job_legacy").values()), timeout=120)


def test_mount_files_from_secret(airflow: AirflowEnv, core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": "e2e-files"}, "stringData": {"greeting": "hello"}}
    )
    run_id = run(airflow, "job_secret_files", namespace)
    assert finish(airflow, "job_secret_files", run_id) == "success"
    assert "secret says hello" in airflow.task_log("job_secret_files", run_id, "run")


@pytest.mark.kubernetes_min_version("1.21")
def test_indexed_job_shows_every_index(airflow: AirflowEnv, namespace: str) -> None:
    run_id = run(airflow, "job_indexed", namespace)
    assert finish(airflow, "job_indexed", run_id) == "success"
    log = airflow.task_log("job_indexed", run_id, "run")
    assert all(f"index {i}" in log for i in range(3))


def test_provider_style_job_keywords(airflow: AirflowEnv, namespace: str) -> None:
    run_id = run(airflow, "job_provider_style", namespace)
    assert finish(airflow, "job_provider_style", run_id) == "success"
    assert (
        airflow.task_log("job_provider_style", run_id, "run").count("provider style job_provider_style") >= 2
    )


def test_wait_until_job_complete_false_returns_once_the_job_exists(
    airflow: AirflowEnv, kube_api: client.ApiClient, namespace: str
) -> None:
    batch = client.BatchV1Api(kube_api)
    run_id = run(airflow, "job_no_wait", namespace)
    assert finish(airflow, "job_no_wait", run_id) == "success"
    name = airflow.xcom("job_no_wait", run_id, "run", key="job_name")
    assert airflow.xcom("job_no_wait", run_id, "run", key="job_namespace") == namespace
    assert airflow.xcom("job_no_wait", run_id, "run", key="job")["metadata"]["name"] == name
    job = batch.read_namespaced_job(name, namespace)
    assert job.metadata.deletion_timestamp is None  # nothing deleted: it keeps running
    running = airflow.eventually(lambda: owned(kube_api, namespace, "job_no_wait")["pods"], timeout=60)
    assert running and batch.read_namespaced_job(name, namespace).status.succeeded is None
    batch.delete_namespaced_job(name, namespace, propagation_policy="Background")


def test_job_template_file_and_full_job_spec_build_the_job(
    airflow: AirflowEnv, kube_api: client.ApiClient, namespace: str
) -> None:
    batch = client.BatchV1Api(kube_api)
    run_id = run(airflow, "job_template_file", namespace)
    assert finish(airflow, "job_template_file", run_id) == "success"
    log = airflow.task_log("job_template_file", run_id, "run")
    assert log.count("templated template-env keyword-env") == 2  # completions from the file
    (job,) = batch.list_namespaced_job(namespace, label_selector="dag_id=job_template_file").items
    assert job.metadata.name.startswith("from-template-") and job.metadata.labels["source"] == "template"
    assert (job.spec.completions, job.spec.parallelism) == (2, 2)  # file, full_job_spec
    batch.delete_namespaced_job(job.metadata.name, namespace, propagation_policy="Background")


def test_legacy_is_delete_operator_pod_false_keeps_the_job(
    airflow: AirflowEnv, kube_api: client.ApiClient, namespace: str
) -> None:
    run_id = run(airflow, "job_legacy_keep", namespace)
    assert finish(airflow, "job_legacy_keep", run_id) == "success"
    log = airflow.eventually(lambda: _after_finish(airflow, "job_legacy_keep", run_id), timeout=60)
    (name,) = owned(kube_api, namespace, "job_legacy_keep")["jobs"]
    assert "Kept Job" in log and "Deleted" not in log
    client.BatchV1Api(kube_api).delete_namespaced_job(name, namespace, propagation_policy="Background")


def test_on_kill_propagation_foreground_deletes_the_pods_before_the_job(
    airflow: AirflowEnv, kube_api: client.ApiClient, namespace: str
) -> None:
    batch = client.BatchV1Api(kube_api)
    run_id = run(airflow, "job_kill_foreground", namespace)
    airflow.wait_for_task_state("job_kill_foreground", run_id, "run", {"deferred"}, timeout=120)
    # the trigger runs in the triggerer (its own lines in the task log), not only the worker's brief wait
    airflow.eventually(
        lambda: "trigger job_kill_foreground/" in airflow.task_log("job_kill_foreground", run_id, "run"),
        timeout=60,
    )
    (name,) = owned(kube_api, namespace, "job_kill_foreground")["jobs"]
    assert not batch.read_namespaced_job(name, namespace).metadata.finalizers  # no finalizer of its own
    airflow.set_task_state("job_kill_foreground", run_id, "run", "failed")

    def foreground() -> bool:
        meta = batch.read_namespaced_job(name, namespace).metadata
        return meta.deletion_timestamp is not None and "foregroundDeletion" in (meta.finalizers or [])

    def pods_terminating() -> bool:  # (the kill deletes the Job, then its pods: two requests)
        pods = client.CoreV1Api(kube_api).list_namespaced_pod(namespace, label_selector=f"job-name={name}")
        return bool(pods.items) and all(p.metadata.deletion_timestamp is not None for p in pods.items)

    # Foreground: the Job is marked for deletion and waits, with the foregroundDeletion finalizer,
    # while its pod (Terminating for its 20 s grace period) is deleted first.
    assert airflow.eventually(lambda: foreground() and pods_terminating(), timeout=30)

    def job_gone() -> bool:
        try:
            batch.read_namespaced_job(name, namespace)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    assert airflow.eventually(job_gone, timeout=150)


def test_provider_dag_with_pod_operator_keywords_runs_with_only_the_import_changed(
    airflow: AirflowEnv, kube_api: client.ApiClient, namespace: str
) -> None:
    dag_id = "job_provider_pod_keywords"
    run_id = run(airflow, dag_id, namespace)
    assert finish(airflow, dag_id, run_id) == "success"
    log = airflow.task_log(dag_id, run_id, "run")
    # container_logs=["helper"]: the helper's log, tagged pod/container; not the work container's
    assert "/helper] helper line from the helper container" in log
    assert "work line from the work container" not in log
    log = airflow.eventually(lambda: _after_finish(airflow, dag_id, run_id), timeout=60)
    kept = owned(kube_api, namespace, dag_id)
    assert len(kept["jobs"]) == 1 and kept["pods"], "on_finish_action=keep_pod keeps the Job and its pod"
    assert "Kept Job" in log and "Deleted" not in log
    client.BatchV1Api(kube_api).delete_namespaced_job(
        kept["jobs"][0], namespace, propagation_policy="Background"
    )


def _after_finish(airflow: AirflowEnv, dag_id: str, run_id: str) -> str | None:
    """The task log once the finish action was applied (it follows the stored end), else None."""
    log = airflow.task_log(dag_id, run_id, "run")
    return log if ("Kept " in log or "Deleted " in log) else None


def test_provider_dag_failure_reports_the_base_containers_exit_code_and_deletes_with_delete_pod(
    airflow: AirflowEnv, kube_api: client.ApiClient, namespace: str
) -> None:
    dag_id = "job_provider_pod_keywords_fail"
    run_id = run(airflow, dag_id, namespace)
    assert finish(airflow, dag_id, run_id) == "failed"  # 3 is not in skip_on_exit_code=99 (no effect anyway)
    log = airflow.task_log(dag_id, run_id, "run")
    assert "exit code 3" in log and "'work'" in log  # base_container_name's exit code, not the helper's 0
    assert "Events of pod" in log and "Pod event:" in log  # log_events_on_failure
    assert "delete_policy=Always" in log  # on_finish_action=delete_pod: deleted whatever the outcome
    gone = airflow.eventually(lambda: not owned(kube_api, namespace, dag_id)["jobs"], timeout=120)
    assert gone, "on_finish_action=delete_pod deletes the failed Job"


def test_a_worker_killed_after_the_create_leaves_no_second_job(
    airflow: AirflowEnv, kube_api: client.ApiClient, namespace: str
) -> None:
    """Try 1's worker is SIGKILLed between creating its Job (and Service) and deferring; try 2
    deletes what try 1 left running, makes its own, and succeeds: one Job and one Service left."""
    dag_id = "job_worker_killed"
    run_id = run(airflow, dag_id, namespace)
    assert finish(airflow, dag_id, run_id, timeout=240) == "success"
    log = airflow.task_log(dag_id, run_id, "run", try_number=2)
    assert "try 2" in log and "of try 1, still running with that try over" in log
    left = owned(kube_api, namespace, dag_id)
    assert len(left["jobs"]) == 1 and len(left["services"]) == 1, left
    batch = client.BatchV1Api(kube_api)
    [job] = batch.list_namespaced_job(namespace, label_selector=f"dag_id={dag_id}").items
    assert job.metadata.labels["try_number"] == "2"
