"""SharedWatch: one list+watch per (cluster, resource, namespace, selectors) in the process.

Every trigger that waits on a pod, Job or custom object subscribes to one (``hub.py``) instead
of polling. The first subscriber starts the watch: a paginated LIST, then a WATCH from the list's
resourceVersion with bookmarks and a server-side timeout. Events go to the subscribers that asked
for that object (indexed by name or by one label), so fan-out stays O(1) per event.

Failure rules (the reason this module exists):
- stream ended by the server's timeout: watch again from the last resourceVersion (no relist);
- connection error, 5xx, 429, silence longer than the timeout: reconnect after a backoff delay
  (``Retry-After`` honoured) from the last resourceVersion, so the server replays what was missed;
- 410 Gone (the version fell out of the server's window): LIST again and diff against the cache,
  so every subscriber sees the current state of its objects, including deletions it missed;
- 401 after one credential reload, 403, 404, bad configuration: permanent; subscribers get the
  error from their next read and the watch ends. Except a 401/403 of a watch that worked, within
  ``DENIED_GRACE_SECONDS`` of the first: an API server just started (a restart, an upgrade)
  answers so until its RBAC and token caches have synced; such a watch reconnects as after a 5xx.
The last subscriber leaving closes the watch after the hub's ``linger`` seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import aiohttp

from ..errors import (
    KubeConnectionError,
    KubeForbiddenError,
    KubeGoneError,
    KubeNotFoundError,
    KubeServerError,
    KubeTooManyRequestsError,
    KubeUnauthorizedError,
    api_error,
)
from .client import KubeClient
from .detached import detached_task
from .mapping import as_map, metadata_of
from .retry import backoff_delays
from .subscription import ADDED, DELETED, MODIFIED, Subscription, WatchEvent, WatchKey, WatchStats

if TYPE_CHECKING:
    from .hub import WatchHub

__all__ = ["DENIED_GRACE_SECONDS", "SharedWatch"]

log = logging.getLogger(__name__)
# Between attempts to list+watch again: capped at 10 s, since the watch is how every waiting
# task learns of its end (after a minute-long outage, ends are seen within ~10 s of its end).
RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
OUTAGE_NOTE_SECONDS = 5.0  # an outage this long is said in each waiting task's log
# How long a watch that worked takes 401/403 for a starting API server's unsynced caches.
DENIED_GRACE_SECONDS = 30.0
# Silence tolerated beyond the server-side timeout before the connection counts as dead.
INACTIVITY_MARGIN = 30.0
# Fields dropped from cached objects: large, and never read by the state rules.
_DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


def _slim(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            for key in _DROPPED_ANNOTATIONS:
                annotations.pop(key, None)
    return obj


class SharedWatch:
    """The list+watch for one WatchKey, its object cache, and its subscribers."""

    def __init__(self, *, hub: WatchHub, key: WatchKey) -> None:
        self.hub = hub
        self.key = key
        self.objects: dict[str, dict[str, Any]] = {}  # by uid
        self._uids_by_name: dict[str, set[str]] = {}  # so a new subscriber's lookup is not O(objects)
        self.resource_version: str | None = None
        self.synced = asyncio.Event()
        self.error: BaseException | None = None
        self.stats = WatchStats()
        self._by_name: dict[str, set[Subscription]] = {}
        self._by_label: dict[tuple[str, str], set[Subscription]] = {}
        self._others: set[Subscription] = set()
        self._count = 0
        self._progress = False
        self._closer: asyncio.TimerHandle | None = None
        # Its lines (an outage, a relist) go to the triggerer's log, not one trigger's task log.
        self.task: asyncio.Task[None] = detached_task(
            self._run(), name=f"watch {key.resource.plural} in {key.namespace or '(all)'}"
        )
        self._down_since: float | None = None  # the current outage's start (loop time)
        self._noted = False  # the waiting tasks' logs were told of it
        self._worked = False  # listed once: a later 401/403 may be a restarting API server's
        self._denied_since: float | None = None

    # -- subscribers -------------------------------------------------------------------------
    def _index(self, sub: Subscription) -> set[Subscription]:
        if sub.name is not None:
            return self._by_name.setdefault(sub.name, set())
        if sub.labels:
            return self._by_label.setdefault(next(iter(sub.labels.items())), set())
        return self._others

    def add(self, sub: Subscription) -> None:
        self._index(sub).add(sub)
        self._count += 1
        if self._closer is not None:
            self._closer.cancel()
            self._closer = None
        if self.error is not None:
            sub._fail(self.error)

    def remove(self, sub: Subscription) -> None:
        self._index(sub).discard(sub)
        self._count -= 1
        if self._count == 0:
            linger = self.hub.linger
            if linger <= 0:
                self.hub._close_watch(self)
            else:
                self._closer = asyncio.get_running_loop().call_later(linger, self._close_if_unused)

    def _close_if_unused(self) -> None:
        if self._count == 0:
            self.hub._close_watch(self)

    def _targets(self, meta: Mapping[str, Any]) -> Iterator[Subscription]:
        yield from self._by_name.get(meta.get("name", ""), ())
        if self._by_label:
            for pair in (meta.get("labels") or {}).items():
                yield from self._by_label.get(pair, ())
        yield from self._others

    def _dispatch(self, event: WatchEvent) -> None:
        self.stats.events += 1
        for sub in list(self._targets(metadata_of(event.object))):
            if sub.matches(event.object):
                sub._push(event)

    def _fail(self, error: BaseException) -> None:
        self.error = error
        self.synced.set()
        for subs in [*self._by_name.values(), *self._by_label.values(), self._others]:
            for sub in subs:
                sub._fail(error)

    async def initial_state(self, sub: Subscription) -> None:
        """Deliver the current state to a new subscriber, once the first LIST is done."""
        await self.synced.wait()
        if self.error is not None:
            return
        for cached in self._cached_for(sub):
            if sub.matches(cached):
                sub._push(WatchEvent(ADDED, cached))
        if sub.name is None or sub._last_rv:
            return
        # Not in the cache: created after our LIST and its event not here yet, or already gone.
        # One GET tells which; later events for it are dropped if older than this answer.
        self.stats.initial_gets += 1
        client = await self.hub.client_for(self.key.cluster)
        namespace = sub.namespace or self.key.namespace
        obj: dict[str, Any] | None
        try:
            obj = await client.request("GET", self.key.resource.path(namespace=namespace, name=sub.name))
        except KubeNotFoundError:
            obj = None
        if obj is not None and sub.matches(obj):
            sub._push(WatchEvent(ADDED, _slim(obj)))
        elif not sub._last_rv:
            meta = {"name": sub.name, "namespace": namespace, "uid": sub.uid}
            sub._push(WatchEvent(DELETED, {"metadata": meta}))

    def _cached_for(self, sub: Subscription) -> list[dict[str, Any]]:
        """The cached objects ``sub`` may match: by uid or name through the indexes, else all."""
        if sub.uid is not None:
            found = self.objects.get(sub.uid)
            return [] if found is None else [found]
        if sub.name is not None:
            return [self.objects[uid] for uid in self._uids_by_name.get(sub.name, ())]
        return list(self.objects.values())

    def _cache(self, uid: str, obj: dict[str, Any]) -> None:
        self.objects[uid] = obj
        self._uids_by_name.setdefault(str(metadata_of(obj).get("name", "")), set()).add(uid)

    def _uncache(self, uid: str) -> None:
        obj = self.objects.pop(uid, None)
        if obj is not None:
            name = str(metadata_of(obj).get("name", ""))
            uids = self._uids_by_name.get(name, set())
            uids.discard(uid)
            if not uids:
                self._uids_by_name.pop(name, None)

    # -- the list+watch loop -----------------------------------------------------------------
    async def _run(self) -> None:
        delays: Iterator[float] | None = None
        need_list = True
        try:
            client = await self.hub.client_for(self.key.cluster)
            while True:
                try:
                    if need_list:
                        await self._list(client)
                        need_list = False
                        self._worked, self._denied_since = True, None
                        self._back()
                    opened = asyncio.get_running_loop().time()
                    await self._watch(client)
                    lasted = asyncio.get_running_loop().time() - opened
                    if self._progress or lasted >= self.hub.timeout_seconds / 2:
                        delays = None  # ended by the server-side timeout: a healthy connection
                    else:
                        # Ended at once with nothing in it (a proxy, or a server answering 200
                        # and no body): not a reason to ask again at once.
                        self.stats.empty_streams += 1
                        delays = delays or backoff_delays(delays=RECONNECT_DELAYS)
                        await asyncio.sleep(next(delays))
                    self._progress = False
                except KubeGoneError:
                    self.stats.relists_after_gone += 1
                    need_list = True
                    log.info("watch %s: resourceVersion expired (410); listing again", self._label())
                except (
                    KubeConnectionError,
                    KubeServerError,
                    KubeTooManyRequestsError,
                    KubeForbiddenError,
                    KubeUnauthorizedError,
                ) as exc:
                    denied = isinstance(exc, (KubeForbiddenError, KubeUnauthorizedError))
                    if denied and not self._denied_briefly():
                        raise
                    self.stats.reconnects += 1
                    if self._progress or delays is None:
                        delays = backoff_delays(delays=RECONNECT_DELAYS)
                    if self._progress:
                        self._back()
                    self._progress = False
                    retry_after = getattr(exc, "retry_after", None)
                    delay = retry_after if retry_after is not None else next(delays)
                    # One warning per outage (then debug): a minute without the API server is a
                    # line, not one per attempt.
                    now = asyncio.get_running_loop().time()
                    first = self._down_since is None
                    if self._down_since is None:
                        self._down_since = now
                    elif not self._noted and now - self._down_since >= OUTAGE_NOTE_SECONDS:
                        # Into the waiting tasks' logs only once it lasts: a reset is no news.
                        self._noted = True
                        lasted = now - self._down_since
                        self._note_all(
                            f"Watch of {self._label()} lost {lasted:.0f}s ago ({exc}); reconnecting"
                        )
                    (log.warning if first else log.debug)(
                        "watch %s: %s; reconnecting in %.1fs", self._label(), exc, delay
                    )
                    await asyncio.sleep(delay)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("watch %s stopped: %s", self._label(), exc)
            self._fail(exc)
            self.hub._forget(self)

    def _denied_briefly(self) -> bool:
        """A 401/403 to take for a starting API server's: the watch worked, and the first denial
        came less than DENIED_GRACE_SECONDS ago."""
        if not self._worked:
            return False  # never allowed: missing RBAC or a wrong token, say so at once
        now = asyncio.get_running_loop().time()
        if self._denied_since is None:
            self._denied_since = now
        return now - self._denied_since < DENIED_GRACE_SECONDS

    def _back(self) -> None:
        """The watch works again (listed, or its stream opened) after an outage: say so once."""
        self._denied_since = None
        if self._down_since is not None:
            took = asyncio.get_running_loop().time() - self._down_since
            self._down_since = None
            log.warning("watch %s is back after %.0fs", self._label(), took)
            if self._noted:
                self._noted = False
                self._note_all(f"Watch of {self._label()} is back after {took:.0f}s")

    def _note_all(self, text: str) -> None:
        for subs in [*self._by_name.values(), *self._by_label.values(), self._others]:
            for sub in subs:
                sub._note(text)

    def _label(self) -> str:
        key = self.key
        selector = f" [{key.label_selector}]" if key.label_selector else ""
        return f"{key.resource.plural} in {key.namespace or '(all namespaces)'}{selector}"

    def _selectors(self) -> dict[str, Any]:
        return {"labelSelector": self.key.label_selector, "fieldSelector": self.key.field_selector}

    async def _list(self, client: KubeClient) -> None:
        path = self.key.resource.path(namespace=self.key.namespace)
        items: dict[str, dict[str, Any]] = {}
        token: str | None = None
        while True:
            query = {**self._selectors(), "limit": self.hub.list_chunk, "continue": token}
            page = await client.request("GET", path, query=query)
            kind = str(page.get("kind", "")).removesuffix("List") or self.key.resource.kind
            for obj in page.get("items") or []:
                # List items carry no kind/apiVersion; the state rules dispatch on them.
                obj.setdefault("kind", kind)
                obj.setdefault("apiVersion", page.get("apiVersion", self.key.resource.api_version))
                items[metadata_of(obj).get("uid", "")] = _slim(obj)
            page_meta = as_map(page.get("metadata"))  # a list's: "continue", "resourceVersion"
            token = page_meta.get("continue") or None
            if token is None:
                version = page_meta.get("resourceVersion")
                break
        self.stats.lists += 1
        previous, self.objects, self._uids_by_name = self.objects, {}, {}
        self.resource_version = version
        for uid, obj in items.items():
            self._cache(uid, obj)
        # Diff against what subscribers last saw: changes and deletions made while we were away.
        for uid, obj in items.items():
            old = previous.get(uid)
            if old is None:
                self._dispatch(WatchEvent(ADDED, obj))
            elif metadata_of(old).get("resourceVersion") != metadata_of(obj).get("resourceVersion"):
                self._dispatch(WatchEvent(MODIFIED, obj))
        for uid, old in previous.items():
            if uid not in items:
                self._dispatch(WatchEvent(DELETED, old))
        self.synced.set()

    async def _watch(self, client: KubeClient) -> None:
        timeout = self.hub.timeout_seconds
        query = {
            **self._selectors(),
            "watch": "true",
            "resourceVersion": self.resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": timeout,
        }
        self.stats.watch_requests += 1
        path = self.key.resource.path(namespace=self.key.namespace)
        async with client.stream(path, query=query, read_timeout=timeout + INACTIVITY_MARGIN) as resp:
            self.stats.watch_streams += 1
            self._back()  # the API server answers again
            log.debug("watch %s: streaming from resourceVersion %s", self._label(), self.resource_version)
            try:
                async for line in resp.content:
                    if line.strip():
                        self._on_event(json.loads(line))
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                raise KubeConnectionError(f"watch {self._label()} broke: {exc!r}") from exc

    def _on_event(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            code = int(obj.get("code") or 500)
            raise api_error(status=code, body=obj, method="WATCH", path=self.key.resource.path())
        self._progress = True
        version = metadata_of(obj).get("resourceVersion")
        if version:
            self.resource_version = version
        if kind == "BOOKMARK":
            self.stats.bookmarks += 1
            return
        uid = metadata_of(obj).get("uid", "")
        if kind == DELETED:
            self._uncache(uid)
        elif kind in (ADDED, MODIFIED):
            self._cache(uid, _slim(obj))
        else:
            return
        self._dispatch(WatchEvent(kind, obj))
