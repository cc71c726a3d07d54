"""The subscriber engine: many emulated PPPoE and DHCP subscribers over AF_PACKET sockets.

Every subscriber is a sans-I/O machine (:class:`~abng.lab.pppoe_client.PppoeSubscriber` or
:class:`~abng.lab.dhcp_client.DhcpClient`).  The engine only reads frames, routes each to its
subscriber by destination MAC, wraps what the machines want to send in Ethernet + VLAN headers
and keeps one timer heap for all their deadlines.  New sessions start through a token bucket
(``rate`` per second) with at most ``outstanding`` setups in flight, like BNG Blaster's
``session-outstanding-max``.  Statistics are in :class:`~abng.lab.stats.Stats`.

The lab (``abng-lab up``) and the load generator (``bench/loadgen.py``) both drive this class.
"""

from __future__ import annotations

import asyncio
import heapq
import ipaddress
import logging
import math
import random
import socket
import struct
import time
from collections import deque
from collections.abc import Callable

from abng.access.dhcp.codec import parse_message
from abng.access.dhcp.wire import ipv4_udp
from abng.access.frames import (
    BROADCAST_MAC,
    ETH_P_IP,
    ETH_P_PPPOE_DISC,
    ETH_P_PPPOE_SESS,
    VLAN_TPIDS,
    DecodeError,
    internet_checksum,
    parse_frame,
    parse_ipv4,
    parse_udp,
)
from abng.access.packetio import PacketIO
from abng.access.pppoe.codec import DecodeError as PPPoEDecodeError
from abng.access.pppoe.codec import decode_session
from abng.lab.dhcp_client import DhcpBound, DhcpClient, DhcpFailed, DhcpLost
from abng.lab.pppoe_client import PppoeDown, PppoeFailed, PppoeSubscriber, PppoeUp
from abng.lab.stats import Stats
from abng.lab.subscribers import SubscriberSpec, parse_echo_reply, tag_stack_bytes
from abng.ppp.client import ClientConfig

log = logging.getLogger(__name__)

_DISC, _SESS, _IP = (struct.pack("!H", t) for t in (ETH_P_PPPOE_DISC, ETH_P_PPPOE_SESS, ETH_P_IP))


def _dhcp_reply(buf: bytes, o: int, n: int) -> bytes | None:
    """The UDP payload of ``buf[o:n]`` when it is a plain IPv4/UDP datagram to port 68 that
    parse_ipv4 + parse_udp(verify_checksum=False) accept (no IP options, header checksum right,
    not a fragment, lengths consistent); None for anything else, left to those parsers."""
    if n - o < 28 or buf[o] != 0x45 or buf[o + 9] != 17 or buf[o + 22] != 0 or buf[o + 23] != 68:
        return None
    total = buf[o + 2] << 8 | buf[o + 3]
    if total < 28 or total > n - o or buf[o + 6] & 0x3F or buf[o + 7]:
        return None
    length = buf[o + 24] << 8 | buf[o + 25]
    if length < 8 or length > total - 20 or internet_checksum(buf[o : o + 20]) != 0:
        return None
    return buf[o + 28 : o + 20 + length]


def _no_time() -> float:
    return 0.0  # an engine neither started nor given a clock


Machine = PppoeSubscriber | DhcpClient


class Subscriber:
    """One emulated subscriber: its spec, its machine while dialled, and its frame-path constants.

    A ``__slots__`` class with a hand-written ``__init__`` (this used to be a dataclass: its
    generated ``__init__`` and ``__post_init__`` cost a call layer and a ``join`` each)."""

    __slots__ = (
        "asked_down",
        "deadline",
        "echo_received",
        "echo_sent",
        "gateway_mac",
        "head_disc",
        "head_ip",
        "head_sess",
        "header_len",
        "history",
        "io",
        "ip",
        "mac",
        "machine",
        "pppoe",
        "reconnect_at",
        "sid",
        "spec",
        "started_at",
        "state",
        "tag_bytes",
        "up_at",
        "want_up",
    )

    def __init__(
        self,
        sid: int,
        spec: SubscriberSpec,
        io: PacketIO,
        machine: Machine | None = None,
        state: str = "idle",  # idle queued connecting up down removed
    ) -> None:
        self.sid, self.spec, self.io, self.machine, self.state = sid, spec, io, machine, state
        self.started_at = self.up_at = 0.0
        self.deadline: float | None = None
        self.ip = 0
        self.gateway_mac = BROADCAST_MAC
        self.want_up, self.asked_down = True, False
        self.echo_sent = self.echo_received = 0
        self.reconnect_at: float | None = None
        self.history: list[str] = []
        self.pppoe = spec.kind == "pppoe"
        # Per-subscriber constants of the frame path.
        self.mac = mac = spec.mac
        self.tag_bytes = tags = tag_stack_bytes(spec.tags)  # the VLAN tag stack as on the wire
        self.header_len = 12 + len(tags)  # where the EtherType is
        src = mac + tags  # source MAC + tags + EtherType, per type
        self.head_disc, self.head_sess, self.head_ip = src + _DISC, src + _SESS, src + _IP

    def __repr__(self) -> str:
        return f"Subscriber(sid={self.sid}, spec={self.spec!r}, state={self.state!r})"

    @property
    def ip_text(self) -> str:
        return str(ipaddress.IPv4Address(self.ip)) if self.ip else ""


