"""One asyncio mutex per key (a session id), existing only while it is held or awaited.

What ``asyncio.Lock`` per key gives, without an object per key: taking a free key is a dict
insert (no coroutine, no lock object, no ``async with``), so the session manager pays almost
nothing for the lock of a session nobody else is busy with, and an established session keeps
none.  Waiters queue in arrival order; ``release`` hands the lock straight to the first waiter
still waiting (nobody can take it in between).  A waiter cancelled after the hand-off passes the
lock on.

Use::

    if not locks.try_acquire(key):
        await locks.acquire(key)
    try:
        ...
    finally:
        locks.release(key)
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable


class KeyedLock:
    __slots__ = ("_held",)

    def __init__(self) -> None:
        #: held keys -> their waiters (None: nobody waits)
        self._held: dict[Hashable, deque[asyncio.Future[None]] | None] = {}

    def __len__(self) -> int:
        """Keys held now."""
        return len(self._held)

    def locked(self, key: Hashable) -> bool:
        return key in self._held

    def try_acquire(self, key: Hashable) -> bool:
        """Take ``key`` if it is free (never waits)."""
        if key in self._held:
            return False
        self._held[key] = None
        return True

    async def acquire(self, key: Hashable) -> None:
        """Wait for ``key`` (first come, first served) and take it."""
        if self.try_acquire(key):
            return
        waiters = self._held[key]
        if waiters is None:
            waiters = self._held[key] = deque()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters.append(fut)
        try:
            await fut  # resolved by release(): the lock is ours from then on
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release(key)  # handed over just as we were cancelled: pass it on
            else:
                waiters.remove(fut)
            raise

    def release(self, key: Hashable) -> None:
        """Hand ``key`` to its first waiter, or free it."""
        waiters = self._held[key]
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        del self._held[key]
