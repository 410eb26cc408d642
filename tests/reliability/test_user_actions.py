"""A user marks, clears or deletes deferred tasks (real Airflow, real cluster, the test's Armada
server): what the tasks created goes (or, on a clear, the new try carries on with exactly one of
each), nothing is orphaned, and each task's log says what happened once."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kubernetes import client

from airflow_k8s_async._kube.ownership import MANAGED_BY_KEY, MANAGED_BY_VALUE
from tests.e2e.airflow_env import AirflowEnv
from tests.e2e.test_pod_operator import run
from tests.support import kube
from tests.support.armada_server import ArmadaTestServer

DAG_ID = "reliability_actions"
KUBE_TASKS = ("pod", "job", "body")
TASKS = (*KUBE_TASKS, "armada")
# What each task's log says its kill did.
SAID = {**{task: "Task killed; deleted" for task in KUBE_TASKS}, "armada": "Cancelled Armada job"}
OWNED = f"{MANAGED_BY_KEY}={MANAGED_BY_VALUE}"


def owned(kube_api: client.ApiClient, namespace: str) -> dict[str, list[str]]:
    """Our live objects in the namespace, by kind (what is being deleted does not count)."""
    return kube.owned(kube_api, namespace, OWNED)


def deferred_and_watched(airflow: AirflowEnv, run_id: str) -> None:
    deferred_and_watched_in(airflow, DAG_ID, run_id, TASKS)


def armada_jobs(armada: ArmadaTestServer, run_id: str) -> dict[str, tuple[str, list[str]]]:
    """The run's Armada jobs, in submission order: job id -> (state, cancel reasons)."""
    jobs = sorted(
        (j for j in armada.jobs.values() if j.job_set_id.endswith(run_id)), key=lambda j: j.submitted
    )
    return {job.job_id: (job.state, list(job.cancel_reasons)) for job in jobs}


def assert_cancelled_once_by_the_kill(airflow: AirflowEnv, armada: ArmadaTestServer, job_id: str) -> None:
    airflow.eventually(lambda: armada.jobs[job_id].state != "RUNNING", timeout=60)
    assert (armada.jobs[job_id].state, armada.jobs[job_id].cancel_reasons) == (
        "CANCELLED",
        ["the Airflow task was killed"],
    )


def deferred_and_watched_in(airflow: AirflowEnv, dag_id: str, run_id: str, tasks: tuple[str, ...]) -> None:
    """Every task deferred, and its trigger running in the triggerer (else a kill finds no trigger)."""
    for task in tasks:
        airflow.wait_for_task_state(dag_id, run_id, task, {"deferred"}, timeout=180)
        airflow.eventually(
            lambda t=task: f"trigger {dag_id}/{run_id}/{t}/" in airflow.task_log(dag_id, run_id, t),
            timeout=60,
        )


def assert_nothing_left(airflow: AirflowEnv, kube_api: client.ApiClient, namespace: str) -> None:
    try:
        airflow.eventually(lambda: not any(owned(kube_api, namespace).values()), timeout=90)
    except AssertionError:
        raise AssertionError(f"left on the cluster: {owned(kube_api, namespace)}") from None


def mark(state: str) -> Callable[[AirflowEnv, str], None]:
    def act(airflow: AirflowEnv, run_id: str) -> None:
        for task in TASKS:
            airflow.set_task_state(DAG_ID, run_id, task, state)

    return act


def fail_and_delete_run(airflow: AirflowEnv, run_id: str) -> None:
    """Airflow deletes no running DAG run: mark it failed, then delete it before the triggerer
    acts, so the killed triggers find no task instance left."""
    airflow.set_run_state(DAG_ID, run_id, "failed")
    airflow.delete_run(DAG_ID, run_id)


ACTIONS = {
    "mark_failed": mark("failed"),
    "mark_success": mark("success"),
    "mark_run_failed": lambda airflow, run_id: airflow.set_run_state(DAG_ID, run_id, "failed"),
    "fail_and_delete_run": fail_and_delete_run,
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_marking_or_deleting_the_run_while_deferred_deletes_what_the_tasks_created(
    airflow: AirflowEnv, kube_api: client.ApiClient, namespace: str, armada: ArmadaTestServer, action: str
) -> None:
    run_id = run(airflow, DAG_ID, namespace)
    deferred_and_watched(airflow, run_id)
    before = owned(kube_api, namespace)
    assert (len(before["pods"]), len(before["jobs"]), len(before["configmaps"])) == (3, 1, 1), before
    [job_id] = armada_jobs(armada, run_id)
    ACTIONS[action](airflow, run_id)
    assert_nothing_left(airflow, kube_api, namespace)
    assert_cancelled_once_by_the_kill(airflow, armada, job_id)
    if action != "fail_and_delete_run":  # a deleted run has no task log left to read
        for task in TASKS:
            log = airflow.task_log(DAG_ID, run_id, task)
            assert log.count(SAID[task]) >= 1, f"{task}: the log does not say what the kill did"
            assert "Trigger stopped while its task is still deferred" not in log


def test_clearing_deferred_tasks_runs_them_again_with_one_pod_each(
    airflow: AirflowEnv, kube_api: client.ApiClient, namespace: str, armada: ArmadaTestServer
) -> None:
    run_id = run(airflow, DAG_ID, namespace)
    deferred_and_watched(airflow, run_id)
    first = owned(kube_api, namespace)
    [first_job] = armada_jobs(armada, run_id)
    for task in TASKS:
        airflow.clear_task(DAG_ID, run_id, task)
    for task in TASKS:  # the second try runs and defers again
        airflow.eventually(
            lambda t=task: (airflow.task_instance(DAG_ID, run_id, t) or {}).get("try_number") == 2,
            timeout=120,
        )
    # (A task marked before its trigger has started in the triggerer leaves what it created:
    # no code of ours runs for it. See docs/reliability.md.)
    deferred_and_watched(airflow, run_id)

    def settled() -> dict[str, list[str]] | None:
        now = owned(kube_api, namespace)
        return now if (len(now["pods"]), len(now["jobs"]), len(now["configmaps"])) == (3, 1, 1) else None

    # One of each again: the pod task adopted its pod or made a new one after the old try's
    # kill deleted it, never both; the Job and the body were deleted by the kill and made anew.
    again = airflow.eventually(settled, timeout=90)
    assert again["jobs"] != first["jobs"] and again["configmaps"] != first["configmaps"]
    # The Armada task: the old try's job cancelled by its kill, one job of the new try running.
    assert_cancelled_once_by_the_kill(airflow, armada, first_job)
    jobs = armada_jobs(armada, run_id)
    assert [state for state, _ in jobs.values()] == ["CANCELLED", "RUNNING"], jobs
    mark("failed")(airflow, run_id)
    assert_nothing_left(airflow, kube_api, namespace)
    assert_cancelled_once_by_the_kill(airflow, armada, list(jobs)[-1])
