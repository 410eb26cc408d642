"""Object bodies -> state: the rules that decide when a Pod, a Job or a custom kind is done.

Pure functions on plain dicts, exactly as the API server returns them (``status`` keys in
camelCase), so triggers, operators and tests share one set of rules. The rules are tested
against bodies captured from a real API server (``tests/fixtures/kube``).

Why not just ``status.phase``: a Pod whose main container has exited stays ``Running`` while a
sidecar runs; a Pod that can never start (bad image, missing ConfigMap) stays ``Pending``
forever; a Job's end is told only by its conditions; custom kinds use conditions or phases.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_k8s_async._kube.mapping import as_list, as_map, metadata_of

MAIN_CONTAINER_ANNOTATION = "kubernetes_job_operator.main_container"

# Waiting reasons the kubelet will not get past without a change to the pod or the cluster.
# ErrImagePull is not here: it is retried, and turns into ImagePullBackOff if it persists.
FATAL_WAITING_REASONS = frozenset(
    {
        "ErrImageNeverPull",
        "InvalidImageName",
        "ImagePullBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)


class Phase(str, enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class ObjectState:
    """Where an object stands; ``exit_code`` and ``container`` only when a container decided."""

    phase: Phase
    reason: str = ""
    message: str = ""
    exit_code: int | None = None
    container: str | None = None

    @property
    def terminal(self) -> bool:
        return self.phase in (Phase.SUCCEEDED, Phase.FAILED)


def main_container_name(pod: Mapping[str, Any], *, main_container: str | None = None) -> str:
    """Explicit name > the LamaAni annotation > a container named "base" > the first container."""
    if main_container:
        return main_container
    annotated = as_map(metadata_of(pod).get("annotations")).get(MAIN_CONTAINER_ANNOTATION)
    if annotated:
        return str(annotated)
    names = [str(c.get("name", "")) for c in as_list(as_map(pod.get("spec")).get("containers"))]
    if "base" in names:
        return "base"
    return names[0] if names else "base"


def _terminated(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The container's current terminated state, else the last one (after a restart)."""
    for key in ("state", "lastState"):
        term = as_map(as_map(status.get(key)).get("terminated"))
        if term:
            return term
    return None


def _exit_state(name: str, term: Mapping[str, Any], *, what: str = "container") -> ObjectState:
    code = int(term.get("exitCode", 0) or 0)
    reason = str(term.get("reason") or ("Completed" if code == 0 else "Error"))
    message = f"{what} {name!r} exited with code {code} ({reason})"
    if term.get("message"):
        message += f": {term['message']}"
    phase = Phase.SUCCEEDED if code == 0 else Phase.FAILED
    return ObjectState(phase, reason, message, exit_code=code, container=name)


def pod_state(pod: Mapping[str, Any], *, main_container: str | None = None) -> ObjectState:
    """A Pod's state, decided by its main container (see ``main_container_name``) when it has exited."""
    spec, status = as_map(pod.get("spec")), as_map(pod.get("status"))
    phase = str(status.get("phase") or "")
    main = main_container_name(pod, main_container=main_container)
    inits = as_list(status.get("initContainerStatuses"))
    apps = as_list(status.get("containerStatuses"))
    main_status = next((c for c in apps if c.get("name") == main), None)
    main_term = _terminated(main_status) if main_status is not None else None
    # An init container that exited non-zero; with restartPolicy Never it is not retried.
    failed_init = next(
        (
            (str(c.get("name")), t)
            for c in inits
            if (t := as_map(as_map(c.get("state")).get("terminated"))) and t.get("exitCode", 0) != 0
        ),
        None,
    )

    if phase == "Succeeded":
        if main_term is not None:
            return _exit_state(main, main_term)
        return ObjectState(Phase.SUCCEEDED, "Succeeded", f"pod succeeded (container {main!r})")

    if phase == "Failed":
        if main_term is None and failed_init is not None:
            return _exit_state(*failed_init, what="init container")
        pod_reason = str(status.get("reason") or "")
        pod_message = str(status.get("message") or "")
        if main_term is not None:
            state = _exit_state(main, main_term)
            # A pod-level reason (DeadlineExceeded, Evicted) says why better than "Error".
            reason = pod_reason or state.reason
            message = f"{pod_message}; {state.message}" if pod_message else state.message
            return ObjectState(Phase.FAILED, reason, message, state.exit_code, main)
        return ObjectState(Phase.FAILED, pod_reason or "Failed", pod_message or "pod failed")

    if phase == "Running":
        # The main container decides even while sidecars keep the pod Running; only its current
        # state counts (a lastState.terminated of a restarted container is history).
        now = as_map(as_map(main_status).get("state"))
        if now.get("terminated"):
            return _exit_state(main, as_map(now["terminated"]))
        waiting = as_map(now.get("waiting"))
        if waiting.get("reason"):
            return ObjectState(
                Phase.RUNNING, str(waiting["reason"]), str(waiting.get("message") or ""), container=main
            )
        return ObjectState(Phase.RUNNING)

    # Pending, Unknown or no status yet.
    for c in [*inits, *apps]:
        waiting = as_map(as_map(c.get("state")).get("waiting"))
        if waiting.get("reason") in FATAL_WAITING_REASONS:
            name = str(c.get("name"))
            message = f"container {name!r} cannot start ({waiting['reason']})"
            if waiting.get("message"):
                message += f": {waiting['message']}"
            return ObjectState(Phase.FAILED, str(waiting["reason"]), message, container=name)
    if failed_init is not None and spec.get("restartPolicy") == "Never":
        return _exit_state(*failed_init, what="init container")  # non-zero, so FAILED
    for cond in as_list(status.get("conditions")):
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            # Not fatal: capacity may appear; the trigger applies a schedule timeout.
            return ObjectState(Phase.PENDING, str(cond.get("reason") or ""), str(cond.get("message") or ""))
    for c in [*inits, *apps]:
        waiting = as_map(as_map(c.get("state")).get("waiting"))
        if waiting.get("reason"):
            return ObjectState(
                Phase.PENDING,
                str(waiting["reason"]),
                str(waiting.get("message") or ""),
                container=str(c.get("name")),
            )
    return ObjectState(Phase.PENDING)


