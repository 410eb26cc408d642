"""Log streams of the containers a trigger waits on, into the task log (shared by pod and Job triggers).

One follower per (pod, container), started once the container runs; each resumes after broken
streams without duplicates (``_kube.logs``). The last lines are kept for failure messages, and
every line can also be handed to a callback (``::kube_api:`` lines).

Where each log was passed on to is saved on its pod (annotation CURSOR_ANNOTATION, every
CHECKPOINT_SECONDS while lines come, and when the streams close: ``triggers/logcursor.py``), so a
trigger that runs again after a triggerer restart resumes there instead of from the start. The
annotation also carries the bytes shown so far, so a task's log budget (``max_log_bytes``,
``triggers/logbudget.py``) holds across restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from airflow_k8s_async._kube.client import KubeClient
from airflow_k8s_async._kube.logs import LogCursor, LogTime, follow_container_log
from airflow_k8s_async._kube.mapping import metadata_of
from airflow_k8s_async._kube.subscription import PODS
from airflow_k8s_async._kube.tasklog import TaskLog
from airflow_k8s_async.errors import KubeForbiddenError
from airflow_k8s_async.triggers.logbudget import LogBudget, budget_note
from airflow_k8s_async.triggers.logcursor import LogCheckpoints, later, saved_cursors
from airflow_k8s_async.triggers.logdrain import drain_followers, unread_note

__all__ = [
    "LAST_LINES",
    "LogChoice",
    "LogStreams",
    "container_states",
    "wanted_containers",
]


LAST_LINES = 20
CLAIM_WAIT_SECONDS = 5.0  # how long a stream waits for its pod's claim before it shows lines anyway


def container_states(pod: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Container name -> its current state dict, init containers included."""
    status = pod.get("status") or {}
    return {
        str(entry.get("name")): entry.get("state") or {}
        for key in ("initContainerStatuses", "containerStatuses")
        for entry in status.get(key) or []
    }


LogChoice = bool | str | list[str] | None


def wanted_containers(
    pod: Mapping[str, Any], *, container_logs: LogChoice, init_container_logs: LogChoice, main: str
) -> list[str]:
    """The pod's containers whose logs are wanted: ``True`` means the main container (or every init
    container), a name or list names them, ``False`` / ``None`` none (the provider's meaning)."""
    spec = pod.get("spec") or {}

    def chosen(choice: LogChoice, names: list[str], default: list[str]) -> list[str]:
        if not choice:
            return []
        if choice is True:
            return default
        wanted = [choice] if isinstance(choice, str) else list(choice)
        return [name for name in wanted if name in names]

    init_names = [str(c.get("name")) for c in spec.get("initContainers") or []]
    app_names = [str(c.get("name")) for c in spec.get("containers") or []]
    return chosen(init_container_logs, init_names, init_names) + chosen(container_logs, app_names, [main])


