"""abngd as seen by the API: one multiplexed RPC connection, handed over at start-up.

Routes call :meth:`Abngd.call`; RPC errors travel up as ``RpcError`` and are turned into HTTP
answers in one place (:mod:`abng.api.errors`).  A lost connection becomes
:class:`AbngdUnavailable` (503).  The subscriber summary is cached briefly and dropped as soon
as a session event arrives, since it is the API's most frequent read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

from abng.core.errors import RpcError

__all__ = ["Abngd", "AbngdUnavailable", "RpcError", "RpcTransport"]

SUMMARY_TTL = 1.0


class RpcTransport(Protocol):
    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any: ...

    async def close(self) -> None: ...

    def subscribe(self, events: list[str] | None = None) -> AsyncIterator[dict[str, Any]]: ...


class AbngdUnavailable(Exception):
    """abngd's socket is not answering."""


class Abngd:
    def __init__(self, client: RpcTransport) -> None:
        self._client = client
        self._summary: Any = None
        self._summary_at = 0.0
        self._summary_lock = asyncio.Lock()
        self._sessions_gen = 0
        self.reachable = False

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        try:
            result = await self._client.call(method, params or {})
        except RpcError:
            self.reachable = True
            raise
        except (OSError, ConnectionError, TimeoutError, EOFError) as exc:
            self.reachable = False
            raise AbngdUnavailable(str(exc) or type(exc).__name__) from exc
        self.reachable = True
        return result

    async def summary(self) -> Any:
        """``subscribers.summary``, cached for at most SUMMARY_TTL and until a session event."""
        now = time.monotonic()
        if self._summary is not None and now - self._summary_at < SUMMARY_TTL:
            return self._summary
        async with self._summary_lock:
            if self._summary is not None and time.monotonic() - self._summary_at < SUMMARY_TTL:
                return self._summary
            gen = self._sessions_gen
            result = await self.call("subscribers.summary")
            if gen == self._sessions_gen:  # no session event while the call was in flight
                self._summary, self._summary_at = result, time.monotonic()
            return result

    def sessions_changed(self) -> None:
        self._sessions_gen += 1
        self._summary = None

    def subscribe(self, events: list[str]) -> AsyncIterator[dict[str, Any]]:
        """abngd's event stream on its own connection (``monitor.subscribe``)."""
        return self._client.subscribe(events)

    async def close(self) -> None:
        await self._client.close()
