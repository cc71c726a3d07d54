"""CPU cost of the lab subscriber engine (the load generator's side only), in process, no sockets.

    .venv/bin/python bench/lab_engine_cpu.py [--pppoe 3000] [--dhcp 3000] [--repeat 3] [--profile]

``abng.lab.engine.Engine`` runs on a real asyncio loop (its timers, ``loop.time()``) but over an
in-memory interface: what it sends is collected, answered by abngd's own server-side machines
(``DiscoveryServer`` + ``PPPSession`` with PAP accepted at once, ``DhcpServer`` with AAA accepted
at once) and the replies, VLAN tags inline as ``PacketIO.recv`` delivers them, are handed to the
engine's frame handler in batches of 64 like ``PacketIO._readable``.  The responder's CPU is timed
and subtracted: the figure is the engine's CPU microseconds per established session (setup only,
``--outstanding`` setups in flight like bench/loadgen.py).  Not included: the AF_PACKET
recvmsg/send syscalls and ``restore_frame`` of abng/access/packetio.py.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import random
import socket
import statistics
import sys
import time
from collections.abc import Callable

from abng.access.dhcp.config import DhcpServerConfig, ip
from abng.access.dhcp.events import AuthorizeRequest
from abng.access.dhcp.pool import Ipv4Pool
from abng.access.dhcp.server import DhcpServer
from abng.access.frames import (
    ETH_P_IP,
    ETH_P_PPPOE_DISC,
    ETH_P_PPPOE_SESS,
    EthernetFrame,
    build_frame,
    parse_frame,
)
from abng.access.packetio import FrameHandler, PacketIO
from abng.access.pppoe.codec import decode_session, session_frame
from abng.access.pppoe.discovery import DiscoveryConfig, DiscoveryServer
from abng.lab.engine import Engine
from abng.lab.subscribers import layout
from abng.ppp.events import AuthRequest
from abng.ppp.session import PPPConfig, PPPSession

AC_MAC = bytes.fromhex("0a95bc98d0b6")
BATCH = 64
FRAMES_IN = {"pppoe": 9, "dhcp": 2}  # frames the engine receives per session (PAP; OFFER + ACK)


class MemIO(PacketIO):
    """A PacketIO without a socket: sent frames pile up in ``outbox`` and wake ``on_output``
    once per event-loop turn (as a socket's readiness would)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_output: Callable[[], None]) -> None:
        super().__init__("mem0")
        self.outbox: list[bytes] = []
        self.handler: FrameHandler | None = None
        self._evloop = loop
        self._on_output = on_output
        self._scheduled = False

    def send(self, frame: bytes) -> bool:
        self.outbox.append(frame)
        if not self._scheduled:
            self._scheduled = True
            self._evloop.call_soon(self._wake)
        return True

    def _wake(self) -> None:
        self._scheduled = False
        self._on_output()

    def start(self, on_frame: FrameHandler, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.handler = on_frame

    def stop(self) -> None:
        self.handler = None


class PppoeResponder:
    """abngd's PPPoE discovery + PPP session machines, PAP accepted at once."""

    def __init__(self) -> None:
        cfg = DiscoveryConfig(
            ac_name="bench",
            cookie_secret=b"b" * 32,
            padi_rate_per_mac=0,
            padi_rate_global=0,
            max_sessions_per_mac=8,
        )
        self.disc = DiscoveryServer(cfg)
        self.ppp_cfg = PPPConfig(gateway_ip="100.64.0.1", auth_protocols=("pap",))
        self.rng = random.Random(7).randbytes
        self.sessions: dict[int, PPPSession] = {}
        self.next_ip = 0x64400002

    @staticmethod
    def frame(eth: EthernetFrame, sid: int, ppp: bytes) -> bytes:
        return build_frame(eth.src, AC_MAC, eth.tags, ETH_P_PPPOE_SESS, session_frame(sid, ppp))

    def answer(self, frames: list[bytes], now: float) -> list[bytes]:
        out: list[bytes] = []
        for frame in frames:
            eth = parse_frame(frame)
            if eth.ethertype == ETH_P_PPPOE_DISC:
                res = self.disc.handle(eth.payload, eth.src, eth.vids, now, eth.dst)
                if res.reply is not None:
                    out.append(build_frame(eth.src, AC_MAC, eth.tags, ETH_P_PPPOE_DISC, res.reply))
                if res.new_session is not None:
                    s = PPPSession(self.ppp_cfg, self.rng, now)
                    sid = res.new_session.session_id
                    self.sessions[sid] = s
                    for p in s.start(now):
                        out.append(
                            build_frame(eth.src, AC_MAC, eth.tags, ETH_P_PPPOE_SESS, session_frame(sid, p))
                        )
            elif eth.ethertype == ETH_P_PPPOE_SESS:
                sid, ppp = decode_session(eth.payload)
                sess = self.sessions.get(sid)
                if sess is None:
                    continue
                sess.receive(ppp, now)
                for ev in sess.take_events():
                    if isinstance(ev, AuthRequest):
                        self.next_ip += 1
                        addr = socket.inet_ntoa(self.next_ip.to_bytes(4, "big"))
                        sess.auth_result(True, addr, ("192.0.2.53",), "", now)
                for p in sess.take_output():
                    out.append(
                        build_frame(eth.src, AC_MAC, eth.tags, ETH_P_PPPOE_SESS, session_frame(sid, p))
                    )
        return out


class DhcpResponder:
    """abngd's DHCP server machine, AAA accepted at once."""

    def __init__(self) -> None:
        cfg = DhcpServerConfig(
            server_mac=AC_MAC, gateway=ip("100.64.0.1"), hostname="bng", dns=(ip("192.0.2.53"),),
            default_pool="p", lease_time=3600, contain_errors=False,
        )  # fmt: skip
        self.server = DhcpServer(cfg, [Ipv4Pool.from_range("p", "100.64.0.10", "100.64.250.250")])

    def answer(self, frames: list[bytes], now: float) -> list[bytes]:
        out: list[bytes] = []
        srv = self.server
        for frame in frames:
            srv.handle_frame(frame, "trunk0", now)
            for ev in srv.events():
                if isinstance(ev, AuthorizeRequest):
                    srv.authorized(ev.key, True, now)
            for tx in srv.transmits():
                out.append(build_frame(tx.dst_mac, tx.src_mac, tx.tags, ETH_P_IP, tx.ip_packet()))
        return out


class Wire:
    """The engine's MemIO <-> the responder, replies delivered ``delay`` seconds later in batches
    of 64 (PacketIO._readable); the responder's CPU is timed (and kept out of the profile)."""

    def __init__(self, kind: str, n: int, delay: float, profile: cProfile.Profile | None) -> None:
        self.loop = asyncio.get_running_loop()
        self.io = MemIO(self.loop, self.pump)
        self.responder: PppoeResponder | DhcpResponder = (
            PppoeResponder() if kind == "pppoe" else DhcpResponder()
        )
        self.n, self.delay, self.profile = n, delay, profile
        self.responder_cpu = 0.0
        self.delivered = 0
        self.done: asyncio.Future[None] = self.loop.create_future()
        self.engine: Engine | None = None

    def pump(self) -> None:
        frames, self.io.outbox = self.io.outbox, []
        if self.profile is not None:
            self.profile.disable()
        t = time.process_time()
        replies = self.responder.answer(frames, self.loop.time())
        self.responder_cpu += time.process_time() - t
        if self.profile is not None:
            self.profile.enable()
        if replies:
            self.loop.call_later(self.delay, self.deliver, replies)

    def deliver(self, replies: list[bytes]) -> None:
        handler, engine = self.io.handler, self.engine
        assert handler is not None and engine is not None
        for i in range(0, len(replies), BATCH):
            for frame in replies[i : i + BATCH]:
                handler(frame, 1)
        self.delivered += len(replies)
        if engine.stats.total_established >= self.n and not self.done.done():
            self.done.set_result(None)


async def run_once(kind: str, n: int, args: argparse.Namespace, profile: cProfile.Profile | None) -> float:
    """The engine's CPU microseconds per established session."""
    wire = Wire(kind, n, args.delay / 1000, profile)
    engine = Engine([wire.io], rate=args.rate, outstanding=args.outstanding, timeout=2.0, seed=3)
    wire.engine = engine
    specs = layout(kind, n, "qinq")
    engine.start()
    if profile is not None:
        profile.enable()
    cpu0 = time.process_time()
    engine.add(specs)
    await wire.done
    total = time.process_time() - cpu0
    if profile is not None:
        profile.disable()
    engine.close()
    if engine.stats.attempts != n or engine.frame_errors or wire.delivered != n * FRAMES_IN[kind]:
        print(f"warning: {engine.stats.attempts} attempts, {engine.frame_errors} frame errors, "
              f"{wire.delivered} frames in", file=sys.stderr)  # fmt: skip
    return (total - wire.responder_cpu) / n * 1e6


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pppoe", type=int, default=3000)
    p.add_argument("--dhcp", type=int, default=3000)
    p.add_argument("--outstanding", type=int, default=50, help="setups in flight (as loadgen)")
    p.add_argument("--rate", type=float, default=2000.0, help="setups started per second (as loadgen)")
    p.add_argument("--delay", type=float, default=2.0, help="ms before each batch of replies arrives")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--profile", action="store_true", help="cProfile of the engine side (top 30)")
    args = p.parse_args()
    for kind, n in (("pppoe", args.pppoe), ("dhcp", args.dhcp)):
        if n <= 0:
            continue
        prof = cProfile.Profile(time.process_time) if args.profile else None
        us = [asyncio.run(run_once(kind, n, args, prof)) for _ in range(args.repeat)]
        print(
            f"{kind}: engine CPU {statistics.median(us):.0f} us/session (median of {len(us)}: "
            f"{', '.join(f'{u:.0f}' for u in us)}; rate {args.rate:.0f}/s, {args.outstanding} outstanding, "
            f"replies after {args.delay} ms)"
        )
        if prof is not None:
            pstats.Stats(prof).sort_stats("tottime").print_stats(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
