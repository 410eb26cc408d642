"""What every trigger of this package shares in one triggerer process: the base class KubeTrigger
(reaching the cluster, ending the task, deleting on a kill), the connection lookup and the watch hub
per event loop, and deleting what a task created."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from airflow.triggers.base import (
    BaseTrigger,
    TaskFailedEvent,
    TaskSkippedEvent,
    TaskSuccessEvent,
    TriggerEvent,
)
from airflow.version import version as airflow_version

from airflow_k8s_async._kube.client import KubeClient, get_client
from airflow_k8s_async._kube.hub import WatchHub, get_hub
from airflow_k8s_async._kube.perloop import PerLoop
from airflow_k8s_async._kube.states import ObjectState
from airflow_k8s_async._kube.tasklog import TaskLog
from airflow_k8s_async.errors import AirflowK8sAsyncError
from airflow_k8s_async.hooks.kubernetes import DEFAULT_CONN_ID, KubeTarget, aget_kube_target
from airflow_k8s_async.settings import WATCH_LINGER_SECONDS, WATCH_TIMEOUT_SECONDS, setting
from airflow_k8s_async.triggers.asynctasks import keep_running, run_shielded
from airflow_k8s_async.triggers.events import CreatedResource, Event, Status
from airflow_k8s_async.triggers.execution_api import push_xcoms, task_state
from airflow_k8s_async.triggers.finish import FinishPlan, Outcome, apply_finish_action, finish_intent, outcome
from airflow_k8s_async.triggers.stalls import loop_stalls

__all__ = [
    "AIRFLOW_HAS_TRIGGER_ON_KILL",
    "CONNECTION_FIELDS",
    "KubeTrigger",
    "delete_resources",
    "shared_hub",
    "shared_target",
]

# How long a trigger that ended its task waits for Airflow to store the end before deleting.
FINISH_WAIT_SECONDS = 30.0
# Airflow 3.3 calls a trigger's on_kill() when a user kills the task; before, only cleanup() ran.
AIRFLOW_HAS_TRIGGER_ON_KILL = tuple(int(p) for p in airflow_version.split(".")[:2] if p.isdigit()) >= (3, 3)
# The message Airflow >= 3.3 cancels a trigger with when it no longer belongs to this triggerer (a
# user's action, its timeout, a hand-over after a stall); a stopping triggerer cancels with none.
USER_ACTION_CANCEL = "__airflow_user_action__"
CONNECTION_FIELDS = ("kubernetes_conn_id", "config_file", "cluster_context", "in_cluster")
"""KubeTrigger's fields that say how to reach the cluster (never credentials)."""


def shared_hub() -> WatchHub:
    """The event loop's watch hub, configured from the ``[kubernetes_async]`` section."""
    return get_hub(
        timeout_seconds=setting(WATCH_TIMEOUT_SECONDS),
        linger=setting(WATCH_LINGER_SECONDS),
    )


# In the triggerer every connection lookup is a round trip to its supervisor, which re-reads the
# trigger table each time it wakes: 1000 triggers starting at once must not make 1000 lookups.
# One lookup per connection and loop, shared by the triggers that start together, reused briefly.
TARGET_TTL_SECONDS = 60.0
_TARGETS: PerLoop[tuple[Any, ...], KubeTarget] = PerLoop("connection targets", ttl=TARGET_TTL_SECONDS)


async def shared_target(
    *,
    kubernetes_conn_id: str | None,
    config_file: str | None,
    cluster_context: str | None,
    in_cluster: bool | None,
) -> KubeTarget:
    """The connection's :class:`KubeTarget`, looked up once per loop and minute (failures are not kept)."""
    return await _TARGETS.get(
        (kubernetes_conn_id, config_file, cluster_context, in_cluster),
        lambda: aget_kube_target(
            conn_id=kubernetes_conn_id,
            config_file=config_file,
            cluster_context=cluster_context,
            in_cluster=in_cluster,
        ),
    )


