"""200 short pods in the default mode (defer at once, end in the triggerer): every task ends in its
right state and the scheduler never hits apache/airflow#71580 (a resumed attempt failed by the
executor's late report of the deferring one), which only tasks that resume on a worker can hit."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.e2e.airflow_env import RACE_71580, AirflowEnv
from tests.e2e.dags.pod_e2e import SHORT_PODS
from tests.e2e.test_pod_operator import pods_of, run


@pytest.mark.timeout(900)
def test_short_pods_end_in_their_states_without_the_resume_race(
    airflow: AirflowEnv, core: client.CoreV1Api, namespace: str
) -> None:
    run_id = run(airflow, "pod_short_burst", namespace)
    state = airflow.wait_for_run("pod_short_burst", run_id, timeout=900)
    assert state == "failed"  # every fourth pod exits 3
    states: dict[int, str] = {}
    path = f"/api/v2/dags/pod_short_burst/dagRuns/{run_id}/taskInstances"
    while page := airflow.api("GET", path, params={"limit": 100, "offset": len(states)})["task_instances"]:
        states.update({ti["map_index"]: ti["state"] for ti in page})  # the API serves 100 a page
    wanted = {i: "failed" if i % 4 == 0 else "success" for i in range(SHORT_PODS)}
    wrong = {i: (states.get(i), want) for i, want in wanted.items() if states.get(i) != want}
    assert not wrong, f"{len(wrong)} tasks in the wrong state (got, wanted): {dict(list(wrong.items())[:10])}"
    assert not airflow.scheduler_race_seen(), f"the scheduler log shows {RACE_71580!r}"
    starts = airflow.executor_enqueues("pod_short_burst", run_id, "run")
    assert starts == SHORT_PODS, f"{starts} worker starts for {SHORT_PODS} tasks: none may resume on a worker"
    assert airflow.eventually(lambda: not pods_of(core, namespace, "pod_short_burst"), timeout=180)
