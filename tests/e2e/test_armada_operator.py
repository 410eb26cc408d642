"""ArmadaOperator end to end: real Airflow 3 (scheduler, triggerer, api-server, dag-processor)
against the in-process Armada test server (real gRPC on loopback), with real pods for logs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from tests.e2e.airflow_env import AirflowEnv
from tests.support.armada_server import ArmadaTestServer, JobScript

RUN = 15.0  # jobs run this long: the trigger fires well after deferral (apache/airflow#71580)
SCENARIOS = {
    "ok": JobScript(steps=(("QUEUED", 0.2), ("RUNNING", 0.5), ("SUCCEEDED", RUN))),
    "pod": JobScript(pod_command="for i in $(seq 1 20); do echo armada-e2e-line-$i; sleep 1; done"),
    "fail": JobScript(
        steps=(("QUEUED", 0.2), ("RUNNING", 0.5), ("FAILED", RUN)), error="e2e: container main exited with 3"
    ),
    "preempt": JobScript(
        steps=(("QUEUED", 0.2), ("RUNNING", 0.5), ("PREEMPTED", RUN)),
        error="preempted by a higher priority job",
    ),
    "long": JobScript(steps=(("QUEUED", 0.2), ("RUNNING", 0.5), ("SUCCEEDED", 600.0))),
    "stuck": JobScript(steps=()),
}


def many(label: str) -> JobScript | None:
    """``many-<i>``: running until the test releases them, then ending 0.4 s apart."""
    if not label.startswith("many-"):
        return None
    index = int(label.split("-", 1)[1])
    return JobScript(steps=(("QUEUED", 0.2), ("RUNNING", 0.5), ("WAIT", 5 + index * 0.4), ("SUCCEEDED", 0.1)))


@pytest.fixture(scope="module")
def armada(airflow: AirflowEnv, core: client.CoreV1Api) -> Iterator[ArmadaTestServer]:
    server = ArmadaTestServer(scenarios=SCENARIOS, kube_core=core, scenario_factory=many).start()
    body = {"key": "armada_e2e_target", "value": server.target}
    airflow._request("POST", "/api/v2/variables", json=body, expect=(200, 201))
    yield server
    server.stop()


def run(airflow: AirflowEnv, dag_id: str, **conf: str) -> str:
    airflow.wait_for_dag(dag_id, timeout=120)
    return airflow.trigger(dag_id, conf=dict(conf))


def jobs_of(server: ArmadaTestServer, run_id: str) -> list[str]:
    return [job.job_id for job in server.jobs.values() if job.job_set_id.endswith(run_id)]


def finish(airflow: AirflowEnv, dag_id: str, run_id: str, *, timeout: float = 180) -> str:
    return airflow.wait_for_task_state(dag_id, run_id, "job", {"success", "failed"}, timeout=timeout)


def test_success_streams_the_pods_log_while_deferred(airflow: AirflowEnv, armada: ArmadaTestServer) -> None:
    run_id = run(airflow, "armada_job", scenario="pod")
    airflow.wait_for_task_state("armada_job", run_id, "job", {"deferred"}, timeout=120)
    assert airflow.eventually(
        lambda: (
            "armada-e2e-line-8" in airflow.task_log("armada_job", run_id, "job")
            and airflow.task_state("armada_job", run_id, "job") == "deferred"
        ),
        timeout=60,
    )
    assert finish(airflow, "armada_job", run_id) == "success"
    [job_id] = jobs_of(armada, run_id)
    result = airflow.xcom("armada_job", run_id, "job")
    assert result["job_id"] == job_id and result["job_state"] == "SUCCEEDED"
    assert result["job_set_id"] == f"e2e-{run_id}"
    assert airflow.xcom("armada_job", run_id, "job", key="armada_lookout_url") == (
        f"http://lookout.invalid/jobs/{job_id}"
    )
    assert (
        airflow.xcom("armada_job", run_id, "job", key="armada_docs_url") == "http://docs.invalid/armada_job"
    )
    annotations = armada.jobs[job_id].item.annotations
    assert annotations["armadaproject.io/externalJobUri"] == f"airflow://armada_job/job/{run_id}/-1"
    assert annotations["armadaproject.io/jobSet"] == f"e2e-{run_id}"
    log = airflow.task_log("armada_job", run_id, "job")
    assert "[main] armada-e2e-line-1" in log and "[main] armada-e2e-line-20" in log
    assert log.count("armada-e2e-line-5") == 1, "log lines must not repeat"


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("fail", ["FAILED", "e2e: container main exited with 3"]),
        ("preempt", ["PREEMPTED", "preempted by a higher priority job"]),
    ],
)
def test_unsuccessful_job_fails_the_task_with_armadas_reason(
    airflow: AirflowEnv, armada: ArmadaTestServer, scenario: str, expected: list[str]
) -> None:
    run_id = run(airflow, "armada_job", scenario=scenario)
    airflow.wait_for_task_state("armada_job", run_id, "job", {"deferred"}, timeout=120)
    assert finish(airflow, "armada_job", run_id) == "failed"
    log = airflow.task_log("armada_job", run_id, "job")
    assert all(text in log for text in expected), log[-3000:]


def test_cancelled_from_outside_fails_the_task(airflow: AirflowEnv, armada: ArmadaTestServer) -> None:
    run_id = run(airflow, "armada_job", scenario="long")
    airflow.wait_for_task_state("armada_job", run_id, "job", {"deferred"}, timeout=120)
    [job_id] = jobs_of(armada, run_id)
    armada.cancel_from_outside(job_id, "cancelled in Lookout by an admin")
    assert finish(airflow, "armada_job", run_id) == "failed"
    log = airflow.task_log("armada_job", run_id, "job")
    assert "CANCELLED" in log and "cancelled in Lookout by an admin" in log


def test_acknowledgement_timeout_cancels_and_says_so(airflow: AirflowEnv, armada: ArmadaTestServer) -> None:
    run_id = run(airflow, "armada_job", scenario="stuck")
    assert finish(airflow, "armada_job", run_id) == "failed"
    [job_id] = jobs_of(armada, run_id)
    assert armada.jobs[job_id].state == "CANCELLED"
    assert "within job_acknowledgement_timeout=20s" in airflow.task_log("armada_job", run_id, "job")


def test_marking_failed_while_deferred_cancels_the_job(airflow: AirflowEnv, armada: ArmadaTestServer) -> None:
    before = armada.counts().calls.get("CancelJobs", 0)
    run_id = run(airflow, "armada_job", scenario="long")
    airflow.wait_for_task_state("armada_job", run_id, "job", {"deferred"}, timeout=120)
    [job_id] = jobs_of(armada, run_id)
    airflow.eventually(
        lambda: f"trigger armada_job/{run_id}/" in airflow.task_log("armada_job", run_id, "job"), timeout=60
    )
    airflow.set_task_state("armada_job", run_id, "job", "failed")
    assert airflow.eventually(lambda: armada.jobs[job_id].state == "CANCELLED", timeout=60)
    assert armada.jobs[job_id].cancel_reasons == ["the Airflow task was killed"]
    assert armada.counts().calls["CancelJobs"] == before + 1


@pytest.mark.parametrize(("policy", "jobs"), [("never", 2), ("always", 1), ("running_or_succeeded", 1)])
def test_retry_follows_the_reattach_policy(
    airflow: AirflowEnv, armada: ArmadaTestServer, policy: str, jobs: int
) -> None:
    dag_id = f"armada_reattach_{policy}"
    run_id = run(airflow, dag_id)
    assert finish(airflow, dag_id, run_id, timeout=240) == "success"
    assert len(jobs_of(armada, run_id)) == jobs
    log = airflow.task_log(dag_id, run_id, "job", try_number=2)
    if jobs == 1:
        assert "Reattaching to Armada job" in log
    else:
        assert "not reattaching (reattach_policy)" in log


def test_dry_run_submits_nothing(airflow: AirflowEnv, armada: ArmadaTestServer) -> None:
    before = armada.counts().calls.get("SubmitJobs", 0)
    run_id = run(airflow, "armada_dry_run")
    assert finish(airflow, "armada_dry_run", run_id) == "success"
    assert armada.counts().calls.get("SubmitJobs", 0) == before
    log = airflow.task_log("armada_dry_run", run_id, "job")
    assert "dry_run" in log and "busybox:local" in log and "externalJobUri" in log


def test_a_hundred_deferred_jobs_of_one_job_set_share_one_stream(
    airflow: AirflowEnv, armada: ArmadaTestServer
) -> None:
    run_id = run(airflow, "armada_many")

    def deferred() -> int:
        tis = airflow.api(
            "GET", f"/api/v2/dags/armada_many/dagRuns/{run_id}/taskInstances", params={"limit": 200}
        )
        return sum(1 for ti in tis["task_instances"] if ti["state"] == "deferred")

    airflow.eventually(lambda: deferred() == 100, timeout=600, interval=2)
    job_set = f"many-{run_id}"
    streams = [request for request in armada.stream_requests if request[0] == job_set]
    assert armada.open_by_job_set[job_set] == 1, armada.counts()
    assert len(streams) == 1, "one GetJobSetEvents stream for the job set, shared by 100 triggers"
    armada.release()
    assert airflow.wait_for_run("armada_many", run_id, timeout=300) == "success", (
        "apache/airflow#71580 seen" if airflow.scheduler_race_seen() else ""
    )
    counts = armada.counts()
    assert counts.calls.get("GetJobStatus", 0) == 0
    assert len([r for r in armada.stream_requests if r[0] == job_set]) == 1
