"""``start_from_trigger=True`` end to end (real Airflow 3.3, real cluster): the executor never sees
the task, the triggerer renders its templates, creates exactly one pod per try (also across a
triggerer SIGKILL) and ends it."""

from __future__ import annotations

from kubernetes import client

from tests.e2e.airflow_env import AirflowEnv
from tests.e2e.test_pod_operator import pods_of, run

DONE = {"success", "failed"}


def test_a_task_started_in_the_triggerer_never_reaches_a_worker(
    airflow: AirflowEnv, core: client.CoreV1Api, namespace: str
) -> None:
    run_id = run(airflow, "pod_start_in_triggerer", namespace)
    state = airflow.wait_for_task_state("pod_start_in_triggerer", run_id, "run", DONE, timeout=120)
    log = airflow.task_log("pod_start_in_triggerer", run_id, "run")
    assert state == "success", log
    assert f"run {run_id} in {namespace}" in log  # templates rendered in the triggerer, as a worker would
    assert airflow.xcom("pod_start_in_triggerer", run_id, "run") == {"started": "run"}
    assert (
        airflow.wait_for_task_state("pod_start_in_triggerer", run_id, "check", DONE, timeout=120) == "success"
    )
    assert "started=run" in airflow.task_log("pod_start_in_triggerer", run_id, "check")  # pulled as a dict
    assert airflow.executor_enqueues("pod_start_in_triggerer", run_id, "run") == 0
    assert "Pausing task as DEFERRED" not in log  # no worker ever ran it
    assert airflow.eventually(lambda: not pods_of(core, namespace, "pod_start_in_triggerer"), timeout=120)


def test_a_failure_started_in_the_triggerer_fails_with_the_reason(
    airflow: AirflowEnv, core: client.CoreV1Api, namespace: str
) -> None:
    run_id = run(airflow, "pod_start_fails", namespace)
    state = airflow.wait_for_task_state("pod_start_fails", run_id, "run", DONE, timeout=120)
    log = airflow.task_log("pod_start_fails", run_id, "run")
    assert state == "failed"
    assert "exit code 4" in log and "about to fail" in log
    assert airflow.executor_enqueues("pod_start_fails", run_id, "run") == 0


def test_a_triggerer_sigkill_while_starting_leaves_one_pod_per_task(
    airflow: AirflowEnv, core: client.CoreV1Api, namespace: str
) -> None:
    tasks = [f"run{index}" for index in range(5)]
    run_id = run(airflow, "pod_start_restart", namespace)

    def running() -> bool:
        pods = pods_of(core, namespace, "pod_start_restart")
        return len(pods) == len(tasks) and all(p.status.phase == "Running" for p in pods)

    assert airflow.eventually(running, timeout=120)
    airflow.restart_triggerer(kill=True)
    for task in tasks:
        state = airflow.wait_for_task_state("pod_start_restart", run_id, task, DONE, timeout=240)
        assert state == "success", airflow.task_log("pod_start_restart", run_id, task)
    pods = pods_of(core, namespace, "pod_start_restart")
    per_task: dict[str, int] = {}
    for pod in pods:
        per_task[pod.metadata.labels["task_id"]] = per_task.get(pod.metadata.labels["task_id"], 0) + 1
    assert per_task == dict.fromkeys(tasks, 1), f"exactly one pod per task: {per_task}"
    assert all(airflow.executor_enqueues("pod_start_restart", run_id, task) == 0 for task in tasks)
    log = airflow.task_log("pod_start_restart", run_id, "run0")
    assert "tick-20" in log
