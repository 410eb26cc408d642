"""What a trigger asks of Airflow's execution API, over the triggerer's own channel to its
supervisor: push or delete the task's XComs as a worker does, and read the task's state."""

from __future__ import annotations

from typing import Any

__all__ = [
    "clear_return_value",
    "push_xcoms",
    "task_state",
]


async def push_xcoms(ti: Any, xcoms: dict[str, Any]) -> None:
    """Push XComs as a worker does (serialized by the XCom class, sent over the triggerer's
    execution-API channel), not through the end event: Airflow 3.3.2 stores an event's XComs
    JSON-encoded twice, so a downstream ``xcom_pull`` would get a string instead of the value."""
    if not xcoms:
        return
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.comms import SetXCom
    from airflow.sdk.execution_time.xcom import XCom

    if ti is None:
        raise RuntimeError("the triggerer gave this trigger no task instance")
    dag_id, task_id, run_id, map_index = ti.dag_id, ti.task_id, ti.run_id, ti.map_index
    for key, value in xcoms.items():
        serialized = XCom.serialize_value(
            value=value, key=key, dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index
        )
        message = SetXCom(
            key=key, value=serialized, dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index
        )
        await task_runner.SUPERVISOR_COMMS.asend(message)


async def clear_return_value(ti: Any) -> None:
    """Delete the task's ``return_value`` XCom."""
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.comms import DeleteXCom

    assert ti is not None
    message = DeleteXCom(
        key="return_value", dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, map_index=ti.map_index
    )
    await task_runner.SUPERVISOR_COMMS.asend(message)


async def task_state(ti: Any) -> str | None:
    """The task's state, asked over the triggerer's own channel to the execution API.

    Asked asynchronously on the runner's loop: the sync SDK helper hops threads, and its
    answer can arrive after a cancelled trigger stopped waiting for it.
    """
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.comms import GetTaskStates

    if ti is None:
        raise RuntimeError("the triggerer gave this trigger no task instance")
    request = GetTaskStates(
        dag_id=ti.dag_id, map_index=ti.map_index, task_ids=[ti.task_id], run_ids=[ti.run_id]
    )
    response = await task_runner.SUPERVISOR_COMMS.asend(request)
    states: dict[str, Any] = getattr(response, "task_states", None) or {}
    if ti.run_id not in states:
        return None  # the DAG run is gone (deleted): the task left "deferred"
    # The execution API names a mapped task instance "<task_id>_<map_index>".
    key = ti.task_id if ti.map_index is None or ti.map_index < 0 else f"{ti.task_id}_{ti.map_index}"
    run_states = states[ti.run_id] or {}
    if key not in run_states:
        raise RuntimeError(f"no state for {key} in the execution API's answer")
    state = run_states[key]
    return None if state is None else str(state)
