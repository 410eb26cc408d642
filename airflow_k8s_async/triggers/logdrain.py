"""The drain at a wait's end: ended containers' log streams deliver their last lines (bounded), and
the task log says which were not read to their end, and how to read the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection

from airflow_k8s_async._kube.logs import LogCursor
from airflow_k8s_async.triggers.logbudget import rest_of_log

__all__ = [
    "drain_followers",
    "unread_note",
]

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
    where = rest_of_log(namespace=namespace, pod=pod, container=container, cursor=cursor)
    return (
        f"The log of {pod}[{container}] was not read to its end after the container ended (no "
        f"new line for {DRAIN_IDLE_SECONDS:g}s, or {DRAIN_MAX_SECONDS:g}s in all); the rest: {where}"
    )
