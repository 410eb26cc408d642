"""Log streams of the containers a trigger waits on, into the task log (shared by pod and Job triggers).

One follower per (pod, container), started once the container runs; each resumes after broken
streams without duplicates (``_kube.logs``). The last lines are kept for failure messages, and
every line can also be handed to a callback (``::kube_api:`` lines).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Callable, Collection, Mapping
from typing import Any

from airflow_k8s_async._kube.client import KubeClient
from airflow_k8s_async._kube.logs import LogCursor, LogTime, follow_container_log

LAST_LINES = 20
# After the end, ended containers' streams deliver their last lines while they make progress: a
# burst at exit can take minutes to pass on. Given up after this long without a line...
DRAIN_IDLE_SECONDS = 10.0
# ... and after this long in all, however fast lines come (a bound on every wait).
DRAIN_MAX_SECONDS = 600.0


async def drain_followers(
    followers: Collection[asyncio.Task[None]], *, lines: Callable[[], int]
) -> set[asyncio.Task[None]]:
    """Wait for ``followers`` to end while ``lines()`` (lines passed on so far) grows; those still
    running when it stops growing for DRAIN_IDLE_SECONDS, or after DRAIN_MAX_SECONDS."""
    loop = asyncio.get_running_loop()
    pending = set(followers)
    give_up = loop.time() + DRAIN_MAX_SECONDS
    seen, quiet_since = lines(), loop.time()
    while pending:
        now, passed = loop.time(), lines()
        if passed != seen:
            seen, quiet_since = passed, now
        until = min(give_up, quiet_since + DRAIN_IDLE_SECONDS)
        if now >= until:
            break
        _, pending = await asyncio.wait(pending, timeout=min(1.0, until - now))
    return pending


def unread_note(*, namespace: str, pod: str, container: str, cursor: LogCursor) -> str:
    """What the task log says of a container log not read to its end, and how to read the rest."""
    since = cursor.since_time()
    where = f"kubectl logs -n {namespace} {pod} -c {container}" + (f" --since-time={since}" if since else "")
    return (
        f"The log of {pod}[{container}] was not read to its end after the container ended (no "
        f"new line for {DRAIN_IDLE_SECONDS:g}s, or {DRAIN_MAX_SECONDS:g}s in all); the rest: {where}"
    )


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
        log: logging.Logger | Any,
        tag: Callable[[str, str], str | None],
        on_line: Callable[[str, str, str], None] | None = None,
        positions: Mapping[str, list[int]] | None = None,
    ) -> None:
        """``tag(pod, container)`` gives the prefix shown in the task log (None: no prefix).

        ``positions`` (``"pod/container" -> [seconds, nanos, same]``, from :meth:`positions` of an
        earlier follower, e.g. the worker's before it deferred) resumes where that one stopped.
        """
        self.client = client
        self.namespace = namespace
        self.log = log
        self.tag = tag
        self.on_line = on_line
        self._pods: dict[str, Mapping[str, Any]] = {}
        self._followers: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._cursors: dict[tuple[str, str], LogCursor] = {}
        for key, (seconds, nanos, same) in (positions or {}).items():
            pod, _, container = key.partition("/")
            self._cursors[(pod, container)] = LogCursor(last=LogTime(seconds, nanos), same=same)
        self._last: deque[str] = deque(maxlen=LAST_LINES)
        self.lines = 0  # passed on so far (the drain's measure of progress)

    def positions(self) -> dict[str, list[int]]:
        """How far each container's log was passed on, JSON-safe (see ``positions=``)."""
        return {
            f"{pod}/{container}": [cursor.last.seconds, cursor.last.nanos, cursor.same]
            for (pod, container), cursor in self._cursors.items()
            if cursor.last is not None
        }

    def update(self, pod: Mapping[str, Any], containers: list[str]) -> None:
        """Record the pod's latest state; start following those of ``containers`` that have run."""
        name = str((pod.get("metadata") or {}).get("name"))
        self._pods[name] = pod
        states = container_states(pod)
        for container in containers:
            key = (name, container)
            if key in self._followers or not (
                {"running", "terminated"} & (states.get(container) or {}).keys()
            ):
                continue
            self._followers[key] = asyncio.create_task(
                follow_container_log(
                    self.client,
                    namespace=self.namespace,
                    pod=name,
                    container=container,
                    cursor=self._cursors.setdefault(key, LogCursor()),
                    on_line=functools.partial(self._line, name, container),
                    finished=functools.partial(self.finished, name, container),
                ),
                name=f"log {name}[{container}]",
            )

    def finished(self, pod: str, container: str) -> bool:
        obj = self._pods.get(pod) or {}
        phase = (obj.get("status") or {}).get("phase")
        return "terminated" in (container_states(obj).get(container) or {}) or phase in (
            "Succeeded",
            "Failed",
        )

    def _line(self, pod: str, container: str, line: str) -> None:
        tag = self.tag(pod, container)
        shown = f"[{tag}] {line}" if tag else line
        self.lines += 1
        self._last.append(f"[{tag or container}] {line}")
        self.log.info("%s", shown)
        if self.on_line is not None:
            self.on_line(pod, container, line)

    def last_lines(self) -> list[str]:
        return list(self._last)

    async def drain(self) -> None:
        """Let the streams of ended containers deliver their last lines while they make progress
        (bounded); the task log says which were not read to their end, and how to read the rest."""
        ending = {key: task for key, task in self._followers.items() if self.finished(*key)}
        unread = await drain_followers(ending.values(), lines=lambda: self.lines)
        for (pod, container), task in ending.items():
            if task in unread:
                cursor = self._cursors[(pod, container)]
                self.log.warning(
                    "%s", unread_note(namespace=self.namespace, pod=pod, container=container, cursor=cursor)
                )

    async def close(self) -> None:
        for task in self._followers.values():
            task.cancel()
        await asyncio.gather(*self._followers.values(), return_exceptions=True)
