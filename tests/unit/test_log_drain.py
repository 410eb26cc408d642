"""The drain after a container's end: it waits while lines come, and gives up on silence."""

from __future__ import annotations

import asyncio

import pytest

from airflow_k8s_async._kube.logs import LogCursor, LogTime
from airflow_k8s_async.triggers import logdrain
from airflow_k8s_async.triggers.logdrain import drain_followers, unread_note


@pytest.fixture
def short_idle(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(logdrain, "DRAIN_IDLE_SECONDS", 0.5)
    return 0.5


async def test_a_follower_that_keeps_passing_lines_is_waited_for_past_the_idle_bound(
    short_idle: float,
) -> None:
    lines = 0

    async def talker() -> None:
        nonlocal lines
        for _ in range(12):  # 12 lines, 0.2 s apart: 2.4 s in all, never 0.5 s silent
            await asyncio.sleep(0.2)
            lines += 1

    follower = asyncio.create_task(talker())
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await drain_followers([follower], lines=lambda: lines) == set()
    assert lines == 12 and loop.time() - started > 4 * short_idle


async def test_a_silent_follower_is_given_up_after_the_idle_bound(short_idle: float) -> None:
    follower = asyncio.create_task(asyncio.sleep(60))
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await drain_followers([follower], lines=lambda: 0) == {follower}
    assert short_idle <= loop.time() - started < short_idle + 1.5
    follower.cancel()


async def test_the_drain_is_bounded_in_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logdrain, "DRAIN_MAX_SECONDS", 1.0)
    ticks = 0

    def lines() -> int:
        nonlocal ticks
        ticks += 1  # a line every time it is asked: progress for ever
        return ticks

    follower = asyncio.create_task(asyncio.sleep(60))
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await drain_followers([follower], lines=lines) == {follower}
    assert loop.time() - started < 3
    follower.cancel()


def test_the_note_says_how_to_read_the_rest() -> None:
    cursor = LogCursor(last=LogTime(1_800_000_000, 5), same=1)
    note = unread_note(namespace="ns", pod="p", container="base", cursor=cursor)
    assert "not read to its end" in note
    assert note.endswith("kubectl logs -n ns p -c base --since-time=2027-01-15T08:00:00Z")
