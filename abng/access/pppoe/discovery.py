"""PPPoE discovery server (RFC 2516 §5), sans-I/O.

PADI -> PADO with an HMAC AC-Cookie and nothing stored (STYLE §6).  PADR -> state only when the
cookie checks out for that MAC and VLAN stack; a PADR replaying the cookie of a session that
already exists (our PADS was lost) gets the same PADS again instead of a second session.
PADT in both directions.  Errors: Service-Name-Error for a service we do not offer,
AC-System-Error when a session limit is reached, Generic-Error in our PADT.  Rate limits (per MAC
and global) are applied before any of this.

Input is the PPPoE payload (after the Ethernet/VLAN header) plus its metadata; output is a
:class:`DiscoveryResult` whose ``reply`` the caller frames (our MAC -> peer MAC, same VLANs).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from abng.access.pppoe.codec import Code, DecodeError, PPPoEPacket, Tag, decode, first_tags
from abng.access.pppoe.cookie import COOKIE_LEN, MIN_SECRET_LEN, check_cookie, make_cookie
from abng.access.pppoe.ratelimit import RateLimiter

MIN_SESSION_ID = 1
MAX_SESSION_ID = 0xFFFE  # 0 and 0xFFFF are reserved (RFC 2516 §4)
STANDARD_PAYLOAD = 1492
CODE_NAMES = {c.value: c.name for c in Code}
BROADCAST = b"\xff" * 6
_ZERO_MAC = bytes(6)
_RX_KEYS = {code: f"rx_{name}" for code, name in CODE_NAMES.items()}
# codes and tags as plain ints on the hot path (IntEnum members compare equal, but slower)
_PADI, _PADO, _PADR, _PADS, _PADT = (int(c) for c in (Code.PADI, Code.PADO, Code.PADR, Code.PADS, Code.PADT))
_SERVICE_NAME, _AC_NAME, _HOST_UNIQ, _AC_COOKIE, _RELAY_SESSION_ID, _PPP_MAX_PAYLOAD = (
    int(t)
    for t in (
        Tag.SERVICE_NAME,
        Tag.AC_NAME,
        Tag.HOST_UNIQ,
        Tag.AC_COOKIE,
        Tag.RELAY_SESSION_ID,
        Tag.PPP_MAX_PAYLOAD,
    )
)
_H = struct.Struct("!H")
_HH = struct.Struct("!HH")
_HDR = struct.Struct("!BBHH")
_VER_TYPE = 0x11
_tuple_new: Callable[[Any, tuple[Any, ...]], Any] = tuple.__new__
_MAX_PAYLOAD_HEAD = _HH.pack(_PPP_MAX_PAYLOAD, 2)
_COOKIE_HEAD = _HH.pack(_AC_COOKIE, COOKIE_LEN)  # make_cookie always gives COOKIE_LEN bytes
_TAG_SLOTS = {_SERVICE_NAME: 0, _HOST_UNIQ: 1, _AC_COOKIE: 2, _RELAY_SESSION_ID: 3, _PPP_MAX_PAYLOAD: 4}


@dataclass(frozen=True, slots=True)
class DiscoveryConfig:
    ac_name: str
    cookie_secret: bytes = field(repr=False)
    service_names: tuple[str, ...] = ()  # empty: any Service-Name is served
    max_sessions: int = MAX_SESSION_ID
    max_sessions_per_mac: int = 4
    max_payload: int = 1500  # RFC 4638 ceiling; 1492 turns PPP-Max-Payload off
    cookie_lifetime: float = 60.0
    padi_rate_per_mac: float = 2.0  # PADI+PADR per second per MAC (<= 0: unlimited)
    padi_burst_per_mac: float = 6.0
    padi_rate_global: float = 500.0  # PADIs only (a PADR carries our cookie)
    padi_burst_global: float = 1000.0
    rate_table_size: int = 16384
    our_mac: bytes | None = None  # when set, PADR/PADT to another MAC are not for us (RFC 2516 §5.3)

    def __post_init__(self) -> None:
        if not 1 <= len(self.ac_name.encode()) <= 64:
            raise ValueError("ac_name must be 1-64 bytes")
        if len(self.cookie_secret) < MIN_SECRET_LEN:
            raise ValueError(f"cookie_secret must be at least {MIN_SECRET_LEN} bytes")
        if not 1 <= self.max_sessions <= MAX_SESSION_ID:
            raise ValueError(f"max_sessions must be within 1..{MAX_SESSION_ID}")


class NewSession(NamedTuple):
    """A session created by a valid PADR (an immutable named tuple: one is made per session and
    kept for its lifetime; a tuple is built in a third of a frozen dataclass's time)."""

    session_id: int
    peer_mac: bytes
    vlans: tuple[int, ...]
    service_name: str
    host_uniq: bytes | None = None
    relay_session_id: bytes | None = None
    max_payload: int | None = None  # RFC 4638 value agreed in PADS, None when not negotiated
    cookie: bytes = b""

    def __repr__(self) -> str:  # the cookie stays out of log lines, as before
        return (
            f"NewSession(session_id={self.session_id!r}, peer_mac={self.peer_mac!r}, "
            f"vlans={self.vlans!r}, service_name={self.service_name!r}, host_uniq={self.host_uniq!r}, "
            f"relay_session_id={self.relay_session_id!r}, max_payload={self.max_payload!r})"
        )


class DiscoveryResult(NamedTuple):
    reply: bytes | None = None
    new_session: NewSession | None = None
    terminated: int | None = None
    drop_reason: str | None = None


def _reply(reply: bytes) -> DiscoveryResult:
    res: DiscoveryResult = _tuple_new(DiscoveryResult, (reply, None, None, None))
    return res


_DROPS: dict[str, DiscoveryResult] = {}  # results are immutable: one per drop reason, shared


class _Tags:
    """The tags discovery looks at: the first of each type (RFC 2516: later duplicates are
    ignored), found in one pass instead of one ``PPPoEPacket.tag`` scan each."""

    __slots__ = ("cookie", "host_uniq", "max_payload", "relay", "service")

    def __init__(self, tags: tuple[tuple[int, bytes], ...]) -> None:
        found = first_tags(tags, _TAG_SLOTS, 5)
        self.service: bytes | None = found[0]
        self.host_uniq: bytes | None = found[1]
        self.cookie: bytes | None = found[2]
        self.relay: bytes | None = found[3]
        self.max_payload: bytes | None = found[4]


class DiscoveryServer:
    def __init__(self, config: DiscoveryConfig) -> None:
        self.config = config
        self.sessions: dict[int, NewSession] = {}
        self._by_cookie: dict[bytes, int] = {}
        self._per_mac: dict[bytes, int] = {}
        self._next_id = MIN_SESSION_ID
        self._nonce = 0
        self.counters: dict[str, int] = {}
        self._limiter = RateLimiter(
            config.padi_rate_per_mac,
            config.padi_burst_per_mac,
            config.padi_rate_global,
            config.padi_burst_global,
            config.rate_table_size,
        )
        self._encoded_for: DiscoveryConfig | None = None  # the config _ac_name_tag was made for
        self._ac_name_tag = b""

    def _count(self, key: str) -> None:
        self.counters[key] = self.counters.get(key, 0) + 1

    def _drop(self, reason: str) -> DiscoveryResult:
        key = "drop_" + reason
        self.counters[key] = self.counters.get(key, 0) + 1
        res = _DROPS.get(reason)
        if res is None:
            res = _DROPS[reason] = _tuple_new(DiscoveryResult, (None, None, None, reason))
        return res

    def handle(
        self,
        payload: bytes,
        peer_mac: bytes,
        vlans: tuple[int, ...],
        now: float,
        dst_mac: bytes | None = None,
    ) -> DiscoveryResult:
        """One discovery packet from ``peer_mac`` on ``vlans`` (VIDs, outer first).  ``dst_mac``
        (the frame's destination) lets a promiscuous trunk ignore PADR/PADT meant for another AC."""
        if len(peer_mac) != 6 or peer_mac[0] & 1 or peer_mac == _ZERO_MAC:
            return self._drop("bad_source_mac")
        ours = self.config.our_mac
        if ours is not None and dst_mac is not None and dst_mac != ours and dst_mac != BROADCAST:
            return self._drop("not_for_us")
        try:
            pkt = decode(payload)
        except DecodeError as exc:
            return self._drop(exc.reason)
        code = pkt[0]
        counters = self.counters
        key = _RX_KEYS.get(code, "rx_unknown")
        counters[key] = counters.get(key, 0) + 1
        if code == _PADT:
            return self._padt(pkt, peer_mac, vlans)
        if code != _PADI and code != _PADR:
            return self._drop("unexpected_code")
        if code == _PADR and ours is not None and dst_mac is not None and dst_mac != ours:
            return self._drop("not_for_us")  # a broadcast PADR is not addressed to us either
        if pkt[1] != 0:
            return self._drop("nonzero_session_id")  # RFC 2516 §5.1/§5.3
        # the per-MAC bucket counts PADI and PADR; the global one PADIs only (pppoe.padi_rate_limit:
        # PADIs answered per second): a PADR carries our cookie, checked before anything is allocated
        limited = self._limiter.allow(peer_mac, now, code == _PADI)
        if limited is not None:
            return self._drop(limited)
        if code == _PADI:
            return self._padi(pkt, peer_mac, vlans, now)
        return self._padr(pkt, peer_mac, vlans, now)

    def _service(self, pkt: PPPoEPacket) -> str | None:
        """The requested Service-Name if we offer it, else None."""
        return self._service_of(pkt.tag(_SERVICE_NAME))

    def _service_of(self, raw: bytes | None) -> str | None:
        name = raw.decode("utf-8", "replace") if raw else ""
        if not name or not self.config.service_names or name in self.config.service_names:
            return name
        return None

    def _max_payload(self, pkt: PPPoEPacket) -> int | None:
        return self._max_payload_of(pkt.tag(_PPP_MAX_PAYLOAD))

    def _max_payload_of(self, raw: bytes | None) -> int | None:
        if raw is None or len(raw) != 2:
            return None
        value: int = _H.unpack(raw)[0]
        if value <= STANDARD_PAYLOAD or self.config.max_payload <= STANDARD_PAYLOAD:
            return None  # RFC 4638 §4: only for values above 1492
        return min(value, self.config.max_payload)

    def _echo_tags(self, tags: _Tags, service: str, max_payload: int | None) -> bytes:
        """Service-Name, Host-Uniq, Relay-Session-Id and PPP-Max-Payload of a PADO/PADS, encoded."""
        sn = service.encode()
        body = _HH.pack(_SERVICE_NAME, len(sn)) + sn
        if tags.host_uniq is not None:
            body += _HH.pack(_HOST_UNIQ, len(tags.host_uniq)) + tags.host_uniq
        if tags.relay is not None:
            body += _HH.pack(_RELAY_SESSION_ID, len(tags.relay)) + tags.relay
        if max_payload is not None:
            body += _MAX_PAYLOAD_HEAD + _H.pack(max_payload)
        return body

    def _padi(self, pkt: PPPoEPacket, peer_mac: bytes, vlans: tuple[int, ...], now: float) -> DiscoveryResult:
        tags = _Tags(pkt[2])
        if tags.service is None:
            return self._drop("no_service_name")  # RFC 2516 §5.1: exactly one Service-Name
        service = self._service_of(tags.service)
        if service is None:
            return self._drop("service_not_offered")  # §5.2: an AC that cannot serve stays silent
        cfg = self.config
        if cfg is not self._encoded_for:
            name = cfg.ac_name.encode()
            self._ac_name_tag = _HH.pack(_AC_NAME, len(name)) + name
            self._encoded_for = cfg
        self._nonce += 1
        cookie = make_cookie(cfg.cookie_secret, peer_mac, vlans, now, cfg.cookie_lifetime, self._nonce)
        max_payload = self._max_payload_of(tags.max_payload) if tags.max_payload is not None else None
        # tags in this order: AC-Name, Service-Name, Host-Uniq, Relay-Session-Id, PPP-Max-Payload,
        # AC-Cookie (what PPPoEPacket(PADO, 0, tags).encode() gave)
        body = self._ac_name_tag + self._echo_tags(tags, service, max_payload) + _COOKIE_HEAD + cookie
        counters = self.counters
        counters["tx_PADO"] = counters.get("tx_PADO", 0) + 1
        return _reply(_HDR.pack(_VER_TYPE, _PADO, 0, len(body)) + body)

    def _pads_error(self, pkt: PPPoEPacket, tag: int, text: str) -> DiscoveryResult:
        tags = [(tag, text.encode())]
        for t in (Tag.SERVICE_NAME, Tag.HOST_UNIQ, Tag.RELAY_SESSION_ID):
            value = pkt.tag(t)
            if value is not None:
                tags.append((t, value))
        self._count(f"tx_PADS_{Tag(tag).name}")
        return _reply(PPPoEPacket(Code.PADS, 0, tuple(tags)).encode())

    def _padr(self, pkt: PPPoEPacket, peer_mac: bytes, vlans: tuple[int, ...], now: float) -> DiscoveryResult:
        cfg = self.config
        tags = _Tags(pkt[2])
        cookie = tags.cookie
        if cookie is None:
            return self._drop("no_cookie")
        bad = check_cookie(cfg.cookie_secret, cookie, peer_mac, vlans, now, cfg.cookie_lifetime)
        if bad is not None:
            return self._drop(bad)
        existing = self._by_cookie.get(cookie)
        if existing is not None:
            # Our PADS got lost and the client repeats its PADR: same answer, no new session.
            self._count("padr_replay")
            return _reply(self._pads(self.sessions[existing]))
        if tags.service is None:
            return self._drop("no_service_name")
        service = self._service_of(tags.service)
        if service is None:
            return self._pads_error(pkt, Tag.SERVICE_NAME_ERROR, "service not offered")
        if len(self.sessions) >= cfg.max_sessions:
            return self._pads_error(pkt, Tag.AC_SYSTEM_ERROR, "session limit reached")
        per_mac = self._per_mac.get(peer_mac, 0)
        if per_mac >= cfg.max_sessions_per_mac:
            return self._pads_error(pkt, Tag.AC_SYSTEM_ERROR, "too many sessions for this MAC")
        max_payload = self._max_payload_of(tags.max_payload) if tags.max_payload is not None else None
        sid = self._allocate()
        session: NewSession = _tuple_new(
            NewSession, (sid, peer_mac, vlans, service, tags.host_uniq, tags.relay, max_payload, cookie)
        )
        # = self.restore(session): the id is free and in range (just allocated), the cookie is set
        self.sessions[sid] = session
        self._by_cookie[cookie] = sid
        self._per_mac[peer_mac] = per_mac + 1
        body = self._echo_tags(tags, service, max_payload)  # = _pads(session), tags in that order
        counters = self.counters
        counters["tx_PADS"] = counters.get("tx_PADS", 0) + 1
        reply = _HDR.pack(_VER_TYPE, _PADS, sid, len(body)) + body
        res: DiscoveryResult = _tuple_new(DiscoveryResult, (reply, session, None, None))
        return res

    def _pads(self, s: NewSession) -> bytes:
        tags: list[tuple[int, bytes]] = [(_SERVICE_NAME, s.service_name.encode())]
        if s.host_uniq is not None:
            tags.append((_HOST_UNIQ, s.host_uniq))
        if s.relay_session_id is not None:
            tags.append((_RELAY_SESSION_ID, s.relay_session_id))
        if s.max_payload is not None:
            tags.append((_PPP_MAX_PAYLOAD, _H.pack(s.max_payload)))
        self._count("tx_PADS")
        return PPPoEPacket(_PADS, s.session_id, tuple(tags)).encode()

    def _allocate(self) -> int:
        span = MAX_SESSION_ID - MIN_SESSION_ID + 1
        for _ in range(span):
            sid = self._next_id
            self._next_id = MIN_SESSION_ID + (sid - MIN_SESSION_ID + 1) % span
            if sid not in self.sessions:
                return sid
        raise RuntimeError("no free PPPoE session id (max_sessions check should prevent this)")

    def restore(self, session: NewSession) -> None:
        """Register a session (new, or re-created from persisted state after a restart)."""
        if session.session_id in self.sessions:
            raise ValueError(f"PPPoE session id {session.session_id} already in use")
        if not MIN_SESSION_ID <= session.session_id <= MAX_SESSION_ID:
            raise ValueError(f"invalid PPPoE session id {session.session_id}")
        self.sessions[session.session_id] = session
        if session.cookie:
            self._by_cookie[session.cookie] = session.session_id
        self._per_mac[session.peer_mac] = self._per_mac.get(session.peer_mac, 0) + 1

    def _padt(self, pkt: PPPoEPacket, peer_mac: bytes, vlans: tuple[int, ...]) -> DiscoveryResult:
        s = self.sessions.get(pkt.session_id)
        if s is None or s.peer_mac != peer_mac or s.vlans != vlans:
            return self._drop("padt_unknown_session")
        self.release(pkt.session_id, peer_mac)
        res: DiscoveryResult = _tuple_new(DiscoveryResult, (None, None, pkt.session_id, None))
        return res

    def padt(self, session_id: int, peer_mac: bytes, reason: str = "") -> bytes:
        """Our PADT for a session (releases it).  ``reason`` goes into a Generic-Error tag."""
        self.release(session_id, peer_mac)
        tags = ((Tag.GENERIC_ERROR, reason.encode()[:200]),) if reason else ()
        self._count("tx_PADT")
        return PPPoEPacket(Code.PADT, session_id, tags).encode()

    def release(self, session_id: int, peer_mac: bytes) -> bool:
        """Forget a session; False if it was not ours (already released)."""
        s = self.sessions.get(session_id)
        if s is None or s.peer_mac != peer_mac:
            return False
        del self.sessions[session_id]
        if s.cookie:
            self._by_cookie.pop(s.cookie, None)
        left = self._per_mac.get(peer_mac, 1) - 1
        if left > 0:
            self._per_mac[peer_mac] = left
        else:
            self._per_mac.pop(peer_mac, None)
        return True

    def lookup(self, session_id: int, peer_mac: bytes) -> NewSession | None:
        s = self.sessions.get(session_id)
        return s if s is not None and s.peer_mac == peer_mac else None
