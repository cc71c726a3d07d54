"""A sans-I/O DHCPv4 *client* (RFC 2131 §4.4), for the lab's emulated subscribers and the load generator.

INIT -> SELECTING (DISCOVER, retransmitted with back-off) -> REQUESTING (REQUEST for the first
OFFER) -> BOUND (ACK) -> RENEWING at T1 (unicast REQUEST to the server) -> REBINDING at T2
(broadcast) -> lease expiry.  ``release()`` sends a RELEASE and ends the lease.

Same shape as the PPP client: messages and ``now`` in, :class:`DhcpOut` items, events and the
next deadline out.  No socket, no clock.  The caller wraps each ``DhcpOut`` into IPv4/UDP and an
Ethernet frame on the subscriber's VLAN tags.
"""

from __future__ import annotations

from dataclasses import dataclass

from abng.access.dhcp.codec import BOOTREPLY, BOOTREQUEST, DhcpMessage, build_message
from abng.access.dhcp.options import MessageType, Opt, enc_ip, enc_u16
from abng.access.frames import BROADCAST_MAC

ALL_ONES = 0xFFFFFFFF
MAX_SIZE = enc_u16(1500)
PARAMS = bytes((Opt.SUBNET_MASK, Opt.ROUTER, Opt.DNS, Opt.LEASE_TIME, Opt.RENEWAL_TIME, Opt.REBINDING_TIME))


@dataclass(frozen=True, slots=True)
class DhcpOut:
    """A DHCP message to send: UDP 68 -> 67 from ``src_ip`` to ``dst_ip`` in a frame to ``dst_mac``."""

    payload: bytes
    dst_mac: bytes
    src_ip: int
    dst_ip: int


@dataclass(frozen=True, slots=True)
class DhcpBound:
    ip: int
    gateway: int
    server_id: int
    lease_time: int
    server_mac: bytes
    renewed: bool


@dataclass(frozen=True, slots=True)
class DhcpFailed:
    """No lease: ``reason`` is discover_timeout, request_timeout or nak."""

    reason: str


@dataclass(frozen=True, slots=True)
class DhcpLost:
    """A bound lease ended without our RELEASE: ``reason`` is lease_expired or nak."""

    reason: str


DhcpEvent = DhcpBound | DhcpFailed | DhcpLost


