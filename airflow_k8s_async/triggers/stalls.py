"""The loop-stall watch: whether this process's event loop stopped running for seconds lately (a
SIGSTOP, CPU throttling, a paused VM), after which its triggers may be running elsewhere."""

from __future__ import annotations

import asyncio

from airflow_k8s_async._kube.detached import detached_task
from airflow_k8s_async._kube.perloop import PerLoop

__all__ = [
    "LoopStalls",
    "loop_stalls",
]

# A gap this long in the loop's 1 s ticks is a stall (SIGSTOP, CPU throttling, a paused VM): long
# enough for the triggerer's heartbeat to lapse, so its triggers may be running elsewhere now.
STALL_SECONDS = 5.0
STALL_MEMORY_SECONDS = 300.0


class LoopStalls:
    """When this event loop last stopped running for ``STALL_SECONDS`` or more."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._tick = loop.time()
        self._last_stall = -STALL_MEMORY_SECONDS
        self._task = detached_task(self._ticks(), name="loop stall watch")

    async def _ticks(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._note()

    def _note(self) -> None:
        now = self._loop.time()
        if now - self._tick > 1.0 + STALL_SECONDS:
            self._last_stall = now
        self._tick = now

    def stalled_recently(self) -> bool:
        self._note()  # a stall that just ended, before the ticker has run again
        return self._loop.time() - self._last_stall < STALL_MEMORY_SECONDS

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


_STALLS: PerLoop[None, LoopStalls] = PerLoop("loop stall watches", close=LoopStalls.close)


def loop_stalls() -> LoopStalls:
    """The running loop's stall watch (started with the first trigger of the process)."""
    return _STALLS.get_now(None, lambda: LoopStalls(asyncio.get_running_loop()))