def _condition(obj: Mapping[str, Any], *types: str, status: str = "True") -> Mapping[str, Any] | None:
    conditions = as_list(as_map(obj.get("status")).get("conditions"))
    return next((c for c in conditions if c.get("type") in types and c.get("status") == status), None)


def _from_condition(phase: Phase, cond: Mapping[str, Any]) -> ObjectState:
    return ObjectState(phase, str(cond.get("reason") or cond.get("type")), str(cond.get("message") or ""))


def job_state(job: Mapping[str, Any]) -> ObjectState:
    """A batch/v1 Job's state, from its conditions (status "True" only), then ``status.active``."""
    # Only Complete and Failed are final; FailureTarget / SuccessCriteriaMet (1.31+) come first,
    # while pods are still being cleaned up.
    if cond := _condition(job, "Failed"):
        return _from_condition(Phase.FAILED, cond)
    if cond := _condition(job, "Complete"):
        return _from_condition(Phase.SUCCEEDED, cond)
    if cond := _condition(job, "Suspended"):
        return ObjectState(Phase.PENDING, "Suspended", str(cond.get("message") or "job is suspended"))
    active = as_map(job.get("status")).get("active") or 0
    return ObjectState(Phase.RUNNING if int(active) > 0 else Phase.PENDING)


_SUCCESS_PHASES = {"succeeded", "completed", "complete", "success", "done"}
_FAILURE_PHASES = {"failed", "failure", "error"}


def generic_state(obj: Mapping[str, Any]) -> ObjectState:
    """Custom kinds: well-known conditions first (failure before success), then ``status.phase``."""
    if cond := _condition(obj, "Failed", "Failure"):
        return _from_condition(Phase.FAILED, cond)
    if cond := _condition(obj, "Complete", "Completed", "Succeeded"):
        return _from_condition(Phase.SUCCEEDED, cond)
    if cond := _condition(obj, "Succeeded", status="False"):  # Tekton: one condition, both ways
        return _from_condition(Phase.FAILED, cond)
    status = as_map(obj.get("status"))
    phase = str(status.get("phase") or "")
    message = str(status.get("message") or "")
    if phase.lower() in _SUCCESS_PHASES:
        return ObjectState(Phase.SUCCEEDED, phase, message)
    if phase.lower() in _FAILURE_PHASES:
        return ObjectState(Phase.FAILED, phase, message)
    if phase.lower() == "running":
        return ObjectState(Phase.RUNNING, phase, message)
    return ObjectState(Phase.PENDING, phase, message)


def object_state(obj: Mapping[str, Any], *, main_container: str | None = None) -> ObjectState:
    kind, api_version = obj.get("kind"), str(obj.get("apiVersion") or "")
    if kind == "Pod":
        return pod_state(obj, main_container=main_container)
    if kind == "Job" and api_version.startswith("batch/"):
        return job_state(obj)
    return generic_state(obj)
