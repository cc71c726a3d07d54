"""asyncio adapter for :class:`abng.aaa.client.ClientMachine`: sockets, one timer, futures.

The adapter reads datagrams, calls the machine, sends what it returns and re-arms one
``loop.call_at`` timer.  Sockets are opened when the machine first uses them (one to start with,
more when 256 ids are busy) and kept for the client's lifetime.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from abng.aaa.client import ClientMachine, Kind, ReplyReceived, ServerAddr, Transmit
from abng.aaa.config import RadiusConfig
from abng.aaa.dictionary import Dictionary, Value, default_dictionary
from abng.aaa.packet import Code, Packet, make_all

log = logging.getLogger(__name__)


class RadiusTimeout(Exception):
    """No configured server answered (after retries and failover)."""


class RadiusClosed(RadiusTimeout):
    """The client was closed (e.g. by a reconfiguration) before or while the request ran."""


@dataclass(frozen=True, slots=True)
class Reply:
    packet: Packet
    server: tuple[str, int]

    @property
    def code(self) -> int:
        return self.packet.code

    @property
    def accepted(self) -> bool:
        return self.packet.code == Code.ACCESS_ACCEPT


class _Proto(asyncio.DatagramProtocol):
    def __init__(self, owner: RadiusClient, index: int) -> None:
        self.owner, self.index = owner, index

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:  # type: ignore[override]
        self.owner._on_datagram(self.index, data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        self.owner.machine.stats["socket_errors"] += 1  # ICMP port unreachable etc.: the timer handles it


class RadiusClient:
    """``await access_request(...)`` / ``await accounting_request(...)`` over UDP."""

    def __init__(self, config: RadiusConfig, dictionary: Dictionary | None = None) -> None:
        self.config = config
        self.dictionary = dictionary or default_dictionary()
        servers = [
            ServerAddr(resolve(s.host), s.secret.encode(), s.port, s.acct_port) for s in config.servers
        ]
        self.machine = ClientMachine(
            servers,
            config.timeout,
            config.retries,
            config.dead_time,
            config.max_sockets,
            acct_require_ma=config.acct_require_message_authenticator,
        )
        self._transports: list[asyncio.DatagramTransport | None] = []
        self._backlog: dict[int, list[Transmit]] = {}
        self._opening: dict[int, asyncio.Task[None]] = {}
        self._futures: dict[int, asyncio.Future[Reply]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._closed = False

    # ---- public -----------------------------------------------------------------------------
    async def access_request(
        self, attrs: Sequence[tuple[str, Value]], password: str | bytes | None = None
    ) -> Reply:
        """Send an Access-Request (User-Password hidden from ``password``); Reply or RadiusTimeout."""
        pw = password.encode() if isinstance(password, str) else password
        return await self._request(Kind.AUTH, attrs, pw, 0.0)

    async def accounting_request(self, attrs: Sequence[tuple[str, Value]], delay: float = 0.0) -> Reply:
        """Send an Accounting-Request; ``delay`` seconds are added to Acct-Delay-Time."""
        return await self._request(Kind.ACCT, attrs, None, delay)

    async def close(self) -> None:
        self._closed = True
        if self._timer:
            self._timer.cancel()
        for task in self._opening.values():
            task.cancel()
        for t in self._transports:
            if t is not None:
                t.close()
        for fut in self._futures.values():
            if not fut.done():
                fut.set_exception(RadiusClosed("client closed"))
        self._futures.clear()

    @property
    def socket_count(self) -> int:
        return sum(1 for t in self._transports if t is not None)

    # ---- internals --------------------------------------------------------------------------
    async def _request(
        self, kind: Kind, attrs: Sequence[tuple[str, Value]], password: bytes | None, delay: float
    ) -> Reply:
        if self._closed:
            raise RadiusClosed("RadiusClient is closed")
        loop = asyncio.get_running_loop()
        wire = make_all(attrs, self.dictionary)
        handle = self.machine.submit(kind, wire, loop.time(), password=password, delay_offset=delay)
        fut: asyncio.Future[Reply] = loop.create_future()
        self._futures[handle] = fut
        self._pump()
        try:
            return await fut
        finally:
            if self._futures.pop(handle, None) is not None:  # no event delivered: caller went away
                self.machine.cancel(handle, loop.time())
                self._pump()

    def _on_datagram(self, index: int, data: bytes, addr: tuple[str, int]) -> None:
        self.machine.receive(index, data, addr, asyncio.get_running_loop().time())
        self._pump()

    def _on_timer(self) -> None:
        self._timer = self._timer_at = None
        self.machine.handle_timer(asyncio.get_running_loop().time())
        self._pump()

    def _pump(self) -> None:
        for tx in self.machine.pop_transmits():
            self._send(tx)
        for ev in self.machine.pop_events():
            fut = self._futures.pop(ev.handle, None)
            if fut is None or fut.done():
                continue
            if isinstance(ev, ReplyReceived):
                fut.set_result(Reply(ev.packet, self.machine.servers[ev.server].addr(Kind.AUTH)))
            else:
                fut.set_exception(RadiusTimeout("no RADIUS server answered"))
        when = self.machine.get_timer()
        if when != self._timer_at:
            if self._timer:
                self._timer.cancel()
            self._timer, self._timer_at = None, when
            if when is not None and not self._closed:
                self._timer = asyncio.get_running_loop().call_at(when, self._on_timer)

    def _send(self, tx: Transmit) -> None:
        while len(self._transports) <= tx.socket:
            self._transports.append(None)
        transport = self._transports[tx.socket]
        if transport is not None:
            transport.sendto(tx.data, tx.addr)
            return
        self._backlog.setdefault(tx.socket, []).append(tx)
        if tx.socket not in self._opening:
            self._opening[tx.socket] = asyncio.get_running_loop().create_task(
                self._open(tx.socket), name=f"radius-client-socket-{tx.socket}"
            )

    async def _open(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Proto(self, index), local_addr=(self.config.source_address, 0), family=socket.AF_INET
            )
        except OSError as exc:  # the requests time out and fail over as usual; the next send retries
            self.machine.stats["socket_open_errors"] += 1
            log.error("cannot open RADIUS client socket on %s: %s", self.config.source_address, exc)
            self._backlog.pop(index, None)
            self._opening.pop(index, None)
            return
        self._transports[index] = transport
        self._opening.pop(index, None)
        for tx in self._backlog.pop(index, []):
            transport.sendto(tx.data, tx.addr)


def resolve(host: str) -> str:
    """An IPv4 address for ``host`` (names resolved once, at construction)."""
    try:
        socket.inet_aton(host)
        return host
    except OSError:
        return socket.gethostbyname(host)
