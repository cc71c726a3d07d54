"""The subscriber engine's frame path, in memory: abngd's own server machines answer, a fake clock.

Covers the fast paths (own tag stack, inline PPPoE session header) and their fall-backs (other tags,
malformed headers), retransmission timing through the engine's timer heap, and setup pacing.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest

from abng.access.dhcp.config import DhcpServerConfig, ip
from abng.access.dhcp.events import AuthorizeRequest
from abng.access.dhcp.pool import Ipv4Pool
from abng.access.dhcp.server import DhcpServer
from abng.access.frames import (
    ETH_P_IP,
    ETH_P_PPPOE_DISC,
    ETH_P_PPPOE_SESS,
    build_frame,
    parse_frame,
)
from abng.access.packetio import FrameHandler, PacketIO
from abng.access.pppoe.codec import Code, decode, session_frame
from abng.access.pppoe.discovery import DiscoveryConfig, DiscoveryServer
from abng.lab.engine import Engine
from abng.lab.pppoe_client import PppoeSubscriber
from abng.lab.subscribers import layout
from abng.ppp.events import AuthRequest
from abng.ppp.session import PPPConfig, PPPSession

AC = bytes.fromhex("0a95bc98d0b6")
Mangle = Callable[[bytes], bytes]


class MemIO(PacketIO):
    """A PacketIO without a socket: what the engine sends is kept in ``sent``."""

    def __init__(self) -> None:
        super().__init__("mem0")
        self.sent: list[bytes] = []

    def send(self, frame: bytes) -> bool:
        self.sent.append(frame)
        return True

    def start(self, on_frame: FrameHandler, loop: asyncio.AbstractEventLoop | None = None) -> None:
        raise AssertionError("the tests drive the engine by hand")


class Bng:
    """abngd's PPPoE discovery + PPP and DHCP server machines; PAP and DHCP AAA accepted at once."""

    def __init__(self) -> None:
        self.disc = DiscoveryServer(
            DiscoveryConfig(ac_name="bng", cookie_secret=b"s" * 32, padi_rate_per_mac=0, padi_rate_global=0)
        )
        self.ppp: dict[int, PPPSession] = {}
        cfg = DhcpServerConfig(
            server_mac=AC, gateway=ip("100.64.0.1"), default_pool="p", contain_errors=False
        )
        self.dhcp = DhcpServer(cfg, [Ipv4Pool.from_range("p", "100.64.0.10", "100.64.0.99")])
        self.rng = random.Random(5).randbytes
        self.next_ip = 10

    def answer(self, frame: bytes, now: float) -> list[bytes]:
        eth = parse_frame(frame)
        out: list[tuple[int, bytes]] = []
        if eth.ethertype == ETH_P_PPPOE_DISC:
            res = self.disc.handle(eth.payload, eth.src, eth.vids, now, eth.dst)
            if res.reply is not None:
                out.append((ETH_P_PPPOE_DISC, res.reply))
            if res.new_session is not None:
                sid = res.new_session.session_id
                s = self.ppp[sid] = PPPSession(PPPConfig(gateway_ip="100.64.1.1"), self.rng, now)
                out += [(ETH_P_PPPOE_SESS, session_frame(sid, p)) for p in s.start(now)]
        elif eth.ethertype == ETH_P_PPPOE_SESS:
            pkt = decode(eth.payload)
            s = self.ppp[pkt.session_id]
            s.receive(pkt.payload, now)
            for ev in s.take_events():
                if isinstance(ev, AuthRequest):
                    self.next_ip += 1
                    s.auth_result(True, f"100.64.1.{self.next_ip}", (), "", now)
            out += [(ETH_P_PPPOE_SESS, session_frame(pkt.session_id, p)) for p in s.take_output()]
        elif eth.ethertype == ETH_P_IP:
            self.dhcp.handle_frame(frame, "trunk0", now)
            for dev in self.dhcp.events():
                if isinstance(dev, AuthorizeRequest):
                    self.dhcp.authorized(dev.key, True, now)
            return [
                build_frame(t.dst_mac, t.src_mac, t.tags, ETH_P_IP, t.ip_packet())
                for t in self.dhcp.transmits()
            ]
        return [build_frame(eth.src, AC, eth.tags, etype, payload) for etype, payload in out]


class Rig:
    def __init__(self, mangle: Mangle | None = None, **engine_kw: float) -> None:
        self.now = 0.0
        self.io = MemIO()
        self.engine = Engine([self.io], clock=lambda: self.now, **engine_kw)  # type: ignore[arg-type]
        self.bng = Bng()
        self.mangle = mangle
        self.log: list[tuple[float, bytes]] = []  # every frame the engine sent, with the time

    def exchange(self, rounds: int = 30) -> None:
        """Let the BNG answer whatever the engine sent, until nothing moves."""
        for _ in range(rounds):
            sent, self.io.sent = self.io.sent, []
            if not sent:
                return
            self.log += [(self.now, f) for f in sent]
            for frame in sent:
                for reply in self.bng.answer(frame, self.now):
                    self.engine._on_frame(self.mangle(reply) if self.mangle else reply, 1)

    def tick(self, until: float, step: float = 0.5) -> None:
        while self.now < until:
            self.now = round(self.now + step, 6)
            self.engine.run_timers(self.now)
            self.exchange()


def outer_pcp(frame: bytes) -> bytes:
    """The BNG marks its frames with priority 6 in the outer tag (the engine must still match)."""
    return frame[:14] + bytes((frame[14] | 0xC0,)) + frame[15:]


