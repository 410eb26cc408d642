"""Triggerers stalled, killed and replaced under deferred tasks, with real Airflow processes and
the real cluster: every task ends in its right state, nothing that should run on is deleted.

See docs/reliability.md for the promises these tests hold the code to.
"""

from __future__ import annotations

from kubernetes import client

from airflow_k8s_async._kube.ownership import MANAGED_BY_KEY, MANAGED_BY_VALUE
from tests.e2e.airflow_env import AirflowEnv
from tests.e2e.test_pod_operator import run
from tests.support.armada_server import ArmadaTestServer

TASKS = ("pod", "job", "body", "armada")
DONE = {"success", "failed", "skipped", "upstream_failed"}
KEPT_LINE = "Trigger stopped while its task is still deferred"


OWNED = f"{MANAGED_BY_KEY}={MANAGED_BY_VALUE}"


def _with(needle: str, text: str) -> str | None:
    return text if needle in text else None


def _owned_pods(core: client.CoreV1Api, namespace: str) -> list[client.V1Pod]:
    return list(core.list_namespaced_pod(namespace, label_selector=OWNED).items)


def test_a_stalled_triggerer_that_lost_its_triggers_deletes_nothing_and_a_killed_one_is_replaced(
    airflow: AirflowEnv, core: client.CoreV1Api, namespace: str, armada: ArmadaTestServer
) -> None:
    """Two triggerers. The one running the triggers of a pod, a Job, a pod-led YAML body and an
    Armada task is stopped (SIGSTOP) until the other takes them over, then continues (SIGCONT):
    Airflow then cancels its copies "by user action" (apache/airflow#73454), and they must delete
    or cancel nothing. Then the second triggerer is SIGKILLed: the first adopts the triggers again.
    All tasks succeed."""
    dag_id = "reliability_stall"
    cancels = armada.counts().calls.get("CancelJobs", 0)  # the server serves the session's tests
    run_id = run(airflow, dag_id, namespace)
    for task in TASKS:
        airflow.wait_for_task_state(dag_id, run_id, task, {"deferred"}, timeout=120)
    first = airflow.triggerer_job_id()
    assert airflow.eventually(
        lambda: all(airflow.triggerer_of(dag_id, run_id, t) == first for t in TASKS), timeout=60
    )
    second = airflow.start_triggerer("triggerer-2")
    try:
        airflow.pause("triggerer")
        try:
            moved = airflow.eventually(
                lambda: all(airflow.triggerer_of(dag_id, run_id, t) == second for t in TASKS), timeout=90
            )
        finally:
            airflow.resume("triggerer")
        assert moved
        # Back, the first triggerer finds its triggers assigned elsewhere and cancels its copies.
        # (Airflow writes a trigger's log per triggerer, and rewrites that file when the same
        # triggerer runs the trigger again: so this is checked now, before the hand-back below.)
        for task in TASKS:
            log = airflow.eventually(
                lambda t=task: _with(KEPT_LINE, airflow.task_log(dag_id, run_id, t)), timeout=60
            )
            assert log.count(KEPT_LINE) == 1, f"{task}: one line per incident"
            assert "Task killed" not in log
        pods = _owned_pods(core, namespace)
        assert len(pods) == 3, [p.metadata.name for p in pods]  # the pod, the Job's pod, the body's pod
        assert all(p.metadata.deletion_timestamp is None for p in pods), "a stalled triggerer deleted pods"
        configs = core.list_namespaced_config_map(namespace, label_selector=OWNED).items
        assert len(configs) == 1 and configs[0].metadata.deletion_timestamp is None  # the body's ConfigMap
        [job] = [j for j in armada.jobs.values() if j.job_set_id.endswith(run_id)]
        assert (job.state, job.cancel_reasons) == ("RUNNING", []), "a stalled triggerer cancelled a job"
        # Now the second triggerer dies hard: the first adopts the triggers once its heartbeat lapses.
        airflow.stop_component("triggerer-2", kill=True)
        for task in TASKS:
            state = airflow.wait_for_task_state(dag_id, run_id, task, DONE, timeout=240)
            assert state == "success", airflow.task_log(dag_id, run_id, task)
            log = airflow.task_log(dag_id, run_id, task)
            assert task == "armada" or "tick-75" in log, f"{task}: the log's end is missing"
            assert "Task killed" not in log
        assert (job.state, job.cancel_reasons) == ("SUCCEEDED", [])
        assert armada.counts().calls.get("CancelJobs", 0) == cancels
    finally:
        if "triggerer-2" in airflow.running_components():
            airflow.stop_component("triggerer-2", kill=True)
