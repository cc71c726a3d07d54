"""Sans-I/O RADIUS client: identifiers, retransmission and failover as data (STYLE §1).

The machine never touches a socket or a clock.  The adapter (:mod:`abng.aaa.aio_client`) calls
:meth:`ClientMachine.submit`, :meth:`~ClientMachine.receive` and
:meth:`~ClientMachine.handle_timer` with ``now``, sends what :meth:`~ClientMachine.pop_transmits`
returns, resolves requests from :meth:`~ClientMachine.pop_events` and re-arms one timer at
:meth:`~ClientMachine.get_timer`.

Policy (reference §6.4 leaves it open; documented in docs/radius.md):

- **Failover, not load balancing.** Servers are tried in configured order; alive ones first.
  A request gets ``1 + retries`` transmissions, ``timeout`` seconds apart, on one server; then it
  moves on to the next server.  A server that let a request time out without answering anything
  meanwhile is marked dead for ``dead_time`` seconds; a dead server only gets one probe
  transmission per request, after all alive servers were tried.
- **Identifiers** are allocated per client socket (256 per socket, RFC 2865 §3) and cycled so that
  a freed id is reused as late as possible.  When every socket is full, another socket (source port)
  is used, up to ``max_sockets``; beyond that requests wait in a FIFO queue.  Every id is released
  on a reply, a timeout, a failover or :meth:`~ClientMachine.cancel`: none can leak.
- Retransmissions to the same server repeat the same datagram (same id and authenticator, RFC 5080
  §2.2.1) so that the server can detect duplicates; a failover builds a new one (new id,
  new authenticator, updated Acct-Delay-Time).
- Replies must come from the server's address, carry the expected code and a valid Response
  Authenticator; Access replies must carry a valid Message-Authenticator (DECISIONS.md D22).
  Accounting-Responses are checked when they carry one and must carry one only with
  ``acct_require_ma`` (RFC 2866 defines none and stock FreeRADIUS sends none).  Anything else
  is dropped and counted in :attr:`ClientMachine.stats`.
"""

from __future__ import annotations

import enum
import heapq
import struct
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from abng.aaa import crypto
from abng.aaa.packet import Attribute, Code, DecodeError, Packet, decode, encode_attributes

ACCT_DELAY_TIME = 41
USER_PASSWORD = 2
AUTH_REPLY_CODES = frozenset({Code.ACCESS_ACCEPT, Code.ACCESS_REJECT, Code.ACCESS_CHALLENGE})
ACCT_REPLY_CODES = frozenset({Code.ACCOUNTING_RESPONSE})
_ACCT_DELAY_HEAD = bytes((ACCT_DELAY_TIME, 6))
_U32 = struct.Struct("!I")


class Kind(enum.StrEnum):
    AUTH = "auth"
    ACCT = "acct"


@dataclass(frozen=True, slots=True)
class ServerAddr:
    host: str  # an IP address: the adapter resolves names once
    secret: bytes = field(repr=False)
    port: int = 1812
    acct_port: int = 1813

    def addr(self, kind: Kind) -> tuple[str, int]:
        return (self.host, self.port if kind is Kind.AUTH else self.acct_port)


@dataclass(frozen=True, slots=True)
class Transmit:
    socket: int
    data: bytes
    addr: tuple[str, int]


@dataclass(frozen=True, slots=True)
class ReplyReceived:
    handle: int
    packet: Packet
    server: int


@dataclass(frozen=True, slots=True)
class RequestTimedOut:
    handle: int


Event = ReplyReceived | RequestTimedOut
_REQUESTS_KEY = {Kind.AUTH: "auth_requests", Kind.ACCT: "acct_requests"}
_TIMEOUTS_KEY = {Kind.AUTH: "auth_timeouts", Kind.ACCT: "acct_timeouts"}


@dataclass(slots=True)
class _Request:
    handle: int
    kind: Kind
    body: bytes  # encoded attributes (no User-Password, no Acct-Delay-Time)
    password: bytes | None
    submitted: float
    delay_offset: float
    order: tuple[tuple[int, bool], ...]  # (server index, probe only)
    pos: int = 0  # next entry of ``order``
    server: int = -1
    socket: int = -1
    ident: int = -1
    data: bytes = b""
    auth: bytes = b""
    sent_at: float = 0.0
    tries_left: int = 0
    deadline: float = 0.0