class Engine:
    def __init__(
        self,
        ios: list[PacketIO],
        *,
        rate: float = 100.0,
        outstanding: int = 800,
        reconnect: bool = True,
        reconnect_delay: float = 2.0,
        lcp_echo_interval: float = 0.0,
        timeout: float = 2.0,
        restart_interval: float = 3.0,
        seed: int = 1,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not ios:
            raise ValueError("the engine needs at least one interface")
        self.ios = ios
        self.rate = rate
        self.outstanding = outstanding
        self.reconnect = reconnect
        self.reconnect_delay = reconnect_delay
        self.lcp_echo_interval = lcp_echo_interval
        self.timeout = timeout  # PADI/PADR and DHCP retransmission (doubles each try)
        self.restart_interval = restart_interval  # LCP/IPCP/PAP (RFC 1661 default 3 s)
        self.stats = Stats()
        self.subs: dict[int, Subscriber] = {}
        self.by_mac: dict[bytes, Subscriber] = {}
        self._rng = random.Random(seed)
        self._next_sid = 1
        self._queue: deque[int] = deque()
        self._heap: list[tuple[float, int]] = []
        self._connecting = 0
        self._tokens = 0.0
        self._refill_at = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._armed = math.inf  # when the timer handle fires (inf: none armed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._time: Callable[[], float] = clock if clock is not None else _no_time
        self.frame_errors = 0

    # --- lifecycle -------------------------------------------------------------------------------
    def now(self) -> float:
        return self._time()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._time is _no_time:
            # BaseEventLoop.time() is time.monotonic(): call that directly (one Python frame
            # less on every frame and timer); any other loop's own clock is kept.
            loop_time = getattr(type(self._loop), "time", None)
            self._time = time.monotonic if loop_time is asyncio.BaseEventLoop.time else self._loop.time
        self._refill_at = self.now()
        for io in self.ios:
            io.start(self._on_frame)
        self._arm()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        for io in self.ios:
            io.stop()

    # --- population ------------------------------------------------------------------------------
    def add(self, specs: list[SubscriberSpec], io_index: int = 0) -> list[int]:
        ids = []
        io = self.ios[io_index % len(self.ios)]
        subs, by_mac, requested, queue = self.subs, self.by_mac, self.stats.requested, self._queue
        for spec in specs:
            sid = self._next_sid
            sub = Subscriber(sid, spec, io, None, "queued")  # = _enqueue(sub), inline
            if sub.mac in by_mac:
                raise ValueError(f"subscriber {spec.kind} {spec.index} already exists")
            self._next_sid = sid + 1
            subs[sid] = sub
            by_mac[sub.mac] = sub
            requested[spec.kind] += 1
            queue.append(sid)
            ids.append(sid)
        self._arm()
        return ids

    def remove(self, ids: list[int]) -> int:
        done = 0
        for sid in ids:
            sub = self.subs.get(sid)
            if sub is None:
                continue
            self._hangup(sub, asked=True)
            sub.state = "removed"
            self.stats.requested[sub.spec.kind] -= 1
            del self.subs[sid]
            self.by_mac.pop(sub.mac, None)
            done += 1
        self._arm()
        return done

    def flap(self, ids: list[int], down_for: float = 2.0) -> int:
        """Hang up these subscribers now and dial again ``down_for`` seconds later."""
        n, now = 0, self.now()
        for sid in ids:
            sub = self.subs.get(sid)
            if sub is None or sub.state != "up":
                continue
            self._hangup(sub, asked=True)
            sub.reconnect_at = now + down_for
            self._push(sub, sub.reconnect_at)
            n += 1
        self._arm()
        return n

    def _hangup(self, sub: Subscriber, *, asked: bool) -> None:
        now, m = self.now(), sub.machine
        if isinstance(m, PppoeSubscriber):
            m.terminate(now)
            m.take_events()
        elif isinstance(m, DhcpClient):
            m.release(now)
        if m is not None:
            self._flush(sub)
        if sub.state == "up":
            self.stats.down(sub.spec.kind, "admin", asked=asked)
        elif sub.state == "connecting":
            self._connecting -= 1
        sub.machine, sub.state, sub.ip, sub.deadline = None, "down", 0, None

    # --- setup pacing ----------------------------------------------------------------------------
    def _enqueue(self, sub: Subscriber) -> None:
        sub.state = "queued"
        self._queue.append(sub.sid)

    def _pump_queue(self, now: float) -> None:
        self._tokens = min(max(self.rate, 1.0), self._tokens + (now - self._refill_at) * self.rate)
        self._refill_at = now
        while self._queue and self._tokens >= 1.0 and self._connecting < self.outstanding:
            sub = self.subs.get(self._queue.popleft())
            if sub is None or sub.state != "queued":
                continue
            self._tokens -= 1.0
            self._dial(sub, now)

    def _dial(self, sub: Subscriber, now: float) -> None:
        spec = sub.spec
        if sub.pppoe:
            cfg = ClientConfig(
                spec.username,
                spec.password,
                auth_protocols=(spec.auth,),
                lcp_echo_interval=self.lcp_echo_interval,
                restart_interval=self.restart_interval,
            )
            machine: Machine = PppoeSubscriber(
                cfg, self._rng.randbytes, spec.index.to_bytes(4, "big"), discovery_timeout=self.timeout
            )
        else:
            machine = DhcpClient(
                sub.mac, self._rng.getrandbits(32), hostname=f"lab{spec.index}", timeout=self.timeout
            )
        sub.machine, sub.state, sub.started_at = machine, "connecting", now
        sub.reconnect_at = None
        self._connecting += 1
        self.stats.started(now)
        machine.start(now)
        self._after(sub, now)

    # --- frames ----------------------------------------------------------------------------------
    def _on_frame(self, frame: bytes, ifindex: int) -> None:
        sub = self.by_mac.get(frame[0:6])
        if sub is None:
            return
        m = sub.machine
        if m is None:
            return
        now = self._time()
        # Fast path: the frame carries this subscriber's own tag stack (what the BNG sends back),
        # so the EtherType sits at a known offset; anything else goes through parse_frame.
        # Either way the payload is buf[o:] (not copied out on the session path).
        hl = sub.header_len
        n = len(frame)
        if (
            n >= hl + 2
            and frame.startswith(sub.tag_bytes, 12)  # = frame[12:hl] == tag_bytes, no copy
            and (etype := frame[hl] << 8 | frame[hl + 1]) not in VLAN_TPIDS
        ):
            buf, o = frame, hl + 2
        else:
            try:
                eth = parse_frame(frame)
            except DecodeError:
                self.frame_errors += 1
                return
            etype, buf, o, n = eth.ethertype, eth.payload, 0, len(eth.payload)
        try:
            if isinstance(m, PppoeSubscriber):
                if etype == ETH_P_PPPOE_SESS:
                    # RFC 2516 §4 session header, checked as abng.access.pppoe.codec.decode does;
                    # anything unusual is left to decode_session (and its DecodeError).
                    if (
                        n - o >= 6
                        and buf[o] == 0x11
                        and buf[o + 1] == 0
                        and o + 6 + (length := buf[o + 4] << 8 | buf[o + 5]) <= n
                    ):
                        session_id, ppp = buf[o + 2] << 8 | buf[o + 3], buf[o + 6 : o + 6 + length]
                    else:
                        session_id, ppp = decode_session(buf[o:])
                    if session_id == m.session_id:
                        if m.out:  # (never, between frames) queued output goes first
                            m.receive_session(ppp, now)
                        else:  # the replies go out as whole frames at once, not through m.out
                            m.receive_session_sending(ppp, now, sub.head_sess, sub.io.send)
                        if m.received_ip:
                            for packet in m.received_ip:
                                self._ip_in(sub, packet)
                            m.received_ip.clear()
                elif etype == ETH_P_PPPOE_DISC:
                    m.receive_discovery(buf[o:], frame[6:12], now)
            elif etype == ETH_P_IP:
                dhcp = _dhcp_reply(buf, o, n)  # the usual OFFER/ACK: no Ipv4Packet/UdpDatagram
                if dhcp is not None:
                    m.receive(parse_message(dhcp), frame[6:12], now)
                else:
                    ip = parse_ipv4(buf[o:])
                    if ip.protocol == 17:
                        udp = parse_udp(ip, verify_checksum=False)
                        if udp.dst_port == 68:
                            m.receive(parse_message(udp.payload), frame[6:12], now)
                    else:
                        self._ip_in(sub, buf[o:])
        except (DecodeError, PPPoEDecodeError):
            self.frame_errors += 1
            return
        self._after(sub, now)
        if self._queue and self._connecting < self.outstanding:
            self._pump_queue(now)  # a setup finished: the next one may start now
            self._arm()
        elif self._heap and (self._handle is None or self._heap[0][0] < self._armed):
            self._arm()  # else _arm would find the timer armed early enough: nothing to do

    def _ip_in(self, sub: Subscriber, packet: bytes) -> None:
        if parse_echo_reply(packet) is not None:
            sub.echo_received += 1

    def send_ip(self, sub: Subscriber, packet: bytes) -> bool:
        """Send an IPv4 datagram from an established subscriber (lab traffic)."""
        m = sub.machine
        if sub.state != "up" or m is None:
            return False
        if isinstance(m, PppoeSubscriber):
            m.send_ip(packet)
            self._flush(sub)
        else:
            sub.io.send(sub.gateway_mac + sub.head_ip + packet)
        return True

    def _flush(self, sub: Subscriber) -> None:
        m = sub.machine
        if m is None or not m.out:  # checked before take_output builds a new list
            return
        if isinstance(m, PppoeSubscriber):
            send, disc, sess = sub.io.send, sub.head_disc, sub.head_sess
            for dst, etype, payload in m.take_output():  # = build_frame(dst, mac, tags, etype, payload)
                send(dst + (sess if etype == ETH_P_PPPOE_SESS else disc) + payload)
        else:
            for o in m.take_output():
                sub.io.send(o.dst_mac + sub.head_ip + ipv4_udp(o.src_ip, o.dst_ip, 68, 67, o.payload))

    # --- events ----------------------------------------------------------------------------------
    def _after(self, sub: Subscriber, now: float) -> None:
        """Send what the machine produced, handle its events, re-file its deadline."""
        m = sub.machine
        if m is None:
            return
        if m.out:
            self._flush(sub)
        if m.events:  # checked before take_events builds a new list
            self._events(sub, m, now)
            if sub.machine is None:
                return  # lost: _lost re-filed it
        # The heap keeps one entry per subscriber at its EARLIEST known deadline: a deadline that
        # moves later (the usual case: each packet sent restarts a timer) is re-filed only when
        # that entry comes due (run_timers), instead of piling up stale heap entries.
        nd = m.next_deadline()
        if nd is not None and (sub.deadline is None or nd < sub.deadline):
            self._push(sub, nd)

    def _events(self, sub: Subscriber, m: Machine, now: float) -> None:
        for ev in m.take_events():
            if isinstance(ev, PppoeUp | DhcpBound):
                if isinstance(ev, DhcpBound):
                    sub.gateway_mac = ev.server_mac
                    if ev.renewed:
                        self.stats.renewals += 1
                        continue
                    sub.ip = ev.ip
                else:
                    sub.ip = int.from_bytes(socket.inet_aton(ev.ip), "big")
                if sub.state == "connecting":
                    self._connecting -= 1
                sub.state, sub.up_at = "up", now
                self.stats.up(sub.spec.kind, now, now - sub.started_at)
            elif isinstance(ev, PppoeDown | DhcpLost | PppoeFailed | DhcpFailed):
                self._lost(sub, ev.reason, now, was_up=isinstance(ev, PppoeDown | DhcpLost))
                return

    def _lost(self, sub: Subscriber, reason: str, now: float, *, was_up: bool) -> None:
        if was_up and sub.state == "up":
            self.stats.down(sub.spec.kind, reason, asked=False)
        else:
            if sub.state == "connecting":
                self._connecting -= 1
            self.stats.failed(reason)
        sub.history.append(reason)
        del sub.history[:-8]
        sub.machine, sub.state, sub.ip, sub.deadline = None, "down", 0, None
        if self.reconnect:
            sub.reconnect_at = now + self.reconnect_delay
            self._push(sub, sub.reconnect_at)

    # --- timers ----------------------------------------------------------------------------------
    def _push(self, sub: Subscriber, when: float) -> None:
        sub.deadline = when
        heapq.heappush(self._heap, (when, sub.sid))

    def _arm(self) -> None:
        if self._loop is None:
            return
        when = self._heap[0][0] if self._heap else None
        if self._queue and self._connecting < self.outstanding:  # busy slots: a finished setup pumps
            soon = self.now() + (1.0 / max(self.rate, 1.0))
            when = soon if when is None else min(when, soon)
        if when is None or (self._armed <= when and self._handle is not None):
            return
        if self._handle is not None:
            self._handle.cancel()
        self._armed = when
        self._handle = self._loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._handle, self._armed = None, math.inf
        self.run_timers(self.now())
        self._arm()

    def run_timers(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            when, sid = heapq.heappop(heap)
            sub = self.subs.get(sid)
            if sub is None or sub.deadline != when:
                continue  # stale entry
            sub.deadline = None
            m = sub.machine
            if m is None:
                if sub.reconnect_at is not None and sub.state == "down":
                    self._enqueue(sub)
                continue
            nd = m.next_deadline()
            if nd is None:
                continue  # the machine's timer was stopped since
            if nd > now:
                self._push(sub, nd)  # moved later since it was filed
                continue
            m.handle_timer(now)
            self._after(sub, now)
        self._pump_queue(now)
