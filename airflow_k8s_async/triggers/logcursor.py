"""Where each container log was passed on to, saved on its pod (annotation CURSOR_ANNOTATION), so
that a trigger that runs again after a triggerer restart resumes there: the saved value read back
(``saved_cursors``), and written by :class:`LogCheckpoints` (every CHECKPOINT_SECONDS while lines
come, and when the streams close) for the streams of ``triggers/logstream.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from airflow_k8s_async._kube.client import MERGE_PATCH, KubeClient
from airflow_k8s_async._kube.logs import LogCursor, LogTime
from airflow_k8s_async._kube.mapping import metadata_of
from airflow_k8s_async._kube.subscription import PODS
from airflow_k8s_async._kube.tasklog import TaskLog
from airflow_k8s_async.errors import (
    KubeConflictError,
    KubeConnectionError,
    KubeForbiddenError,
    KubeNotFoundError,
    KubeServerError,
    KubeTooManyRequestsError,
)
from airflow_k8s_async.triggers.logbudget import LogBudget

__all__ = [
    "LogCheckpoints",
    "later",
    "saved_annotation",
    "saved_cursors",
]

CURSOR_ANNOTATION = "airflow-k8s-async/log-cursor"
# At most this often a pod's cursor is saved while lines come; a triggerer SIGKILLed in between
# shows the lines since the last save again (and the task log says so).
CHECKPOINT_SECONDS = 10.0
CHECKPOINT_CLOSE_SECONDS = 5.0  # the last save, as the streams close: bounded


def later(one: LogCursor, other: LogCursor) -> bool:
    """Whether ``one`` is past ``other`` (a cursor with no line is before any)."""
    if one.last is None:
        return False
    return other.last is None or (one.last, one.same) > (other.last, other.same)


_LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z: past it a stamp cannot be written back


def _valid_cursor(value: Any) -> LogCursor:
    seconds, nanos, same = value
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError(f"not integers: {value!r}")
    if not (0 <= seconds <= _LAST_SECOND and 0 <= nanos < 10**9 and same >= 0):
        raise ValueError(f"out of range: {value!r}")
    return LogCursor(last=LogTime(seconds, nanos), same=same)


def saved_annotation(pod: Mapping[str, Any]) -> str | None:
    return (metadata_of(pod).get("annotations") or {}).get(CURSOR_ANNOTATION)


def saved_cursors(
    pod: Mapping[str, Any], *, owner: str | None
) -> tuple[dict[str, LogCursor], dict[str, Any]]:
    """The cursors saved on ``pod`` for the task try ``owner`` (container -> cursor) and the rest
    of what was saved with them (``shown``, ``final``, ``spent``). Empty when none was saved, when
    another try saved them (a retry that adopted the pod starts its own log), or when the value is
    not what this module writes (edited by hand, copied with a template)."""
    try:
        saved = json.loads(saved_annotation(pod) or "{}")
        if not isinstance(saved, dict) or not saved or saved.get("o") != owner:
            return {}, {}
        cursors = {
            str(container): _valid_cursor(value) for container, value in (saved.get("c") or {}).items()
        }
        shown = saved.get("shown", 0)
        if not isinstance(shown, int) or isinstance(shown, bool) or shown < 0:
            raise ValueError(f"shown={shown!r}")
        if not all(isinstance(saved.get(key, False), bool) for key in ("final", "spent")):
            raise ValueError("final/spent not booleans")
    except (ValueError, TypeError, AttributeError):
        return {}, {}
    return cursors, saved


class LogCheckpoints:
    """The saving of where each log was passed on to, on its pod, for one set of log streams.

    It reads the streams' state, handed over as the very objects the streams keep up to date (it
    never changes them): each pod as last seen, where each (pod, container) log was shown to, up to
    where one is read again for ``on_line`` (an earlier trigger showed it), the bytes each pod's
    lines took, the log budget, and each pod's take-over of what was saved on it (a claim).
    """

    def __init__(
        self,
        *,
        client: KubeClient,
        namespace: str,
        log: TaskLog,
        owner: str | None,
        enabled: bool,
        pods: Mapping[str, Mapping[str, Any]],
        cursors: Mapping[tuple[str, str], LogCursor],
        shown_to: Mapping[tuple[str, str], LogCursor],
        shown: Mapping[str, int],
        budget: LogBudget,
        claims: Mapping[str, asyncio.Future[None]],
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.log = log
        self.owner = owner
        self.enabled = enabled  # off for good once the API server refuses a save (403)
        self._pods = pods
        self._cursors = cursors
        self._shown_to = shown_to
        self._shown = shown
        self._budget = budget
        self._claims = claims
        self.saver: asyncio.Task[None] | None = None  # the saves every CHECKPOINT_SECONDS, once started
        self._locks: dict[str, asyncio.Lock] = {}  # one save at a time per pod
        self._save_failure_told = False

    def start(self, name: str) -> None:
        """Save every CHECKPOINT_SECONDS from now on (once; the task is named after pod ``name``)."""
        if self.enabled and self.saver is None:
            self.saver = asyncio.create_task(self._save_every(), name=f"log cursors {name}")

    async def save_last(self) -> None:
        """The last save, as the streams close: bounded, and never raises but a cancel; a repeated
        cancel stops only the waiting for the save, not the save."""
        if not self.enabled:
            return
        saving = asyncio.ensure_future(asyncio.wait_for(self._save_last(), CHECKPOINT_CLOSE_SECONDS))
        try:
            await asyncio.shield(saving)
        except asyncio.TimeoutError:
            self.log.debug("The last log positions were not all saved within %gs", CHECKPOINT_CLOSE_SECONDS)
        except Exception as exc:  # the task's outcome must not depend on a best-effort save
            self.log.warning("Could not save the last log positions: %r", exc)

    async def _save_last(self) -> None:
        # After the claims: a claim that landed last would mark the place not final again.
        await asyncio.gather(*self._claims.values(), return_exceptions=True)
        await self.save(final=True)

    async def _save_every(self) -> None:
        # On a fixed cadence, not a pause after each save: a save slowed by a busy API server must
        # not stretch the span of lines a killed triggerer's successor shows again.
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due = max(due + CHECKPOINT_SECONDS, loop.time())
            await asyncio.sleep(due - loop.time())
            await self.save(final=False)

    async def save(self, *, final: bool) -> None:
        """Save each pod's cursors on it, where they moved. ``final``: nothing is passed on after
        this (the streams are closed), so a later trigger resumes exactly."""
        if self.enabled:
            pods = list(self._pods)
            await asyncio.gather(*(self.save_pod(p, final=final, claim=p in self._claims) for p in pods))

    async def save_pod(
        self, pod: str, *, final: bool, claim: bool = False, current: Mapping[str, Any] | None = None
    ) -> None:
        """One pod's save: a merge patch on the pod's resourceVersion, so that a save decided on an
        old state (another trigger saved further since, or this one's earlier save landed late)
        never lands; on a conflict, decided again on the pod as it is. Never raises but a cancel."""
        path = PODS.path(namespace=self.namespace, name=pod)
        async with self._locks.setdefault(pod, asyncio.Lock()):
            if current is None:
                current = self._pods.get(pod) or {}
            for _ in range(3):
                value = self.value(pod, final=final, claim=claim, current=current)
                if value is None or value == saved_annotation(current):
                    return
                metadata: dict[str, Any] = {"annotations": {CURSOR_ANNOTATION: value}}
                version = metadata_of(current).get("resourceVersion")
                if version:
                    metadata["resourceVersion"] = version
                try:
                    await self.client.request(
                        "PATCH", path, body={"metadata": metadata}, content_type=MERGE_PATCH
                    )
                    return
                except KubeConflictError:
                    try:
                        current = await self.client.request("GET", path)
                    except Exception as exc:  # gone, or unreachable: the next save decides again
                        self.log.debug("Could not read pod %s again to save its log position: %s", pod, exc)
                        return
                except KubeNotFoundError:
                    return  # gone: nothing to resume
                except KubeForbiddenError as exc:
                    self.enabled = False
                    self.log.warning(
                        "Cannot save the log position on pod %s (%s): after a triggerer restart its "
                        "log is shown again from where the task deferred; grant 'patch' on pods",
                        pod,
                        exc,
                    )
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a best-effort save must never stop a log or fail a task
                    self._told_save_failure(pod, exc)
                    return

    def _told_save_failure(self, pod: str, exc: Exception) -> None:
        transient = isinstance(exc, (KubeConnectionError, KubeTooManyRequestsError, KubeServerError))
        if transient or self._save_failure_told:  # the next save tries again
            self.log.debug("Could not save the log position on pod %s: %r", pod, exc)
            return
        self._save_failure_told = True
        self.log.warning("Could not save the log position on pod %s (tried again every save): %r", pod, exc)

    def value(self, pod: str, *, final: bool, claim: bool, current: Mapping[str, Any]) -> str | None:
        """The annotation's value for ``pod``; None when there is nothing to save (no line shown,
        unless ``claim``) or this trigger is behind what ``current`` (the pod) has: a triggerer
        that came back after another took over must not move the cursor back."""
        ours = {c: cur for (p, c), cur in self._cursors.items() if p == pod and cur.last is not None}
        for (p, c), shown_to in self._shown_to.items():  # still reading again up to these
            if p == pod and (c not in ours or later(shown_to, ours[c])):
                ours[c] = shown_to
        if not ours and not self._budget.spent and not claim:
            return None
        theirs, _ = saved_cursors(current, owner=self.owner)
        if any(later(cursor, ours.get(c, LogCursor())) for c, cursor in theirs.items()):
            return None
        saved: dict[str, Any] = {
            "o": self.owner,
            "c": {c: [cur.last.seconds, cur.last.nanos, cur.same] for c, cur in ours.items() if cur.last},
            "shown": self._shown.get(pod, 0),
            "final": final,
        }
        if self._budget.spent:
            saved["spent"] = True
        return json.dumps(saved, separators=(",", ":"), sort_keys=True)