class ClientMachine:
    def __init__(
        self,
        servers: Sequence[ServerAddr],
        timeout: float = 5.0,
        retries: int = 3,
        dead_time: float = 30.0,
        max_sockets: int = 8,
        urandom: Callable[[int], bytes] = crypto.urandom,
        acct_require_ma: bool = False,
    ) -> None:
        if not servers:
            raise ValueError("at least one RADIUS server is needed")
        self.servers = list(servers)
        self.timeout, self.retries, self.dead_time = timeout, retries, dead_time
        self.max_sockets = max_sockets
        self._urandom = urandom
        self._require_ma = {Kind.AUTH: True, Kind.ACCT: acct_require_ma}
        self._alive_order = tuple((i, False) for i in range(len(servers)))
        self._dead_until = [0.0] * len(servers)
        self._last_reply = [float("-inf")] * len(servers)
        self._busy: list[dict[int, int]] = []  # per socket: ident -> handle
        self._next_id: list[int] = []
        self._requests: dict[int, _Request] = {}
        self._waiting: deque[int] = deque()
        self._timers: list[tuple[float, int, int]] = []  # (deadline, handle, ident-generation)
        self._next_handle = 1
        self._transmits: list[Transmit] = []
        self._events: list[Event] = []
        self.stats: Counter[str] = Counter()

    # ---- inputs -----------------------------------------------------------------------------
    def submit(
        self,
        kind: Kind,
        attrs: Sequence[Attribute],
        now: float,
        password: bytes | None = None,
        delay_offset: float = 0.0,
    ) -> int:
        """Queue a request; returns its handle.  ``password`` is hidden per server (RFC 2865 §5.2).

        ``delay_offset``: seconds the accounting event already waited (spooled records); the
        machine adds Acct-Delay-Time = offset + time since submit.
        """
        if kind is Kind.ACCT:
            attrs = [a for a in attrs if a.key != (0, ACCT_DELAY_TIME)]
        return self.submit_wire(kind, encode_attributes(attrs), now, password, delay_offset)

    def submit_wire(
        self,
        kind: Kind,
        body: bytes,
        now: float,
        password: bytes | None = None,
        delay_offset: float = 0.0,
    ) -> int:
        """:meth:`submit` with the attributes already encoded (``body``, as made by
        :func:`~abng.aaa.packet.encode_attributes` or :class:`~abng.aaa.packet.PairEncoder`).
        An accounting ``body`` must not hold Acct-Delay-Time: the machine appends it."""
        if password is not None and kind is not Kind.AUTH:
            raise ValueError("a password only goes in an Access-Request")
        handle = self._next_handle
        self._next_handle += 1
        req = _Request(handle, kind, body, password, now, delay_offset, self._order(now))
        self._requests[handle] = req
        self.stats[_REQUESTS_KEY[kind]] += 1
        self._next_server(req, now)
        return handle

    def cancel(self, handle: int, now: float) -> None:
        """Forget a request (its caller went away); its id is released."""
        req = self._requests.pop(handle, None)
        if req is not None:
            self._release(req)
            self._drain_waiting(now)

    def receive(self, socket: int, data: bytes, addr: tuple[str, int], now: float) -> None:
        try:
            pkt = decode(data)
        except DecodeError:
            self.stats["drop_malformed"] += 1
            return
        busy = self._busy[socket] if 0 <= socket < len(self._busy) else {}
        handle = busy.get(pkt.identifier)
        req = self._requests.get(handle) if handle is not None else None
        if req is None:
            self.stats["drop_unknown_id"] += 1
            return
        server = self.servers[req.server]
        if (addr[0], addr[1]) != server.addr(req.kind):
            self.stats["drop_wrong_source"] += 1
            return
        expected = AUTH_REPLY_CODES if req.kind is Kind.AUTH else ACCT_REPLY_CODES
        if pkt.code not in expected:
            self.stats["drop_bad_code"] += 1
            return
        if not crypto.verify_reply(crypto.trim(data), req.auth, server.secret, self._require_ma[req.kind]):
            self.stats["drop_bad_authenticator"] += 1
            return
        self._last_reply[req.server] = now
        self._dead_until[req.server] = 0.0
        self._release(req)
        del self._requests[req.handle]
        self.stats["replies"] += 1
        self._events.append(ReplyReceived(req.handle, pkt, req.server))
        self._drain_waiting(now)

    def handle_timer(self, now: float) -> None:
        while self._timers and self._timers[0][0] <= now:
            _, handle, ident = heapq.heappop(self._timers)
            req = self._requests.get(handle)
            if req is None or req.ident != ident or req.deadline > now:
                continue  # stale heap entry
            if req.tries_left > 0:
                req.tries_left -= 1
                self.stats["retransmits"] += 1
                self._arm(req, now)
                self._transmits.append(
                    Transmit(req.socket, req.data, self.servers[req.server].addr(req.kind))
                )
                continue
            if self._last_reply[req.server] < req.sent_at:
                if self._dead_until[req.server] <= now:
                    self.stats["server_marked_dead"] += 1
                self._dead_until[req.server] = now + self.dead_time
            self._release(req)
            self._next_server(req, now)

    # ---- outputs ----------------------------------------------------------------------------
    def get_timer(self) -> float | None:
        while self._timers:
            deadline, handle, ident = self._timers[0]
            req = self._requests.get(handle)
            if req is not None and req.ident == ident and req.deadline == deadline:
                return deadline
            heapq.heappop(self._timers)
        return None

    def pop_transmits(self) -> list[Transmit]:
        out, self._transmits = self._transmits, []
        return out

    def pop_events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    @property
    def socket_count(self) -> int:
        return len(self._busy)

    @property
    def in_flight(self) -> int:
        return sum(len(b) for b in self._busy)

    @property
    def queued(self) -> int:
        return len(self._waiting)

    def server_alive(self, index: int, now: float) -> bool:
        return self._dead_until[index] <= now

    # ---- internals --------------------------------------------------------------------------
    def _order(self, now: float) -> tuple[tuple[int, bool], ...]:
        if max(self._dead_until) <= now:
            return self._alive_order
        alive = [(i, False) for i in range(len(self.servers)) if self._dead_until[i] <= now]
        dead = sorted(
            (i for i in range(len(self.servers)) if self._dead_until[i] > now),
            key=self._dead_until.__getitem__,
        )
        return tuple(alive + [(i, True) for i in dead])

    def _next_server(self, req: _Request, now: float) -> None:
        if req.pos >= len(req.order):
            del self._requests[req.handle]
            self.stats[_TIMEOUTS_KEY[req.kind]] += 1
            self._events.append(RequestTimedOut(req.handle))
            self._drain_waiting(now)
            return
        if req.server >= 0:
            self.stats["failovers"] += 1
        req.server, probe = req.order[req.pos]
        req.pos += 1
        req.tries_left = 0 if probe else self.retries
        if not self._allocate(req):
            self._waiting.append(req.handle)
            self.stats["queued"] += 1
            return
        self._build_and_send(req, now)

    def _allocate(self, req: _Request) -> bool:
        s = -1
        for i, b in enumerate(self._busy):
            if len(b) < 256:
                s = i
                break
        if s < 0:
            if len(self._busy) >= self.max_sockets:
                return False
            self._busy.append({})
            self._next_id.append(0)
            s = len(self._busy) - 1
        busy = self._busy[s]
        ident = self._next_id[s]
        while ident in busy:
            ident = (ident + 1) & 0xFF
        busy[ident] = req.handle
        self._next_id[s] = (ident + 1) & 0xFF
        req.socket, req.ident = s, ident
        return True

    def _release(self, req: _Request) -> None:
        if req.socket >= 0 and self._busy[req.socket].get(req.ident) == req.handle:
            del self._busy[req.socket][req.ident]
        req.socket = req.ident = -1
        req.deadline = 0.0

    def _drain_waiting(self, now: float) -> None:
        while self._waiting:
            req = self._requests.get(self._waiting[0])
            if req is None:
                self._waiting.popleft()
                continue
            if not self._allocate(req):
                return
            self._waiting.popleft()
            self._build_and_send(req, now)

    def _build_and_send(self, req: _Request, now: float) -> None:
        server = self.servers[req.server]
        if req.kind is Kind.AUTH:
            req.auth = self._urandom(16)
            body = req.body
            if req.password is not None:  # User-Password goes second, after the first attribute
                hidden = crypto.hide_password(req.password, server.secret, req.auth)
                cut = body[1] if body else 0
                body = b"".join((body[:cut], bytes((USER_PASSWORD, len(hidden) + 2)), hidden, body[cut:]))
            req.data = crypto.build_access_request_wire(req.ident, req.auth, server.secret, body)
        else:
            delay = max(0, int(req.delay_offset + now - req.submitted))
            body = b"".join((req.body, _ACCT_DELAY_HEAD, _U32.pack(delay)))
            req.data = crypto.build_signed_request_wire(
                Code.ACCOUNTING_REQUEST, req.ident, server.secret, body
            )
            req.auth = req.data[4:20]
        req.sent_at = now
        self._arm(req, now)
        self._transmits.append(Transmit(req.socket, req.data, server.addr(req.kind)))

    def _arm(self, req: _Request, now: float) -> None:
        req.deadline = now + self.timeout
        heapq.heappush(self._timers, (req.deadline, req.handle, req.ident))