class LogStreams:
    def __init__(
        self,
        *,
        client: KubeClient,
        namespace: str,
        log: TaskLog,
        tag: Callable[[str, str], str | None],
        on_line: Callable[[str, str, str], None] | None = None,
        positions: Mapping[str, list[int]] | None = None,
        max_bytes: int = 0,
        checkpoints: bool = True,
        owner: str | None = None,
    ) -> None:
        """``tag(pod, container)`` gives the prefix shown in the task log (None: no prefix).

        ``positions`` (``"pod/container" -> [seconds, nanos, same]``, from :meth:`positions` of an
        earlier follower, e.g. the worker's before it deferred) resumes where that one stopped; so
        does a cursor saved on the pod by an earlier trigger of the same try (``owner``, the task
        instance's id), whichever is further. With ``on_line`` the lines before a saved cursor are
        read again for it, not shown (``::kube_api:`` results live only in the trigger's memory).
        ``max_bytes``: the task's log budget (0: none). ``checkpoints``: save the cursors on the
        pods (see the module's docstring).
        """
        self.client = client
        self.namespace = namespace
        self.log = log
        self.tag = tag
        self.on_line = on_line
        self.owner = owner
        self._pods: dict[str, Mapping[str, Any]] = {}
        self._followers: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._cursors: dict[tuple[str, str], LogCursor] = {}
        for key, (seconds, nanos, same) in (positions or {}).items():
            pod, _, container = key.partition("/")
            self._cursors[(pod, container)] = LogCursor(last=LogTime(seconds, nanos), same=same)
        self._shown_to: dict[tuple[str, str], LogCursor] = {}  # read again for on_line up to here
        self._last: deque[str] = deque(maxlen=LAST_LINES)
        self.lines = 0  # read so far (the drain's measure of progress)
        self._shown_lines = 0
        self._budget = LogBudget(limit=max_bytes)
        self._shown: dict[str, int] = {}  # pod -> bytes of its lines shown, by every trigger so far
        self._claims: dict[str, asyncio.Future[None]] = {}  # pod -> its take-over (_take_over)
        self._checkpoints = LogCheckpoints(
            client=client,
            namespace=namespace,
            log=log,
            owner=owner,
            enabled=checkpoints,
            pods=self._pods,
            cursors=self._cursors,
            shown_to=self._shown_to,
            shown=self._shown,
            budget=self._budget,
            claims=self._claims,
        )
        self._streaming: set[str] = set()  # pods whose logs streams have started
        self._denied: KubeForbiddenError | None = None  # no permission to read pod logs
        self._refused: dict[tuple[str, str], KubeForbiddenError] = {}  # a 403 within its grace
        self._denied_event = asyncio.Event()
        self._spent_told = False
        self._noted: set[tuple[str, str]] = set()  # (pod, container) said to be cut by a deletion

    def positions(self) -> dict[str, list[int]]:
        """How far each container's log was passed on, JSON-safe (see ``positions=``)."""
        return {
            f"{pod}/{container}": [cursor.last.seconds, cursor.last.nanos, cursor.same]
            for (pod, container), cursor in self._cursors.items()
            if cursor.last is not None
        }

    def update(self, pod: Mapping[str, Any], containers: list[str]) -> None:
        """Record the pod's latest state; start following those of ``containers`` that have run."""
        name = str(metadata_of(pod).get("name"))
        self._pods[name] = pod
        if self._budget.spent and self.on_line is None:
            return
        states = container_states(pod)
        for container in containers:
            key = (name, container)
            if key in self._followers or not (
                {"running", "terminated"} & (states.get(container) or {}).keys()
            ):
                continue
            self._followers[key] = asyncio.create_task(
                self._follow(name, container), name=f"log {name}[{container}]"
            )
        if self._followers:
            self._checkpoints.start(name)

    async def _follow(self, pod: str, container: str) -> None:
        take_over = self._claims.get(pod)
        if take_over is None:  # once a pod, before its first line is shown
            take_over = self._claims[pod] = asyncio.ensure_future(self._take_over(pod))
        with contextlib.suppress(asyncio.TimeoutError):  # bounded: a slow API server delays no log
            await asyncio.wait_for(asyncio.shield(take_over), CLAIM_WAIT_SECONDS)
        self._streaming.add(pod)
        if self._budget.spent and self.on_line is None:
            return
        cursor = self._cursors.setdefault((pod, container), LogCursor())
        try:
            whole = await follow_container_log(
                self.client,
                namespace=self.namespace,
                pod=pod,
                container=container,
                cursor=cursor,
                on_line=functools.partial(self._line, pod, container),
                finished=functools.partial(self.finished, pod, container),
                on_denied=functools.partial(self._note_refusal, (pod, container)),
            )
        except KubeForbiddenError as exc:  # for good: the task fails (``denied``), not just its log
            self._denied = self._denied or exc
            self._denied_event.set()
            return
        if not whole:
            self._note_deleted(pod, container)

    async def denied(self) -> NoReturn:
        """Raises once a log cannot be read for want of permission (a 403 past the API server's
        start-up grace): the task fails with that error, which names the verb and the fix, rather
        than run on without its log. Await it beside the trigger's watch."""
        await self._denied_event.wait()
        assert self._denied is not None
        raise self._denied_error(self._denied)

    def _note_refusal(self, key: tuple[str, str], refusal: KubeForbiddenError | None) -> None:
        if refusal is None:
            self._refused.pop(key, None)
        else:
            self._refused[key] = refusal

    @staticmethod
    def _denied_error(denied: KubeForbiddenError) -> KubeForbiddenError:
        return KubeForbiddenError(
            f"{denied} (or set get_logs=False to run without the log)",
            status=denied.status,
            reason=denied.reason,
            method=denied.method,
            path=denied.path,
        )

    async def _take_over(self, pod: str) -> None:
        """What an earlier trigger of this try saved on ``pod``, read from the pod as it is now (the
        watch's copy can lag behind that trigger's last save, e.g. while the watch reconnects);
        then, with checkpoints, the saved place marked as in use. Never raises but a cancel."""
        current: Mapping[str, Any] = self._pods.get(pod) or {}
        try:
            current = await self.client.request("GET", PODS.path(namespace=self.namespace, name=pod))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the watch's copy then
            self.log.debug("Could not read pod %s for its saved log position: %s", pod, exc)
        if pod not in self._streaming:  # (a stream that waited no longer has its cursor already)
            self.resume(pod, current)
        if self._checkpoints.enabled:
            await self._checkpoints.save_pod(pod, final=False, claim=True, current=current)

    def _cursor(self, pod: str, container: str) -> LogCursor:
        """Where the log of ``pod[container]`` was shown to; none yet while its stream waits to start
        (the pod can be deleted, or the trigger end, before then)."""
        return self._cursors.get((pod, container)) or LogCursor()

    def _note_deleted(self, pod: str, container: str) -> None:
        if (pod, container) in self._noted:
            return
        self._noted.add((pod, container))
        since = self._cursor(pod, container).since_time()
        self.log.warning(
            "The log of %s[%s] was not read to its end: the pod was deleted%s; the lines after that "
            "were not shown (read them where your cluster keeps container logs, if it does)",
            pod,
            container,
            f" (shown up to {since})" if since else " before any line was shown",
        )

    def pod_deleted(self, pod: str) -> None:
        """The watch says ``pod`` is gone: the logs of its containers that had not ended stop here."""
        for (name, container), task in self._followers.items():
            if name == pod and not task.done() and not self.finished(name, container):
                task.cancel()
                self._note_deleted(name, container)

    def resume(self, name: str, pod: Mapping[str, Any]) -> None:
        """Take over what an earlier trigger of this try saved on ``pod`` (once a pod, before its
        log is streamed): where each log was shown to, the bytes shown, whether the budget was spent."""
        cursors, saved = saved_cursors(pod, owner=self.owner)
        if not saved:
            return
        for container, cursor in cursors.items():
            key = (name, container)
            current = self._cursors.get(key)
            if current is not None and not later(cursor, current):
                continue
            if self.on_line is not None:
                self._shown_to[key] = cursor
            else:
                self._cursors[key] = cursor
        self._shown[name] = int(saved.get("shown") or 0)
        was_spent = self._budget.spent
        self._budget.add_earlier(self._shown[name])
        self._budget.spent = self._budget.spent or bool(saved.get("spent"))
        if self._budget.spent:
            if not was_spent:
                self.log.warning("This task's log budget (max_log_bytes) was spent before: not streaming")
            self._spent_told = True
        elif not saved.get("final"):
            stamps = [cursor.last for cursor in cursors.values() if cursor.last is not None]
            self.log.warning(
                "Resuming the log of pod %s where the previous trigger last saved its place: that "
                "trigger stopped without saving again (a triggerer killed?), so lines written from "
                "%s on may be shown twice",
                name,
                max(stamps).since_time() if stamps else "its start",
            )

    def finished(self, pod: str, container: str) -> bool:
        obj = self._pods.get(pod) or {}
        phase = (obj.get("status") or {}).get("phase")
        return "terminated" in (container_states(obj).get(container) or {}) or phase in (
            "Succeeded",
            "Failed",
        )

    def _line(self, pod: str, container: str, line: str) -> None:
        self.lines += 1
        key = (pod, container)
        shown_to = self._shown_to.get(key)
        if shown_to is not None:
            if not later(self._cursors[key], shown_to):  # an earlier trigger showed it
                if self.on_line is not None:
                    self.on_line(pod, container, line)
                return
            del self._shown_to[key]
        size = self._budget.take(line)
        if size is None:
            if not self._spent_told:
                self._spend(pod, container)
            if self.on_line is not None:  # (``::kube_api:`` results are read to the end)
                self.on_line(pod, container, line)
            return
        self._shown[pod] = self._shown.get(pod, 0) + size
        self._shown_lines += 1
        tag = self.tag(pod, container)
        shown = f"[{tag}] {line}" if tag else line
        self._last.append(f"[{tag or container}] {line}")
        self.log.info("%s", shown)
        if self.on_line is not None:
            self.on_line(pod, container, line)

    def _spend(self, pod: str, container: str) -> None:
        """The budget ran out on a line of ``pod[container]``: say so once; stop every stream
        (unless ``on_line`` still reads them)."""
        self._spent_told = True
        note = budget_note(
            limit=self._budget.limit,
            lines=self._shown_lines,
            namespace=self.namespace,
            pod=pod,
            container=container,
            cursor=self._cursor(pod, container),
        )
        self.log.warning("%s", note)
        if self.on_line is None:  # nothing else reads the lines: stop every stream
            for task in self._followers.values():
                task.cancel()  # the current one too: it stops at its next await

    def last_lines(self) -> list[str]:
        return list(self._last)

    async def drain(self) -> None:
        """Let the streams of ended containers deliver their last lines while they make progress
        (bounded); the task log says which were not read to their end, and how to read the rest."""
        ending = {key: task for key, task in self._followers.items() if self.finished(*key)}
        unread = await drain_followers(ending.values(), lines=lambda: self.lines)
        for key, task in ending.items():
            if task in unread and key in self._refused:  # refused throughout the drain: for good
                raise self._denied_error(self._refused[key])
        for (pod, container), task in ending.items():
            if task in unread:
                cursor = self._cursor(pod, container)
                self.log.warning(
                    "%s", unread_note(namespace=self.namespace, pod=pod, container=container, cursor=cursor)
                )

    async def close(self) -> None:
        """Stop every stream, then save where each stopped. Bounded, and never raises but a cancel:
        a repeated cancel stops only the waiting for the save, not the save."""
        saver = self._checkpoints.saver
        tasks = [*self._followers.values(), *([saver] if saver is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._followers:
            await self._checkpoints.save_last()

    async def save(self, *, final: bool) -> None:
        """Save each pod's cursors on it, where they moved (:meth:`LogCheckpoints.save`)."""
        await self._checkpoints.save(final=final)
