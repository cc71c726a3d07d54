"""start_eagerly: no task when the coroutine never waits; the same outcome as a task otherwise."""

from __future__ import annotations

import asyncio

import pytest

from abng.core.eager import start_eagerly
from abng.core.tasks import TaskSet


async def test_finishing_coroutine_runs_at_once_without_task() -> None:
    tasks = TaskSet("t")
    seen: list[str] = []

    async def answer() -> int:
        return 7

    async def quick() -> None:
        seen.append(f"got {await answer()}")

    assert start_eagerly(tasks.spawn, "quick", quick()) is None
    assert seen == ["got 7"] and len(tasks) == 0


async def test_waiting_coroutine_is_carried_on_by_a_task() -> None:
    tasks = TaskSet("t")
    fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    seen: list[object] = []

    async def waits() -> int:
        seen.append("before")
        value = await fut
        seen.append(value)
        await asyncio.sleep(0)  # a bare yield too
        seen.append("after")
        return value * 2

    task = start_eagerly(tasks.spawn, "waits", waits())
    assert task is not None and seen == ["before"] and len(tasks) == 1
    fut.set_result(21)
    assert await task == 42
    assert seen == ["before", 21, "after"]


async def test_errors_reach_the_task_set_before_and_after_suspension() -> None:
    tasks = TaskSet("t")

    async def fails_now() -> None:
        raise ValueError("now")

    async def fails_later() -> None:
        await asyncio.sleep(0)
        raise ValueError("later")

    t1 = start_eagerly(tasks.spawn, "now", fails_now())
    t2 = start_eagerly(tasks.spawn, "later", fails_later())
    assert t1 is not None and t2 is not None
    for t, msg in ((t1, "now"), (t2, "later")):
        with pytest.raises(ValueError, match=msg):
            await t
    assert tasks.crashes == 2


async def test_future_error_and_cancellation_are_delivered_inside() -> None:
    tasks = TaskSet("t")
    loop = asyncio.get_running_loop()
    failing: asyncio.Future[None] = loop.create_future()
    hanging: asyncio.Future[None] = loop.create_future()
    caught: list[str] = []

    async def catches() -> str:
        try:
            await failing
        except KeyError:
            caught.append("keyerror")
        return "ok"

    async def cleans_up() -> None:
        try:
            await hanging
        finally:
            caught.append("finally")

    t1 = start_eagerly(tasks.spawn, "catches", catches())
    t2 = start_eagerly(tasks.spawn, "cancel", cleans_up())
    assert t1 is not None and t2 is not None
    failing.set_exception(KeyError("x"))
    assert await t1 == "ok"
    await asyncio.sleep(0)
    t2.cancel()
    with pytest.raises(asyncio.CancelledError):
        await t2
    assert caught == ["keyerror", "finally"] and hanging.cancelled()
