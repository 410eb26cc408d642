"""ArmadaOperator end to end: real Airflow 3 (scheduler, triggerer, api-server, dag-processor)
against the in-process Armada test server (real gRPC on loopback), with real pods for logs."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from kubernetes import client

from tests.e2e.airflow_env import AirflowEnv
from tests.support.armada_server import ArmadaTestServer, JobScript

RUN = 15.0  # jobs run this long: the trigger fires well after deferral (apache/airflow#71580)
QUICK = 0.5  # jobs that end within the operator's wait before deferring (5 s): no deferral at all
# The test server puts only an error's first line in the failed / preempted event; the rest comes
# from GetJobErrors alone, so the tests look for that rest.
SCENARIOS = {
    "ok": JobScript(steps=(("QUEUED", 0.2), ("RUNNING", 0.5), ("SUCCEEDED", RUN))),
    "pod": JobScript(pod_command="for i in $(seq 1 20); do echo armada-e2e-line-$i; sleep 1; done"),
    "fail": JobScript(
        steps=(("QUEUED", 0.2), ("RUNNING", 0.5), ("FAILED", RUN)),
        error="e2e: container main exited with 3\ne2e: last words: disk quota exceeded on /scratch",
    ),
    "preempt": JobScript(
        steps=(("QUEUED", 0.2), ("RUNNING", 0.5), ("PREEMPTED", RUN)),
        error="preempted\nby a higher priority job of queue e2e-urgent",
    ),
    "long": JobScript(steps=(("QUEUED", 0.2), ("RUNNING", 0.5), ("SUCCEEDED", 600.0))),
    "stuck": JobScript(steps=()),
    # Runs until the test releases it (ArmadaTestServer.release(job_id)).
    "hold": JobScript(steps=(("QUEUED", 0.2), ("RUNNING", 0.5), ("WAIT", 0.0), ("SUCCEEDED", 0.1))),
    # Longer than the wait before deferring, so only deferrable=False keeps it on the worker.
    "inline": JobScript(steps=(("QUEUED", 0.2), ("RUNNING", 0.5), ("SUCCEEDED", 8.0))),
    # The reattach DAGs: try 1's job fails (OOMKilled only in GetJobErrors' text), try 2's succeeds.
    "try-1": JobScript(
        steps=(("QUEUED", 0.2), ("RUNNING", 0.2), ("FAILED", QUICK)),
        error="e2e: container main exited with 137\nOOMKilled: e2e try 1 used too much memory",
    ),
    "try-2": JobScript(steps=(("QUEUED", 0.2), ("RUNNING", 0.2), ("SUCCEEDED", QUICK))),
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
    airflow.set_variable("armada_e2e_target", server.target)
    yield server
    server.stop()


def run(airflow: AirflowEnv, dag_id: str, **conf: str) -> str:
    airflow.wait_for_dag(dag_id, timeout=120)
    return airflow.trigger(dag_id, conf=dict(conf))


def jobs_of(server: ArmadaTestServer, run_id: str) -> list[str]:
    return [job.job_id for job in server.jobs.values() if job.job_set_id.endswith(run_id)]


def finish(airflow: AirflowEnv, dag_id: str, run_id: str, *, timeout: float = 180) -> str:
    return airflow.wait_for_task_state(dag_id, run_id, "job", {"success", "failed"}, timeout=timeout)


def trigger_running(airflow: AirflowEnv, run_id: str) -> bool:
    """The triggerer has loaded the task's trigger (Airflow logs "trigger <dag>/<run>/... starting")."""
    return f"trigger armada_job/{run_id}/" in airflow.task_log("armada_job", run_id, "job")


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
        ("fail", ["FAILED", "e2e: last words: disk quota exceeded on /scratch"]),
        ("preempt", ["PREEMPTED", "by a higher priority job of queue e2e-urgent"]),
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


def deferred_long_job(airflow: AirflowEnv, armada: ArmadaTestServer) -> tuple[str, str]:
    """A run whose job runs long, once its task is deferred and its trigger runs: (run id, job id)."""
    run_id = run(airflow, "armada_job", scenario="long")
    airflow.wait_for_task_state("armada_job", run_id, "job", {"deferred"}, timeout=120)
    [job_id] = jobs_of(armada, run_id)
    assert airflow.eventually(lambda: trigger_running(airflow, run_id), timeout=60)
    return run_id, job_id


def assert_cancelled_once_by_the_kill(armada: ArmadaTestServer, job_id: str, *, calls_before: int) -> None:
    assert armada.jobs[job_id].cancel_reasons == ["the Airflow task was killed"]
    assert armada.counts().calls["CancelJobs"] == calls_before + 1


def test_marking_failed_while_deferred_cancels_the_job(airflow: AirflowEnv, armada: ArmadaTestServer) -> None:
    before = armada.counts().calls.get("CancelJobs", 0)
    run_id, job_id = deferred_long_job(airflow, armada)
    airflow.set_task_state("armada_job", run_id, "job", "failed")
    assert airflow.eventually(lambda: armada.jobs[job_id].state == "CANCELLED", timeout=60)
    assert_cancelled_once_by_the_kill(armada, job_id, calls_before=before)


