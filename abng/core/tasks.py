"""Named background tasks with kept references (STYLE.md §11: no fire-and-forget tasks)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger("abng.core.tasks")

T = TypeVar("T")


class TaskSet:
    """Owns every task it spawns until it finishes; logs crashes; cancels all on close."""

    def __init__(self, name: str = "abngd") -> None:
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()
        self.crashes = 0
        self._on_done = self._done  # one bound method, not a new one per task

    def spawn(self, name: str, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._on_done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.crashes += 1
            log.error("task %s crashed: %r", task.get_name(), exc, exc_info=exc)

    def __len__(self) -> int:
        return len(self._tasks)

    async def close(self, grace: float = 5.0) -> None:
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
