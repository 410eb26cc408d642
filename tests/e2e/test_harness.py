"""Smoke test of the e2e harness: a deferrable task from the standard provider runs through the real
scheduler, worker and triggerer; trigger output reaches the task log; a triggerer restart while
the task is deferred does not lose it; XComs come back through the REST API."""

from __future__ import annotations

from tests.e2e.airflow_env import AirflowEnv

DEFER = "harness_defer"
XCOM = "harness_xcom"


def test_deferred_task_succeeds_with_trigger_lines_in_its_log(airflow: AirflowEnv) -> None:
    airflow.wait_for_dag(DEFER, timeout=60)
    # Not shorter: a trigger firing within seconds of deferral invites apache/airflow#71580.
    run_id = airflow.trigger(DEFER, conf={"seconds": 10})

    assert airflow.wait_for_task_state(DEFER, run_id, "wait", {"deferred"}, timeout=60) == "deferred"
    assert airflow.wait_for_task_state(DEFER, run_id, "wait", {"success"}, timeout=60) == "success"
    assert airflow.wait_for_run(DEFER, run_id, timeout=30) == "success"

    log = airflow.task_log(DEFER, run_id, "wait")
    assert "harness: deferring for 10.0 s" in log  # the worker, before deferring
    assert "trigger starting" in log  # the DateTimeTrigger, in the triggerer
    assert "yielding event with payload" in log
    assert "harness: resumed with event" in log  # the worker again, after the event
    assert ".trigger." in log  # the trigger's own log file is among the sources read
    assert airflow.xcom(DEFER, run_id, "wait") == "resumed"


def test_trigger_output_reaches_the_log_while_deferred_and_survives_a_triggerer_restart(
    airflow: AirflowEnv,
) -> None:
    airflow.wait_for_dag(DEFER, timeout=60)
    run_id = airflow.trigger(DEFER, conf={"seconds": 15})
    airflow.wait_for_task_state(DEFER, run_id, "wait", {"deferred"}, timeout=60)

    def trigger_lines_while_deferred() -> str | None:
        log = airflow.task_log(DEFER, run_id, "wait")
        return log if "trigger starting" in log else None

    airflow.eventually(trigger_lines_while_deferred, timeout=15)
    assert airflow.task_state(DEFER, run_id, "wait") == "deferred"

    airflow.restart_triggerer()
    assert airflow.task_state(DEFER, run_id, "wait") == "deferred"  # still waiting, on the new triggerer

    assert airflow.wait_for_task_state(DEFER, run_id, "wait", {"success"}, timeout=60) == "success"
    assert airflow.wait_for_run(DEFER, run_id, timeout=30) == "success"
    log = airflow.task_log(DEFER, run_id, "wait")
    assert log.count("trigger starting") == 2, log  # once in each triggerer
    assert "yielding event with payload" in log
    assert "harness: resumed with event" in log


def test_xcom_values_come_back_through_the_api(airflow: AirflowEnv) -> None:
    airflow.wait_for_dag(XCOM, timeout=60)
    run_id = airflow.trigger(XCOM)
    assert airflow.wait_for_run(XCOM, run_id, timeout=60) == "success"
    assert airflow.xcom(XCOM, run_id, "push") == {"answer": 42}
    assert airflow.xcom(XCOM, run_id, "push", key="extra") == [1, 2, 3]
