"""Running our async plumbing from an operator's synchronous methods on a worker."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
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

    return asyncio.run(main())
