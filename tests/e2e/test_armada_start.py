"""ArmadaOperator with ``start_from_trigger=True`` end to end: real Airflow 3.3 against the
in-process Armada test server, with real pods for logs. The executor never sees the task; the job
is submitted once per try, also across a triggerer SIGKILL; a user's kill cancels it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from tests.e2e.airflow_env import AirflowEnv
from tests.e2e.test_armada_operator import SCENARIOS, jobs_of, many, run
from tests.support.armada_server import ArmadaTestServer

DAG_ID = "armada_start"
DONE = {"success", "failed"}


@pytest.fixture(scope="module")
def armada(airflow: AirflowEnv, core: client.CoreV1Api) -> Iterator[ArmadaTestServer]:
    server = ArmadaTestServer(scenarios=SCENARIOS, kube_core=core, scenario_factory=many).start()
    airflow.set_variable("armada_e2e_target", server.target)
    airflow.wait_for_task_doc(DAG_ID, "job", server.target)  # the target travels in the trigger kwargs
    yield server
    server.stop()


def test_a_job_started_in_the_triggerer_never_reaches_a_worker(
    airflow: AirflowEnv, armada: ArmadaTestServer
) -> None:
    run_id = run(airflow, DAG_ID, scenario="pod")
    state = airflow.wait_for_task_state(DAG_ID, run_id, "job", DONE, timeout=180)
    log = airflow.task_log(DAG_ID, run_id, "job")
    assert state == "success", log
    [job_id] = jobs_of(armada, run_id)
    assert "armada-e2e-line-20" in log  # the pod's log, followed from the triggerer
    assert airflow.xcom(DAG_ID, run_id, "job", key="job_context")["armada_job_id"] == job_id
    assert airflow.xcom(DAG_ID, run_id, "job")["job_id"] == job_id  # the return value, as on a worker
    assert airflow.xcom(DAG_ID, run_id, "job", key="armada_docs_url") == f"http://docs.invalid/{DAG_ID}"
    assert airflow.executor_enqueues(DAG_ID, run_id, "job") == 0
    assert "Pausing task as DEFERRED" not in log
    assert armada.jobs[job_id].item.labels["scenario"] == "pod"  # the request rendered in the triggerer


def test_a_triggerer_sigkill_after_the_submission_submits_no_second_job(
    airflow: AirflowEnv, armada: ArmadaTestServer
) -> None:
    before = armada.counts().calls.get("SubmitJobs", 0)
    run_id = run(airflow, DAG_ID, scenario="hold")
    running = airflow.eventually(
        lambda: [j for j in jobs_of(armada, run_id) if armada.jobs[j].state == "RUNNING"], timeout=120
    )
    [job_id] = running
    airflow.restart_triggerer(kill=True)
    airflow.eventually(
        lambda: "of this try (submitted before a restart)" in airflow.task_log(DAG_ID, run_id, "job"),
        timeout=120,
    )
    armada.release(job_id)
    assert airflow.wait_for_task_state(DAG_ID, run_id, "job", DONE, timeout=180) == "success"
    assert jobs_of(armada, run_id) == [job_id]
    assert armada.counts().calls.get("SubmitJobs", 0) == before + 1
    assert armada.jobs[job_id].cancel_reasons == []
    assert airflow.executor_enqueues(DAG_ID, run_id, "job") == 0


def test_marking_it_failed_cancels_the_job(airflow: AirflowEnv, armada: ArmadaTestServer) -> None:
    run_id = run(airflow, DAG_ID, scenario="long")
    [job_id] = airflow.eventually(
        lambda: [j for j in jobs_of(armada, run_id) if armada.jobs[j].state == "RUNNING"], timeout=120
    )
    airflow.set_task_state(DAG_ID, run_id, "job", "failed")
    assert airflow.eventually(lambda: armada.jobs[job_id].state == "CANCELLED", timeout=90)
    assert armada.jobs[job_id].cancel_reasons == ["the Airflow task was killed"]
