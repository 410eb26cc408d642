"""KubernetesPodTrigger: wait for a pod through the shared watch hub, streaming its logs meanwhile.

No request is made per pod while it runs: the pod's changes arrive on the namespace's shared
watch; its logs arrive on follow streams. At the end the trigger reads the XCom file from the
sidecar (so the value survives the pod's deletion) and ends the task itself by its finish plan
(``triggers/finish.py``), or yields one small event for ``execute_complete`` on a worker. With
``submit`` (``start_from_trigger``) it creates the pod first (``triggers/podstart.py``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from typing_extensions import Unpack

from airflow_k8s_async._kube.client import KubeClient
from airflow_k8s_async._kube.exec import exec_in_container
from airflow_k8s_async._kube.mapping import as_list, as_map, as_time, metadata_of
from airflow_k8s_async._kube.ownership import MANAGED_SELECTOR
from airflow_k8s_async._kube.podspec import XCOM_SIDECAR_NAME
from airflow_k8s_async._kube.podsubmit import delete_unless_adopted
from airflow_k8s_async._kube.states import ObjectState, Phase, main_container_name, pod_state
from airflow_k8s_async._kube.subscription import DELETED, PODS, Subscription
from airflow_k8s_async.errors import AirflowK8sAsyncError, ConfigurationError
from airflow_k8s_async.triggers.asynctasks import first_of, keep_running, once_created
from airflow_k8s_async.triggers.common import KubeTrigger, delete_resources, shared_hub, shared_target
from airflow_k8s_async.triggers.events import Event, PodEvent, PodExtra, Status
from airflow_k8s_async.triggers.execution_api import clear_return_value
from airflow_k8s_async.triggers.finish import XCOM_SIDECAR_KEY
from airflow_k8s_async.triggers.logbudget import log_budget
from airflow_k8s_async.triggers.logstream import LogChoice, LogStreams, container_states, wanted_containers
from airflow_k8s_async.triggers.podevents import log_pod_events
from airflow_k8s_async.triggers.podstart import render_submission, start_pod

__all__ = [
    "KubernetesPodTrigger",
]

_EMPTY_XCOM = "__airflow_xcom_result_empty__"
_READ_XCOM = (
    f"if [ -s /airflow/xcom/return.json ]; then cat /airflow/xcom/return.json; else echo {_EMPTY_XCOM}; fi"
)
_MAX_XCOM_BYTES = 512 * 1024  # the value travels in the trigger event (a database row)


def _created(pod: Mapping[str, Any]) -> float:
    created = as_time(metadata_of(pod).get("creationTimestamp"))
    return created if created is not None else time.time()


def _scheduled_at(pod: Mapping[str, Any]) -> float | None:
    for condition in as_list(as_map(pod.get("status")).get("conditions")):
        if condition.get("type") == "PodScheduled" and condition.get("status") == "True":
            return as_time(condition.get("lastTransitionTime", ""))
    return None


@dataclass(kw_only=True, eq=False, repr=False)
class KubernetesPodTrigger(KubeTrigger):
    """Wait for one pod to finish; stream its containers' logs into the task log while it runs.

    Kwargs are small and JSON-safe: a connection id and explicit cluster keywords (never
    credentials), the pod's namespace, name and uid, and absolute deadlines.
    """

    pod_name: str = ""
    pod_namespace: str = ""
    pod_uid: str | None = None
    base_container_name: str | None = "base"
    get_logs: bool = True
    container_logs: LogChoice = True
    init_container_logs: LogChoice = None
    container_name_log_prefix_enabled: bool = True
    max_log_bytes: int | None = None
    do_xcom_push: bool = False
    startup_timeout: float = 120
    schedule_timeout: float | None = None  # None: startup_timeout
    deadline: float | None = None
    log_events_on_failure: bool = False
    on_kill_action: str = "delete_pod"
    termination_grace_period: int | None = None
    watch_selector: str | None = MANAGED_SELECTOR
    log_positions: dict[str, list[int]] = field(default_factory=dict)
    resources: list[dict[str, Any]] = field(default_factory=list)  # made with the pod (job operator)
    submit: dict[str, Any] | None = None  # start_from_trigger: the pod to create (triggers/podstart.py)

    def __post_init__(self) -> None:
        if not self.submit and not (self.pod_name and self.pod_namespace):
            raise ValueError("KubernetesPodTrigger needs pod_name and pod_namespace, or submit")
        super().__post_init__()
        if self.schedule_timeout is None:
            self.schedule_timeout = self.startup_timeout
        self._schedule_seconds: float = self.schedule_timeout
        self.log_positions = dict(self.log_positions or {})
        self.resources = list(self.resources or [])
        self._render_error: str | None = None
        self._submitting: asyncio.Task[None] | None = None
        self._streams: LogStreams | None = None
        self._pod: Mapping[str, Any] = {}

    # -- start_from_trigger: render, then create or adopt the pod ------------------------------
    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Render the operator's template fields in ``submit`` as a worker would have (called by the
        triggerer before ``run()`` for a task started here); an error fails the task with it."""
        if not self.submit:
            return
        try:
            self.submit, connection = render_submission(
                self, self.submit, self._connection_kwargs(), context=context, jinja_env=jinja_env
            )
        except Exception as exc:  # the task fails with the reason instead of a triggerer traceback
            self._render_error = f"rendering the task's templates failed: {type(exc).__name__}: {exc}"
            return
        for key, value in connection.items():
            setattr(self, key, value)

    # -- the wait ------------------------------------------------------------------------------
    async def wait(self) -> PodEvent | Event:
        """Watch the pod to its end; returns the event payload. Also used inline on a worker."""
        client = await self._client()
        if self.submit and not self.pod_uid:
            if self._submitting is None:  # its own task: a kill meanwhile waits for it (_kill)
                self._submitting = keep_running(asyncio.ensure_future(self._submit(client)))
            await asyncio.shield(self._submitting)
        self.log.info("Waiting for pod %s/%s (shared watch, no polling)", self.pod_namespace, self.pod_name)
        prefix = self.container_name_log_prefix_enabled
        self._streams = LogStreams(
            client=client,
            namespace=self.pod_namespace,
            log=self.log,
            tag=lambda pod, container: container if prefix else None,
            positions=self.log_positions,
            max_bytes=log_budget(self.max_log_bytes),
            owner=self._try_id(),
        )
        denied = asyncio.ensure_future(self._streams.denied())
        try:
            async with shared_hub().subscribe(
                cluster=client.cluster,
                resource=PODS,
                namespace=self.pod_namespace,
                label_selector=self.watch_selector,
                name=self.pod_name,
                uid=self.pod_uid,
                log=self.log,
            ) as sub:
                return await self._follow(client, sub, denied=denied)
        finally:
            if denied.done() and not denied.cancelled():
                denied.exception()  # seen (it ended while the finish ran): asyncio need not warn
            denied.cancel()
            await self._streams.close()

    async def _follow(
        self, client: KubeClient, sub: Subscription, *, denied: asyncio.Future[Any]
    ) -> PodEvent | Event:
        while True:
            timeout = self._seconds_to_next_check()
            try:
                event = await first_of(sub.__anext__(), failing=denied, timeout=timeout)
            except asyncio.TimeoutError:
                event = None
            now = time.time()
            if event is not None:
                if event.type == DELETED:
                    if self._streams is not None:
                        self._streams.pod_deleted(self.pod_name)
                    return self._event("failed", reason="PodDeleted", message=self._deleted_message())
                self._pod = event.object
            if self.deadline is not None and now >= self.deadline:
                return self._timeout_event()
            if not self._pod:
                continue
            state = pod_state(self._pod, main_container=self.base_container_name)
            self._show_progress(f"Pod {self.pod_name}", state)
            self._stream_logs()
            if state.terminal:
                return await self._finish(client, state)
            startup_failure = self._startup_failure(state, now)
            if startup_failure is not None:
                await self._log_events(client)  # scheduling and image problems are told there
                return startup_failure

    async def _submit(self, client: KubeClient) -> None:
        if self._render_error:
            raise ConfigurationError(self._render_error)
        assert self.submit is not None
        ti = self.task_instance
        if ti is None:
            raise ConfigurationError("start_from_trigger: the triggerer gave this trigger no task instance")
        target = await shared_target(**self._connection_kwargs())
        if self.do_xcom_push:  # as a worker's start does: no earlier try's value survives this one
            await clear_return_value(ti)
        created = await start_pod(
            client,
            self.submit,
            ti=ti,
            namespace=target.namespace or "default",
            defaults=target.pod_defaults,
            log=self.log,
        )
        meta = created["metadata"]
        self.pod_name, self.pod_namespace, self.pod_uid = meta["name"], meta["namespace"], meta["uid"]
        timeout = self.submit.get("execution_timeout")
        if timeout is not None and self.deadline is None:  # from the pod's creation: a restart keeps it
            self.deadline = _created(created) + float(timeout)

    def _seconds_to_next_check(self) -> float | None:
        checks: list[float] = []
        if self.deadline is not None:
            checks.append(self.deadline)
        if self._pod and pod_state(self._pod, main_container=self.base_container_name).phase == Phase.PENDING:
            scheduled = _scheduled_at(self._pod)
            if scheduled is None:
                checks.append(_created(self._pod) + self._schedule_seconds)
            else:
                checks.append(scheduled + self.startup_timeout)
        return max(0.05, min(checks) - time.time()) if checks else None

    def _startup_failure(self, state: ObjectState, now: float) -> PodEvent | None:
        if state.phase != Phase.PENDING:
            return None
        scheduled = _scheduled_at(self._pod)
        if scheduled is None and now - _created(self._pod) >= self._schedule_seconds:
            message = f"the pod was not scheduled within {self._schedule_seconds:g}s"
            if state.reason:
                message += f": {state.reason}: {state.message}"
            return self._event("failed", reason=state.reason or "Unschedulable", message=message)
        if scheduled is not None and now - scheduled >= self.startup_timeout:
            message = f"the pod did not start within {self.startup_timeout:g}s"
            if state.reason:
                message += f": {state.reason}: {state.message}"
            return self._event("failed", reason=state.reason or "StartupTimeout", message=message)
        return None

    # -- logs ----------------------------------------------------------------------------------
    def current_log_positions(self) -> dict[str, list[int]]:
        """Where the log streams stopped (for a trigger that continues this one's wait)."""
        return self._streams.positions() if self._streams is not None else dict(self.log_positions)

    def _stream_logs(self) -> None:
        assert self._streams is not None
        wanted = wanted_containers(
            self._pod,
            container_logs=self.container_logs if self.get_logs else None,
            init_container_logs=self.init_container_logs if self.get_logs else None,
            main=main_container_name(self._pod, main_container=self.base_container_name),
        )
        self._streams.update(self._pod, wanted)

    # -- the end -------------------------------------------------------------------------------
    async def _finish(self, client: KubeClient, state: ObjectState) -> PodEvent:
        if self._streams is not None:
            await self._streams.drain()
        extra: dict[str, Any] = {"exit_code": state.exit_code, "container": state.container}
        has_sidecar = any(
            c.get("name") == XCOM_SIDECAR_NAME for c in (self._pod.get("spec") or {}).get("containers") or []
        )
        if has_sidecar:
            # The sidecar is stopped by the finish action, once the value is safe: until then a
            # repeated finish (a triggerer restart, the end of a worker's pre-defer wait) reads it
            # again. The phase is the pod's once the sidecar (exit 0 on SIGINT) has stopped.
            extra[XCOM_SIDECAR_KEY] = True
            if (self._pod.get("status") or {}).get("phase") in ("Pending", "Running"):
                extra["phase"] = "Succeeded" if state.phase == Phase.SUCCEEDED else "Failed"
            if state.phase == Phase.SUCCEEDED and self.do_xcom_push:
                try:
                    extra["xcom"] = await self._read_xcom(client)
                except AirflowK8sAsyncError as exc:
                    return self._event("failed", reason="XComError", message=str(exc), **extra)
        if state.phase == Phase.SUCCEEDED:
            return self._event("success", reason=state.reason, message=state.message, **extra)
        if self.log_events_on_failure or not self._any_container_started():
            await self._log_events(client)  # a pod that never started: its events say why
        return self._event("failed", reason=state.reason, message=state.message, **extra)

    def _any_container_started(self) -> bool:
        app = {str(c.get("name")) for c in (self._pod.get("spec") or {}).get("containers") or []}
        states = [state for name, state in container_states(self._pod).items() if name in app]
        return any({"running", "terminated"} & state.keys() for state in states)

    async def _read_xcom(self, client: KubeClient) -> Any:
        result = await exec_in_container(
            client,
            namespace=self.pod_namespace,
            pod=self.pod_name,
            container=XCOM_SIDECAR_NAME,
            command=["sh", "-c", _READ_XCOM],
        )
        text = result.stdout.strip()
        if result.exit_code != 0:
            why = result.stderr.strip() or result.message or f"exit code {result.exit_code}"
            raise AirflowK8sAsyncError(f"reading /airflow/xcom/return.json failed: {why}")
        if text == _EMPTY_XCOM:
            return None
        if len(text.encode()) > _MAX_XCOM_BYTES:
            raise AirflowK8sAsyncError(
                f"/airflow/xcom/return.json is {len(text.encode())} bytes; the limit is {_MAX_XCOM_BYTES}: "
                "write large results to object storage and return their location"
            )
        try:
            return json.loads(text)
        except ValueError as exc:
            raise AirflowK8sAsyncError(f"/airflow/xcom/return.json is not valid JSON: {exc}") from exc

    async def _log_events(self, client: KubeClient) -> None:
        uid = metadata_of(self._pod).get("uid")
        await log_pod_events(client, namespace=self.pod_namespace, uid=uid, log=self.log)

    def _deleted_message(self) -> str:
        return f"pod {self.pod_namespace}/{self.pod_name} was deleted before it finished"

    def _event(
        self, status: Status, *, reason: str = "", message: str = "", **extra: Unpack[PodExtra]
    ) -> PodEvent:
        event: PodEvent = {
            "status": status,
            "kind": "Pod",
            "name": self.pod_name,
            "namespace": self.pod_namespace,
            "uid": self.pod_uid or metadata_of(self._pod).get("uid"),
            "reason": reason,
            "message": message,
            "phase": (self._pod.get("status") or {}).get("phase"),
        }
        event.update(extra)  # type: ignore[typeddict-item]  # (its keys are the event's; mypy fears others)
        if self.resources:
            event["resources"] = self.resources
        if status != "success" and self._streams is not None:  # quoted by the failure message
            event["last_log_lines"] = self._streams.last_lines()
        return event

    # -- the user killed the task --------------------------------------------------------------
    def _keeps_on_kill(self) -> bool:
        return self.on_kill_action != "delete_pod"

    async def _kill(self) -> None:
        """Delete the pod when a user kills, clears or fails the deferred task (Airflow >= 3.3).

        Not called on a triggerer restart or redistribution: then the trigger resumes watching.
        """
        if not await self._claim_kill():  # ended with this trigger's event, or handled already
            return
        if self._submitting is not None:  # start_from_trigger: the pod may be being created
            await once_created(self._submitting, self._delete, log=self.log, what="its pod")
        else:
            await self._delete()

    async def _delete(self) -> None:
        if not self.pod_uid:  # start_from_trigger: killed before the pod was created
            return
        if self.on_kill_action != "delete_pod":
            self.log.info(
                "Task killed; keeping pod %s (on_kill_action=%s)", self.pod_name, self.on_kill_action
            )
            return
        client = await self._client()
        path = PODS.path(namespace=self.pod_namespace, name=self.pod_name)
        ti = self.task_instance
        done = await delete_unless_adopted(
            client,
            path=path,
            uid=self.pod_uid,
            grace_period=self.termination_grace_period,
            own_try=None if ti is None else int(ti.try_number),
        )
        if done == "deleted":
            self.log.info("Task killed; deleted pod %s/%s", self.pod_namespace, self.pod_name)
        elif done == "adopted":
            self.log.info(
                "Task killed; pod %s/%s was adopted by a later try (reattach_on_restart): kept",
                self.pod_namespace,
                self.pod_name,
            )
            return  # the new try owns the pod and what was created with it
        # A YAML body's other resources (Service, ConfigMap, ...): the pod is already gone above.
        others = [r for r in self.resources if r.get("uid") != self.pod_uid]
        deleted = await delete_resources(client, others, log=self.log)
        if deleted:
            self.log.info("Task killed; deleted %s", ", ".join(deleted))
