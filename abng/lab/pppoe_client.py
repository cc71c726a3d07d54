"""One emulated PPPoE subscriber: discovery client + PPP client, sans-I/O.

Glues :class:`abng.access.pppoe.client.DiscoveryClient` (PADI/PADO/PADR/PADS/PADT) and
:class:`abng.ppp.client.PPPClient` (LCP, PAP/CHAP, IPCP, echo replies).  Output is a list of
``(destination MAC, EtherType, PPPoE payload)``; the caller adds Ethernet and VLAN headers.
Events: :class:`PppoeUp`, :class:`PppoeDown` (was up) and :class:`PppoeFailed` (never came up),
each with a reason; a failure names the phase that timed out (padi_timeout, padr_timeout,
lcp_timeout, auth_timeout, ipcp_timeout) or auth_failed, padt, ...
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from abng.access.frames import ETH_P_PPPOE_DISC, ETH_P_PPPOE_SESS
from abng.access.pppoe.client import DiscoveryClient, DiscoveryFailed, DiscoveryTerminated, DiscoveryUp
from abng.ppp.client import ClientConfig, ClientEvent, ClientUp, PPPClient
from abng.ppp.events import IPv4Packet, LinkFinished, SessionDown

Out = tuple[bytes, int, bytes]  # (dst MAC, EtherType, PPPoE payload)


@dataclass(frozen=True, slots=True)
class PppoeUp:
    session_id: int
    ip: str
    gateway: str


@dataclass(frozen=True, slots=True)
class PppoeDown:
    reason: str


@dataclass(frozen=True, slots=True)
class PppoeFailed:
    reason: str


PppoeEvent = PppoeUp | PppoeDown | PppoeFailed

_PHASE_TIMEOUT = {"establish": "lcp_timeout", "auth": "auth_timeout", "network": "ipcp_timeout"}
_SESSION_HEAD = struct.Struct("!HH")  # after VER/TYPE 0x11 and CODE 0x00 (RFC 2516 §4): id, length
_SESSION_VER_CODE = b"\x11\x00"
_U16 = struct.Struct("!H")


class PppoeSubscriber:
    def __init__(
        self,
        config: ClientConfig,
        rng: Callable[[int], bytes],
        host_uniq: bytes,
        *,
        discovery_timeout: float = 1.0,
        discovery_tries: int = 5,
    ) -> None:
        self.config = config
        self.rng = rng
        self.disc = DiscoveryClient(host_uniq=host_uniq, timeout=discovery_timeout, max_tries=discovery_tries)
        self.ppp: PPPClient | None = None
        self.session_id = 0
        self.ac_mac = b""
        self.ip = ""
        self.gateway = ""
        self.state = "idle"  # idle discovery ppp up down
        self.received_ip: list[bytes] = []  # IPv4 datagrams that came down the session
        # What take_output / take_events hand over (the engine checks them for emptiness first).
        self.out: list[Out] = []
        self.events: list[PppoeEvent] = []
        self._prefix: bytes | None = None  # receive_session_sending's frame start, once known

    # --- API -------------------------------------------------------------------------------------
    def start(self, now: float) -> None:
        self.state = "discovery"
        self.disc.start(now)
        self._collect(now)

    def receive_discovery(self, payload: bytes, src_mac: bytes, now: float) -> None:
        self.disc.receive(payload, src_mac, now)
        self._collect(now)

    def receive_session(self, ppp_payload: bytes, now: float) -> None:
        ppp = self.ppp
        if ppp is not None:
            ppp.receive(ppp_payload, now)
            self._collect_ppp(ppp, now)  # PPP input never gives the discovery machine work

    def receive_session_sending(
        self, ppp_payload: bytes, now: float, head: bytes, send: Callable[[bytes], object]
    ) -> None:
        """:meth:`receive_session`, the PPP client's replies sent at once as whole Ethernet frames,
        ``send(AC MAC + head + PPPoE session header + payload)``, instead of queued for
        :meth:`take_output` (``head``: our MAC, VLAN tags and the session EtherType, the same on
        every call).  The caller sends what is queued first (the engine: nothing is, between
        frames); events and the rest (a PADT) are queued as by receive_session."""
        ppp = self.ppp
        if ppp is None:
            return
        ppp.receive(ppp_payload, now)
        out = ppp.take_output()
        if out:
            prefix = self._prefix
            if prefix is None:  # once per session (the session id is known once ppp exists)
                prefix = self._prefix = self.ac_mac + head + _SESSION_VER_CODE + _U16.pack(self.session_id)
            pack = _U16.pack
            for p in out:  # = session_frame(session_id, p) after the Ethernet header
                send(prefix + pack(len(p)) + p)
        events = ppp.take_events()
        if events:
            self._ppp_events(ppp, events, now)

    def send_ip(self, packet: bytes) -> None:
        if self.ppp is None or not self.ppp.is_up:
            raise RuntimeError("PPPoE session is not up")
        self._send_ppp([self.ppp.send_ip(packet)])

    def terminate(self, now: float) -> None:
        """Hang up: LCP Terminate-Request then PADT (or just stop discovery)."""
        if self.ppp is not None and not self.ppp.finished:
            self.ppp.terminate("user_request", now)
            self._collect(now)
        if self.disc.state == "session":
            dst, payload = self.disc.padt()
            self.out.append((dst, ETH_P_PPPOE_DISC, payload))
        if self.state in ("idle", "discovery", "ppp", "up"):
            self._end("user_request", now)

    def handle_timer(self, now: float) -> None:
        self.disc.handle_timer(now)
        if self.ppp is not None:
            self.ppp.handle_timer(now)
        self._collect(now)

    def next_deadline(self) -> float | None:
        # The PPP client exists only once discovery reached its session stage, where the
        # discovery machine has no timer left (DiscoveryClient sets a deadline only while a
        # PADI or PADR waits for its answer): then the PPP client's deadline is the only one.
        if self.ppp is not None:
            return self.ppp.next_deadline()
        return self.disc.next_deadline()

    def take_output(self) -> list[Out]:
        out, self.out = self.out, []
        return out

    def take_events(self) -> list[PppoeEvent]:
        events, self.events = self.events, []
        return events

    # --- internals -------------------------------------------------------------------------------
    def _end(self, reason: str, now: float) -> None:
        was_up = self.state == "up"
        self.state = "down"
        self.events.append(PppoeDown(reason) if was_up else PppoeFailed(reason))

    def _collect(self, now: float) -> None:
        self._collect_discovery(now)
        if self.ppp is not None:
            self._collect_ppp(self.ppp, now)

    def _collect_discovery(self, now: float) -> None:
        for dst, payload in self.disc.take_output():
            self.out.append((dst, ETH_P_PPPOE_DISC, payload))
        for ev in self.disc.take_events():
            if isinstance(ev, DiscoveryUp):
                self.session_id, self.ac_mac = ev.session_id, ev.ac_mac
                self.ppp = PPPClient(self.config, self.rng, now)
                self.state = "ppp"
                self._send_ppp(self.ppp.start(now))
            elif isinstance(ev, DiscoveryFailed):
                reason = ev.reason
                if reason == "timeout":
                    reason = "padr_timeout" if self.disc.ac_mac else "padi_timeout"
                self._end(reason, now)
            elif isinstance(ev, DiscoveryTerminated) and self.state in ("ppp", "up"):
                if self.ppp is not None:
                    self.ppp.lower_down("padt", now)
                    self.ppp.take_events()
                self._end("padt", now)

    def _collect_ppp(self, ppp: PPPClient, now: float) -> None:
        out = ppp.take_output()
        if out:
            self._send_ppp(out)
        events = ppp.take_events()
        if events:
            self._ppp_events(ppp, events, now)

    def _ppp_events(self, ppp: PPPClient, events: list[ClientEvent], now: float) -> None:
        for pev in events:
            if isinstance(pev, ClientUp) and self.state == "ppp":
                self.ip, self.gateway, self.state = pev.ip, pev.gateway, "up"
                self.events.append(PppoeUp(self.session_id, pev.ip, pev.gateway))
            elif isinstance(pev, IPv4Packet):
                self.received_ip.append(pev.data)
            elif isinstance(pev, SessionDown) and self.state in ("ppp", "up"):
                reason = pev.reason
                if reason == "negotiation_failed" and self.state == "ppp":
                    reason = _PHASE_TIMEOUT.get(ppp.phase, reason)
                self._end(reason, now)
            elif isinstance(pev, LinkFinished) and self.disc.state == "session":
                dst, payload = self.disc.padt()
                self.out.append((dst, ETH_P_PPPOE_DISC, payload))

    def _send_ppp(self, payloads: list[bytes]) -> None:
        """Session-stage PPPoE payloads, header built as in abng.access.pppoe.codec.session_frame."""
        dst, sid, append, pack = self.ac_mac, self.session_id, self.out.append, _SESSION_HEAD.pack
        for p in payloads:
            append((dst, ETH_P_PPPOE_SESS, _SESSION_VER_CODE + pack(sid, len(p)) + p))
