"""Running our async plumbing from an operator's synchronous methods on a worker."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from airflow_k8s_async._kube.client import close_clients
from airflow_k8s_async._kube.watch import get_hub

__all__ = [
    "run_sync",
]

T = TypeVar("T")


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run ``make()`` on a fresh event loop, then close that loop's clients and watches.

    Exceptions (including ``TaskDeferred``) pass through unchanged.
    """

    async def main() -> T:
        try:
            return await make()
        finally:
            await get_hub().close()
            await close_clients()

    return asyncio.run(main())
