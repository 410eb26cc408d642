"""KubernetesPodOperator end to end: real Airflow 3 (scheduler, triggerer, api-server, dag-processor
on SQLite) and the real cluster, with `busybox:local` pods."""

from __future__ import annotations

import re
import time
from pathlib import Path

from kubernetes import client

from airflow_k8s_async.triggers.common import AIRFLOW_HAS_TRIGGER_ON_KILL
from tests.e2e.airflow_env import AirflowEnv
from tests.e2e.dags.pod_e2e import BURST_LINES, MARKERS


def pods_of(core: client.CoreV1Api, namespace: str, dag_id: str) -> list[client.V1Pod]:
    return list(core.list_namespaced_pod(namespace, label_selector=f"dag_id={dag_id}").items)


def trigger_running(airflow: AirflowEnv, dag_id: str, run_id: str) -> bool:
    """The triggerer has loaded the task's trigger (Airflow logs "trigger <dag>/<run>/... starting")."""
    return f"trigger {dag_id}/{run_id}/" in airflow.task_log(dag_id, run_id, "run")


def run(airflow: AirflowEnv, dag_id: str, namespace: str) -> str:
    airflow.wait_for_dag(dag_id, timeout=120)
    return airflow.trigger(dag_id, conf={"namespace": namespace})


def test_success_logs_while_deferred_and_xcom_survives_deletion(
    airflow: AirflowEnv, core: client.CoreV1Api, namespace: str
) -> None:
    run_id = run(airflow, "pod_success", namespace)
    airflow.wait_for_task_state("pod_success", run_id, "run", {"deferred"}, timeout=120)
    # While the task is deferred (no worker slot), its log already shows the container's output.
    seen = airflow.eventually(
        lambda: (
            "progress-2" in airflow.task_log("pod_success", run_id, "run")
            and airflow.task_state("pod_success", run_id, "run") == "deferred"
        ),
        timeout=60,
    )
    assert seen
    assert (
        airflow.wait_for_task_state("pod_success", run_id, "run", {"success", "failed"}, timeout=120)
        == "success"
    )
    assert airflow.xcom("pod_success", run_id, "run") == {"rows": 42, "ok": True}
    assert (
        airflow.wait_for_task_state("pod_success", run_id, "check", {"success", "failed"}, timeout=120)
        == "success"
    )
    assert "rows=42" in airflow.task_log("pod_success", run_id, "check")
    log = airflow.task_log("pod_success", run_id, "run")
    assert all(f"progress-{i}" in log for i in range(1, 9))
    assert log.count("progress-5") == 1, "log lines must not repeat"
    # Deferred at once (before the container's first line) and ended in the triggerer: one worker
    # start for the whole task, no resume.
    lines = log.splitlines()
    deferred = next(i for i, line in enumerate(lines) if "Pausing task as DEFERRED" in line)
    assert deferred < next(i for i, line in enumerate(lines) if "progress-1" in line)
    assert "The task ends here, in the triggerer, as success" in log
    assert log.count("Pausing task as DEFERRED") == 1 and "execute_complete" not in log
    assert airflow.executor_enqueues("pod_success", run_id, "run") == 1
    # on_finish_action=delete_pod (the default): the XCom was read before the pod went away.
    assert airflow.eventually(
        lambda: (
            not [p for p in pods_of(core, namespace, "pod_success") if p.metadata.deletion_timestamp is None]
        ),
        timeout=30,
    )


def test_exit_code_fails_with_the_code_and_skip_on_exit_code_skips(
    airflow: AirflowEnv, core: client.CoreV1Api, namespace: str
) -> None:
    failed = run(airflow, "pod_exit3", namespace)
    skipped = run(airflow, "pod_skip3", namespace)
    assert (
        airflow.wait_for_task_state("pod_exit3", failed, "run", {"success", "failed"}, timeout=120)
        == "failed"
    )
    log = airflow.task_log("pod_exit3", failed, "run")
    assert "exit code 3" in log and "failing now" in log  # the reason and the last log lines
    assert "The task ends here, in the triggerer, as failed" in log
    assert (
        airflow.wait_for_task_state(
            "pod_skip3", skipped, "run", {"success", "failed", "skipped"}, timeout=120
        )
        == "skipped"
    )
    assert "The task ends here, in the triggerer, as skipped" in airflow.task_log("pod_skip3", skipped, "run")
    assert airflow.executor_enqueues("pod_skip3", skipped, "run") == 1


