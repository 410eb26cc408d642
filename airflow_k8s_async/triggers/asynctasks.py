"""asyncio task helpers of the triggers: work that runs to its end though its caller is cancelled,
a step raced against a failure, and a kill's delete run once a creation under way has ended."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from airflow_k8s_async._kube.tasklog import TaskLog

__all__ = [
    "first_of",
    "keep_running",
    "once_created",
    "run_shielded",
]

# A kill while a task started in the triggerer is creating its work waits this long for the
# creation, then deletes what it made.
START_WAIT_SECONDS = 60.0

_T = TypeVar("_T")
# Shielded work must not be garbage-collected while it runs: the loop holds tasks only weakly.
_SHIELDED: set[asyncio.Task[Any]] = set()


def keep_running(task: asyncio.Task[_T]) -> asyncio.Task[_T]:
    _SHIELDED.add(task)
    task.add_done_callback(_SHIELDED.discard)
    return task


async def first_of(step: Awaitable[_T], *, failing: asyncio.Future[Any], timeout: float | None) -> _T:
    """``step``'s result, unless ``failing`` ends first (its exception is raised); TimeoutError
    after ``timeout``. ``step`` is cancelled when it does not win."""
    task = asyncio.ensure_future(step)
    try:
        done, _ = await asyncio.wait([task, failing], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait([task])  # its cancel lands before we go on (never raised here)
    if task in done:
        return task.result()
    if failing in done:
        failing.result()  # raises
    raise asyncio.TimeoutError


async def run_shielded(work: Coroutine[Any, Any, object]) -> None:
    """Run ``work`` to its end even if the caller is cancelled meanwhile (the caller's wait is)."""
    await asyncio.shield(keep_running(asyncio.ensure_future(work)))


async def once_created(
    creation: asyncio.Task[Any], then: Callable[[], Coroutine[Any, Any, None]], *, log: TaskLog, what: str
) -> None:
    """Run ``then`` (a kill's delete) once ``creation`` (a start's create, still under way when the
    kill came) has ended: at once if it has; else after waiting up to START_WAIT_SECONDS, or when
    it ends (its requests are bounded), so that what it makes is never left behind."""
    if not creation.done():
        log.info("Task killed while %s is being created: deleting it once it is", what)
        await asyncio.wait({creation}, timeout=START_WAIT_SECONDS)
        if not creation.done():
            creation.add_done_callback(lambda _: keep_running(asyncio.ensure_future(then())))
            return
    await then()
