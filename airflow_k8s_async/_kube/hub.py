"""WatchHub: the process's shared watches, one hub per event loop (:func:`get_hub`).

``subscribe()`` finds or starts the ``SharedWatch`` (``watch.py``) for a (cluster, resource,
namespace, selectors) and returns a ``Subscription`` (``subscription.py``) to it. Apart from the
watch, whose module is one list+watch and its failure rules: this one is the table of watches and
their lifetime.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from .client import KubeClient, get_client
from .cluster import ClusterConfig
from .perloop import PerLoop
from .subscription import Resource, Subscription, WatchKey, WatchStats
from .tasklog import TaskLog
from .watch import SharedWatch

__all__ = ["HUBS", "WatchHub", "get_hub"]


class WatchHub:
    """The process's shared watches. One per event loop: see :func:`get_hub`."""

    def __init__(
        self,
        *,
        client_for: Callable[[ClusterConfig], Awaitable[KubeClient]] = get_client,
        timeout_seconds: int = 300,
        linger: float = 10.0,
        list_chunk: int = 500,
    ) -> None:
        self.client_for = client_for
        self.timeout_seconds = timeout_seconds
        self.linger = linger
        self.list_chunk = list_chunk
        self._watches: dict[WatchKey, SharedWatch] = {}

    @property
    def watches(self) -> Mapping[WatchKey, WatchStats]:
        return {key: watch.stats for key, watch in self._watches.items()}

    @contextlib.asynccontextmanager
    async def subscribe(
        self,
        *,
        cluster: ClusterConfig,
        resource: Resource,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        name: str | None = None,
        uid: str | None = None,
        labels: Mapping[str, str] | None = None,
        log: TaskLog | None = None,
    ) -> AsyncIterator[Subscription]:
        """Follow the objects matching ``name`` / ``uid`` / ``labels`` in a shared watch.

        The watch itself is keyed by (cluster, resource, namespace, selectors): keep selectors
        broad and stable (e.g. the ownership label) so that many subscribers share one watch.
        ``log``: where this subscriber hears, once per outage, that the watch was lost and when
        it is back (a trigger's logger, so that its task's log says why it waits).
        """
        key = WatchKey(
            cluster, resource, namespace if resource.namespaced else None, label_selector, field_selector
        )
        watch = self._watches.get(key)
        if watch is None:
            watch = self._watches[key] = SharedWatch(hub=self, key=key)
        sub = Subscription(
            watch=watch,
            name=name,
            uid=uid,
            namespace=namespace if resource.namespaced else None,
            labels=labels,
            log=log,
        )
        watch.add(sub)
        try:
            yield sub
        finally:
            watch.remove(sub)

    def _forget(self, watch: SharedWatch) -> None:
        if self._watches.get(watch.key) is watch:
            del self._watches[watch.key]

    def _close_watch(self, watch: SharedWatch) -> None:
        self._forget(watch)
        watch.task.cancel()

    async def close(self) -> None:
        watches = list(self._watches.values())
        self._watches.clear()
        for watch in watches:
            watch.task.cancel()
        await asyncio.gather(*(w.task for w in watches), return_exceptions=True)


HUBS: PerLoop[None, WatchHub] = PerLoop("watch hubs", close=WatchHub.close, order=0)


def get_hub(**settings: Any) -> WatchHub:
    """The running loop's hub; ``settings`` apply only when this call creates it."""
    return HUBS.get_now(None, lambda: WatchHub(**settings))
