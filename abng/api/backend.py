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
MAX_STALE = 5.0


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
        self._own_gen = 0
        self._stale = False
        self._refresh: asyncio.Task[None] | None = None
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
        """``subscribers.summary``, served from a cache (the API's most frequent read).

        Fresh for SUMMARY_TTL; after that, or after a session event, the cached counts are
        still served while one background call refreshes them (never older than MAX_STALE).
        After the API's own changes (:meth:`invalidate`) the next read waits for fresh counts.
        """
        age = time.monotonic() - self._summary_at
        if self._summary is not None and age < MAX_STALE:
            if age >= SUMMARY_TTL or self._stale:
                self._refresh_soon()
            return self._summary
        return await self._fetch_summary()

    async def _fetch_summary(self) -> Any:
        async with self._summary_lock:
            if (
                self._summary is not None
                and not self._stale
                and time.monotonic() - self._summary_at < SUMMARY_TTL
            ):
                return self._summary
            events, own = self._sessions_gen, self._own_gen
            result = await self.call("subscribers.summary")
            if events == self._sessions_gen:  # no session event while the call was in flight
                self._stale = False
            if own == self._own_gen:  # and no change of ours: keep it
                self._summary, self._summary_at = result, time.monotonic()
            return result

    def _refresh_soon(self) -> None:
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.get_running_loop().create_task(
                self._refresh_quietly(), name="summary-refresh"
            )

    async def _refresh_quietly(self) -> None:
        try:
            await self._fetch_summary()
        except (RpcError, AbngdUnavailable):
            pass

    def sessions_changed(self) -> None:
        """A session event from abngd: the counts are stale (refreshed on the next read)."""
        self._sessions_gen += 1
        self._stale = True

    def invalidate(self) -> None:
        """After the API's own change: the next read waits for fresh counts."""
        self._own_gen += 1
        self._summary = None

    def subscribe(self, events: list[str]) -> AsyncIterator[dict[str, Any]]:
        """abngd's event stream on its own connection (``monitor.subscribe``)."""
        return self._client.subscribe(events)

    async def close(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
        await self._client.close()
