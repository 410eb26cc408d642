"""ArmadaJobTrigger: wait for one Armada job on its job set's shared event stream.

No call is made per job while it runs: its events arrive on the one GetJobSetEvents stream the
triggerer process keeps per (server, queue, job set) (``_armada.hub``). With ``container_logs``
the trigger follows that container's log in the job's pod (``armada-<jobId>-0``, in the cluster
and namespace of the running event) into the task log, through its follower
(``triggers/armadalogs.py``). At the end it asks GetJobErrors once for
a failed, preempted or rejected job and yields one small event. Kwargs hold no secret: the
channel's auth and the token retriever travel as descriptions and are rebuilt here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from typing_extensions import Unpack

from airflow_k8s_async._armada.client import ArmadaClient, get_armada_client
from airflow_k8s_async._armada.hub import HubSettings, Subscription, get_job_set_hub
from airflow_k8s_async._armada.states import (
    CANCELLED,
    FAILED,
    RUNNING,
    SUBMITTED,
    SUCCEEDED,
    UNACKNOWLEDGED,
    WITH_ERRORS,
    JobUpdate,
)
from airflow_k8s_async._kube.logs import LogCursor, LogTime
from airflow_k8s_async._kube.states import ObjectState, Phase
from airflow_k8s_async.armada.links import link_xcom_key
from airflow_k8s_async.armada.model import GrpcChannelArgs
from airflow_k8s_async.errors import AirflowK8sAsyncError
from airflow_k8s_async.settings import WATCH_LINGER_SECONDS, setting
from airflow_k8s_async.triggers.armadalogs import ArmadaLogFollower
from airflow_k8s_async.triggers.common import KubeTrigger
from airflow_k8s_async.triggers.events import ArmadaEvent, ArmadaExtra, Event, Status
from airflow_k8s_async.triggers.finish import FinishPlan, Outcome, failure_message
from airflow_k8s_async.triggers.logbudget import LogBudget, log_budget

__all__ = [
    "ArmadaJobTrigger",
    "armada_outcome",
]

_PHASES = {SUCCEEDED: Phase.SUCCEEDED, RUNNING: Phase.RUNNING}


def _phase(state: str) -> Phase:
    if state in _PHASES:
        return _PHASES[state]
    return Phase.FAILED if state in (FAILED, CANCELLED, *WITH_ERRORS) else Phase.PENDING


def armada_outcome(
    event: Mapping[str, Any], *, lookout_url: str | None, return_value: bool = True
) -> Outcome:
    """How an Armada task ends (the triggerer's and ``execute_complete``'s rules): the extra links
    and, on success, armada-airflow's return value (an XCom only with ``return_value``, i.e.
    ``do_xcom_push``; ``execute_complete`` returns it and Airflow decides); else a failure."""
    xcoms: dict[str, Any] = {link_xcom_key(name): url for name, url in (event.get("links") or {}).items()}
    job_id = str(event.get("job_id") or "")
    if event.get("status") == "success":
        xcoms["return_value"] = {
            "armada_queue": event.get("queue"),
            "job_id": job_id,
            "job_set_id": event.get("job_set_id"),
            "job_state": SUCCEEDED,
            "links": {"lookout": lookout_url} if lookout_url else {},
        }
        if not return_value:
            del xcoms["return_value"]
        return Outcome("success", f"Armada job {job_id} succeeded", xcoms=xcoms)
    message = failure_message({**event, "kind": "Armada job", "namespace": event.get("queue")})
    return Outcome("failed", message, timeout=event.get("status") == "timeout", xcoms=xcoms)


@dataclass(kw_only=True, eq=False, repr=False)
class ArmadaJobTrigger(KubeTrigger):
    """Wait for one Armada job to end; stream its container's log meanwhile.

    The Kubernetes keywords (``kubernetes_conn_id``, ``config_file``, ``cluster_context``,
    ``in_cluster``) say how to read the job's pod log; ``cluster_context`` defaults to the
    cluster id of the running event, as armada-airflow does.
    """

    job_id: str
    job_set_id: str
    armada_queue: str
    channel_args: dict[str, Any]
    channel_args_version: int = GrpcChannelArgs.__version__
    submit_time: float
    job_state: str = SUBMITTED
    job_acknowledgement_timeout: float = 300
    poll_interval: float = 30
    deadline: float | None = None
    container_logs: str | None = None
    max_log_bytes: int | None = None
    job_namespace: str | None = None
    k8s_token_retriever: list[Any] | None = None
    kubernetes_conn_id: str | None = None  # none: the pod log is read only with explicit keywords
    lookout_url: str | None = None
    link_patterns: dict[str, str] = field(default_factory=dict)
    log_position: list[int] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.link_patterns = dict(self.link_patterns or {})
        self._update = JobUpdate(job_id=self.job_id, state=self.job_state)
        cursor = LogCursor()
        if self.log_position:
            seconds, nanos, same = self.log_position
            cursor = LogCursor(last=LogTime(seconds, nanos), same=same)
        self._logs = ArmadaLogFollower(
            job_id=self.job_id,
            container=self.container_logs,
            job_namespace=self.job_namespace,
            link_patterns=self.link_patterns,
            connection=self._connection_kwargs(),
            k8s_token_retriever=self.k8s_token_retriever,
            current=lambda: self._update,
            log=self.log,
            cursor=cursor,
        )

    def _armada(self) -> ArmadaClient:
        args = GrpcChannelArgs.deserialize(self.channel_args, self.channel_args_version)
        return get_armada_client(args.spec())

    # -- the wait ------------------------------------------------------------------------------
    async def wait(self) -> ArmadaEvent | Event:
        """Follow the job to its end; returns the event payload. Also used inline on a worker."""
        client = self._armada()
        self.log.info(
            "Waiting for Armada job %s (queue %s, job set %s) on the shared event stream%s",
            self.job_id,
            self.armada_queue,
            self.job_set_id,
            f"; details at {self.lookout_url}" if self.lookout_url else "",
        )
        settings = HubSettings(
            linger=setting(WATCH_LINGER_SECONDS),
            poll_interval=float(self.poll_interval),
        )
        hub = get_job_set_hub(settings)
        self._logs.budget = LogBudget(limit=log_budget(self.max_log_bytes))
        try:
            async with hub.subscribe(
                client=client,
                queue=self.armada_queue,
                job_set_id=self.job_set_id,
                job_id=self.job_id,
                settings=settings,
            ) as sub:
                return await self._follow(client, sub)
        finally:
            await self._logs.stop()

    async def _follow(self, client: ArmadaClient, sub: Subscription) -> ArmadaEvent | Event:
        while True:
            try:
                update: JobUpdate | None = await asyncio.wait_for(
                    sub.__anext__(), self._seconds_to_next_check()
                )
            except asyncio.TimeoutError:
                update = None
            now = time.time()
            if update is not None:
                self._update = update
                self._show_progress(
                    f"Armada job {self.job_id}", ObjectState(_phase(update.state), update.state)
                )
                self._logs.start(update)
                if update.terminal:
                    return await self._finish(client)
            if self.deadline is not None and now >= self.deadline:
                return self._timeout_event()
            if self._unacknowledged() and now >= self._ack_deadline():
                if not await self._acknowledged_after_all(client):
                    return await self._not_acknowledged(client)

    def _ack_deadline(self) -> float:
        return self.submit_time + self.job_acknowledgement_timeout

    def _unacknowledged(self) -> bool:
        return self._update.state in UNACKNOWLEDGED

    async def _acknowledged_after_all(self, client: ArmadaClient) -> bool:
        """Ask Armada once before cancelling: a trigger that starts late (after a triggerer
        restart) replays the job set from its first message, so its first update, SUBMITTED, can
        be long outdated when the deadline has already passed."""
        try:
            state = (await client.job_status([self.job_id])).get(self.job_id)
        except AirflowK8sAsyncError as exc:
            self.log.warning("Could not ask Armada for job %s's state: %s", self.job_id, exc)
            return False
        if state is None or state in UNACKNOWLEDGED:
            return False
        self._update = replace(self._update, state=state)  # the stream brings the rest
        return True

    def _seconds_to_next_check(self) -> float | None:
        checks = [self.deadline] if self.deadline is not None else []
        if self._unacknowledged():
            checks.append(self._ack_deadline())
        return max(0.05, min(checks) - time.time()) if checks else None

    async def _not_acknowledged(self, client: ArmadaClient) -> ArmadaEvent:
        timeout = self.job_acknowledgement_timeout
        message = (
            f"Armada did not acknowledge job {self.job_id} within job_acknowledgement_timeout={timeout:g}s "
            f"(still {self._update.state}); the job was cancelled"
        )
        self.log.info("%s", message)
        await self._cancel(client, reason=f"not acknowledged within {timeout:g}s")
        return self._event("failed", reason="AcknowledgementTimeout", message=message, state=CANCELLED)

    async def _finish(self, client: ArmadaClient) -> ArmadaEvent:
        state = self._update.state
        await self._logs.drain()
        if state == SUCCEEDED:
            return self._event("success", reason=state)
        message = self._update.reason
        if state in WITH_ERRORS:
            try:
                message = (await client.job_errors([self.job_id])).get(self.job_id) or message
            except AirflowK8sAsyncError as exc:
                self.log.warning("Could not read the job's errors: %s", exc)
        return self._event("failed", reason=state, message=message)

    def current_log_position(self) -> list[int] | None:
        return self._logs.position()

    # -- events --------------------------------------------------------------------------------
    def _event(
        self, status: Status, *, reason: str = "", message: str = "", **extra: Unpack[ArmadaExtra]
    ) -> ArmadaEvent:
        update = self._update
        event: ArmadaEvent = {
            "status": status,
            "kind": "Armada job",
            "name": self.job_id,
            "namespace": update.namespace or self.job_namespace,
            "uid": None,
            "reason": reason,
            "message": message,
            "job_id": self.job_id,
            "job_set_id": self.job_set_id,
            "queue": self.armada_queue,
            "state": update.state,
            "cluster": update.cluster or None,
            "links": dict(self._logs.links),
        }
        event.update(extra)  # type: ignore[typeddict-item]  # (its keys are the event's; mypy fears others)
        if status != "success":
            event["last_log_lines"] = self._logs.last_lines()
        return event

    # -- the end in the triggerer ---------------------------------------------------------------
    def _outcome(self, event: Mapping[str, Any], plan: FinishPlan) -> Outcome:
        return armada_outcome(event, lookout_url=self.lookout_url, return_value=plan.return_value)

    def _finish_intent(self, event: Mapping[str, Any], plan: FinishPlan) -> str | None:
        if event.get("status") != "timeout":
            return None
        return f"Once Airflow has stored the end: cancel Armada job {self.job_id} (it outlived the task)"

    async def _apply_finish_action(self, event: Mapping[str, Any], plan: FinishPlan) -> None:
        if event.get("status") == "timeout":  # a job that outlived the task must not run on
            await self._cancel(self._armada(), reason="the Airflow task timed out")

    # -- the user killed the task --------------------------------------------------------------
    async def _cancel(self, client: ArmadaClient, *, reason: str) -> None:
        try:
            cancelled = await client.cancel(
                queue=self.armada_queue, job_set_id=self.job_set_id, job_id=self.job_id, reason=reason
            )
        except AirflowK8sAsyncError as exc:
            self.log.warning("Could not cancel Armada job %s: %s", self.job_id, exc)
            return
        self.log.info("Cancelled Armada job %s%s", self.job_id, "" if cancelled else " (already ended)")

    async def _kill(self) -> None:
        """Cancel the job when a user kills, clears or fails the deferred task (Airflow >= 3.3).

        Not called on a triggerer restart or redistribution: then the trigger resumes waiting.
        """
        if not await self._claim_kill():  # ended with this trigger's event, or handled already
            return
        self.log.info("Task killed; cancelling Armada job %s", self.job_id)
        await self._cancel(self._armada(), reason="the Airflow task was killed")
