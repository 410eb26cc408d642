"""A trigger's view of a shared watch (:class:`Subscription`) and the values it deals in.

``Resource`` (``PODS``, ``JOBS``) is what is watched, ``WatchKey`` which watch, ``WatchEvent`` what
a subscriber receives, ``WatchStats`` what a watch did. Apart from the list+watch (``watch.py``)
and the hub that shares it (``hub.py``), so that triggers, operators and discovery use these
without importing the watch machinery.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .cluster import ClusterConfig
from .mapping import metadata_of
from .tasklog import TaskLog

if TYPE_CHECKING:
    from .watch import SharedWatch

__all__ = [
    "ADDED",
    "DELETED",
    "JOBS",
    "MODIFIED",
    "PODS",
    "Resource",
    "Subscription",
    "WatchEvent",
    "WatchKey",
    "WatchStats",
]

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"


@dataclass(frozen=True)
class Resource:
    """An API resource: group ("" for core), version, plural; namespaced or cluster-scoped."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    def path(self, *, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


PODS = Resource(group="", version="v1", plural="pods", kind="Pod")
JOBS = Resource(group="batch", version="v1", plural="jobs", kind="Job")


@dataclass(frozen=True)
class WatchKey:
    cluster: ClusterConfig
    resource: Resource
    namespace: str | None
    label_selector: str | None = None
    field_selector: str | None = None


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED, MODIFIED or DELETED
    object: dict[str, Any]


@dataclass
class WatchStats:
    """What one shared watch did; read by tests and benchmarks."""

    lists: int = 0
    relists_after_gone: int = 0
    watch_requests: int = 0
    watch_streams: int = 0  # watch requests the server answered (the stream was open)
    reconnects: int = 0
    empty_streams: int = 0  # ended at once with nothing in them (waited a backoff step after)
    events: int = 0
    bookmarks: int = 0
    initial_gets: int = 0


def _rv_int(obj: Mapping[str, Any]) -> int | None:
    # resourceVersion is opaque by contract, but numeric on every etcd-backed server; it is used
    # only to drop stale duplicates and never when it does not parse.
    try:
        return int(metadata_of(obj).get("resourceVersion", ""))
    except ValueError:
        return None


class Subscription:
    """One subscriber's view of a shared watch: its objects' states, in order, never stale.

    Iterate it to get :class:`WatchEvent` items. The first events are the current state of the
    matching objects; a subscription for one ``name`` whose object does not exist gets a
    DELETED event with only the metadata it asked for.
    """

    def __init__(
        self,
        *,
        watch: SharedWatch,
        name: str | None,
        uid: str | None,
        namespace: str | None,
        labels: Mapping[str, str] | None,
        log: TaskLog | None = None,
    ) -> None:
        self._watch = watch
        self._log = log  # where notes about the watch go (the trigger's log: its task's log)
        self._notes: deque[str] = deque()
        self.name = name
        self.uid = uid
        self.namespace = namespace
        self.labels = dict(labels or {})
        self._events: deque[WatchEvent] = deque()
        self._wakeup = asyncio.Event()
        self._error: BaseException | None = None
        self._last_rv: dict[str, int] = {}
        self._started = False

    def matches(self, obj: Mapping[str, Any]) -> bool:
        meta = metadata_of(obj)
        if self.name is not None and meta.get("name") != self.name:
            return False
        if self.uid is not None and meta.get("uid") != self.uid:
            return False
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        if self.labels:
            labels = meta.get("labels") or {}
            return all(labels.get(k) == v for k, v in self.labels.items())
        return True

    def _push(self, event: WatchEvent) -> None:
        uid = metadata_of(event.object).get("uid")
        rv = _rv_int(event.object)
        if uid and rv is not None:
            last = self._last_rv.get(uid)
            if last is not None and (rv < last or (rv == last and event.type != DELETED)):
                return  # older than, or the same as, what this subscriber has already seen
            self._last_rv[uid] = rv
        self._events.append(event)
        self._wakeup.set()

    def _fail(self, error: BaseException) -> None:
        self._error = error
        self._wakeup.set()

    async def synced(self) -> None:
        """Until the watch's first LIST is in (or the watch failed): ``current()`` is then complete."""
        await self._watch.synced.wait()

    def current(self) -> list[dict[str, Any]]:
        """The cached objects this subscription matches, as the watch knows them now."""
        return [obj for obj in self._watch._cached_for(self) if self.matches(obj)]

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> WatchEvent:
        if not self._started:
            self._started = True
            await self._watch.initial_state(self)
        while True:
            while self._notes and self._log is not None:  # logged here, in the subscriber's context
                self._log.warning("%s", self._notes.popleft())
            if self._events:
                return self._events.popleft()
            if self._error is not None:
                raise self._error
            self._wakeup.clear()
            await self._wakeup.wait()

    def _note(self, text: str) -> None:
        if self._log is not None:
            self._notes.append(text)
            self._wakeup.set()

    async def wait_for(
        self, predicate: Callable[[WatchEvent], bool], *, timeout: float | None = None
    ) -> WatchEvent:
        """The first event (current state included) that satisfies ``predicate``."""

        async def first() -> WatchEvent:
            async for event in self:
                if predicate(event):
                    return event
            raise AssertionError("unreachable: a subscription never ends by itself")

        return await asyncio.wait_for(first(), timeout)
