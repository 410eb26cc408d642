"""Reattach policies (armada-airflow's): may a retry take over the job an earlier try submitted?

A policy is called as ``policy(state, termination_reason)`` with ``state`` an
``armada_client.typings.JobState`` member, as in armada-airflow, so a migrated callable that
compares with ``JobState.FAILED`` keeps working. The built-in ones also accept a state's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from armada_client.typings import JobState

from airflow_k8s_async._armada.states import FAILED, REJECTED
from airflow_k8s_async.errors import ConfigurationError

__all__ = [
    "ReattachPolicy",
    "always_reattach",
    "external_job_uri",
    "never_reattach",
    "policy",
    "running_or_succeeded_reattach",
]

ReattachPolicy = Callable[[JobState, str], bool]
POLICY_NAMES = ("never", "always", "running_or_succeeded")


def never_reattach(state: JobState | str, termination_reason: str) -> bool:
    return False


def always_reattach(state: JobState | str, termination_reason: str) -> bool:
    return True


def running_or_succeeded_reattach(state: JobState | str, termination_reason: str) -> bool:
    """Any state but a failure or a rejection (as armada-airflow: cancelled and preempted too)."""
    return _name(state) not in (FAILED, REJECTED)


def _name(state: JobState | str) -> str:
    return state.name if isinstance(state, JobState) else str(state)


def policy(name: str) -> ReattachPolicy:
    """The policy named ``never``, ``always`` or ``running_or_succeeded`` (any case)."""
    chosen = {
        "never": never_reattach,
        "always": always_reattach,
        "running_or_succeeded": running_or_succeeded_reattach,
    }.get(str(name).lower())
    if chosen is None:
        raise ConfigurationError(
            f"unknown reattach_policy {name!r}: use one of {', '.join(POLICY_NAMES)} or a callable"
        )
    return chosen


def external_job_uri(context: Mapping[str, Any]) -> str:
    """``airflow://<dag>/<task>/<run>/<map index>``: how a retry finds the job of an earlier try."""
    ti = context["ti"]
    return f"airflow://{ti.dag_id}/{ti.task_id}/{context['run_id']}/{ti.map_index}"
