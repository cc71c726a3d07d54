"""A sans-I/O PPP *client* (the subscriber side): LCP, PAP or CHAP-MD5, IPCP, echo replies.

Used by the tests' in-memory round trips, the load generator and the lab subscribers.  Same
shape as :class:`~abng.ppp.session.PPPSession`: PPP payloads and ``now`` in, payloads, events and
a deadline out.  Pair it with :class:`abng.access.pppoe.client.DiscoveryClient` for PPPoE.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from abng.ppp.auth import auth_protocol_numbers, chap_md5
from abng.ppp.codec import (
    CHAP_CHALLENGE,
    CHAP_SUCCESS,
    PAP_ACK,
    PROTO_CHAP,
    PROTO_IPCP,
    PROTO_IPV4,
    PROTO_LCP,
    PROTO_PAP,
    ChapResult,
    ChapValue,
    Code,
    DecodeError,
    PapReply,
    PapRequest,
    decode_chap,
    decode_pap,
    encode_ppp,
    ppp_control,
)
from abng.ppp.events import IPv4Packet, LinkFinished, SessionDown
from abng.ppp.fsm import Action, FsmConfig, Negotiator, State, fsm_config
from abng.ppp.ipcp import IpcpClientPolicy, ip_str
from abng.ppp.lcp import Lcp, LcpPolicy


@dataclass(frozen=True, slots=True)
class ClientConfig:
    username: str
    password: str = field(repr=False)
    mru: int = 1492
    auth_protocols: tuple[str, ...] = ("pap", "chap")  # what we accept, preferred first
    want_dns: bool = True
    lcp_echo_interval: float = 0.0  # 0: only answer the server's echoes
    lcp_echo_failure: int = 3
    restart_interval: float = 3.0
    max_configure: int = 10
    max_terminate: int = 2
    max_failure: int = 5


class ClientUp(NamedTuple):
    """IPCP is open (an immutable named tuple: one is made per session set-up)."""

    ip: str
    gateway: str
    dns: tuple[str, ...]


ClientEvent = ClientUp | SessionDown | LinkFinished | IPv4Packet

_TLU, _TLD, _TLF = Action.TLU, Action.TLD, Action.TLF
_S_INITIAL, _S_STARTING, _S_CLOSING, _S_STOPPING, _S_OPENED = (
    State.INITIAL,
    State.STARTING,
    State.CLOSING,
    State.STOPPING,
    State.OPENED,
)

_TERM_REQ = int(Code.TERM_REQ)
_PROTO_PAP_HEAD = encode_ppp(PROTO_PAP, b"")
_tuple_new: Callable[[Any, tuple[Any, ...]], Any] = tuple.__new__


_NO_EVENTS: list[ClientEvent] = []  # shared while a machine has no event (never appended to)
_derived: tuple[ClientConfig | None, FsmConfig | None, tuple[int, ...]] = (None, None, ())


def _derive(config: ClientConfig) -> tuple[FsmConfig, tuple[int, ...]]:
    """The FsmConfig and accepted auth protocols of ``config``, once per distinct setting (a
    ClientConfig is immutable; a load generator's subscribers each have one, with their own
    username and password but the same timers and protocols, so the fields are compared)."""
    global _derived
    last, fsm, accept = _derived
    if config is not last or fsm is None:
        if (
            last is None
            or fsm is None
            or config.auth_protocols != last.auth_protocols
            or config.restart_interval != last.restart_interval
            or config.max_configure != last.max_configure
            or config.max_terminate != last.max_terminate
            or config.max_failure != last.max_failure
        ):
            fsm = fsm_config(
                config.restart_interval, config.max_configure, config.max_terminate, config.max_failure
            )
            accept = auth_protocol_numbers(config.auth_protocols)
        _derived = (config, fsm, accept)
    return fsm, accept


class PPPClient:
    def __init__(self, config: ClientConfig, rng: Callable[[int], bytes], now: float) -> None:
        self.config = config
        self.counters: dict[str, int] = {}
        self._out: list[bytes] = []
        self._events: list[ClientEvent] = _NO_EVENTS  # a list of its own once there is an event
        fsm, accept = _derive(config)
        self.fsm = fsm
        self.lcp_policy = LcpPolicy(
            rng, config.mru, 65535, auth_accept=accept, max_failure=config.max_failure
        )
        self.lcp = Lcp(
            self.lcp_policy, fsm, self._out, self.counters, config.lcp_echo_interval, config.lcp_echo_failure
        )
        self.ipcp_policy = IpcpClientPolicy(config.want_dns)
        self.ipcp = Negotiator(PROTO_IPCP, self.ipcp_policy, fsm, self._out, self.counters)
        self.phase = "establish"  # establish | auth | network | done
        self.is_up = False
        self.finished = False
        self.down_reason: str | None = None
        self._pap_id = 0
        self._pap_deadline: float | None = None
        self._pap_tries = 0
        self._cause: str | None = None

    # --- API (same shape as PPPSession) -------------------------------------------------------

    def start(self, now: float) -> list[bytes]:
        self.lcp.open(now)
        self.lcp.up(now)
        self._process(now)
        return self.take_output()

    def receive(self, ppp_payload: bytes, now: float) -> None:
        if self.finished:
            return
        try:
            # = split_protocol(ppp_payload), inline; control packets are decoded in place
            n = len(ppp_payload)
            if n < 2:
                raise DecodeError("short_ppp", f"{n} bytes")
            proto = ppp_payload[0] << 8 | ppp_payload[1]
            # RFC 1661 §2: protocol values are odd, and the high octet is even.
            if not proto & 0x0001 or proto & 0x0100:
                raise DecodeError("bad_protocol_field", f"0x{proto:04x}")
            phase = self.phase
            if proto == PROTO_LCP:
                pkt = ppp_control(ppp_payload)
                if pkt[0] == _TERM_REQ:
                    self._cause = self._cause or "user_request"
                self.lcp.receive(pkt, now)
            elif proto == PROTO_IPCP and phase == "network":
                self.ipcp.receive(ppp_control(ppp_payload), now)
            elif proto == PROTO_PAP and phase == "auth":
                self._pap_reply(decode_pap(bytes(ppp_payload[2:])), now)
            elif proto == PROTO_CHAP and phase == "auth":
                self._chap(decode_chap(bytes(ppp_payload[2:])), now)
            elif proto == PROTO_IPV4 and self.is_up:
                self._emit(IPv4Packet(bytes(ppp_payload[2:])))
            elif proto not in (PROTO_PAP, PROTO_CHAP, PROTO_IPCP, PROTO_IPV4):
                self.lcp.protocol_reject(proto, bytes(ppp_payload[2:]))
            else:
                self.counters["rx_out_of_phase"] = self.counters.get("rx_out_of_phase", 0) + 1
        except DecodeError as exc:
            self.counters[f"rx_{exc.reason}"] = self.counters.get(f"rx_{exc.reason}", 0) + 1
        lcp = self.lcp  # = self._process(now) when there is something to act on
        if lcp.notices or lcp.signals or self.ipcp.signals:
            self._process(now)

    def send_ip(self, packet: bytes) -> bytes:
        """PPP payload carrying an IPv4 datagram (only once up)."""
        if not self.is_up:
            raise RuntimeError("PPP client is not up")
        return encode_ppp(PROTO_IPV4, packet)

    def terminate(self, reason: str, now: float) -> None:
        if self.finished:
            return
        self._cause = self._cause or reason
        self.lcp.close(now)
        self._process(now)

    def lower_down(self, reason: str, now: float) -> None:
        if self.finished:
            return
        self._cause = self._cause or reason
        self._finish()

    def handle_timer(self, now: float) -> None:
        if self.finished:
            return
        self.lcp.handle_timer(now)
        self.ipcp.handle_timer(now)
        if self._pap_deadline is not None and now >= self._pap_deadline:
            if self._pap_tries >= self.config.max_configure:
                self._pap_deadline = None
                self.lcp.fail("auth_timeout", now)
            else:
                self._send_pap(now)
        self._process(now)

    def next_deadline(self) -> float | None:
        if self.finished:
            return None
        lcp = self.lcp
        best, t = lcp.deadline, lcp.echo_deadline  # = lcp.next_deadline(), inline
        if t is not None and (best is None or t < best):
            best = t
        t = self.ipcp.deadline
        if t is not None and (best is None or t < best):
            best = t
        t = self._pap_deadline
        if t is not None and (best is None or t < best):
            best = t
        return best

    def take_output(self) -> list[bytes]:
        out = self._out[:]  # the list itself is shared with the machines: copy, then empty
        self._out.clear()
        return out

    def take_events(self) -> list[ClientEvent]:
        events = self._events
        if not events:
            return []
        self._events = _NO_EVENTS
        return events

    def _emit(self, event: ClientEvent) -> None:
        if self._events:
            self._events.append(event)
        else:
            self._events = [event]

    # --- authentication (as the peer being authenticated) ------------------------------------

    def _send_pap(self, now: float) -> None:
        self._pap_id = (self._pap_id + 1) & 0xFF
        self._pap_tries += 1
        cfg = self.config
        req: PapRequest = _tuple_new(PapRequest, (self._pap_id, cfg.username.encode(), cfg.password.encode()))
        self._out.append(_PROTO_PAP_HEAD + req.encode())  # = encode_ppp(PROTO_PAP, req.encode())
        self._pap_deadline = now + cfg.restart_interval

    def _pap_reply(self, reply: PapRequest | PapReply, now: float) -> None:
        if not isinstance(reply, PapReply) or reply.identifier != self._pap_id:
            return
        self._pap_deadline = None
        self._auth_done(reply.code == PAP_ACK, now)

    def _chap(self, pkt: ChapValue | ChapResult, now: float) -> None:
        if isinstance(pkt, ChapValue):
            if pkt.code == CHAP_CHALLENGE:
                value = chap_md5(pkt.identifier, self.config.password.encode(), pkt.value)
                resp = ChapValue(2, pkt.identifier, value, self.config.username.encode())
                self._out.append(encode_ppp(PROTO_CHAP, resp.encode()))
            return
        self._auth_done(pkt.code == CHAP_SUCCESS, now)

    def _auth_done(self, ok: bool, now: float) -> None:
        if not ok:
            self.lcp.fail("auth_failed", now)
            return
        self.phase = "network"
        self.ipcp.open(now)
        self.ipcp.up(now)

    # --- layer signals -----------------------------------------------------------------------

    def _finish(self) -> None:
        if self.down_reason is None:
            self.down_reason = self._cause or self.lcp.failure or "negotiation_failed"
            self._emit(SessionDown(self.down_reason))
        if not self.finished:
            self.finished = True
            self.phase = "done"
            self._emit(LinkFinished())

    def _process(self, now: float) -> None:
        lcp, ipcp = self.lcp, self.ipcp
        for _ in range(16):
            if not lcp.notices and not lcp.signals and not ipcp.signals:
                return  # nothing to act on (the common case: checked without building lists)
            busy = False
            # each take_* only when there is something to take (an empty take builds a list)
            for notice in lcp.take_notices() if lcp.notices else ():
                busy = True
                if notice.kind == "lost_carrier":
                    self._cause = self._cause or "lost_carrier"
                    self._finish()
                    return
                if notice.kind == "loopback":
                    self.lcp.fail("loopback", now)
            for signal in lcp.take_signals() if lcp.signals else ():
                busy = True
                self._lcp_signal(signal, now)
            for signal in ipcp.take_signals() if ipcp.signals else ():
                busy = True
                if signal is _TLU and not self.is_up:
                    self.is_up = True
                    pol = self.ipcp_policy
                    up: ClientUp = _tuple_new(ClientUp, (ip_str(pol.ip), ip_str(pol.gateway), pol.dns()))
                    self._emit(up)
                elif signal in (_TLD, _TLF) and self.down_reason is None:
                    self.lcp.fail("ipcp_down" if signal is _TLD else "negotiation_failed", now)
            if not busy or self.finished:
                return
        raise RuntimeError("PPPClient signal processing did not settle")

    def _lcp_signal(self, signal: Action, now: float) -> None:
        if signal is _TLU and self.phase == "establish":
            auth = self.lcp_policy.peer_auth
            self.phase = "auth"
            if auth == PROTO_PAP:
                self._send_pap(now)
            elif auth is None:
                self._auth_done(True, now)
        elif signal is _TLD:
            if self.ipcp.state not in (_S_INITIAL, _S_STARTING):
                self.ipcp.down(now)
            self.is_up = False
            if self.down_reason is None:
                self.down_reason = self._cause or self.lcp.failure or "renegotiation"
                self._emit(SessionDown(self.down_reason))
            if self.lcp.state not in (_S_CLOSING, _S_STOPPING):
                self.lcp.close(now)
        elif signal is _TLF:
            self._finish()
