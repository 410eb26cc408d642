"""``@task.kubernetes`` / ``@task.kubernetes_cmd`` through the alias, on real Airflow and the real
cluster: a function runs in a pod and returns its value as the XCom, which the next task's
command-returning function reads on its worker."""

from __future__ import annotations

from tests.e2e.airflow_env import AirflowEnv
from tests.e2e.test_pod_operator import run
from tests.support.images import python_image

DAG_ID = "decorated_tasks"


def test_a_function_runs_in_a_pod_and_its_value_feeds_a_command(airflow: AirflowEnv, namespace: str) -> None:
    python_image()  # the image the DAG names, where it cannot be pulled
    run_id = run(airflow, DAG_ID, namespace)
    for task_id in ("squares", "report"):
        state = airflow.wait_for_task_state(DAG_ID, run_id, task_id, {"success"}, timeout=240)
        assert state == "success"
    assert airflow.xcom(DAG_ID, run_id, "squares") == {"label": run_id, "squares": [0, 1, 4, 9]}
    assert f"{run_id}: computing in Python 3." in airflow.task_log(DAG_ID, run_id, "squares")
    assert f"last-square=9 of {run_id}" in airflow.task_log(DAG_ID, run_id, "report")
