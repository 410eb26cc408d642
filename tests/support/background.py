"""An event loop on a thread of its own: async test servers for tests that are not async (a real
Airflow reaching the API server through them)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any


class BackgroundLoop:
    def __init__(self, *, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)

    def start(self, opening: Coroutine[Any, Any, Any]) -> None:
        """Start the thread and run ``opening`` on its loop."""
        self._thread.start()
        self.call(opening)

    def stop(self, closing: Coroutine[Any, Any, Any]) -> None:
        """Run ``closing``, then stop the loop and its thread."""
        self.call(closing)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` on the loop; its result (30 s at most)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def soon(self, function: Callable[[], Any]) -> None:
        self._loop.call_soon_threadsafe(function)
