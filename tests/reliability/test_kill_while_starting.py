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
    for task in TASKS:  # (the log is served as the triggerer writes it: it may lag a little)
        said = airflow.eventually(
            lambda t=task: "Task killed; deleted" in airflow.task_log(DAG_ID, run_id, t), timeout=60
        )
        assert said, f"{task}: the log does not say what was deleted"
