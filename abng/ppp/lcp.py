"""LCP (RFC 1661): option policy (MRU, magic number, authentication protocol) and the LCP-only
codes on top of the shared automaton: Protocol-Reject, Echo-Request/Reply, Discard-Request,
keepalive (RFC 1661 §5.8) and loop detection (§6.4).

The same policy serves both roles: the server (``auth_offer`` non-empty: it asks the peer to
authenticate) and the client (``auth_accept`` non-empty: it agrees to authenticate itself).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from abng.ppp.codec import (
    AUTH_BY_DATA,
    LCP_AUTH,
    LCP_MAGIC,
    LCP_MRU,
    PROTO_LCP,
    Code,
    ControlPacket,
    Option,
    auth_option,
    new_option,
    parse_auth_option,
    u16,
)
from abng.ppp.fsm import ROWS, Event, FsmConfig, Negotiator, State

_H = struct.Struct("!H")
_I = struct.Struct("!I")

_RXR, _RXJ_PLUS, _RXJ_MINUS = ROWS[Event.RXR], ROWS[Event.RXJ_PLUS], ROWS[Event.RXJ_MINUS]
_OPENED = State.OPENED
_ACK, _NAK, _REJ = Code.CONF_ACK, Code.CONF_NAK, Code.CONF_REJ  # verdicts (enum lookups are slow)
_PROTO_REJ, _ECHO_REQ, _ECHO_REPLY = int(Code.PROTO_REJ), int(Code.ECHO_REQ), int(Code.ECHO_REPLY)

RandomBytes = Callable[[int], bytes]
_tuple_new: Callable[[Any, tuple[Any, ...]], Any] = tuple.__new__

MIN_MRU = 64


def random_magic(rng: RandomBytes) -> int:
    while True:
        value = int.from_bytes(rng(4), "big")
        if value != 0:
            return value


class LcpPolicy:
    """What we ask for and what we accept in LCP Configure-Requests."""

    def __init__(
        self,
        rng: RandomBytes,
        mru: int,
        max_peer_mru: int,
        auth_offer: Sequence[int] = (),
        auth_accept: Sequence[int] = (),
        max_failure: int = 5,
    ) -> None:
        self.rng = rng
        self.mru = mru
        self.max_peer_mru = max_peer_mru
        # tuples: the callers' (shared, cached) tuples are kept as they are, not copied per session
        self.auth_offer = auth_offer if type(auth_offer) is tuple else tuple(auth_offer)
        self.auth_accept = auth_accept if type(auth_accept) is tuple else tuple(auth_accept)
        self.max_failure = max_failure
        self.magic = random_magic(rng)
        self.send_mru = True
        self.send_magic = True
        self.auth: int | None = self.auth_offer[0] if self.auth_offer else None
        self._auth_tried: set[int | None] | None = None  # made by _switch_auth when first needed
        self.peer_magic = 0
        self.peer_mru = 1500
        self.peer_auth: int | None = None  # client: the protocol we agreed to
        self.collisions = 0
        self._failure: str | None = None

    def request_options(self) -> list[Option]:
        opts: list[Option] = []
        if self.send_mru:
            opts.append(_tuple_new(Option, (LCP_MRU, _H.pack(self.mru))))  # = new_option(...)
        if self.auth is not None:
            opts.append(auth_option(self.auth))
        if self.send_magic:
            opts.append(_tuple_new(Option, (LCP_MAGIC, _I.pack(self.magic))))
        return opts

    def check_request(self, options: Sequence[Option]) -> tuple[Code, Sequence[Option]]:
        looped = self._looped(options) if self.send_magic else False
        # Known, well-formed (``LCP_OPTIONS``) and one we take (= _acceptable, inline): MRU,
        # Magic-Number and, on the client, Authentication-Protocol.
        accept_auth = bool(self.auth_accept)
        rej: list[Option] | None = None
        for o in options:
            otype, data = o
            if otype == LCP_MRU:
                ok = len(data) == 2
            elif otype == LCP_MAGIC:
                ok = len(data) == 4
            elif otype == LCP_AUTH:
                ok = len(data) >= 2 and accept_auth
            else:
                ok = False
            if not ok:
                if rej is None:
                    rej = []
                rej.append(o)
        if rej:
            return _REJ, rej
        nak: list[Option] = []
        mru, magic, auth = 1500, 0, None
        for otype, data in options:
            if otype == LCP_MRU:
                mru = _H.unpack(data)[0]
                if mru > self.max_peer_mru or mru < MIN_MRU:
                    nak.append(new_option(LCP_MRU, _H.pack(self.max_peer_mru)))
            elif otype == LCP_MAGIC:
                magic = _I.unpack(data)[0]
                if magic == 0 or looped:
                    nak.append(new_option(LCP_MAGIC, _I.pack(random_magic(self.rng))))
            elif otype == LCP_AUTH:
                auth = AUTH_BY_DATA.get(data)
                if auth not in self.auth_accept:
                    nak.append(auth_option(self.auth_accept[0]))
        if nak:
            return _NAK, nak
        self.peer_mru, self.peer_magic, self.peer_auth = mru, magic, auth
        return _ACK, options  # the options themselves: the Negotiator echoes the request's bytes

    def _looped(self, options: Sequence[Option]) -> bool:
        """RFC 1661 §6.4: the peer's magic equals ours - possibly a looped-back link.  Checked
        before anything else so that a looped request (which also carries our own options) counts."""
        if not self.send_magic:
            return False
        for otype, data in options:
            if otype == LCP_MAGIC and len(data) == 4 and _I.unpack(data)[0] == self.magic:
                self.collisions += 1
                if self.collisions > self.max_failure:
                    self._failure = "loopback"
                self.magic = random_magic(self.rng)  # and choose a new one ourselves
                return True
        return False

    def _acceptable(self, o: Option) -> bool:
        """Known, well-formed (``LCP_OPTIONS``) and one we take: MRU, Magic-Number and, on the
        client, Authentication-Protocol.  ACCM, Quality-Protocol, PFC and ACFC are rejected
        (RFC 2516 §7 forbids PFC/ACFC/ACCM)."""
        otype, data = o
        if otype == LCP_MRU:
            return len(data) == 2
        if otype == LCP_MAGIC:
            return len(data) == 4
        if otype == LCP_AUTH:
            # a server does not authenticate itself to a subscriber
            return len(data) >= 2 and bool(self.auth_accept)
        return False

    def on_ack(self, options: Sequence[Option]) -> None:
        return None

    def on_nak(self, options: Sequence[Option]) -> None:
        for o in options:
            if o.type == LCP_MRU and len(o.data) == 2 and MIN_MRU <= u16(o) <= self.mru:
                self.mru = u16(o)
            elif o.type == LCP_MAGIC:
                self.magic = random_magic(self.rng)
            elif o.type == LCP_AUTH and self.auth is not None:
                self._switch_auth(parse_auth_option(o))

    def _switch_auth(self, wanted: int | None) -> None:
        """The peer Nak'ed our auth protocol: offer the one it named if we have it, else the next."""
        tried = self._auth_tried
        if tried is None:
            tried = self._auth_tried = {self.auth_offer[0]}  # the first offer; auth is not None
        if wanted in self.auth_offer and wanted != self.auth:
            self.auth = wanted
        else:
            untried = [p for p in self.auth_offer if p not in tried]
            if not untried:
                self._failure = "auth_refused"
                return
            self.auth = untried[0]
        tried.add(self.auth)

    def on_reject(self, options: Sequence[Option]) -> None:
        for o in options:
            if o.type == LCP_MRU:
                self.send_mru = False
            elif o.type == LCP_MAGIC:
                self.send_magic = False
                self.magic = 0
            elif o.type == LCP_AUTH:
                self._failure = "auth_refused"

    def failure(self) -> str | None:
        return self._failure


