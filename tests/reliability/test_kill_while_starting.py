"""Tasks started in the triggerer, killed while their pod or Job is being created (real Airflow,
the real cluster; the requests wait in a loopback proxy): what the creation makes is deleted once
it is made, nothing is left behind."""

from __future__ import annotations

from kubernetes import client

from tests.e2e.airflow_env import AirflowEnv
from tests.e2e.test_pod_operator import run
from tests.reliability.test_user_actions import assert_nothing_left, owned
from tests.support.tcp_proxy import BackgroundProxy

DAG_ID = "reliability_start_kill"
TASKS = ("pod", "job")
WAITING = "being created: deleting it once it is"


def test_a_kill_during_the_create_deletes_what_is_created(
    airflow: AirflowEnv, kube_api: client.ApiClient, namespace: str, proxied: BackgroundProxy
) -> None:
    proxied.hold()  # the API server answers nothing until release(): a slow create
    proxied.cut()  # (pooled connections of earlier tests would pass: only new ones are held)
    try:
        run_id = run(airflow, DAG_ID, namespace)
        for task in TASKS:
            airflow.eventually(
                lambda t=task: f"trigger {DAG_ID}/{run_id}/{t}/" in airflow.task_log(DAG_ID, run_id, t),
                timeout=120,
            )
        assert airflow.eventually(lambda: proxied.held >= len(TASKS), timeout=60), "no create is waiting"
        for task in TASKS:
            airflow.set_task_state(DAG_ID, run_id, task, "failed")
        for task in TASKS:  # the kill has found the create under way and waits for it
            airflow.eventually(lambda t=task: WAITING in airflow.task_log(DAG_ID, run_id, t), timeout=60)
        assert not any(owned(kube_api, namespace).values())  # nothing could be created yet
    finally:
        proxied.release()
    assert_nothing_left(airflow, kube_api, namespace)
    # Created after the kill (the proof that the kill had to wait), and gone (above).
    made = {"pod": "Creating pod", "job": "Created Job"}

    def made_log(task: str) -> str | None:
        log = airflow.task_log(DAG_ID, run_id, task)
        return log if made[task] in log else None

    for task in TASKS:
        log = airflow.eventually(lambda t=task: made_log(t), timeout=60)
        assert log.index(made[task]) > log.index(WAITING), f"{task}: created before the kill"
