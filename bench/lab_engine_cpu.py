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


class MemIO(PacketIO):
    """A PacketIO without a socket: sent frames pile up in ``outbox``."""

    def __init__(self) -> None:
        super().__init__("mem0")
        self.outbox: list[bytes] = []
        self.handler: FrameHandler | None = None

    def send(self, frame: bytes) -> bool:
        self.outbox.append(frame)
        return True

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


async def run_once(
    kind: str, n: int, outstanding: int, profile: cProfile.Profile | None
) -> tuple[float, int]:
    """(engine CPU us per session, frames handed to the engine)."""
    io = MemIO()
    engine = Engine([io], rate=1e9, outstanding=outstanding, timeout=2.0, seed=3)
    responder: PppoeResponder | DhcpResponder = PppoeResponder() if kind == "pppoe" else DhcpResponder()
    specs = layout(kind, n, "qinq")
    loop = asyncio.get_running_loop()
    engine.start()
    handler = io.handler
    assert handler is not None
    delivered = 0
    responder_cpu = 0.0
    if profile is not None:
        profile.enable()
    cpu0 = time.process_time()
    engine.add(specs)
    while engine.stats.total_established < n:
        frames, io.outbox = io.outbox, []
        t = time.process_time()
        if profile is not None:
            profile.disable()
        replies = responder.answer(frames, loop.time())
        if profile is not None:
            profile.enable()
        responder_cpu += time.process_time() - t
        for i in range(0, len(replies), BATCH):
            for frame in replies[i : i + BATCH]:
                handler(frame, 1)
            delivered += min(BATCH, len(replies) - i)
        await asyncio.sleep(0 if (replies or io.outbox) else 0.0005)
    total = time.process_time() - cpu0
    if profile is not None:
        profile.disable()
    engine.close()
    if engine.stats.attempts != n or engine.frame_errors:
        print(
            f"warning: {engine.stats.attempts} attempts, {engine.frame_errors} frame errors", file=sys.stderr
        )
    return (total - responder_cpu) / n * 1e6, delivered


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pppoe", type=int, default=3000)
    p.add_argument("--dhcp", type=int, default=3000)
    p.add_argument("--outstanding", type=int, default=50)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--profile", action="store_true", help="cProfile of the engine side (top 30)")
    args = p.parse_args()
    for kind, n in (("pppoe", args.pppoe), ("dhcp", args.dhcp)):
        if n <= 0:
            continue
        prof = cProfile.Profile() if args.profile else None
        runs = [asyncio.run(run_once(kind, n, args.outstanding, prof)) for _ in range(args.repeat)]
        us = [r[0] for r in runs]
        print(
            f"{kind}: engine CPU {statistics.median(us):.0f} us/session (median of {len(us)}: "
            f"{', '.join(f'{u:.0f}' for u in us)}), {runs[0][1] / n:.1f} frames in per session"
        )
        if prof is not None:
            pstats.Stats(prof).sort_stats("tottime").print_stats(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
