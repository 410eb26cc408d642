"""Armada job states and what each job-set event says about its job (pure functions).

State names are those of armada-client's ``JobState`` (``submit.proto``). A failed event with
cause ``Rejected`` is a rejection (REJECTED); lease returns and expiries put the job back in
the queue.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from armada_client.armada import event_pb2, submit_pb2
from armada_client.typings import JobState

UNKNOWN = "UNKNOWN"
SUBMITTED = "SUBMITTED"
QUEUED = "QUEUED"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
PREEMPTED = "PREEMPTED"
REJECTED = "REJECTED"

TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED, PREEMPTED, REJECTED})
# Until a job is past these, Armada has not acknowledged it (job_acknowledgement_timeout).
UNACKNOWLEDGED = frozenset({UNKNOWN, SUBMITTED})
# Their reason is worth a GetJobErrors call.
WITH_ERRORS = frozenset({FAILED, PREEMPTED, REJECTED})
ALL_STATES = tuple(submit_pb2.JobState.keys())

_BY_EVENT = {
    "submitted": SUBMITTED,
    "queued": QUEUED,
    "leased": "LEASED",
    "lease_returned": QUEUED,
    "lease_expired": QUEUED,
    "pending": "PENDING",
    "running": RUNNING,
    "succeeded": SUCCEEDED,
    "failed": FAILED,
    "cancelled": CANCELLED,
    "preempted": PREEMPTED,
}


def state_name(value: int) -> str:
    """A ``JobState`` number (GetJobStatus, GetJobDetails) as its name."""
    try:
        return str(submit_pb2.JobState.Name(value))  # type: ignore[arg-type]
    except ValueError:
        return UNKNOWN


def as_job_state(name: str) -> JobState:
    """A state name as armada-client's ``JobState`` member, what armada-airflow hands user code."""
    try:
        return JobState[name]
    except KeyError:
        return JobState.UNKNOWN


@dataclass(frozen=True)
class JobUpdate:
    """The latest word on one job: its state and where it runs (cluster, namespace, pod)."""

    job_id: str
    state: str
    cluster: str = ""
    namespace: str = ""
    pod_name: str = ""
    reason: str = ""
    message_id: str = ""

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def merged(self, newer: JobUpdate) -> JobUpdate:
        """``newer``, keeping where the job ran when ``newer`` does not say."""
        return replace(
            newer,
            cluster=newer.cluster or self.cluster,
            namespace=newer.namespace or self.namespace,
            pod_name=newer.pod_name or self.pod_name,
        )


def event_update(message: event_pb2.EventStreamMessage) -> JobUpdate | None:
    """The job update an event stream message carries; None for events that change no state."""
    kind = message.message.WhichOneof("events")
    state = _BY_EVENT.get(kind or "")
    if kind is None or state is None:
        return None
    event = getattr(message.message, kind)
    reason = str(getattr(event, "reason", "") or "")
    if kind == "failed" and event.cause == event_pb2.Cause.Value("Rejected"):
        state = REJECTED
    return JobUpdate(
        job_id=str(event.job_id),
        state=state,
        cluster=str(getattr(event, "cluster_id", "") or ""),
        namespace=str(getattr(event, "pod_namespace", "") or ""),
        pod_name=str(getattr(event, "pod_name", "") or ""),
        reason=reason,
        message_id=str(message.id),
    )
