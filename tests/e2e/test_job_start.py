"""``start_from_trigger=True`` for the Job operators end to end (real Airflow 3.3, real cluster):
the executor never sees the task; the triggerer builds the operator, renders its templates,
creates each resource exactly once per try (also across a triggerer SIGKILL) and ends the task."""

from __future__ import annotations

from collections import Counter

from kubernetes import client

from tests.e2e.airflow_env import AirflowEnv
from tests.e2e.test_job_operator import owned, run

DONE = {"success", "failed"}


def test_a_job_started_in_the_triggerer_never_reaches_a_worker(
    airflow: AirflowEnv, kube_api: client.ApiClient, namespace: str
) -> None:
    dag_id = "job_start_in_triggerer"
    run_id = run(airflow, dag_id, namespace)
    state = airflow.wait_for_task_state(dag_id, run_id, "run", DONE, timeout=180)
    log = airflow.task_log(dag_id, run_id, "run")
    assert state == "success", log
    assert f"run {run_id} in {namespace}" in log  # templates rendered in the triggerer, as a worker would
    assert airflow.xcom(dag_id, run_id, "run", key="started") == "run"
    job_name = airflow.xcom(dag_id, run_id, "run", key="job_name")
    assert job_name and airflow.xcom(dag_id, run_id, "run", key="job_namespace") == namespace
    assert airflow.executor_enqueues(dag_id, run_id, "run") == 0
    assert "Pausing task as DEFERRED" not in log  # no worker ever ran it
    assert "The task ends here, in the triggerer, as success" in log
    gone = airflow.eventually(lambda: not any(owned(kube_api, namespace, dag_id).values()), timeout=120)
    assert gone, "delete_policy=IfSucceeded: the Job, its pod and the ConfigMap are deleted"


def test_a_failure_started_in_the_triggerer_fails_with_the_reason(
    airflow: AirflowEnv, namespace: str
) -> None:
    dag_id = "job_start_fails"
    run_id = run(airflow, dag_id, namespace)
    assert airflow.wait_for_task_state(dag_id, run_id, "run", DONE, timeout=180) == "failed"
    log = airflow.task_log(dag_id, run_id, "run")
    assert "exit code 4" in log and "about to fail" in log
    assert airflow.executor_enqueues(dag_id, run_id, "run") == 0


def test_a_triggerer_sigkill_while_starting_leaves_one_of_each_per_task(
    airflow: AirflowEnv, kube_api: client.ApiClient, namespace: str
) -> None:
    dag_id, tasks = "job_start_restart", ("run0", "run1", "legacy")
    run_id = run(airflow, dag_id, namespace)
    core = client.CoreV1Api(kube_api)

    def running() -> bool:
        pods = core.list_namespaced_pod(namespace, label_selector=f"dag_id={dag_id}").items
        return len(pods) == len(tasks) and all(p.status.phase == "Running" for p in pods)

    assert airflow.eventually(running, timeout=180)
    airflow.restart_triggerer(kill=True)
    for task in tasks:
        state = airflow.wait_for_task_state(dag_id, run_id, task, DONE, timeout=240)
        assert state == "success", airflow.task_log(dag_id, run_id, task)
    batch = client.BatchV1Api(kube_api)
    jobs = batch.list_namespaced_job(namespace, label_selector=f"dag_id={dag_id}").items
    assert Counter(j.metadata.labels["task_id"] for j in jobs) == dict.fromkeys(tasks, 1)
    maps = core.list_namespaced_config_map(namespace, label_selector=f"dag_id={dag_id}").items
    assert [m.metadata.labels["task_id"] for m in maps] == ["legacy"]
    assert all(airflow.executor_enqueues(dag_id, run_id, task) == 0 for task in tasks)
    log = airflow.task_log(dag_id, run_id, "run0")
    assert "tick-20" in log
    assert "of this try (created before a restart)" in log  # the second run found the first's Job


def test_marking_a_started_job_failed_deletes_what_it_created(
    airflow: AirflowEnv, kube_api: client.ApiClient, namespace: str
) -> None:
    dag_id = "job_start_killed"
    run_id = run(airflow, dag_id, namespace)
    airflow.eventually(lambda: "started" in airflow.task_log(dag_id, run_id, "run"), timeout=180)
    made = owned(kube_api, namespace, dag_id)
    assert len(made["jobs"]) == 1 and len(made["configmaps"]) == 1, made
    airflow.set_task_state(dag_id, run_id, "run", "failed")
    left = airflow.eventually(lambda: not any(owned(kube_api, namespace, dag_id).values()), timeout=90)
    assert left, f"left on the cluster: {owned(kube_api, namespace, dag_id)}"
    log = airflow.task_log(dag_id, run_id, "run")
    assert "Task killed; deleted" in log
    assert airflow.executor_enqueues(dag_id, run_id, "run") == 0
