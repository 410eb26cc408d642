"""The API server answering a burst of 429, 500 and 503 while tasks are deferred (real Airflow, the
real cluster behind an HTTP proxy that answers every request with those statuses for half a
minute, having cut the streams open): the tasks end as their pods do, with every log line once,
the XCom value, one pod, Job and ConfigMap each, and a line or two in their logs about it."""

from __future__ import annotations

import re
import time

from kubernetes import client

from tests.e2e.airflow_env import AirflowEnv
from tests.e2e.test_pod_operator import run
from tests.reliability.test_api_outage import TICKS, assert_complete
from tests.reliability.test_user_actions import assert_nothing_left, deferred_and_watched_in, owned
from tests.support.http_faults import BackgroundHttpFaultProxy

DAG_ID = "reliability_http_faults"
TASKS = ("pod", "job", "body")
BURST = (429, 500, 503)
BURST_SECONDS = 30


def test_a_burst_of_429_500_503_loses_nothing(
    airflow: AirflowEnv, kube_api: client.ApiClient, namespace: str, faulty: BackgroundHttpFaultProxy
) -> None:
    run_id = run(airflow, DAG_ID, namespace)
    deferred_and_watched_in(airflow, DAG_ID, run_id, TASKS)
    for task in TASKS:  # the watch has listed the object, its log is followed
        airflow.eventually(lambda t=task: "tick-" in airflow.task_log(DAG_ID, run_id, t), timeout=60)
    cut = faulty.burst(BURST, retry_after=1)
    assert cut >= 1, "the triggerer held no stream through the proxy"
    time.sleep(BURST_SECONDS)  # the fault itself: half a minute of 429/500/503
    faulty.heal()
    answered = faulty.answered
    assert all(answered[code] >= 1 for code in BURST), f"the burst met no requests: {answered}"
    during = owned(kube_api, namespace)
    assert (len(during["pods"]), len(during["jobs"]), len(during["configmaps"])) == (3, 1, 1), during
    for task in TASKS:
        log = assert_complete(airflow, run_id, task, dag_id=DAG_ID)
        # Said once per watch the task waits on (a Job: its own and its pods'), and when it was
        # back; no line per answer, no traceback (checked by assert_complete).
        lost = [line for line in log.splitlines() if "Watch of " in line and " lost " in line]
        back = [line for line in log.splitlines() if "Watch of " in line and " is back after " in line]
        assert 1 <= len(lost) <= 2 and len(back) == len(lost), f"{task}:\n" + "\n".join(lost + back)
        assert len(re.findall(r"HTTP (429|500|503)\b", log)) <= len(lost), f"{task}: a line per answer"
    assert airflow.xcom(DAG_ID, run_id, "pod") == {"ticks": TICKS}
    assert_nothing_left(airflow, kube_api, namespace)