def test_missing_image_fails_in_seconds_with_the_reason(
    airflow: AirflowEnv, core: client.CoreV1Api, namespace: str
) -> None:
    run_id = run(airflow, "pod_missing_image", namespace)
    started = time.monotonic()
    state = airflow.wait_for_task_state(
        "pod_missing_image", run_id, "run", {"success", "failed"}, timeout=120
    )
    assert state == "failed"
    assert time.monotonic() - started < 60, "startup_timeout_seconds is 120: the reason must fail it first"
    assert "ErrImageNeverPull" in airflow.task_log("pod_missing_image", run_id, "run")


def test_marking_failed_while_deferred_deletes_the_pod(
    airflow: AirflowEnv, core: client.CoreV1Api, namespace: str
) -> None:
    run_id = run(airflow, "pod_long", namespace)
    airflow.wait_for_task_state("pod_long", run_id, "run", {"deferred"}, timeout=120)
    airflow.eventually(lambda: trigger_running(airflow, "pod_long", run_id), timeout=60)
    airflow.set_task_state("pod_long", run_id, "run", "failed")
    marked = time.monotonic()

    def deletion_requested() -> bool:
        pods = pods_of(core, namespace, "pod_long")
        return not pods or all(p.metadata.deletion_timestamp is not None for p in pods)

    airflow.eventually(deletion_requested, timeout=30)
    # 3.3 calls the trigger's on_kill at once; before, cleanup() runs when the triggerer's next
    # sync notices the task left "deferred".
    bound = 5 if AIRFLOW_HAS_TRIGGER_ON_KILL else 15
    assert time.monotonic() - marked < bound + 1, f"deletion must be requested within {bound} s"
    # A running pod may stay Terminating for a while on the local kubelet; it must then go.
    airflow.eventually(lambda: not pods_of(core, namespace, "pod_long"), timeout=120)


def test_triggerer_restart_keeps_the_pod_and_the_task_completes(
    airflow: AirflowEnv, core: client.CoreV1Api, namespace: str
) -> None:
    run_id = run(airflow, "pod_restart", namespace)
    airflow.wait_for_task_state("pod_restart", run_id, "run", {"deferred"}, timeout=120)
    airflow.eventually(lambda: trigger_running(airflow, "pod_restart", run_id), timeout=60)
    airflow.restart_triggerer()
    pods = pods_of(core, namespace, "pod_restart")
    assert len(pods) == 1 and pods[0].metadata.deletion_timestamp is None, "a restart must not delete the pod"
    assert (
        airflow.wait_for_task_state("pod_restart", run_id, "run", {"success", "failed"}, timeout=180)
        == "success"
    )
    assert "tick-25" in airflow.task_log("pod_restart", run_id, "run")


def test_retry_after_a_worker_crash_adopts_the_pod(
    airflow: AirflowEnv, core: client.CoreV1Api, namespace: str
) -> None:
    run_id = run(airflow, "pod_crash_adopt", namespace)
    state = airflow.wait_for_task_state("pod_crash_adopt", run_id, "run", {"success", "failed"}, timeout=240)
    pods = pods_of(core, namespace, "pod_crash_adopt")
    assert len(pods) == 1, f"exactly one pod must exist, found {[p.metadata.name for p in pods]}"
    assert state == "success"
    assert "Adopting pod" in airflow.task_log("pod_crash_adopt", run_id, "run", try_number=2)
    # kept, and labelled so that no later try adopts it (once the end is stored)
    name = pods[0].metadata.name
    assert airflow.eventually(
        lambda: core.read_namespaced_pod(name, namespace).metadata.labels.get("already_checked") == "True",
        timeout=60,
    )


def test_not_deferrable_runs_the_same_wait_inline(
    airflow: AirflowEnv, core: client.CoreV1Api, namespace: str
) -> None:
    run_id = run(airflow, "pod_inline", namespace)
    assert (
        airflow.wait_for_task_state("pod_inline", run_id, "run", {"success", "failed"}, timeout=120)
        == "success"
    )
    assert airflow.xcom("pod_inline", run_id, "run") == [1, 2]
    assert "inline-run" in airflow.task_log("pod_inline", run_id, "run")


