"""Start a coroutine at once, and pay for a task only if it has to wait.

Local AAA answers a DHCP or PPP authentication without ever suspending; a task for it costs more
than the answer.  :func:`start_eagerly` runs the coroutine up to its first suspension right
away (what Python 3.12's eager task factory does): when it finishes there, no task exists; when
it suspends (a RADIUS round trip), a task of the caller's task set carries it on from that point.
An exception raised before the first suspension goes to the task set too, as a task's would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Generator
from typing import Any, TypeVar

T = TypeVar("T")
Spawn = Callable[[str, Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]


class _Continuation:
    """Awaitable that resumes a coroutine suspended by hand, starting with what it yielded:
    ``yield from`` for a coroutine whose first step has already been taken."""

    __slots__ = ("_coro", "_yielded")

    def __init__(self, coro: Coroutine[Any, Any, Any], yielded: Any) -> None:
        self._coro = coro
        self._yielded = yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, value = self._coro, self._yielded
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # cancellation, or the awaited future's error
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _carry_on(continuation: _Continuation) -> Any:
    return await continuation


async def _reraise(exc: Exception) -> None:
    raise exc


def start_eagerly(spawn: Spawn, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any] | None:
    """Run ``coro`` until it first suspends; None if it finished, else the task carrying it on."""
    try:
        yielded = coro.send(None)
    except StopIteration:
        return None
    except Exception as exc:
        return spawn(name, _reraise(exc))
    return spawn(name, _carry_on(_Continuation(coro, yielded)))
