"""Throughput of the sans-I/O PPPoE/PPP cores on one core (no I/O involved).

    .venv/bin/python bench/bench_ppp.py

Measures: PADI->PADO per second, PADR->PADS per second, complete PPP establishments per second
(LCP + PAP + IPCP between our PPPSession and PPPClient, in memory), and LCP echo answers per second,
all per second of process CPU time (``time.process_time``, not wall time: the machine is shared).
"""

from __future__ import annotations

import random
import struct
import time

from abng.access.pppoe.codec import Code, PPPoEPacket, Tag, decode
from abng.access.pppoe.discovery import DiscoveryConfig, DiscoveryServer
from abng.ppp.client import ClientConfig, PPPClient
from abng.ppp.codec import PROTO_LCP, control_frame
from abng.ppp.events import AuthRequest
from abng.ppp.session import PPPConfig, PPPSession


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s"


def bench_discovery(n: int = 50_000) -> None:
    cfg = DiscoveryConfig(ac_name="bench", cookie_secret=b"b" * 32, padi_rate_per_mac=0, padi_rate_global=0)
    srv = DiscoveryServer(cfg)
    padi = PPPoEPacket(Code.PADI, 0, ((Tag.SERVICE_NAME, b""),)).encode()
    macs = [bytes([2, 0, 0, i >> 16 & 0xFF, i >> 8 & 0xFF, i & 0xFF]) for i in range(n)]
    t = time.process_time()
    pados = [srv.handle(padi, mac, (100, 7), 0.0).reply for mac in macs]
    print("PADI -> PADO", rate(n, time.process_time() - t))
    padrs = []
    for reply in pados:
        assert reply is not None
        c = decode(reply).tag(Tag.AC_COOKIE) or b""
        padrs.append(PPPoEPacket(Code.PADR, 0, ((Tag.SERVICE_NAME, b""), (Tag.AC_COOKIE, c))).encode())
    t = time.process_time()
    made = sum(
        1 for mac, padr in zip(macs, padrs, strict=True) if srv.handle(padr, mac, (100, 7), 1.0).new_session
    )
    print("PADR -> PADS (session created)", rate(made, time.process_time() - t))


def bench_establish(n: int = 2_000) -> None:
    r = random.Random(1)
    server_cfg = PPPConfig(gateway_ip="100.64.0.1")
    client_cfg = ClientConfig(username="user1@example.net", password="test")
    t = time.process_time()
    for _ in range(n):
        s = PPPSession(server_cfg, r.randbytes, 0.0)
        c = PPPClient(client_cfg, r.randbytes, 0.0)
        to_s, to_c = c.start(0.0), s.start(0.0)
        while to_s or to_c:
            for p in to_s:
                s.receive(p, 0.0)
            for p in to_c:
                c.receive(p, 0.0)
            for ev in s.take_events():
                if isinstance(ev, AuthRequest):
                    s.auth_result(True, "100.64.0.9", ("192.0.2.53",), "", 0.0)
            to_s, to_c = c.take_output(), s.take_output()
        assert s.is_up and c.is_up
    print("PPP establishments (LCP+PAP+IPCP, both sides)", rate(n, time.process_time() - t))
    echo = control_frame(PROTO_LCP, 9, 1, struct.pack("!I", 0x12345678))
    m = 200_000
    t = time.process_time()
    for _ in range(m):
        s.receive(echo, 0.0)
        s.take_output()
    print("LCP Echo-Request -> Echo-Reply", rate(m, time.process_time() - t))


if __name__ == "__main__":
    bench_discovery()
    bench_establish()
