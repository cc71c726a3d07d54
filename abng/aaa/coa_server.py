"""asyncio UDP adapter for :class:`abng.aaa.coa.CoaMachine` (RFC 5176 on ``coa_port``).

The integrator supplies the session lookup (sync) and two async callbacks::

    async def change_rate(session, rate_down: int | None, rate_up: int | None,
                          overhead_profile: str | None) -> None
    async def disconnect(session) -> None     # ends the session with admin_reset

A callback that raises :class:`CoaRefused` gets NAK 506; any other exception is logged and counted
and the request gets no answer (a bug is never turned into a wire reply, STYLE §4).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from abng.aaa.aio_client import resolve
from abng.aaa.coa import Answer, ChangeRate, CoaMachine, Disconnect, Lookup
from abng.aaa.config import RadiusConfig
from abng.core.model import Session

log = logging.getLogger(__name__)

ChangeRateCallback = Callable[[Session, int | None, int | None, str | None], Awaitable[None]]
DisconnectCallback = Callable[[Session], Awaitable[None]]


class CoaRefused(Exception):
    """Raised by a callback to refuse an action (answered with NAK 506 Resources-Unavailable)."""


class _Proto(asyncio.DatagramProtocol):
    def __init__(self, owner: CoaServer) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:  # type: ignore[override]
        self.owner._on_datagram(data, (str(addr[0]), int(addr[1])))


class CoaServer:
    def __init__(
        self,
        config: RadiusConfig,
        lookup: Lookup,
        change_rate: ChangeRateCallback,
        disconnect: DisconnectCallback,
    ) -> None:
        self.config = config
        clients = {resolve(host): secret for host, secret in config.coa_secrets().items()}
        self.machine = CoaMachine(
            clients, lookup, nas_identifier=config.nas_identifier, nas_ip_address=config.nas_ip_address
        )
        self._change_rate, self._disconnect = change_rate, disconnect
        self._transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> tuple[str, int]:
        """Bind ``coa_bind:coa_port`` (port 0: any); returns the bound address."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Proto(self), local_addr=(self.config.coa_bind, self.config.coa_port)
        )
        self._transport = transport
        host, port = transport.get_extra_info("sockname")[:2]
        return (str(host), int(port))

    async def close(self) -> None:
        if self._transport:
            self._transport.close()
            self._transport = None
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            try:
                await t
            except asyncio.CancelledError:
                pass

    @property
    def stats(self) -> dict[str, int]:
        return dict(self.machine.stats)

    def _on_datagram(self, data: bytes, src: tuple[str, int]) -> None:
        now = asyncio.get_running_loop().time()
        out = self.machine.receive(data, src, now)
        if out is None:
            return
        if isinstance(out, Answer):
            self._send(out.data, src)
            return
        task = asyncio.get_running_loop().create_task(self._act(out, src), name=f"coa-{out.token}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _act(self, action: ChangeRate | Disconnect, src: tuple[str, int]) -> None:
        try:
            if isinstance(action, ChangeRate):
                await self._change_rate(
                    action.session, action.rate_down, action.rate_up, action.overhead_profile
                )
            else:
                await self._disconnect(action.session)
            ok = True
        except CoaRefused:
            ok = False
        except Exception:
            self.machine.stats["callback_errors"] += 1
            log.exception("CoA callback failed for session %s", action.session.acct_session_id)
            self.machine.abandon(action.token)
            return
        self._send(self.machine.complete(action.token, ok, asyncio.get_running_loop().time()), src)

    def _send(self, data: bytes, dst: tuple[str, int]) -> None:
        if self._transport is not None:
            self._transport.sendto(data, dst)
