"""Tasks that serve many triggers, started outside any trigger's context."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def detached_task(work: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
    """``work`` as a task with an empty context.

    A task copies its creator's contextvars, and Airflow's triggerer routes a log line to the task
    log of the trigger id bound there. A shared watch or stream is started by one trigger among the
    many it serves, and outlives it: its lines would land in that task's log, or, once the id is
    reused, in an unrelated task's. Started here, they go to the triggerer's own log.
    """
    return contextvars.Context().run(asyncio.get_running_loop().create_task, work, name=name)
