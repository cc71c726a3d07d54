"""One loop timer for many sans-I/O machines (STYLE §1: machines report deadlines, we re-arm).

``Timers.set(key, when, fn)`` records that ``fn(now)`` is due at ``when`` (wall-clock seconds,
the same clock the machines are fed); ``None`` cancels.  A heap holds ``(when, seq, key)``;
stale entries are skipped lazily, so re-arming is O(log n) and nothing is ever scanned.  One
``loop.call_at`` handle exists at a time, for the earliest deadline.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Hashable

log = logging.getLogger(__name__)

TimerFn = Callable[[float], None]
_heappush = heapq.heappush


class Timers:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.errors = 0
        self._heap: list[tuple[float, int, Hashable]] = []
        self._due: dict[Hashable, tuple[float, int, TimerFn]] = {}
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at: float | None = None

    def set(self, key: Hashable, when: float | None, fn: TimerFn) -> None:
        due = self._due
        if when is None:
            due.pop(key, None)
            return
        current = due.get(key)
        if current is not None and current[0] == when:
            if current[2] is not fn:
                due[key] = (when, current[1], fn)
            return
        seq = next(self._seq)
        due[key] = (when, seq, fn)
        _heappush(self._heap, (when, seq, key))
        armed = self._armed_at
        if armed is None or when < armed:
            self._arm()

    def cancel(self, key: Hashable) -> None:
        self._due.pop(key, None)

    def __len__(self) -> int:
        return len(self._due)

    def _arm(self) -> None:
        while self._heap and self._stale(self._heap[0]):
            heapq.heappop(self._heap)
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._armed_at = None
        if not self._heap:
            return
        when = self._heap[0][0]
        loop = asyncio.get_running_loop()
        delay = max(0.0, when - self.clock())
        self._handle = loop.call_at(loop.time() + delay, self._fire)
        self._armed_at = when

    def _stale(self, entry: tuple[float, int, Hashable]) -> bool:
        due = self._due.get(entry[2])
        return due is None or due[1] != entry[1]

    def _fire(self) -> None:
        self._handle = None
        self._armed_at = None
        now = self.clock()
        while self._heap and self._heap[0][0] <= now:
            entry = heapq.heappop(self._heap)
            if self._stale(entry):
                continue
            _, _, fn = self._due.pop(entry[2])
            try:
                fn(now)
            except Exception:
                self.errors += 1
                log.exception("timer %r failed", entry[2])
        self._arm()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._due.clear()
        self._heap.clear()
