"""Things shared by everything on one event loop (clients, watch hubs, channels, caches): one
helper for all of them.

A triggerer runs one loop for its life; a worker runs ``asyncio.run`` per task step, and tests
make many loops. So each shared thing is kept per loop and key, made once however many callers
ask at the same time (the making runs as a task of its own: a caller cancelled meanwhile cancels
only its own wait), forgotten when making fails (the next caller tries again), and closed by
:func:`close_loop_resources` when the loop's work ends: ``run_sync`` calls it, and so does the
test suite after every async test. (Loops are weak keys, but a value made on a loop holds it: a
loop that ends without that call stays, with its entries, until the process ends.)
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from airflow_k8s_async._kube.detached import detached_task

__all__ = ["PerLoop", "close_loop_resources"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")

_ALL: list[PerLoop[Any, Any]] = []
_CLOSING: set[asyncio.Task[None]] = set()
log = logging.getLogger(__name__)


class PerLoop(Generic[K, V]):
    """Values by key on each loop. ``close`` (if any) is awaited for each value when the loop's
    resources are closed; ``order`` says when (lower first: hubs before the clients they use).
    ``ttl``: a value older than this many seconds is made again when asked for."""

    def __init__(
        self,
        name: str,
        *,
        close: Callable[[V], Awaitable[None]] | None = None,
        order: int = 0,
        ttl: float | None = None,
    ) -> None:
        self.name = name
        self.order = order
        self._close = close
        self._ttl = ttl
        self._loops: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[K, tuple[float, asyncio.Future[V]]]
        ] = weakref.WeakKeyDictionary()
        _ALL.append(self)

    def _here(self) -> dict[K, tuple[float, asyncio.Future[V]]]:
        return self._loops.setdefault(asyncio.get_running_loop(), {})

    def _current(self, key: K) -> asyncio.Future[V] | None:
        found = self._here().get(key)
        if found is None:
            return None
        made, future = found
        if self._ttl is not None and asyncio.get_running_loop().time() - made > self._ttl:
            return None
        return future

    async def get(self, key: K, make: Callable[[], Awaitable[V]]) -> V:
        """The value for ``key``, made by ``make()`` once for everyone asking meanwhile."""
        future = self._current(key)
        if future is None:
            loop = asyncio.get_running_loop()

            async def making() -> V:
                return await make()

            future = loop.create_task(making())
            here = self._here()
            here[key] = (loop.time(), future)
            entry = here[key]

            def forget_failed(done: asyncio.Future[V]) -> None:
                if (done.cancelled() or done.exception() is not None) and here.get(key) is entry:
                    del here[key]

            future.add_done_callback(forget_failed)
        return await asyncio.shield(future)

    def get_now(self, key: K, make: Callable[[], V]) -> V:
        """The value for ``key``, made at once by ``make()`` (for values built without waiting)."""
        future = self._current(key)
        if future is None:
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            future.set_result(make())
            self._here()[key] = (loop.time(), future)
        return future.result()

    def values(self) -> list[V]:
        """The values made on the running loop."""
        return [
            f.result()
            for _, f in self._here().values()
            if f.done() and not f.cancelled() and not f.exception()
        ]

    def forget(self, key: K | None = None) -> None:
        """Drop ``key``'s value (every one of the loop's, without a key) without closing it."""
        if key is None:
            self._loops.pop(asyncio.get_running_loop(), None)
        else:
            self._here().pop(key, None)

    async def pop(self, key: K) -> V | None:
        """Take ``key``'s value out, for the caller to close; None if there is none. One still
        being made is left to its waiters and closed when it arrives."""
        found = self._here().pop(key, None)
        if found is None:
            return None
        future = found[1]
        if not future.done():
            future.add_done_callback(self._close_when_made)
            return None
        return await _settled(future)

    def _close_when_made(self, future: asyncio.Future[V]) -> None:
        if self._close is not None and not future.cancelled() and future.exception() is None:
            close, value = self._close, future.result()

            async def closing_it() -> None:
                await close(value)

            closing = detached_task(closing_it(), name=f"closing one of the {self.name}")
            _CLOSING.add(closing)  # (a task nothing holds may be collected before it ends)
            closing.add_done_callback(_CLOSING.discard)

    async def close(self) -> None:
        """Close and forget every value of the running loop; one being made is cancelled."""
        for _, future in list(self._loops.pop(asyncio.get_running_loop(), {}).values()):
            value = await _settled(future)
            if value is None or self._close is None:
                continue
            try:
                await self._close(value)
            except asyncio.CancelledError:
                raise
            except Exception:  # one that fails to close must not keep the others open
                log.warning("Could not close one of the %s", self.name, exc_info=True)


async def _settled(future: asyncio.Future[T]) -> T | None:
    """The future's value; None when it failed, was cancelled, or is cancelled here unfinished."""
    if not future.done():
        future.cancel()
        await asyncio.gather(future, return_exceptions=True)
        return None
    return None if future.cancelled() or future.exception() is not None else future.result()


async def close_loop_resources() -> None:
    """Close everything shared on the running loop, hubs before the clients under them."""
    for registry in sorted(_ALL, key=lambda r: r.order):
        await registry.close()
