"""PPPoE discovery client (RFC 2516 §5, the host side), sans-I/O.

PADI (broadcast, retransmitted with back-off) -> first acceptable PADO -> PADR echoing the
AC-Cookie and Relay-Session-Id -> PADS gives the session id.  Output is a list of
``(destination MAC, PPPoE payload)``; events are :class:`DiscoveryUp`, :class:`DiscoveryFailed`
and :class:`DiscoveryTerminated`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from abng.access.pppoe.codec import Code, DecodeError, PPPoEPacket, Tag, decode, first_tags, u16

BROADCAST = b"\xff" * 6
_H = struct.Struct("!H")
# codes and tags as plain ints (looking up an enum member costs more than the whole comparison)
_AC_COOKIE = int(Tag.AC_COOKIE)
_AC_NAME = int(Tag.AC_NAME)
_AC_SYSTEM_ERROR = int(Tag.AC_SYSTEM_ERROR)
_GENERIC_ERROR = int(Tag.GENERIC_ERROR)
_HOST_UNIQ = int(Tag.HOST_UNIQ)
_PADI = int(Code.PADI)
_PADO = int(Code.PADO)
_PADR = int(Code.PADR)
_PADS = int(Code.PADS)
_PADT = int(Code.PADT)
_PPP_MAX_PAYLOAD = int(Tag.PPP_MAX_PAYLOAD)
_RELAY_SESSION_ID = int(Tag.RELAY_SESSION_ID)
_SERVICE_NAME = int(Tag.SERVICE_NAME)
_SERVICE_NAME_ERROR = int(Tag.SERVICE_NAME_ERROR)
_HDR = struct.Struct("!BBHH")  # PPPoE header: ver/type, code, session id, length
_HH = struct.Struct("!HH")  # tag type, length
_tuple_new: Callable[[Any, tuple[Any, ...]], Any] = tuple.__new__
#: tag type -> index in first_tags' answer: the five tags we read, then the error tags in order
_TAG_SLOTS = {
    _HOST_UNIQ: 0,
    _AC_NAME: 1,
    _AC_COOKIE: 2,
    _RELAY_SESSION_ID: 3,
    _PPP_MAX_PAYLOAD: 4,
    _SERVICE_NAME_ERROR: 5,
    _AC_SYSTEM_ERROR: 6,
    _GENERIC_ERROR: 7,
}
_ERROR_REASONS = ("service_name_error", "ac_system_error", "generic_error")  # checked in this order


class DiscoveryUp(NamedTuple):
    """PADS received (an immutable named tuple: one is made per session set-up)."""

    session_id: int
    ac_mac: bytes
    ac_name: str
    max_payload: int | None


@dataclass(frozen=True, slots=True)
class DiscoveryFailed:
    reason: str  # timeout | service_name_error | ac_system_error | generic_error


@dataclass(frozen=True, slots=True)
class DiscoveryTerminated:
    session_id: int


DiscoveryEvent = DiscoveryUp | DiscoveryFailed | DiscoveryTerminated


class DiscoveryClient:
    def __init__(
        self,
        service_name: str = "",
        host_uniq: bytes | None = None,
        ac_name: str | None = None,
        max_payload: int | None = None,
        timeout: float = 1.0,
        max_tries: int = 5,
    ) -> None:
        self.service_name = service_name
        self.host_uniq = host_uniq
        self.want_ac = ac_name
        self.max_payload = max_payload
        self.timeout = timeout
        self.max_tries = max_tries
        self.state = "idle"  # idle | padi_sent | padr_sent | session | done
        self.session_id = 0
        self.ac_mac = b""
        self.counters: dict[str, int] = {}
        self._out: list[tuple[bytes, bytes]] = []
        self._events: list[DiscoveryEvent] = []
        self._tries = 0
        self._deadline: float | None = None
        self._last: tuple[bytes, bytes] | None = None
        self._ac_name = ""
        self._agreed_payload: int | None = None

    def _tags(self) -> list[tuple[int, bytes]]:
        tags: list[tuple[int, bytes]] = [(_SERVICE_NAME, self.service_name.encode())]
        if self.host_uniq is not None:
            tags.append((_HOST_UNIQ, self.host_uniq))
        if self.max_payload is not None:
            tags.append((_PPP_MAX_PAYLOAD, _H.pack(self.max_payload)))
        return tags

    def _encoded_tags(self) -> bytes:
        """``encode_tags(self._tags())`` (Service-Name, Host-Uniq, PPP-Max-Payload)."""
        sn = self.service_name.encode()
        body = _HH.pack(_SERVICE_NAME, len(sn)) + sn
        if self.host_uniq is not None:
            body += _HH.pack(_HOST_UNIQ, len(self.host_uniq)) + self.host_uniq
        if self.max_payload is not None:
            body += _HH.pack(_PPP_MAX_PAYLOAD, 2) + _H.pack(self.max_payload)
        return body

    def start(self, now: float) -> None:
        if self.state != "idle":
            raise RuntimeError("discovery already started")
        self.state = "padi_sent"
        body = self._encoded_tags()  # = PPPoEPacket(PADI, 0, tuple(self._tags())).encode()
        self._transmit((BROADCAST, _HDR.pack(0x11, _PADI, 0, len(body)) + body), now)

    def _transmit(self, frame: tuple[bytes, bytes], now: float) -> None:
        self._last = frame
        self._tries = 1
        self._out.append(frame)
        self._deadline = now + self.timeout

    def receive(self, payload: bytes, src_mac: bytes, now: float) -> None:
        try:
            pkt = decode(payload)
        except DecodeError as exc:
            self.counters[exc.reason] = self.counters.get(exc.reason, 0) + 1
            return
        code = pkt[0]
        if code != _PADO and code != _PADS and code != _PADT:
            return  # nothing we act on (the tag scan below is for PADO/PADS)
        # the first of each tag we look at (RFC 2516: later duplicates are ignored), one pass
        host_uniq, ac_name, cookie, relay, max_payload, *errors = first_tags(pkt[2], _TAG_SLOTS, 8)
        error = next((i for i, v in enumerate(errors) if v is not None), 3)  # _ERROR_REASONS index, 3: none
        if code != _PADT and self.host_uniq is not None and host_uniq != self.host_uniq:
            # = self._foreign(pkt): a reply meant for another host on the segment
            self.counters["foreign"] = self.counters.get("foreign", 0) + 1
            return
        if code == _PADO and self.state == "padi_sent":
            name = (ac_name or b"").decode("utf-8", errors="replace")
            if self.want_ac is not None and name != self.want_ac:
                return
            self.ac_mac, self._ac_name = src_mac, name
            # = PPPoEPacket(PADR, 0, (*self._tags(), AC-Cookie?, Relay-Session-Id?)).encode()
            body = self._encoded_tags()
            if cookie is not None:
                body += _HH.pack(_AC_COOKIE, len(cookie)) + cookie
            if relay is not None:
                body += _HH.pack(_RELAY_SESSION_ID, len(relay)) + relay
            self.state = "padr_sent"
            self._transmit((src_mac, _HDR.pack(0x11, _PADR, 0, len(body)) + body), now)
        elif code == _PADS and self.state == "padr_sent" and src_mac == self.ac_mac:
            if error < 3:
                self._fail(_ERROR_REASONS[error])
                return
            sid = pkt[1]
            if sid in (0, 0xFFFF):
                self._fail("generic_error")
                return
            self._agreed_payload = u16(max_payload) if max_payload is not None else None
            self.state, self.session_id, self._deadline = "session", sid, None
            up: DiscoveryUp = _tuple_new(DiscoveryUp, (sid, src_mac, self._ac_name, self._agreed_payload))
            self._events.append(up)
        elif (
            code == _PADT and self.state == "session" and src_mac == self.ac_mac and pkt[1] == self.session_id
        ):
            self.state = "done"
            self._events.append(DiscoveryTerminated(self.session_id))

    def _foreign(self, pkt: PPPoEPacket) -> bool:
        """A reply meant for another host on the segment (Host-Uniq differs)."""
        if pkt.code not in (_PADO, _PADS) or self.host_uniq is None:
            return False
        return pkt.tag(_HOST_UNIQ) != self.host_uniq

    def _fail(self, reason: str) -> None:
        self.state, self._deadline = "done", None
        self._events.append(DiscoveryFailed(reason))

    def padt(self) -> tuple[bytes, bytes]:
        """Our PADT (the session is over)."""
        if self.state != "session":
            raise RuntimeError("no PPPoE session to terminate")
        self.state = "done"
        return self.ac_mac, PPPoEPacket(_PADT, self.session_id, ()).encode()

    def next_deadline(self) -> float | None:
        return self._deadline

    def handle_timer(self, now: float) -> None:
        if self._deadline is None or now < self._deadline or self._last is None:
            return
        if self._tries >= self.max_tries:
            self._fail("timeout")
            return
        self._tries += 1
        self._out.append(self._last)
        # RFC 2516 §5: the host doubles the waiting time on each retransmission.
        self._deadline = now + self.timeout * (2 ** (self._tries - 1))

    def take_output(self) -> list[tuple[bytes, bytes]]:
        out, self._out = self._out, []
        return out

    def take_events(self) -> list[DiscoveryEvent]:
        events, self._events = self._events, []
        return events
