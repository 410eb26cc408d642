"""Not collected by the suite: run by test_leak_guard.py, which expects its test to fail."""

from __future__ import annotations

import asyncio


async def test_leaves_a_task_running() -> None:
    asyncio.get_running_loop().create_task(asyncio.sleep(3600), name="forgotten")