def _markers(dag_id: str, run_id: str) -> set[str]:
    folder = Path(MARKERS) / dag_id / run_id.replace(":", "_")
    return {path.name for path in folder.iterdir()} if folder.is_dir() else set()


def test_an_on_success_callback_resumes_on_a_worker_and_runs(
    airflow: AirflowEnv, core: client.CoreV1Api, namespace: str
) -> None:
    run_id = run(airflow, "pod_success_callback", namespace)
    state = airflow.wait_for_task_state(
        "pod_success_callback", run_id, "run", {"success", "failed"}, timeout=120
    )
    assert state == "success"
    log = airflow.task_log("pod_success_callback", run_id, "run")
    assert "Resuming on a worker to end as success: on_success_callback is set" in log
    assert "ends here, in the triggerer" not in log
    assert airflow.xcom("pod_success_callback", run_id, "run") == 7
    assert airflow.eventually(lambda: "success-1" in _markers("pod_success_callback", run_id), timeout=60)
    assert airflow.executor_enqueues("pod_success_callback", run_id, "run") == 2  # start + resume
    assert airflow.eventually(lambda: not pods_of(core, namespace, "pod_success_callback"), timeout=120)


def test_a_failure_ended_in_the_triggerer_is_retried_and_calls_back(
    airflow: AirflowEnv, core: client.CoreV1Api, namespace: str
) -> None:
    run_id = run(airflow, "pod_retry_then_fail", namespace)
    state = airflow.wait_for_task_state(
        "pod_retry_then_fail", run_id, "run", {"success", "failed"}, timeout=180
    )
    assert state == "failed"
    ti = airflow.task_instance("pod_retry_then_fail", run_id, "run")
    assert ti is not None and ti["try_number"] == 2
    for try_number in (1, 2):
        log = airflow.task_log("pod_retry_then_fail", run_id, "run", try_number=try_number)
        assert "exit code 5" in log and "attempt" in log
        assert "The task ends here, in the triggerer, as failed" in log
    assert airflow.executor_enqueues("pod_retry_then_fail", run_id, "run") == 2  # one per try, no resume
    assert airflow.eventually(
        lambda: {"retry-1", "failure-2"} <= _markers("pod_retry_then_fail", run_id), timeout=90
    )
    assert airflow.eventually(lambda: not pods_of(core, namespace, "pod_retry_then_fail"), timeout=120)


def test_a_burst_at_exit_reaches_the_task_log_whole_through_the_triggerer(
    airflow: AirflowEnv, core: client.CoreV1Api, namespace: str
) -> None:
    """20 000 lines written as the container exits pass the real triggerer's supervisor into the
    task log once each, in order, before the task ends with its XCom."""
    run_id = run(airflow, "pod_burst_at_exit", namespace)
    state = airflow.wait_for_task_state(
        "pod_burst_at_exit", run_id, "run", {"success", "failed"}, timeout=600
    )
    log = airflow.task_log("pod_burst_at_exit", run_id, "run")
    assert state == "success", log[-3000:]
    numbers = [int(n) for n in re.findall(r"\[base\] (\d+)(?:\s|$)", log, flags=re.MULTILINE)]
    assert numbers == list(range(1, BURST_LINES + 1)), (
        f"{len(numbers)} lines, {len(numbers) - len(set(numbers))} repeated, last {numbers[-3:]}"
    )
    assert airflow.xcom("pod_burst_at_exit", run_id, "run") == {"lines": BURST_LINES}


def test_the_sidecar_image_comes_from_the_connections_extra(airflow: AirflowEnv, namespace: str) -> None:
    """A connection with the provider's xcom_sidecar_container_image and tasks that name no sidecar
    image: the pods' sidecars run that image (the default cannot be pulled here), on a worker and
    in the triggerer."""
    dag_id = "pod_sidecar_from_connection"
    run_id = run(airflow, dag_id, namespace)
    tasks = ("worker", "started") if AIRFLOW_HAS_TRIGGER_ON_KILL else ("worker",)
    for task_id in tasks:
        state = airflow.wait_for_task_state(dag_id, run_id, task_id, {"success"}, timeout=180)
        assert state == "success"
        assert airflow.xcom(dag_id, run_id, task_id) == {"sidecar": "mirrored"}