@pytest.mark.parametrize(
    ("vlan_mode", "mangle"),
    [("qinq", None), ("dot1q", None), ("untagged", None), ("qinq", outer_pcp), ("dot1q", outer_pcp)],
    ids=["qinq-own-tags", "dot1q-own-tags", "untagged", "qinq-other-tci", "dot1q-other-tci"],
)
def test_pppoe_and_dhcp_come_up(vlan_mode: str, mangle: Mangle | None) -> None:
    rig = Rig(mangle)
    e = rig.engine
    e.add(layout("pppoe", 3, vlan_mode) + layout("dhcp", 3, vlan_mode))
    rig.tick(1.0)
    assert e.stats.total_established == 6 and e.frame_errors == 0
    for sub in e.subs.values():
        assert sub.state == "up" and sub.ip and sub.ip_text.startswith("100.64.")
        if sub.spec.kind == "dhcp":
            assert sub.gateway_mac == AC
    # every frame the engine sent is what build_frame would make for the subscriber
    for _, frame in rig.log:
        eth = parse_frame(frame)
        sub = e.by_mac[eth.src]
        assert eth.tags == sub.spec.tags
        assert build_frame(eth.dst, sub.spec.mac, sub.spec.tags, eth.ethertype, eth.payload) == frame
    assert e.stats.report()["latency"]["max"] < 1.0
    # one timer entry per subscriber at most (deadlines that move later are re-filed when due)
    assert len(e._heap) <= len(e.subs)


def test_session_frames_that_are_garbage_are_counted_not_fatal() -> None:
    rig = Rig()
    e = rig.engine
    (sid,) = e.add(layout("pppoe", 1, "qinq"))
    rig.tick(1.0)
    sub = e.subs[sid]
    assert sub.state == "up"
    m = sub.machine
    assert isinstance(m, PppoeSubscriber)
    head = build_frame(sub.spec.mac, AC, sub.spec.tags, ETH_P_PPPOE_SESS, b"")
    echo = b"\xc0\x21\x09\x01\x00\x08\x00\x00\x00\x00"  # LCP Echo-Request, magic 0
    good = session_frame(m.session_id, echo)
    bad = [
        good[:5],  # shorter than the PPPoE header
        b"\x12" + good[1:],  # version 1, type 2
        good[:4] + b"\x00\xff" + good[6:],  # length past the frame
        good[:1] + b"\x09" + good[2:],  # a discovery code on the session EtherType
        b"",
    ]
    for payload in bad:
        e._on_frame(head + payload, 1)
    e._on_frame(sub.spec.mac[:5], 1)  # not even a MAC: unknown subscriber
    e._on_frame(sub.spec.mac + AC, 1)  # no EtherType at all
    assert e.frame_errors == len(bad) + 1
    rig.io.sent.clear()
    e._on_frame(head + session_frame(m.session_id ^ 1, echo), 1)  # another session: ignored
    assert rig.io.sent == [] and e.frame_errors == len(bad) + 1
    e._on_frame(head + good + b"\x00" * 20, 1)  # Ethernet padding after the PPPoE length
    (reply,) = rig.io.sent
    assert reply[len(head) + 6 : len(head) + 8] == b"\xc0\x21" and reply[len(head) + 8] == 10  # Echo-Reply
    assert sub.state == "up"


def test_discovery_retransmits_double_and_the_engine_redials() -> None:
    rig = Rig(timeout=2.0, reconnect_delay=2.0)
    e = rig.engine
    rig.bng.answer = lambda frame, now: []  # type: ignore[method-assign]  # a BNG that never answers
    (sid,) = e.add(layout("pppoe", 1, "dot1q"))
    rig.tick(0.5)
    rig.tick(70.0)
    padis = [t for t, f in rig.log if decode(parse_frame(f).payload).code == Code.PADI]
    assert padis[:5] == [0.5, 2.5, 6.5, 14.5, 30.5]  # 2 s doubling (RFC 2516 §5), 5 tries
    assert e.stats.timeouts["padi_timeout"] == 1
    assert e.subs[sid].history == ["padi_timeout"]
    assert padis[5] == 64.5  # failed at 62.5 (after 32 s), dialled again 2 s later


def test_ppp_restart_timer_is_3s_through_the_engine() -> None:
    rig = Rig(restart_interval=3.0)
    e = rig.engine
    real = rig.bng.answer

    def no_lcp_answers(frame: bytes, now: float) -> list[bytes]:
        replies = real(frame, now)
        return [r for r in replies if parse_frame(r).ethertype == ETH_P_PPPOE_DISC]

    rig.bng.answer = no_lcp_answers  # type: ignore[method-assign]
    e.add(layout("pppoe", 1, "qinq"))
    rig.tick(10.0)
    lcp = [t for t, f in rig.log if parse_frame(f).ethertype == ETH_P_PPPOE_SESS]
    assert lcp[:4] == [0.5, 3.5, 6.5, 9.5]


def test_outstanding_limits_setups_in_flight() -> None:
    rig = Rig(outstanding=2, rate=1000.0)
    e = rig.engine
    hold: list[bytes] = []
    real = rig.bng.answer

    def slow(frame: bytes, now: float) -> list[bytes]:
        hold.append(frame)
        return []

    rig.bng.answer = slow  # type: ignore[method-assign]
    e.add(layout("dhcp", 5, "dot1q"))
    rig.tick(0.5)
    assert e.stats.attempts == 2 and sum(s.state == "connecting" for s in e.subs.values()) == 2
    rig.bng.answer = real  # type: ignore[method-assign]
    for frame in hold:
        for reply in real(frame, rig.now):
            e._on_frame(reply, 1)
    rig.exchange()
    rig.tick(3.0)
    assert e.stats.total_established == 5 and e.stats.attempts == 5
