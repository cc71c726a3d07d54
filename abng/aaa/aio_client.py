"""asyncio adapter for :class:`abng.aaa.client.ClientMachine`: sockets, one timer, futures.

The adapter reads datagrams, calls the machine, sends what it returns and keeps one
``loop.call_at`` timer.  Sockets (non-blocking UDP, ``loop.add_reader``) are opened when the
machine first uses them (one to start with, more when 256 ids are busy) and kept for the client's
lifetime.

Cost per request matters (every DHCP lease and PPPoE session through RADIUS goes here), so:

- the attribute pairs are encoded straight to wire octets (:class:`~abng.aaa.packet.PairEncoder`);
- a readable socket is drained (up to :data:`READ_BATCH` datagrams) with ``recvfrom(4096)``
  (RFC 2865 §3: 4096 octets at most; asyncio's datagram transport asks for 256 KiB per call,
  which costs an allocation of that size per datagram), then the machine's output is pumped once;
- the timer is re-armed only when the machine's next deadline comes *earlier* than the armed one;
  a timer that fires before the deadline finds nothing due and is re-armed then.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from abng.aaa.client import ACCT_DELAY_TIME, ClientMachine, Kind, ReplyReceived, ServerAddr, Transmit
from abng.aaa.config import RadiusConfig
from abng.aaa.dictionary import Dictionary, Value, default_dictionary
from abng.aaa.packet import MAX_LENGTH, Code, Packet, PairEncoder

log = logging.getLogger(__name__)

#: datagrams read from one socket per wake-up before the loop serves others
READ_BATCH = 64


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
        self._encoder = PairEncoder(self.dictionary)
        self._source = resolve(config.source_address)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sockets: list[socket.socket | None] = []
        #: per socket: datagrams waiting for the socket to become writable again
        self._backlog: dict[int, deque[tuple[bytes, tuple[str, int]]]] = {}
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
            self._timer = self._timer_at = None
        for index, sock in enumerate(self._sockets):
            if sock is not None:
                if self._loop is not None and not self._loop.is_closed():
                    self._loop.remove_reader(sock.fileno())
                    if index in self._backlog:
                        self._loop.remove_writer(sock.fileno())
                sock.close()
        self._sockets = []
        self._backlog.clear()
        for fut in self._futures.values():
            if not fut.done():
                fut.set_exception(RadiusClosed("client closed"))
        self._futures.clear()

    @property
    def socket_count(self) -> int:
        return sum(1 for s in self._sockets if s is not None)

    # ---- internals --------------------------------------------------------------------------
    async def _request(
        self, kind: Kind, attrs: Sequence[tuple[str, Value]], password: bytes | None, delay: float
    ) -> Reply:
        if self._closed:
            raise RadiusClosed("RadiusClient is closed")
        loop = self._loop = asyncio.get_running_loop()
        body = self._encoder.encode(attrs, ACCT_DELAY_TIME if kind is Kind.ACCT else 0)
        handle = self.machine.submit_wire(kind, body, loop.time(), password, delay)
        fut: asyncio.Future[Reply] = loop.create_future()
        self._futures[handle] = fut
        self._pump()
        try:
            return await fut
        finally:
            if self._futures.pop(handle, None) is not None:  # no event delivered: caller went away
                self.machine.cancel(handle, loop.time())
                self._pump()

    def _on_readable(self, index: int) -> None:
        sock = self._sockets[index] if index < len(self._sockets) else None
        if sock is None or self._loop is None:
            return
        machine, now = self.machine, self._loop.time()
        for _ in range(READ_BATCH):
            try:
                data, addr = sock.recvfrom(MAX_LENGTH)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # ICMP errors etc.: the timer handles the request
                machine.stats["socket_errors"] += 1
                break
            machine.receive(index, data, addr, now)
        self._pump()

    def _on_datagram(self, index: int, data: bytes, addr: tuple[str, int]) -> None:
        """One datagram received on socket ``index`` by other means than :meth:`_on_readable`."""
        self.machine.receive(index, data, addr, asyncio.get_running_loop().time())
        self._pump()

    def _on_timer(self) -> None:
        self._timer = self._timer_at = None
        self.machine.handle_timer(asyncio.get_running_loop().time())
        self._pump()

    def _pump(self) -> None:
        machine = self.machine
        for tx in machine.pop_transmits():
            self._send(tx)
        for ev in machine.pop_events():
            fut = self._futures.pop(ev.handle, None)
            if fut is None or fut.done():
                continue
            if isinstance(ev, ReplyReceived):
                fut.set_result(Reply(ev.packet, machine.servers[ev.server].addr(Kind.AUTH)))
            else:
                fut.set_exception(RadiusTimeout("no RADIUS server answered"))
        when = machine.get_timer()
        if when is None or self._closed or (self._timer_at is not None and self._timer_at <= when):
            return  # an armed timer at or before the deadline stays; it re-arms when it fires
        if self._timer:
            self._timer.cancel()
        self._timer_at = when
        self._timer = asyncio.get_running_loop().call_at(when, self._on_timer)

    def _socket(self, index: int) -> socket.socket | None:
        while len(self._sockets) <= index:
            self._sockets.append(None)
        sock = self._sockets[index]
        if sock is not None:
            return sock
        loop = self._loop = asyncio.get_running_loop()
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        except OSError as exc:
            self._open_failed(exc)
            return None
        try:
            sock.setblocking(False)
            sock.bind((self._source, 0))
        except OSError as exc:  # the requests time out and fail over as usual; the next send retries
            sock.close()
            self._open_failed(exc)
            return None
        self._sockets[index] = sock
        loop.add_reader(sock.fileno(), self._on_readable, index)
        return sock

    def _open_failed(self, exc: OSError) -> None:
        self.machine.stats["socket_open_errors"] += 1
        log.error("cannot open RADIUS client socket on %s: %s", self.config.source_address, exc)

    def _send(self, tx: Transmit) -> None:
        sock = self._socket(tx.socket)
        if sock is None:
            return
        queue = self._backlog.get(tx.socket)
        if queue is not None:
            queue.append((tx.data, tx.addr))
            return
        try:
            sock.sendto(tx.data, tx.addr)
        except (BlockingIOError, InterruptedError):
            self._backlog[tx.socket] = deque([(tx.data, tx.addr)])
            asyncio.get_running_loop().add_writer(sock.fileno(), self._on_writable, tx.socket)
        except OSError:  # e.g. no route: the timer retransmits and fails over
            self.machine.stats["socket_errors"] += 1

    def _on_writable(self, index: int) -> None:
        sock, queue = self._sockets[index], self._backlog.get(index)
        if sock is None or queue is None:
            return
        while queue:
            data, addr = queue[0]
            try:
                sock.sendto(data, addr)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.machine.stats["socket_errors"] += 1
            queue.popleft()
        del self._backlog[index]
        asyncio.get_running_loop().remove_writer(sock.fileno())


def resolve(host: str) -> str:
    """An IPv4 address for ``host`` (names resolved once, at construction)."""
    try:
        socket.inet_aton(host)
        return host
    except OSError:
        return socket.gethostbyname(host)
