"""PPPSession: one subscriber's PPP link, LCP -> authentication -> IPCP (RFC 1661 §3 phases).

Sans-I/O: PPP payloads (2-byte protocol + packet) and ``now`` in; PPP payloads to send
(``take_output``), events (``take_events``) and the next deadline out.  The caller (the PPPoE
adapter) wraps payloads in PPPoE session frames, answers :class:`AuthRequest` through
``auth_result`` and sends PADT once :class:`LinkFinished` comes out.

Protocols other than LCP/PAP/CHAP/IPCP/IPv4 (IPv6CP included) get an LCP Protocol-Reject.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from abng.ppp.auth import AUTH_PROTOCOLS, Authenticator, ChapServer, PapServer, auth_protocol_numbers
from abng.ppp.codec import (
    PROTO_CHAP,
    PROTO_IPCP,
    PROTO_IPV4,
    PROTO_LCP,
    PROTO_PAP,
    Code,
    DecodeError,
    ppp_control,
)
from abng.ppp.events import (
    AuthRequest,
    EchoTimeout,
    Event,
    IPv4Packet,
    LinkFinished,
    SessionDown,
    SessionUp,
)
from abng.ppp.fsm import Action, FsmConfig, Negotiator, State, fsm_config
from abng.ppp.ipcp import IpcpServerPolicy, ip_str
from abng.ppp.lcp import Lcp, LcpPolicy

_TERM_REQ, _CONF_REJ = int(Code.TERM_REQ), int(Code.CONF_REJ)

_TLU, _TLD, _TLF = Action.TLU, Action.TLD, Action.TLF
_S_INITIAL, _S_STARTING, _S_CLOSING, _S_STOPPING, _S_OPENED = (
    State.INITIAL,
    State.STARTING,
    State.CLOSING,
    State.STOPPING,
    State.OPENED,
)


@dataclass(frozen=True, slots=True)
class PPPConfig:
    """Per-session PPP settings (from the ``pppoe`` config section, reference §4.5)."""

    gateway_ip: str
    mru: int = 1492
    mtu: int = 1492
    auth_protocols: tuple[str, ...] = ("pap", "chap")  # offered in this order
    name: str = "abng"  # CHAP name, PAP message prefix
    lcp_echo_interval: float = 30.0
    lcp_echo_failure: int = 3
    restart_interval: float = 3.0
    max_configure: int = 10
    max_terminate: int = 2
    max_failure: int = 5
    auth_timeout: float = 30.0

    def __post_init__(self) -> None:
        if not self.auth_protocols or any(a not in AUTH_PROTOCOLS for a in self.auth_protocols):
            raise ValueError(f"auth_protocols must be a non-empty subset of {sorted(AUTH_PROTOCOLS)}")
        if not 64 <= self.mru <= 65535 or not 64 <= self.mtu <= 65535:
            raise ValueError("mru and mtu must be within 64..65535")

    def with_max_payload(self, max_payload: int | None) -> PPPConfig:
        """RFC 4638: when discovery agreed a PPP-Max-Payload above 1492 (``NewSession.max_payload``),
        LCP may negotiate MRU/MTU up to it; otherwise the configured values stand."""
        if max_payload is None or max_payload <= 1492:
            return self
        return dataclasses.replace(self, mru=max(self.mru, max_payload), mtu=max(self.mtu, max_payload))

    @property
    def fsm(self) -> FsmConfig:
        return fsm_config(self.restart_interval, self.max_configure, self.max_terminate, self.max_failure)


_NO_EVENTS: list[Event] = []  # shared while a machine has no event (never appended to)
_derived: tuple[PPPConfig | None, FsmConfig | None, tuple[int, ...]] = (None, None, ())


def _derive(config: PPPConfig) -> tuple[FsmConfig, tuple[int, ...]]:
    """The FsmConfig and auth protocol numbers of ``config``, computed once per config object
    (a PPPConfig is immutable; new sessions nearly always share the service's one)."""
    global _derived
    last, fsm, offer = _derived
    if config is not last or fsm is None:
        fsm, offer = config.fsm, auth_protocol_numbers(config.auth_protocols)
        _derived = (config, fsm, offer)
    return fsm, offer


class PPPSession:
    def __init__(self, config: PPPConfig, rng: Callable[[int], bytes], now: float) -> None:
        fsm, offer = _derive(config)
        self.config = config
        self.rng = rng
        self.created = now
        self.counters: dict[str, int] = {}
        self._out: list[bytes] = []
        self._events: list[Event] = _NO_EVENTS  # a list of its own once there is an event
        self.lcp_policy = LcpPolicy(rng, config.mru, config.mtu, auth_offer=offer)
        self.lcp = Lcp(
            self.lcp_policy,
            fsm,
            self._out,
            self.counters,
            config.lcp_echo_interval,
            config.lcp_echo_failure,
        )
        self.auth: Authenticator | None = None
        self.ipcp: Negotiator | None = None
        self.ip: str | None = None
        self.dns: tuple[str, ...] = ()
        self.username = ""
        self.is_up = False
        self.down_reason: str | None = None
        self.finished = False
        self._cause: str | None = None

    # --- public API --------------------------------------------------------------------------

    def start(self, now: float) -> list[bytes]:
        """Bring LCP up; returns our first Configure-Request."""
        if self.lcp.state is not _S_INITIAL:
            raise RuntimeError("PPPSession.start called twice")
        self.lcp.open(now)
        self.lcp.up(now)
        self._process(now)
        return self.take_output()

    def receive(self, ppp_payload: bytes, now: float) -> None:
        if self.finished:
            self._count("rx_after_finish")
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
            if proto == PROTO_LCP:
                pkt = ppp_control(ppp_payload)
                code = pkt[0]
                if code == _TERM_REQ:
                    self._cause = self._cause or "user_request"
                elif 1 <= code <= _CONF_REJ and self.lcp.state is _S_OPENED:  # renegotiation
                    self._cause = self._cause or "renegotiation"
                self.lcp.receive(pkt, now)
            elif proto == PROTO_IPCP:
                if self.ipcp is None:
                    self._count("rx_ncp_before_network")  # RFC 1661 §3.5: silently discarded
                else:
                    self.ipcp.receive(ppp_control(ppp_payload), now)
            elif proto in (PROTO_PAP, PROTO_CHAP):
                self._receive_auth(proto, bytes(ppp_payload[2:]), now)
            elif proto == PROTO_IPV4:
                if self.is_up:
                    self._emit(IPv4Packet(bytes(ppp_payload[2:])))
                else:
                    self._count("rx_ip_before_up")
            else:
                self.lcp.protocol_reject(proto, bytes(ppp_payload[2:]))
        except DecodeError as exc:
            self._count(f"rx_{exc.reason}")
        lcp = self.lcp  # = self._process(now) when there is something to act on
        if lcp.notices or lcp.signals or (self.ipcp is not None and self.ipcp.signals):
            self._process(now)

    def auth_result(self, ok: bool, ip: str | None, dns: Sequence[str], message: str, now: float) -> None:
        """The verdict on the last :class:`AuthRequest`.  ``ip`` is required when ``ok``."""
        if self.finished or self.down_reason is not None:
            return  # the session ended while AAA was busy: nothing to answer
        if self.auth is None or not self.auth.pending:
            raise RuntimeError("auth_result without a pending AuthRequest")
        if ok and not ip:
            raise ValueError("auth_result(ok=True) needs the subscriber's IP address")
        self.auth.result(ok, message)
        if not ok:
            self.lcp.fail("auth_failed", now)
        else:
            assert ip is not None
            self.ip, self.dns = ip, tuple(dns)
            self._start_ipcp(IpcpServerPolicy(self.config.gateway_ip, ip, self.dns), now)
        self._process(now)

    def terminate(self, reason: str, now: float) -> None:
        """Administrative end: LCP Terminate-Request, then LinkFinished (after Ack or timeout)."""
        if self.finished:
            return
        self._cause = self._cause or reason
        if self.lcp.state is _S_INITIAL:  # never started: nothing to tell the peer
            self._finish()
            return
        self.lcp.close(now)
        self._process(now)

    def lower_down(self, reason: str, now: float) -> None:
        """The PPPoE session is gone (PADT, interface down): no more packets can be sent."""
        if self.finished:
            return
        self._cause = self._cause or reason
        self._out.clear()
        if self.lcp.state not in (_S_INITIAL, _S_STARTING):
            self.lcp.down(now)
        self._finish()

    def handle_timer(self, now: float) -> None:
        if self.finished:
            return
        self.lcp.handle_timer(now)
        if self.ipcp is not None:
            self.ipcp.handle_timer(now)
        if self.auth is not None:
            self.auth.handle_timer(now)
            if self.auth.timed_out:
                self.auth.timed_out = False
                self.lcp.fail("auth_timeout", now)
        self._process(now)

    def next_deadline(self) -> float | None:
        if self.finished:
            return None
        lcp = self.lcp
        best, t = lcp.deadline, lcp.echo_deadline  # = lcp.next_deadline(), inline
        if t is not None and (best is None or t < best):
            best = t
        if self.ipcp is not None:
            t = self.ipcp.deadline
            if t is not None and (best is None or t < best):
                best = t
        if self.auth is not None:
            t = self.auth.deadline
            if t is not None and (best is None or t < best):
                best = t
        return best

    def take_output(self) -> list[bytes]:
        out = self._out[:]  # the list itself is shared with the machines: copy, then empty
        self._out.clear()
        return out

    def take_events(self) -> list[Event]:
        events = self._events
        if not events:
            return []
        self._events = _NO_EVENTS
        return events

    def _emit(self, event: Event) -> None:
        if self._events:
            self._events.append(event)
        else:
            self._events = [event]

    # --- internals ---------------------------------------------------------------------------

    def _count(self, key: str) -> None:
        self.counters[key] = self.counters.get(key, 0) + 1

    def _receive_auth(self, proto: int, info: bytes, now: float) -> None:
        if self.auth is None or self.auth.protocol != proto or self.down_reason is not None:
            self._count("rx_auth_out_of_phase")  # RFC 1661 §3.5: silently discarded
            return
        request = self.auth.receive(info, now)
        if request is not None:
            self.username = request.username
            self._emit(request)

    def _start_auth(self, now: float) -> None:
        cfg = self.config
        if self.lcp_policy.auth == PROTO_CHAP:
            self.auth = ChapServer(
                self._out,
                self.counters,
                self.rng,
                cfg.name.encode(),
                cfg.restart_interval,
                cfg.max_configure,
            )
        else:
            self.auth = PapServer(self._out, self.counters, cfg.auth_timeout)
        self.auth.start(now)

    def _start_ipcp(self, policy: IpcpServerPolicy, now: float) -> None:
        self.ipcp = Negotiator(PROTO_IPCP, policy, _derive(self.config)[0], self._out, self.counters)
        self.ipcp.open(now)
        self.ipcp.up(now)

    def _go_down(self, reason: str) -> None:
        if self.down_reason is None:
            self.down_reason = reason
            self._emit(SessionDown(reason))

    def _finish(self) -> None:
        # Only reached without a prior tld when LCP never opened: negotiation gave up.
        self._go_down(self._cause or self.lcp.failure or "negotiation_failed")
        if not self.finished:
            self.finished = True
            self._emit(LinkFinished())

    def _process(self, now: float) -> None:
        lcp = self.lcp
        for _ in range(16):  # each round can only move the machines forward; 16 is plenty
            if not lcp.notices and not lcp.signals and (self.ipcp is None or not self.ipcp.signals):
                return  # nothing to act on (the common case: checked without building lists)
            busy = False
            # each take_* only when there is something to take (an empty take builds a list)
            for notice in lcp.take_notices() if lcp.notices else ():
                busy = True
                if notice.kind == "lost_carrier":
                    self._emit(EchoTimeout(notice.protocol))
                    self._cause = self._cause or "lost_carrier"
                    self.lower_down("lost_carrier", now)
                    return
                if notice.kind == "loopback":
                    self.lcp.fail("loopback", now)
                elif notice.kind == "protocol_rejected" and notice.protocol == PROTO_IPCP and self.ipcp:
                    self.ipcp.failure = "protocol_rejected"
                    self.ipcp.close(now)
            for signal in lcp.take_signals() if lcp.signals else ():
                busy = True
                self._lcp_signal(signal, now)
            if self.ipcp is not None and self.ipcp.signals:
                for signal in self.ipcp.take_signals():
                    busy = True
                    self._ipcp_signal(signal, now)
            if not busy or self.finished:
                return
        raise RuntimeError("PPPSession signal processing did not settle")

    def _lcp_signal(self, signal: Action, now: float) -> None:
        if signal is _TLU:
            if self.down_reason is None and self.auth is None:
                self._start_auth(now)
        elif signal is _TLD:
            if self.ipcp is not None and self.ipcp.state not in (_S_INITIAL, _S_STARTING):
                self.ipcp.down(now)
            self._go_down(self._cause or self.lcp.failure or "nas_error")
            if self.lcp.state not in (_S_CLOSING, _S_STOPPING):
                self.lcp.close(now)  # renegotiation is not resumed: finish the link
        elif signal is _TLF:
            self._finish()

    def _ipcp_signal(self, signal: Action, now: float) -> None:
        assert self.ipcp is not None and self.ip is not None
        if signal is _TLU and not self.is_up and self.down_reason is None:
            self.is_up = True
            mtu = min(self.lcp_policy.peer_mru, self.config.mtu)
            self._emit(SessionUp(self.ip, mtu, self.lcp_policy.mru))
        elif signal is _TLD:
            self._count("ipcp_renegotiation")  # the address stays; IPCP negotiates again
        elif signal is _TLF and self.down_reason is None:
            # IPCP gave up (peer Terminate-Request, Max-Configure, Protocol-Reject): end the link.
            reason = self.ipcp.failure or ("user_request" if self.is_up else "negotiation_failed")
            self._cause = self._cause or reason
            self.lcp.fail(reason, now)

    # --- persistence -------------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        """Plain-dict state of an open session (JSON-serialisable) for :meth:`resume`."""
        if not self.is_up or self.ipcp is None or self.ip is None:
            raise RuntimeError("only an open session can be exported")
        pol = self.lcp_policy
        return {
            "version": 1,
            "magic": pol.magic if pol.send_magic else 0,
            "peer_magic": pol.peer_magic,
            "mru": pol.mru,
            "peer_mru": pol.peer_mru,
            "lcp_next_id": self.lcp.next_id,
            "echo_id": self.lcp.echo_id,
            "ipcp_next_id": self.ipcp.next_id,
            "auth": self.auth.method if self.auth else "",
            "username": self.username,
            "ip": self.ip,
            "dns": list(self.dns),
        }

    @classmethod
    def resume(
        cls, config: PPPConfig, rng: Callable[[int], bytes], state: dict[str, Any], now: float
    ) -> PPPSession:
        """Rebuild an open session from :meth:`export` output: it answers echoes at once, sends its
        own every ``lcp_echo_interval`` and emits no SessionUp (it is already accounted for)."""
        if state.get("version") != 1:
            raise ValueError(f"unknown PPP session state version {state.get('version')!r}")
        sess = cls(config, rng, now)
        pol = sess.lcp_policy
        pol.magic = int(state["magic"])
        pol.send_magic = pol.magic != 0
        pol.peer_magic = int(state["peer_magic"])
        pol.mru = int(state["mru"])
        pol.peer_mru = int(state["peer_mru"])
        sess.lcp.restore_opened(int(state["lcp_next_id"]))
        sess.lcp.echo_id = int(state["echo_id"]) & 0xFF
        sess.lcp.echo_deadline = now + config.lcp_echo_interval if config.lcp_echo_interval > 0 else None
        sess.ip, sess.dns, sess.username = str(state["ip"]), tuple(state["dns"]), str(state["username"])
        sess._start_ipcp(IpcpServerPolicy(config.gateway_ip, sess.ip, sess.dns), now)
        assert sess.ipcp is not None
        sess._out.clear()
        sess.ipcp.restore_opened(int(state["ipcp_next_id"]))
        sess.ipcp.take_signals()
        auth: Authenticator = PapServer(sess._out, sess.counters, config.auth_timeout)
        if state["auth"] == "chap-md5":
            auth = ChapServer(sess._out, sess.counters, rng, config.name.encode(), 3.0, 0)
        auth.pending = True
        auth.result(True, "")  # retransmitted requests after the restart get an Ack again
        sess._out.clear()
        sess.auth = auth
        sess.is_up = True
        return sess

    @property
    def ip_address(self) -> str | None:
        return self.ip

    def describe(self) -> dict[str, Any]:
        """Small status dict for logs and `show` commands (no secrets)."""
        return {
            "lcp": self.lcp.state.name,
            "ipcp": self.ipcp.state.name if self.ipcp else None,
            "auth": self.auth.method if self.auth else None,
            "username": self.username,
            "ip": self.ip,
            "up": self.is_up,
            "down_reason": self.down_reason,
        }


__all__ = ["AuthRequest", "PPPConfig", "PPPSession", "ip_str"]
