"""What a trigger's event carries to the task (the payload Airflow stores and hands back to
``execute_complete``), and the status words, written once.

Events are small and JSON-safe. Every one has ``status``, ``kind``, ``name``, ``namespace``,
``uid``, ``reason`` and ``message``; each trigger adds its own keys.
"""

from typing import Any, Literal, get_args

from typing_extensions import NotRequired, TypedDict

__all__ = [
    "STATUSES",
    "ArmadaEvent",
    "ArmadaExtra",
    "CreatedResource",
    "Event",
    "JobEvent",
    "JobExtra",
    "KubeApiLine",
    "PodEvent",
    "PodExtra",
    "Status",
]

Status = Literal["success", "failed", "error", "timeout"]
"""How the wait ended: the object succeeded or failed, the wait itself failed (``error``: RBAC,
configuration, an unexpected exception), or the task's ``execution_timeout`` passed."""
STATUSES: tuple[Status, ...] = get_args(Status)


class CreatedResource(TypedDict):
    """An object a task created, as the triggers delete it on a kill."""

    kind: str
    name: str
    uid: str | None
    path: str
    apiVersion: NotRequired[str]
    namespace: NotRequired[str | None]


class KubeApiLine(TypedDict):
    """A ``::kube_api:NAME=VALUE`` line of a Job's pod."""

    name: str
    value: str
    pod: str
    container: str


class Event(TypedDict):
    status: Status
    kind: str
    name: str
    namespace: str | None
    uid: str | None
    reason: str
    message: str
    resources: NotRequired[list[CreatedResource] | list[dict[str, Any]]]
    last_log_lines: NotRequired[list[str]]


class PodExtra(TypedDict, total=False):
    """What a pod's end adds (``KubernetesPodTrigger._finish``)."""

    exit_code: int | None
    container: str | None
    phase: str | None
    xcom: Any
    xcom_sidecar: bool


class PodEvent(Event, PodExtra):
    pass


class JobExtra(TypedDict, total=False):
    """What a Job's failure adds: the pod that failed last, its container and exit code."""

    pod: str | None
    exit_code: int | None
    container: str | None


class JobEvent(Event, JobExtra):
    kube_api_events: list[KubeApiLine] | list[dict[str, str]]
    job: NotRequired[dict[str, Any]]


class ArmadaExtra(TypedDict, total=False):
    state: str  # the job's state, when the event's own is not the last seen (a cancel)


class ArmadaEvent(Event, ArmadaExtra):
    job_id: str
    job_set_id: str
    queue: str
    cluster: str | None
    links: dict[str, str]