@dataclass(kw_only=True, eq=False, repr=False)
class KubeTrigger(BaseTrigger):
    """What our Kubernetes triggers share: reaching the cluster, ending the task, deleting on a kill.

    Subclasses are keyword-only dataclasses too: their fields are their kwargs, declared once, and
    ``serialize()`` stores every field (so nothing secret may be one). They implement ``wait()``,
    ``_event()``, ``on_kill()`` (delete what the task owns) and ``_keeps_on_kill()``, and normalize
    fields in ``__post_init__``. ``finish`` (a :class:`FinishPlan` as a dict) names the outcomes the
    trigger ends the task with itself; the others resume on a worker with the event.
    """

    kubernetes_conn_id: str | None = DEFAULT_CONN_ID
    config_file: str | None = None
    cluster_context: str | None = None
    in_cluster: bool | None = None
    finish: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        BaseTrigger.__init__(self)  # type: ignore[no-untyped-call]
        self._fired = False
        self._killed = False
        self._kept = False
        self._in_cleanup = False
        self._cancelled_with: str | None = None  # the message of the cancel that stopped run()
        self._kill_task: asyncio.Task[None] | None = None
        self._shown: tuple[str, str] | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and every field: what the triggerer stores and builds the trigger from."""
        return self._classpath(), {field.name: getattr(self, field.name) for field in fields(self)}

    def _classpath(self) -> str:
        """What ``serialize()`` names: built from the class, so a subclass or move stays right."""
        cls = type(self)
        return f"{cls.__module__}.{cls.__qualname__}"

    def _show_progress(self, what: str, state: ObjectState) -> None:
        """Log a state change of the watched object once (phase and reason), into the task log."""
        shown = (state.phase.value, state.reason)
        if shown != self._shown:
            self._shown = shown
            detail = f" ({state.reason})" if state.reason else ""
            self.log.info("%s is %s%s", what, state.phase.value, detail)

    def _timeout_event(self) -> Event:
        return self._event("timeout", reason="Timeout", message="the task's execution_timeout passed")

    def _try_id(self) -> str | None:
        """The task instance's id (one per try), where the triggerer gave this trigger one."""
        ident = getattr(self.task_instance, "id", None)
        return str(ident) if ident else None

    def _connection_kwargs(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in CONNECTION_FIELDS}

    async def _client(self) -> KubeClient:
        return await get_client((await shared_target(**self._connection_kwargs())).cluster)

    async def wait(self) -> Event:
        """Wait to the end; the event payload. Also run inline on a worker (deferrable=False)."""
        raise NotImplementedError

    def _event(self, status: Status, *, reason: str = "", message: str = "") -> Event:
        raise NotImplementedError

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            async with contextlib.aclosing(self._run()) as events:
                async for event in events:
                    yield event
        except asyncio.CancelledError as exc:  # what cleanup() needs to know of the cancel
            self._cancelled_with = str(exc.args[0]) if exc.args else None
            raise

    async def _run(self) -> AsyncGenerator[TriggerEvent, None]:
        loop_stalls()  # watching from the start: a kill after a stall must know of it
        try:
            event = await self.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # configuration, RBAC, or anything else: the task fails with why
            # (a crash would fail it too, but cleanup() would then find it deferred and keep
            # a pod that nothing watches any more)
            if not isinstance(exc, AirflowK8sAsyncError):
                self.log.exception("The wait failed")
            event = self._event("error", reason=type(exc).__name__, message=str(exc))
        plan = self._plan()
        result = self._outcome(event, plan)
        if result.state not in plan.ends:
            self.log.info(
                "Resuming on a worker to end as %s: %s", result.state, plan.resume_reason(result.state)
            )
            self._fired = True
            yield TriggerEvent(event)  # type: ignore[no-untyped-call]
            return
        self._log_outcome(result)
        try:
            await push_xcoms(self.task_instance, result.xcoms)
        except Exception as exc:  # the task must not end without its results: resume on a worker
            self.log.warning("Could not push the XComs from the triggerer (%s); resuming on a worker", exc)
            self._fired = True
            yield TriggerEvent(event)  # type: ignore[no-untyped-call]
            return
        intent = self._finish_intent(event, plan)
        if intent:  # said before the end is stored: the task log may close once it is
            self.log.info("%s", intent)
        # Set only now: a user's kill while the XComs were pushed still deletes (on_kill).
        self._fired = True
        yield _END_EVENTS[result.state]()
        # After the yield the event is only queued in this process: delete once the task has left
        # "deferred" (the event is stored), so a triggerer lost in between finds the pod again.
        # Shielded, so that the finish completes when the runner cancels this trigger meanwhile.
        await run_shielded(self._finish_when_stored(event, plan))

    def _plan(self) -> FinishPlan:
        try:
            return FinishPlan.from_dict(self.finish)
        except (TypeError, ValueError) as exc:  # e.g. written by a newer version: resume, never crash
            self.log.warning("Unusable finish plan %r (%s): the task resumes on a worker", self.finish, exc)
            return FinishPlan()

    async def _finish_when_stored(self, event: Mapping[str, Any], plan: FinishPlan) -> None:
        deadline = time.monotonic() + FINISH_WAIT_SECONDS
        while time.monotonic() < deadline:
            try:
                if await task_state(self.task_instance) != "deferred":
                    break
            except Exception:  # no execution API (e.g. run in-process): finish at once
                break
            await asyncio.sleep(0.5)
        await self._apply_finish_action(event, plan)

    def _outcome(self, event: Mapping[str, Any], plan: FinishPlan) -> Outcome:
        return outcome(event, plan=plan)

    def _log_outcome(self, result: Outcome) -> None:
        if result.state == "failed":
            self.log.error("%s", result.message)
        else:
            self.log.info("%s", result.message)
        if result.xcoms:
            self.log.info("XComs pushed from the triggerer: %s", ", ".join(result.xcoms))
        self.log.info(
            "The task ends here, in the triggerer, as %s: it does not return to a worker", result.state
        )

    def _finish_intent(self, event: Mapping[str, Any], plan: FinishPlan) -> str | None:
        return finish_intent(plan.action, event) if event.get("name") else None

    async def _apply_finish_action(self, event: Mapping[str, Any], plan: FinishPlan) -> None:
        try:
            client = await self._client()
            await apply_finish_action(client, event, action=plan.action, log=self.log)
        except AirflowK8sAsyncError as exc:
            self.log.warning("Could not apply the finish action: %s", exc)

    def _keeps_on_kill(self) -> bool:
        return False

    async def _claim_kill(self) -> bool:
        """Whether a kill should act: not after this trigger's event, only once (Airflow calls
        ``on_kill`` and then ``cleanup``), and not when the trigger merely moves elsewhere.

        ``cleanup`` (every exit, a restart included) acts only when the task has left "deferred".
        ``on_kill`` (Airflow >= 3.3: a user's mark, clear or kill) acts unless the task is still
        deferred *and* this process was stalled just before: Airflow 3.3 also calls ``on_kill``
        on a triggerer that lost the trigger to another one because its heartbeat lapsed
        (apache/airflow#73454), and the other one watches on. A task that is deferred again
        without a stall is a cleared task's next try, deferred already: this try's resources go.
        A trigger run without a triggerer (no task instance: in-process) acts when told to.
        """
        if self._fired or self._killed or self._kept:
            return False
        if self.task_instance is not None:
            state = await self._state_for_kill()
            if state is _UNKNOWN:
                return False
            if state == "deferred" and (self._in_cleanup or loop_stalls().stalled_recently()):
                self._kept = True  # decided for this exit: cleanup() after on_kill() asks no more
                self.log.info(
                    "Trigger stopped while its task is still deferred (a triggerer restart or a hand-over"
                    " to another triggerer): keeping what the task created"
                )
                return False
        self._killed = True
        return True

    async def _state_for_kill(self) -> object:
        """The task's state, asked up to three times (a user's kill must not fail on one lost
        answer); ``_UNKNOWN`` when there is none: then nothing is deleted."""
        for attempt in range(3):
            try:
                return await task_state(self.task_instance)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if attempt == 2:
                    self.log.warning("Could not read the task's state; keeping its resources: %s", exc)
                    return _UNKNOWN
                await asyncio.sleep(1.0)
        return _UNKNOWN  # pragma: no cover

    async def cleanup(self) -> None:
        """Delete what the task owns if it left "deferred" without this trigger's event: a user's
        kill before Airflow 3.3 (no ``on_kill`` for triggers), and on every version Airflow's own
        trigger timeout (``execution_timeout`` of a task started in the triggerer), which cancels
        the trigger without calling ``on_kill``.

        ``cleanup`` runs on every exit, a triggerer restart included: ``on_kill`` acts only when
        no event was fired and the task is no longer deferred (killed, cleared, marked, timed
        out); after an ``on_kill`` that acted, the second call does nothing.
        """
        if self._fired or self._killed or self._kept or self._keeps_on_kill() or self.task_instance is None:
            return
        if AIRFLOW_HAS_TRIGGER_ON_KILL and self._cancelled_with != USER_ACTION_CANCEL:
            # The triggerer is stopping (a restart, a deploy): the task stays deferred and another
            # triggerer takes the trigger over. (The question could not be answered anyway: the
            # runner's channel to its supervisor is closed by then, and asking waited until the
            # runner was killed, 10 s later, with no trigger's last log positions saved.)
            return
        self._in_cleanup = True
        await self.on_kill()

    async def on_kill(self) -> None:
        """Delete what the task created when a user killed, cleared or marked the task (Airflow
        >= 3.3 calls this at once; before, ``cleanup`` does), unless the task is still deferred.

        Shielded: Airflow cancels a killed trigger again on each sync until it has stopped, and
        a kill can take seconds (the process's first execution-API call starts that API), so an
        unshielded kill would be cut off half-way, leaving resources behind.
        """
        if self._kill_task is None:  # once: on_kill and then cleanup, or a repeated cancel
            self._kill_task = keep_running(asyncio.ensure_future(self._kill()))
        await asyncio.shield(self._kill_task)

    async def _kill(self) -> None:
        raise NotImplementedError


_UNKNOWN = object()

_END_EVENTS: dict[str, type[TaskSuccessEvent | TaskFailedEvent | TaskSkippedEvent]] = {
    "success": TaskSuccessEvent,
    "failed": TaskFailedEvent,
    "skipped": TaskSkippedEvent,
}


async def delete_resources(
    client: KubeClient,
    resources: Sequence[CreatedResource] | Sequence[Mapping[str, Any]],
    *,
    log: TaskLog,
    propagation: str = "Background",
) -> list[str]:
    """Delete what a task created (``{"path", "uid", "kind", "name"}``), last created first; what
    was deleted ("Kind name"; what was gone already is not named)."""
    deleted = []
    for resource in reversed(resources):
        what = f"{resource.get('kind')} {resource.get('name')}"
        try:
            if await client.delete(str(resource["path"]), uid=resource.get("uid"), propagation=propagation):
                deleted.append(what)
        except AirflowK8sAsyncError as exc:
            log.warning("Could not delete %s: %s", what, exc)
    return deleted