class DhcpClient:
    def __init__(
        self,
        mac: bytes,
        xid: int,
        *,
        hostname: str | None = None,
        timeout: float = 1.0,
        max_tries: int = 5,
    ) -> None:
        if len(mac) != 6:
            raise ValueError("a MAC address is 6 bytes")
        self.mac = mac
        self.xid = xid & 0xFFFFFFFF
        self.hostname = hostname
        self.timeout = timeout
        self.max_tries = max_tries
        self.state = "init"  # init selecting requesting bound renewing rebinding released failed
        self.ip = 0
        self.gateway = 0
        self.server_id = 0
        self.server_mac = BROADCAST_MAC
        self.lease_time = 0
        self.counters: dict[str, int] = {}
        self._offered = 0
        self._tries = 0
        self._deadline: float | None = None
        self._t1 = self._t2 = self._expiry = 0.0
        # What take_output / take_events hand over (the engine checks them for emptiness first).
        self.out: list[DhcpOut] = []
        self.events: list[DhcpEvent] = []
        # The options every DISCOVER and REQUEST ends with (same for the client's lifetime).
        self._asks: tuple[tuple[int, bytes], ...] = (
            (Opt.PARAM_REQUEST, PARAMS),
            (Opt.MAX_MESSAGE_SIZE, MAX_SIZE),
        )
        if hostname:
            self._asks += ((Opt.HOSTNAME, hostname.encode()),)

    # --- messages --------------------------------------------------------------------------------
    def _message(
        self, mtype: MessageType, ciaddr: int = 0, extra: tuple[tuple[int, bytes], ...] = ()
    ) -> bytes:
        opts: list[tuple[int, bytes]] = [(Opt.MESSAGE_TYPE, bytes((mtype,))), *extra]
        if mtype is MessageType.DISCOVER or mtype is MessageType.REQUEST:
            opts += self._asks
        return build_message(op=BOOTREQUEST, xid=self.xid, chaddr=self.mac, ciaddr=ciaddr, options=opts)

    def _broadcast(self, payload: bytes, src_ip: int = 0) -> None:
        self.out.append(DhcpOut(payload, BROADCAST_MAC, src_ip, ALL_ONES))

    def _send_discover(self) -> None:
        self._broadcast(self._message(MessageType.DISCOVER))

    def _send_request(self) -> None:
        if self.state == "requesting":
            extra = ((Opt.REQUESTED_IP, enc_ip(self._offered)), (Opt.SERVER_ID, enc_ip(self.server_id)))
            self._broadcast(self._message(MessageType.REQUEST, 0, extra))
        elif self.state == "renewing":  # RFC 2131 §4.3.2: unicast, ciaddr set, no server id
            msg = self._message(MessageType.REQUEST, self.ip)
            self.out.append(DhcpOut(msg, self.server_mac, self.ip, self.server_id))
        elif self.state == "rebinding":
            self._broadcast(self._message(MessageType.REQUEST, self.ip), self.ip)

    # --- API -----------------------------------------------------------------------------------
    def start(self, now: float) -> None:
        if self.state not in ("init", "released", "failed"):
            raise RuntimeError(f"DHCP client already running ({self.state})")
        self.state, self._tries = "selecting", 1
        self._send_discover()
        self._deadline = now + self.timeout

    def release(self, now: float) -> None:
        """Give the lease back (RELEASE, unicast to the server); a client without one just stops."""
        if self.state in ("bound", "renewing", "rebinding"):
            extra = ((Opt.SERVER_ID, enc_ip(self.server_id)),)
            msg = self._message(MessageType.RELEASE, self.ip, extra)
            self.out.append(DhcpOut(msg, self.server_mac, self.ip, self.server_id))
        self.state, self._deadline, self.ip = "released", None, 0

    def receive(self, msg: DhcpMessage, src_mac: bytes, now: float) -> None:
        if msg.op != BOOTREPLY or msg.xid != self.xid or msg.chaddr[:6] != self.mac:
            self._count("foreign")
            return
        mtype = msg.message_type
        if mtype is MessageType.OFFER and self.state == "selecting":
            server = msg.ip_option(Opt.SERVER_ID) or 0
            if not msg.yiaddr or not server:
                self._count("bad_offer")
                return
            self.state, self._offered, self.server_id = "requesting", msg.yiaddr, server
            self._tries = 1
            self._send_request()
            self._deadline = now + self.timeout
        elif mtype is MessageType.ACK and self.state in ("requesting", "renewing", "rebinding"):
            self._bound(msg, src_mac, now)
        elif mtype is MessageType.NAK and self.state in ("requesting", "renewing", "rebinding"):
            lost = self.state != "requesting"
            self.state, self._deadline, self.ip = "failed", None, 0
            self.events.append(DhcpLost("nak") if lost else DhcpFailed("nak"))
        else:
            self._count(f"unexpected_{mtype.name.lower() if mtype else 'none'}_{self.state}")

    def _bound(self, msg: DhcpMessage, src_mac: bytes, now: float) -> None:
        renewed = self.state in ("renewing", "rebinding")
        lease = msg.uint_option(Opt.LEASE_TIME) or 3600
        t1 = msg.uint_option(Opt.RENEWAL_TIME) or lease // 2
        t2 = msg.uint_option(Opt.REBINDING_TIME) or lease * 7 // 8
        self.ip, self.lease_time = msg.yiaddr or self.ip, lease
        self.server_id = msg.ip_option(Opt.SERVER_ID) or self.server_id
        self.gateway = msg.ip_option(Opt.ROUTER) or self.server_id
        self.server_mac = src_mac
        self._t1, self._t2, self._expiry = now + t1, now + t2, now + lease
        self.state, self._deadline = "bound", now + t1
        self.events.append(DhcpBound(self.ip, self.gateway, self.server_id, lease, src_mac, renewed))

    def handle_timer(self, now: float) -> None:
        if self._deadline is None or now < self._deadline:
            return
        if self.state in ("selecting", "requesting"):
            if self._tries >= self.max_tries:
                reason = "discover_timeout" if self.state == "selecting" else "request_timeout"
                self.state, self._deadline = "failed", None
                self.events.append(DhcpFailed(reason))
                return
            self._tries += 1
            self._send_discover() if self.state == "selecting" else self._send_request()
            self._deadline = now + self.timeout * 2 ** (self._tries - 1)
            return
        if now >= self._expiry:
            self.state, self._deadline, self.ip = "failed", None, 0
            self.events.append(DhcpLost("lease_expired"))
            return
        if self.state == "bound" or (self.state == "renewing" and now >= self._t2):
            self.state = "renewing" if now < self._t2 else "rebinding"
        self._send_request()
        # RFC 2131 §4.4.5: retransmit after half the remaining time, at least 60 s in real life;
        # the lab's leases may be short, so the floor is the base timeout.
        limit = self._t2 if self.state == "renewing" else self._expiry
        self._deadline = min(limit, now + max(self.timeout, (limit - now) / 2))

    def next_deadline(self) -> float | None:
        return self._deadline

    def take_output(self) -> list[DhcpOut]:
        out, self.out = self.out, []
        return out

    def take_events(self) -> list[DhcpEvent]:
        events, self.events = self.events, []
        return events

    def _count(self, key: str) -> None:
        self.counters[key] = self.counters.get(key, 0) + 1
