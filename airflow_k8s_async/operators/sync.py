"""Running our async plumbing from an operator's synchronous methods on a worker."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from airflow_k8s_async._kube.perloop import close_loop_resources
from airflow_k8s_async.triggers.asynctasks import keep_running

__all__ = [
    "run_kill",
    "run_sync",
]

T = TypeVar("T")


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run ``make()`` on a fresh event loop, then close what it shared (clients, watches, channels).

    Exceptions (including ``TaskDeferred``) pass through unchanged.
    """

    async def main() -> T:
        try:
            return await make()
        finally:
            await close_loop_resources()

    return asyncio.run(main())


def run_kill(make: Callable[[], Awaitable[Any]]) -> None:
    """``on_kill()``'s work. Airflow's task runner calls ``on_kill`` from its SIGTERM handler, which
    can interrupt ``execute()``'s own ``run_sync`` in this thread: then the work is started on that
    running loop and the handler returns at once (waiting there could wait on a lock the interrupted
    code holds, e.g. a log file's), and ``execute``'s wait sees its effect. Otherwise it runs now."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        run_sync(make)
        return
    loop.call_soon_threadsafe(lambda: keep_running(asyncio.ensure_future(make())))
