"""The one helper behind every per-loop cache: made once, failures forgotten, closed in order."""

from __future__ import annotations

import asyncio

import pytest

from airflow_k8s_async._kube.perloop import PerLoop, close_loop_resources
from airflow_k8s_async.operators.sync import run_sync
from tests.support.waiting import until


async def test_callers_at_once_share_one_making_and_a_cancelled_caller_does_not_cancel_it() -> None:
    made = 0
    release = asyncio.Event()

    async def make() -> str:
        nonlocal made
        made += 1
        await release.wait()
        return "value"

    things: PerLoop[str, str] = PerLoop("test things")
    first = asyncio.create_task(things.get("k", make))
    second = asyncio.create_task(things.get("k", make))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await second == "value"
    assert first.cancelled() and made == 1
    assert await things.get("k", make) == "value" and made == 1
    await things.close()


async def test_a_failed_making_is_forgotten() -> None:
    tries = 0

    async def make() -> int:
        nonlocal tries
        tries += 1
        if tries == 1:
            raise OSError("unreachable")
        return tries

    things: PerLoop[str, int] = PerLoop("test things")
    with pytest.raises(OSError):
        await things.get("k", make)
    assert await things.get("k", make) == 2
    await things.close()


async def test_a_value_older_than_its_ttl_is_made_again() -> None:
    things: PerLoop[str, float] = PerLoop("test things", ttl=0.05)
    first = things.get_now("k", asyncio.get_running_loop().time)
    assert things.get_now("k", asyncio.get_running_loop().time) == first
    await asyncio.sleep(0.1)  # (the ttl itself is what is tested: a clock is the subject)
    assert things.get_now("k", asyncio.get_running_loop().time) > first
    await things.close()


def test_run_sync_closes_everything_in_order_hubs_first() -> None:
    closed: list[str] = []

    async def close(value: str) -> None:
        closed.append(value)

    clients: PerLoop[str, str] = PerLoop("test clients", close=close, order=2)
    hubs: PerLoop[str, str] = PerLoop("test hubs", close=close, order=0)
    pending: PerLoop[str, str] = PerLoop("test pending", close=close, order=1)

    async def work() -> list[str]:
        clients.get_now("a", lambda: "client")
        hubs.get_now("a", lambda: "hub")
        never = asyncio.Event()

        async def wait_forever() -> str:
            await never.wait()
            return "never"

        waiting = asyncio.create_task(pending.get("a", wait_forever))
        await asyncio.sleep(0)
        waiting.cancel()
        return clients.values() + hubs.values()

    assert run_sync(work) == ["client", "hub"]
    assert closed == ["hub", "client"]  # the one still being made was cancelled, not closed


async def test_close_loop_resources_leaves_the_registries_empty() -> None:
    things: PerLoop[str, str] = PerLoop("test things")
    things.get_now("k", lambda: "v")
    await close_loop_resources()
    assert things.values() == []


async def test_a_value_popped_while_being_made_reaches_its_waiters_then_is_closed() -> None:
    closed: list[str] = []
    release = asyncio.Event()

    async def close(value: str) -> None:
        closed.append(value)

    async def make() -> str:
        await release.wait()
        return "client"

    things: PerLoop[str, str] = PerLoop("test things", close=close)
    waiter = asyncio.create_task(things.get("k", make))
    await asyncio.sleep(0)
    assert await things.pop("k") is None  # (its last lease ended while it was being made)
    release.set()
    assert await waiter == "client"  # not cancelled under the waiter
    await until(lambda: closed == ["client"])
