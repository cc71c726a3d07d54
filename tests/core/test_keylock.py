"""KeyedLock: one mutex per key, first come first served, nothing kept once free."""

from __future__ import annotations

import asyncio

import pytest

from abng.core.keylock import KeyedLock


async def test_free_key_is_taken_without_waiting_and_forgotten_on_release() -> None:
    locks = KeyedLock()
    assert locks.try_acquire(1) and locks.locked(1) and not locks.try_acquire(1)
    assert locks.try_acquire(2)  # another key is independent
    locks.release(1)
    locks.release(2)
    assert len(locks) == 0 and not locks.locked(1)


async def test_waiters_get_the_lock_in_arrival_order_one_at_a_time() -> None:
    locks = KeyedLock()
    order: list[str] = []
    inside = 0

    async def user(name: str) -> None:
        nonlocal inside
        await locks.acquire(7)
        try:
            inside += 1
            assert inside == 1
            order.append(name)
            await asyncio.sleep(0)
            inside -= 1
        finally:
            locks.release(7)

    assert locks.try_acquire(7)
    tasks = [asyncio.create_task(user(n)) for n in "abcd"]
    await asyncio.sleep(0)
    assert not locks.try_acquire(7)  # queued waiters: nobody jumps the queue
    locks.release(7)
    await asyncio.gather(*tasks)
    assert order == list("abcd") and len(locks) == 0


async def test_cancelled_waiter_leaves_the_queue() -> None:
    locks = KeyedLock()
    got: list[str] = []

    async def user(name: str) -> None:
        await locks.acquire(1)
        got.append(name)
        locks.release(1)

    assert locks.try_acquire(1)
    a, b = asyncio.create_task(user("a")), asyncio.create_task(user("b"))
    await asyncio.sleep(0)
    a.cancel()
    await asyncio.sleep(0)
    locks.release(1)
    await b
    with pytest.raises(asyncio.CancelledError):
        await a
    assert got == ["b"] and len(locks) == 0


async def test_waiter_cancelled_after_the_hand_off_passes_the_lock_on() -> None:
    locks = KeyedLock()
    got: list[str] = []

    async def user(name: str) -> None:
        await locks.acquire(1)
        got.append(name)
        locks.release(1)

    assert locks.try_acquire(1)
    a, b = asyncio.create_task(user("a")), asyncio.create_task(user("b"))
    await asyncio.sleep(0)
    locks.release(1)  # handed to a, which has not run yet...
    a.cancel()  # ...and is cancelled before it does
    await b
    with pytest.raises(asyncio.CancelledError):
        await a
    assert got == ["b"] and len(locks) == 0
