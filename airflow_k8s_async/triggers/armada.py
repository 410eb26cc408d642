"""ArmadaJobTrigger: wait for one Armada job on its job set's shared event stream.

No call is made per job while it runs: its events arrive on the one GetJobSetEvents stream the
triggerer process keeps per (server, queue, job set) (``_armada.hub``). With ``container_logs``
the trigger follows that container's log in the job's pod (``armada-<jobId>-0``, in the cluster
and namespace of the running event) into the task log. At the end it asks GetJobErrors once for
a failed, preempted or rejected job and yields one small event. Kwargs hold no secret: the
channel's auth and the token retriever travel as descriptions and are rebuilt here.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from typing_extensions import Unpack

from airflow_k8s_async._armada.client import ArmadaClient, get_armada_client
from airflow_k8s_async._armada.hub import HubSettings, Subscription, get_job_set_hub
from airflow_k8s_async._armada.kubeauth import with_token
from airflow_k8s_async._armada.states import (
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    SUBMITTED,
    SUCCEEDED,
    UNACKNOWLEDGED,
    WITH_ERRORS,
    JobUpdate,
)
from airflow_k8s_async._kube.client import KubeClient, get_client, leased_client
from airflow_k8s_async._kube.cluster import ClusterConfig
from airflow_k8s_async._kube.logs import LogCursor, LogTime, follow_container_log
from airflow_k8s_async._kube.states import ObjectState, Phase
from airflow_k8s_async.armada.auth import token_retriever_from
from airflow_k8s_async.armada.links import link_xcom_key
from airflow_k8s_async.armada.model import GrpcChannelArgs
from airflow_k8s_async.errors import AirflowK8sAsyncError, KubeUnauthorizedError
from airflow_k8s_async.settings import WATCH_LINGER_SECONDS, setting
from airflow_k8s_async.triggers.common import KubeTrigger, shared_target
from airflow_k8s_async.triggers.events import ArmadaEvent, ArmadaExtra, Event, Status
from airflow_k8s_async.triggers.finish import FinishPlan, Outcome, failure_message
from airflow_k8s_async.triggers.logbudget import LogBudget, budget_note, log_budget
from airflow_k8s_async.triggers.logdrain import drain_followers, unread_note
from airflow_k8s_async.triggers.logstream import LAST_LINES

__all__ = [
    "ArmadaJobTrigger",
    "armada_outcome",
]

_PHASES = {SUCCEEDED: Phase.SUCCEEDED, RUNNING: Phase.RUNNING}


# A job back in the queue after it ran (its lease returned or expired), or on its way to a new run.
_BACK_IN_QUEUE = frozenset({QUEUED, "LEASED", "PENDING"})
# How many fresh tokens in a row k8s_token_retriever may give that the API server refuses, before
# the log is given up (a token that worked for a while and then expired starts the count again).
TOKEN_RENEWALS = 3


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
        self._cursor = LogCursor()
        if self.log_position:
            seconds, nanos, same = self.log_position
            self._cursor = LogCursor(last=LogTime(seconds, nanos), same=same)
        self._follower: asyncio.Task[None] | None = None
        self._retired: list[asyncio.Task[None]] = []  # followers of earlier runs, cancelled
        self._last: deque[str] = deque(maxlen=LAST_LINES)
        self._lines = 0  # passed on so far (the drain's measure of progress)
        self._budget: LogBudget | None = None  # once the wait starts (the triggerer's setting)
        self._budget_told = False
        self._links: dict[str, str] = {}

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
        self._budget = LogBudget(limit=log_budget(self.max_log_bytes))
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
            await self._stop_logs()

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
                self._start_logs()
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
        if self._follower is not None:
            if await drain_followers([self._follower], lines=lambda: self._lines):
                namespace, pod = self._log_source(self._update)
                note = unread_note(
                    namespace=namespace, pod=pod, container=str(self.container_logs), cursor=self._cursor
                )
                self.log.warning("%s", note)
        if state == SUCCEEDED:
            return self._event("success", reason=state)
        message = self._update.reason
        if state in WITH_ERRORS:
            try:
                message = (await client.job_errors([self.job_id])).get(self.job_id) or message
            except AirflowK8sAsyncError as exc:
                self.log.warning("Could not read the job's errors: %s", exc)
        return self._event("failed", reason=state, message=message)

    # -- logs ----------------------------------------------------------------------------------
    def _start_logs(self) -> None:
        """Follow the log once the job runs; again when it runs again (its lease was returned and
        its first pod deleted). The old run's lines after the return are not shown."""
        update = self._update
        if self._follower is not None and update.state in _BACK_IN_QUEUE:
            # The lease was returned: stop before the next run's pod (of the same name) starts,
            # or its first lines would be read twice. That pod's log may begin before the old
            # one's end (they can overlap), so it gets a cursor of its own.
            self._follower.cancel()
            self._retired.append(self._follower)
            self._follower, self._cursor = None, LogCursor()
        if not self.container_logs or not update.cluster or self._follower is not None:
            return
        if self._budget is not None and self._budget.spent and not self.link_patterns:
            return
        if update.state != RUNNING and not update.terminal:
            return
        self._follower = asyncio.create_task(self._follow_logs(update), name=f"log armada-{self.job_id}")

    def _log_source(self, update: JobUpdate) -> tuple[str, str]:
        """The (namespace, pod) whose log is followed."""
        return (
            update.namespace or self.job_namespace or "default",
            update.pod_name or f"armada-{self.job_id}-0",
        )

    async def _follow_logs(self, update: JobUpdate) -> None:
        namespace, pod = self._log_source(update)
        assert self.container_logs is not None
        refused = 0  # tokens refused in a row
        try:
            while True:
                cluster, renewable = await self._log_cluster(update.cluster)
                shown = self._lines
                try:
                    if renewable:  # a client per token, closed with its last user
                        async with leased_client(cluster) as kube:
                            await self._follow_with(kube, namespace, pod, renewable=True)
                    else:
                        await self._follow_with(await get_client(cluster), namespace, pod, renewable=False)
                    return
                except KubeUnauthorizedError:
                    refused = 1 if self._lines > shown else refused + 1
                    if refused > TOKEN_RENEWALS:
                        raise
                    self.log.info(
                        "The token for the log of pod %s/%s was refused (expired?): asking "
                        "k8s_token_retriever for a new one",
                        namespace,
                        pod,
                    )
        except AirflowK8sAsyncError as exc:
            self.log.warning("Cannot follow the log of pod %s/%s: %s", namespace, pod, exc)

    async def _follow_with(self, kube: KubeClient, namespace: str, pod: str, *, renewable: bool) -> None:
        await follow_container_log(
            kube,
            namespace=namespace,
            pod=pod,
            container=str(self.container_logs),
            cursor=self._cursor,
            on_line=self._line,
            finished=lambda: self._update.terminal,
            stop_on_unauthorized=renewable,
        )

    async def _log_cluster(self, cluster_id: str) -> tuple[ClusterConfig, bool]:
        """The pod log's cluster config, and whether its credentials are a token to renew."""
        target = await shared_target(
            kubernetes_conn_id=self.kubernetes_conn_id,
            config_file=self.config_file,
            cluster_context=self.cluster_context or cluster_id,
            in_cluster=self.in_cluster,
        )
        retriever = token_retriever_from(self.k8s_token_retriever)
        if retriever is None:
            return target.cluster, False
        token = await asyncio.to_thread(retriever.get_token)
        return await asyncio.to_thread(with_token, target.cluster, token), True

    def _line(self, line: str) -> None:
        for name, pattern in self.link_patterns.items():  # (past the log budget too)
            if name not in self._links and (found := re.search(pattern, line)):
                self._links[name] = found.group(0)
        if self._budget is not None and self._budget.take(line) is None:
            if not self._budget_told:
                self._budget_told = True
                namespace, pod = self._log_source(self._update)
                note = budget_note(
                    limit=self._budget.limit,
                    lines=self._lines,
                    namespace=namespace,
                    pod=pod,
                    container=str(self.container_logs),
                    cursor=self._cursor,
                )
                self.log.warning("%s", note)
            if self._follower is not None and not self.link_patterns:
                self._follower.cancel()  # the current task: it stops at its next await
            return
        self._lines += 1
        self._last.append(f"[{self.container_logs}] {line}")
        self.log.info("[%s] %s", self.container_logs, line)

    def current_log_position(self) -> list[int] | None:
        cursor = self._cursor
        return None if cursor.last is None else [cursor.last.seconds, cursor.last.nanos, cursor.same]

    async def _stop_logs(self) -> None:
        followers = [*self._retired, *([self._follower] if self._follower is not None else [])]
        for follower in followers:
            follower.cancel()
        await asyncio.gather(*followers, return_exceptions=True)

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
            "links": dict(self._links),
        }
        event.update(extra)  # type: ignore[typeddict-item]  # (its keys are the event's; mypy fears others)
        if status != "success":
            event["last_log_lines"] = list(self._last)
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