@dataclass(frozen=True, slots=True)
class LcpNotice:
    """Something the owner must act on: ``lost_carrier``, ``loopback`` or ``protocol_rejected``."""

    kind: str
    protocol: int = 0


_NO_NOTICES: list[LcpNotice] = []  # shared while there is none (never appended to)


class Lcp(Negotiator):
    """LCP = the shared automaton + LCP-only codes + keepalive."""

    extra_codes = frozenset({Code.PROTO_REJ, Code.ECHO_REQ, Code.ECHO_REPLY, Code.DISCARD_REQ})

    def __init__(
        self,
        policy: LcpPolicy,
        config: FsmConfig,
        out: list[bytes],
        counters: dict[str, int],
        echo_interval: float = 30.0,
        echo_failure: int = 3,
    ) -> None:
        Negotiator.__init__(self, PROTO_LCP, policy, config, out, counters)
        self.lcp_policy = policy
        self.echo_interval = echo_interval
        self.echo_failure = echo_failure
        self.echo_deadline: float | None = None
        self.echo_outstanding = 0
        self.echo_id = 0
        self.notices: list[LcpNotice] = _NO_NOTICES  # a list of its own once there is a notice
        self._echo_req: ControlPacket | None = None

    @property
    def magic(self) -> int:
        return self.lcp_policy.magic if self.lcp_policy.send_magic else 0

    def _max_reject_len(self) -> int:
        """Room for a rejected packet so that the reply fits the peer's MRU and our MTU."""
        pol = self.lcp_policy
        return max(min(pol.peer_mru, pol.max_peer_mru), MIN_MRU) - 4 - 2

    _entered_hook = True

    def _entered(self, now: float) -> None:
        if self.state is _OPENED:
            if self.echo_deadline is None and self.echo_interval > 0:
                self.echo_deadline = now + self.echo_interval
        else:
            self.echo_deadline = None
            self.echo_outstanding = 0

    def _receive_extra(self, pkt: ControlPacket, now: float) -> None:
        code, _, data = pkt
        if code == _PROTO_REJ:
            if self.state is not _OPENED or len(data) < 2:
                self.count("rx_protocol_reject_ignored")  # RFC 1661 §5.7: only in Opened
                return
            (proto,) = _H.unpack_from(data)
            if proto == PROTO_LCP:
                self._fire(_RXJ_MINUS, now)
                return
            self._notice(LcpNotice("protocol_rejected", proto))
            self._fire(_RXJ_PLUS, now)
            return
        if code in (_ECHO_REQ, _ECHO_REPLY) and self.state is _OPENED:
            if len(data) < 4:
                self.count("rx_short_echo")
                return
            magic = _I.unpack_from(data)[0]
            if magic != 0 and magic == (self.lcp_policy.magic if self.lcp_policy.send_magic else 0):
                self.count("rx_echo_looped")
                self._notice(LcpNotice("loopback"))
                return
            if code == _ECHO_REPLY:
                self.echo_outstanding = 0
            else:
                self._echo_req = pkt
        self._fire(_RXR, now)
        self._echo_req = None

    def _send_echo_reply(self) -> None:
        if self._echo_req is None:  # RXR from a Discard-Request or an Echo-Reply: nothing to send
            return
        data = _I.pack(self.magic) + self._echo_req.data[4:]
        self._send(_ECHO_REPLY, self._echo_req.identifier, data)

    def protocol_reject(self, protocol: int, information: bytes) -> None:
        """RFC 1661 §5.7: reject a protocol we do not speak (only once LCP is Opened)."""
        if self.state is not _OPENED:
            self.count("rx_protocol_before_opened")
            return
        data = struct.pack("!H", protocol) + information
        self._send(_PROTO_REJ, self._new_id(), data[: self._max_reject_len()])

    def next_deadline(self) -> float | None:
        restart, echo = self.deadline, self.echo_deadline
        if restart is None:
            return echo
        if echo is None or restart <= echo:
            return restart
        return echo

    def handle_timer(self, now: float) -> None:
        if self.deadline is not None and now >= self.deadline:  # the restart timer (as in Negotiator)
            Negotiator.handle_timer(self, now)
        if self.echo_deadline is None or now < self.echo_deadline:
            return
        if self.echo_outstanding >= self.echo_failure:
            self.echo_deadline = None
            self._notice(LcpNotice("lost_carrier", self.echo_outstanding))
            return
        self.echo_id = (self.echo_id + 1) & 0xFF
        self._send(_ECHO_REQ, self.echo_id, _I.pack(self.magic))
        self.echo_outstanding += 1
        self.echo_deadline = now + self.echo_interval

    def _notice(self, notice: LcpNotice) -> None:
        if self.notices:
            self.notices.append(notice)
        else:
            self.notices = [notice]

    def take_notices(self) -> list[LcpNotice]:
        notices = self.notices
        if not notices:
            return []
        self.notices = _NO_NOTICES
        return notices
