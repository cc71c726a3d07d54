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
from types import CodeType, FrameType
from typing import Any, TypeVar

T = TypeVar("T")
Spawn = Callable[[str, Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]


class _Continuation(Coroutine[Any, Any, Any]):
    """A coroutine whose first step has already been taken, as a coroutine object the task
    drives directly: the first ``send`` hands over what that step yielded, later ones go to
    the coroutine itself (no wrapper coroutine, no generator in between).  Cancellation and
    errors are thrown into the coroutine; closing closes it."""

    __slots__ = ("_coro", "_started", "_yielded")

    def __init__(self, coro: Coroutine[Any, Any, Any], yielded: Any) -> None:
        self._coro = coro
        self._yielded = yielded
        self._started = False

    def send(self, value: Any) -> Any:
        if self._started:
            return self._coro.send(value)
        self._started = True
        yielded, self._yielded = self._yielded, None
        return yielded

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        self._started, self._yielded = True, None
        if val is None and tb is None:
            return self._coro.throw(typ)
        return self._coro.throw(typ, val, tb)  # pragma: no cover - the 3-argument form (deprecated)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, Any, Any]:
        return self  # type: ignore[return-value]  # an iterator over the coroutine's steps

    def __iter__(self) -> _Continuation:
        return self

    def __next__(self) -> Any:
        return self.send(None)

    # what asyncio's task repr shows: the carried coroutine's name and where it is suspended
    @property
    def __name__(self) -> str:  # type: ignore[override]
        return getattr(self._coro, "__qualname__", type(self._coro).__name__)

    @property
    def cr_code(self) -> CodeType | None:
        return getattr(self._coro, "cr_code", None)

    @property
    def cr_frame(self) -> FrameType | None:
        return getattr(self._coro, "cr_frame", None)

    @property
    def cr_running(self) -> bool:
        return bool(getattr(self._coro, "cr_running", False))


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
    return spawn(name, _Continuation(coro, yielded))
