"""Waiting on conditions, not clocks: poll a check until it holds, within a deadline.

A test that sleeps "long enough" proves nothing when the machine is slow and wastes time when it
is fast; these return as soon as the state is there, and fail naming the check when it never is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["eventually", "until"]

T = TypeVar("T")


def eventually(check: Callable[[], T | None], *, timeout: float = 60, interval: float = 0.2) -> T:
    """``check()``'s first true value, polled every ``interval`` s for at most ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"not true within {timeout}s: {check}"
        time.sleep(interval)


async def until(check: Callable[[], T | None], *, timeout: float = 60, interval: float = 0.05) -> T:
    """The same inside a test's event loop: the loop runs on between polls."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = check()
        if value:
            return value
        assert loop.time() < deadline, f"not true within {timeout}s: {check}"
        await asyncio.sleep(interval)