def test_clearing_a_deferred_task_cancels_its_job(airflow: AirflowEnv, armada: ArmadaTestServer) -> None:
    before = armada.counts().calls.get("CancelJobs", 0)
    run_id, job_id = deferred_long_job(airflow, armada)
    airflow.clear_task("armada_job", run_id, "job")
    assert airflow.eventually(lambda: armada.jobs[job_id].state == "CANCELLED", timeout=60)
    assert_cancelled_once_by_the_kill(armada, job_id, calls_before=before)
    # The cleared task runs again with a job of its own; marking it failed ends that one too.
    second = airflow.eventually(lambda: [j for j in jobs_of(armada, run_id) if j != job_id], timeout=120)
    airflow.wait_for_task_state("armada_job", run_id, "job", {"deferred"}, timeout=120)
    assert airflow.eventually(lambda: trigger_running(airflow, run_id), timeout=60)
    airflow.set_task_state("armada_job", run_id, "job", "failed")
    assert airflow.eventually(lambda: armada.jobs[second[0]].state == "CANCELLED", timeout=60)


def test_triggerer_restart_keeps_the_job_and_the_task_succeeds(
    airflow: AirflowEnv, armada: ArmadaTestServer
) -> None:
    """A restart runs the trigger's cleanup() but is no user's kill: the job must live on (on
    Airflow < 3.3 cleanup() asks the task's state, which is still "deferred")."""
    before = armada.counts().calls.get("CancelJobs", 0)
    run_id = run(airflow, "armada_job", scenario="hold")
    airflow.wait_for_task_state("armada_job", run_id, "job", {"deferred"}, timeout=120)
    [job_id] = jobs_of(armada, run_id)
    assert airflow.eventually(lambda: trigger_running(airflow, run_id), timeout=60)
    # Past the job's acknowledgement deadline (20 s in this DAG): the new triggerer replays the job
    # set from the SUBMITTED event on, which must not read as "never acknowledged".
    time.sleep(max(0.0, armada.jobs[job_id].submitted + 21 - time.time()))
    airflow.restart_triggerer()
    assert (armada.jobs[job_id].state, armada.jobs[job_id].cancel_reasons) == ("RUNNING", [])
    assert airflow.task_state("armada_job", run_id, "job") == "deferred"
    armada.release(job_id)
    assert finish(airflow, "armada_job", run_id) == "success"
    assert airflow.xcom("armada_job", run_id, "job")["job_id"] == job_id
    assert armada.jobs[job_id].cancel_reasons == []
    assert armada.counts().calls.get("CancelJobs", 0) == before


@pytest.mark.parametrize(
    ("policy", "outcome", "jobs"),
    [
        ("never", "success", 2),
        ("always", "failed", 1),  # takes over try 1's FAILED job, so fails with it
        ("running_or_succeeded", "success", 2),  # not a FAILED job: submits anew
        ("callable", "failed", 1),  # JobState.FAILED and "OOMKilled" in GetJobErrors' text
    ],
)
def test_retry_follows_the_reattach_policy(
    airflow: AirflowEnv, armada: ArmadaTestServer, policy: str, outcome: str, jobs: int
) -> None:
    dag_id = f"armada_reattach_{policy}"
    run_id = run(airflow, dag_id)
    assert finish(airflow, dag_id, run_id, timeout=240) == outcome
    found = jobs_of(armada, run_id)
    assert len(found) == jobs
    assert armada.jobs[found[0]].state == "FAILED"
    assert armada.jobs[found[0]].item.labels["scenario"] == "try-1"
    log = airflow.task_log(dag_id, run_id, "job", try_number=2)
    if jobs == 1:
        assert f"Reattaching to Armada job {found[0]}" in log
        assert "OOMKilled: e2e try 1 used too much memory" in log  # the failure it took over
    else:
        assert "not reattaching (reattach_policy)" in log
        assert armada.jobs[found[1]].item.labels["scenario"] == "try-2"


def test_not_deferrable_waits_on_the_worker_and_succeeds(
    airflow: AirflowEnv, armada: ArmadaTestServer
) -> None:
    run_id = run(airflow, "armada_inline")
    assert finish(airflow, "armada_inline", run_id) == "success"
    [job_id] = jobs_of(armada, run_id)
    assert airflow.xcom("armada_inline", run_id, "job")["job_id"] == job_id
    log = airflow.task_log("armada_inline", run_id, "job")
    assert f"Waiting for Armada job {job_id}" in log
    assert "Deferring" not in log and "trigger armada_inline/" not in log


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
    polls_before = armada.counts().calls.get("GetJobStatus", 0)  # the server is the module's
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
    assert armada.counts().calls.get("GetJobStatus", 0) == polls_before
    assert len([r for r in armada.stream_requests if r[0] == job_set]) == 1
