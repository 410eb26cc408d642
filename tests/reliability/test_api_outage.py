"""The Kubernetes API server unreachable for a minute while tasks are deferred (real Airflow,
real cluster, a loopback TCP proxy the test breaks): the tasks end as their pods do, every log
line arrives, nothing is created twice or left behind, and the task log says little about it."""

from __future__ import annotations

import re
import time

from kubernetes import client

from tests.e2e.airflow_env import AirflowEnv
from tests.e2e.test_pod_operator import run
from tests.reliability.test_user_actions import assert_nothing_left, deferred_and_watched_in
from tests.support.tcp_proxy import BackgroundProxy

DAG_ID = "reliability_api_outage"
TASKS = ("pod", "job", "body")
OUTAGE_SECONDS = 60
TICKS = 100


def assert_complete(airflow: AirflowEnv, run_id: str, task: str, *, dag_id: str = DAG_ID) -> str:
    """The task succeeded and its log holds every tick once; its log."""
    state = airflow.wait_for_task_state(dag_id, run_id, task, {"success", "failed"}, timeout=300)
    log = airflow.task_log(dag_id, run_id, task)
    assert state == "success", log
    ticks = [int(n) for n in re.findall(r"\] tick-(\d+)\b", log)]
    missing = sorted(set(range(1, TICKS + 1)) - set(ticks))
    assert not missing, f"{task}: log lines lost: {missing}"
    assert len(ticks) == TICKS, f"{task}: {len(ticks) - TICKS} lines delivered twice"
    assert "Traceback" not in log
    return log


def test_a_minute_without_the_api_server_loses_nothing(
    airflow: AirflowEnv, kube_api: client.ApiClient, namespace: str, proxied: BackgroundProxy
) -> None:
    run_id = run(airflow, DAG_ID, namespace)
    deferred_and_watched_in(airflow, DAG_ID, run_id, TASKS)
    for task in TASKS:  # the watch has listed the object (the trigger's connection is open)
        airflow.eventually(lambda t=task: " is running" in airflow.task_log(DAG_ID, run_id, t), timeout=60)
    proxied.refuse()
    cut = proxied.cut()
    assert cut >= 1, "the triggerer held no connection through the proxy"
    time.sleep(OUTAGE_SECONDS)  # the fault itself: a minute without the API server
    proxied.accept()
    for task in TASKS:
        log = assert_complete(airflow, run_id, task)
        # Said in the task log once per watch the task waits on (a Job: its own and its pods'),
        # with when it was back; no line per reconnection attempt, no traceback.
        lost = [line for line in log.splitlines() if "Watch of " in line and " lost " in line]
        back = [line for line in log.splitlines() if "Watch of " in line and " is back after " in line]
        assert 1 <= len(lost) <= 2 and len(back) == len(lost), f"{task}:\n" + "\n".join(lost + back)
        assert "reconnecting in" not in log
        # Back soon after the API server is: request retries (~9 s) and one reconnect delay (10 s).
        took = [int(n) for n in re.findall(r" is back after (\d+)s", log)]
        assert max(took) <= OUTAGE_SECONDS + 30, f"{task}: back only after {took} s"
    assert_nothing_left(airflow, kube_api, namespace)
