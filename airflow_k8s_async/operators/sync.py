"""Running our async plumbing from an operator's synchronous methods on a worker."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from airflow_k8s_async._kube.perloop import close_loop_resources

__all__ = [
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

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    # A loop already runs in this thread: Airflow's SIGTERM handler calls on_kill() in the middle of
    # execute()'s own run_sync (a kill while the task creates or waits on the worker). Run the kill
    # on a loop of its own in a thread, and wait for it: the handler returns once it is done.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="run_sync") as pool:
        return pool.submit(asyncio.run, main()).result()
