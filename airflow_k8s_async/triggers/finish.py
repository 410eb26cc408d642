"""How a task ends: one set of rules for the triggerer and for a worker's ``execute_complete``.

A trigger ends its task itself (``TaskSuccessEvent`` / ``TaskFailedEvent`` / ``TaskSkippedEvent``,
XComs carried by the event) for the outcomes its :class:`FinishPlan` names; the task then never
returns to a worker, which also removes the resume race of apache/airflow#71580 (a resumed attempt
failed by the executor's late report of the deferring one). The operator decides the plan when it
defers (``operators/shared.py``): outcomes that need a worker (an ``on_success_callback``, e-mail on
failure, listeners, a custom XCom backend, ...) are left out of ``ends`` and resume as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from airflow_k8s_async._kube.client import MERGE_PATCH, KubeClient
from airflow_k8s_async._kube.exec import exec_in_container
from airflow_k8s_async._kube.mapping import as_list, as_map
from airflow_k8s_async._kube.ownership import CHECKED_KEY
from airflow_k8s_async._kube.podspec import XCOM_SIDECAR_NAME
from airflow_k8s_async._kube.states import job_state
from airflow_k8s_async._kube.subscription import PODS
from airflow_k8s_async._kube.tasklog import TaskLog
from airflow_k8s_async.errors import AirflowK8sAsyncError, KubeNotFoundError

__all__ = [
    "DELETE_POLICIES",
    "ENDS",
    "POD_FINISH_ACTIONS",
    "XCOM_SIDECAR_KEY",
    "End",
    "FinishPlan",
    "Outcome",
    "apply_finish_action",
    "default_xcom_parser",
    "deletes_at_end",
    "failure_message",
    "finish_intent",
    "outcome",
    "stop_xcom_sidecar",
]

End = Literal["success", "failed", "skipped"]
ENDS: tuple[End, ...] = ("success", "failed", "skipped")

# What is deleted at the end: the pod operator's on_finish_action and the Job operators'
# delete_policy, one vocabulary each.
POD_FINISH_ACTIONS = ("delete_pod", "delete_succeeded_pod", "delete_active_pod", "keep_pod")
DELETE_POLICIES = ("Always", "IfFailed", "IfSucceeded", "Never")


@dataclass(frozen=True, kw_only=True)
class FinishPlan:
    """What the trigger does at the end (JSON-safe, stored in the trigger's kwargs).

    ``ends``: the outcomes the trigger ends the task with itself (empty: always resume on a worker).
    ``why``: for the other outcomes, why they resume on a worker (said in the task log then).
    ``action``: an ``on_finish_action`` (a pod task) or a ``delete_policy`` (a Job task).
    ``skip_exit_codes``: exit codes of the main container that end the task as skipped.
    ``return_value``: the XCom sidecar's value becomes ``return_value`` (``do_xcom_push``).
    """

    ends: tuple[End, ...] = ()
    why: Mapping[str, str] = field(default_factory=dict)
    action: str = "keep_pod"
    skip_exit_codes: tuple[int, ...] = ()
    return_value: bool = False

    def __post_init__(self) -> None:
        if self.action not in (*POD_FINISH_ACTIONS, *DELETE_POLICIES):
            raise ValueError(f"action={self.action!r}: use one of {POD_FINISH_ACTIONS + DELETE_POLICIES}")
        unknown = set(self.ends) - set(ENDS)
        if unknown:
            raise ValueError(f"ends: {sorted(unknown)} are not outcomes; use {ENDS}")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def resume_reason(self, state: End) -> str:
        return self.why.get(state) or "the task was deferred without a finish plan"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> FinishPlan:
        if not data:
            return cls()
        known = {f.name for f in fields(cls)}  # a key from a newer version is dropped
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        values = {k: v for k, v in values.items() if k in known}
        return cls(**values)


@dataclass(frozen=True)
class Outcome:
    """How the task ends: its state, what the task log says, the XComs it pushes."""

    state: End
    message: str = ""
    timeout: bool = False
    xcoms: dict[str, Any] = field(default_factory=dict)


def default_xcom_parser(value: str) -> dict[str, Any]:
    """A ``::kube_api:xcom=`` line's value: a JSON object, each key an XCom."""
    parsed = json.loads(value.strip() or "{}")
    if not isinstance(parsed, dict):
        raise ValueError(f"::kube_api:xcom= needs a JSON object, got {type(parsed).__name__}")
    return parsed


def failure_message(event: Mapping[str, Any]) -> str:
    """What failed, with the exit code, the reason, the message and the last log lines."""
    where = f"{event.get('namespace')}/{event.get('name')}" if event.get("name") else "(not created)"
    text = f"{event.get('kind') or 'Pod'} {where} failed"
    if event.get("status") == "failed" and event.get("exit_code") is not None:
        text += f" with exit code {event['exit_code']}"
    text += f" ({event.get('reason') or event.get('status')})"
    if event.get("message"):
        text += f": {event['message']}"
    lines = event.get("last_log_lines") or []
    if lines:
        text += "\nLast log lines:\n" + "\n".join(lines)
    return text


def outcome(
    event: Mapping[str, Any],
    *,
    plan: FinishPlan,
    parse_xcom: Callable[[str], dict[str, Any]] = default_xcom_parser,
) -> Outcome:
    """The end of a task from its trigger's event: the same answer on a worker and in the triggerer."""
    xcoms: dict[str, Any] = {}
    if event.get("job"):  # the Job as the trigger last saw it, as the provider pushes it
        xcoms["job"] = event["job"]
    for raw in as_list(event.get("kube_api_events")):
        if raw.get("name") != "xcom":
            continue
        try:
            xcoms.update(parse_xcom(str(raw.get("value", ""))))
        except ValueError as exc:
            where = f"{raw.get('pod')}/{raw.get('container')}"
            return Outcome("failed", f"the ::kube_api:xcom= line of {where} could not be read: {exc}")
    status = event.get("status")
    where = f"{event.get('namespace')}/{event.get('name')}"
    if status == "success":
        if plan.return_value and event.get("xcom") is not None:
            xcoms["return_value"] = event["xcom"]
        return Outcome("success", f"{event.get('kind') or 'Pod'} {where} succeeded", xcoms=xcoms)
    exit_code = event.get("exit_code")
    if status == "failed" and exit_code is not None and exit_code in plan.skip_exit_codes:
        return Outcome("skipped", f"pod {where} exited with code {exit_code} (in skip_on_exit_code)")
    return Outcome("failed", failure_message(event), timeout=status == "timeout", xcoms=xcoms)


# In a pod event: the pod has an XCom sidecar that is still to be stopped (by the finish action).
XCOM_SIDECAR_KEY = "xcom_sidecar"


def deletes_at_end(action: str, event: Mapping[str, Any]) -> bool:
    """Whether ``action`` (an ``on_finish_action`` or a ``delete_policy``) deletes at this end."""
    status = event.get("status")
    if action in POD_FINISH_ACTIONS and status == "timeout" and action != "keep_pod":
        return True  # a pod that outlived its task must not run on
    if action in DELETE_POLICIES and action != "Never" and status != "success" and _still_running(event):
        return True  # a timeout, a pod that cannot start: it would run, or retry, for ever
    return (
        action in ("delete_pod", "Always")
        or (action in ("delete_succeeded_pod", "IfSucceeded") and status == "success")
        or (action == "IfFailed" and status != "success")
        # still Pending or Running at the end: a startup failure, an XCom read that failed
        or (action == "delete_active_pod" and event.get("phase") in ("Pending", "Running"))
    )


def _still_running(event: Mapping[str, Any]) -> bool:
    """An event from before its object ended: a Job without a Complete or Failed condition yet,
    a pod (a YAML body led by one) still Pending or Running."""
    if event.get("kind") == "Job":
        job = as_map(event.get("job"))
        return not job_state(job).terminal if job else event.get("status") == "timeout"
    if event.get("kind") in (None, "Pod"):
        phase = event.get("phase")
        return phase in ("Pending", "Running") or (phase is None and event.get("status") == "timeout")
    return False


def _targets(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What the task created (``resources``), else the pod the event is about."""
    created = as_list(event.get("resources"))
    if created:
        return created
    namespace, name = str(event.get("namespace")), str(event.get("name"))
    return [
        {
            "kind": "Pod",
            "name": name,
            "uid": event.get("uid"),
            "path": PODS.path(namespace=namespace, name=name),
        }
    ]


def finish_intent(action: str, event: Mapping[str, Any]) -> str:
    """The finish action in one line, said before the end is stored (the action follows it)."""
    verb = "delete" if deletes_at_end(action, event) else "keep"
    what = ", ".join(f"{t.get('kind')} {t.get('name')}" for t in _targets(event))
    return f"Once Airflow has stored the end: {verb} {what} ({_named(action)})"


async def apply_finish_action(
    client: KubeClient, event: Mapping[str, Any], *, action: str, log: TaskLog
) -> None:
    """Delete (uid precondition, last created first) or keep what the task created, by ``action``.

    A pod the pod operator keeps is labelled ``already_checked=True`` so that no later try adopts
    it (a retry must run anew, not adopt the failed pod). Failures are logged, never raised: they
    must not hide the task's own outcome.
    """
    if not event.get("name"):
        return
    targets = _targets(event)
    delete = deletes_at_end(action, event)
    if event.get(XCOM_SIDECAR_KEY) and not delete:
        await stop_xcom_sidecar(
            client, namespace=str(event.get("namespace")), pod=str(event["name"]), log=log
        )
    for target in reversed(targets):
        path, what = str(target["path"]), f"{target.get('kind')} {target.get('name')}"
        try:
            if delete:
                if await client.delete(path, uid=target.get("uid"), propagation="Background"):
                    log.info("Deleted %s (%s)", what, _named(action))
            else:
                if action in POD_FINISH_ACTIONS and target.get("kind") == "Pod":
                    patch = {"metadata": {"labels": {CHECKED_KEY: "True"}}}
                    await client.request("PATCH", path, body=patch, content_type=MERGE_PATCH)
                log.info("Kept %s (%s)", what, _named(action))
        except KubeNotFoundError:
            pass
        except AirflowK8sAsyncError as exc:
            log.warning("Could not finish %s: %s", what, exc)


async def stop_xcom_sidecar(client: KubeClient, *, namespace: str, pod: str, log: TaskLog) -> None:
    """Let a kept pod end: its XCom sidecar waits for SIGINT. Stopped only here, after the value is
    safe (deleting the pod stops it too)."""
    try:
        await exec_in_container(
            client,
            namespace=namespace,
            pod=pod,
            container=XCOM_SIDECAR_NAME,
            command=["sh", "-c", "kill -2 1"],
            timeout=30,
        )
    except AirflowK8sAsyncError as exc:  # already stopped (a repeated finish), or the pod is ending
        log.warning("Could not stop the XCom sidecar of %s: %s", pod, exc)


def _named(action: str) -> str:
    return f"on_finish_action={action}" if action in POD_FINISH_ACTIONS else f"delete_policy={action}"
