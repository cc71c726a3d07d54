"""DHCP server core throughput: full DORA for N clients, then renew all, then release all.

Run: .venv/bin/python bench/bench_dhcp.py [N]
"""

from __future__ import annotations

import sys
import time

from abng.access.dhcp.codec import build_message
from abng.access.dhcp.config import DhcpServerConfig, ip
from abng.access.dhcp.events import AuthorizeRequest
from abng.access.dhcp.options import MessageType, Opt, enc_ip
from abng.access.dhcp.pool import Ipv4Pool
from abng.access.dhcp.server import DhcpServer
from abng.access.frames import ETH_P_IP, TPID_8021AD, TPID_8021Q, VlanTag, build_frame, build_ipv4_udp

GW = ip("100.64.0.1")
SRV = bytes.fromhex("0a0000000001")


def frame(mac: bytes, mtype: MessageType, requested: int = 0, ciaddr: int = 0) -> bytes:
    opts = [(Opt.MESSAGE_TYPE, bytes([mtype]))]
    if requested:
        opts += [(Opt.REQUESTED_IP, enc_ip(requested)), (Opt.SERVER_ID, enc_ip(GW))]
    payload = build_message(op=1, xid=1, chaddr=mac, ciaddr=ciaddr, options=opts)
    tags = (VlanTag(TPID_8021AD, 111), VlanTag(TPID_8021Q, 500))
    return build_frame(b"\xff" * 6, mac, tags, ETH_P_IP, build_ipv4_udp(ciaddr, 0xFFFFFFFF, 68, 67, payload))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    cfg = DhcpServerConfig(server_mac=SRV, gateway=GW, default_pool="p", max_pending_auth=n)
    server = DhcpServer(cfg, [Ipv4Pool.from_network("p", "100.64.0.0/10", gateway="100.64.0.1")])
    macs = [(0x020000000000 + i).to_bytes(6, "big") for i in range(n)]
    discovers = [frame(m, MessageType.DISCOVER) for m in macs]
    t0 = time.perf_counter()
    for f in discovers:
        server.handle_frame(f, "trunk0.111.500", 0.0)
    for ev in server.events():
        assert isinstance(ev, AuthorizeRequest)
        server.authorized(ev.key, True, 0.0)
    offers = {tx.dst_mac: tx for tx in server.transmits()}
    t1 = time.perf_counter()
    requests = []
    for m in macs:
        yi = int.from_bytes(offers[m].payload[16:20], "big")
        requests.append((frame(m, MessageType.REQUEST, requested=yi), yi))
    t2 = time.perf_counter()
    for f, _ in requests:
        server.handle_frame(f, "trunk0.111.500", 1.0)
    frames = [tx.frame() for tx in server.transmits()]
    t3 = time.perf_counter()
    assert len(frames) == n and len(server.leases()) == n
    renews = [frame(m, MessageType.REQUEST, ciaddr=yi) for m, (_, yi) in zip(macs, requests, strict=True)]
    t4 = time.perf_counter()
    for f in renews:
        server.handle_frame(f, "trunk0.111.500", 2.0)
    server.transmits()
    t5 = time.perf_counter()
    server.events()
    t6 = time.perf_counter()
    server.handle_timer(1e9)
    t7 = time.perf_counter()
    assert len(server.events()) == n
    print(f"clients={n}")
    print(f"discover+authorize+offer: {n / (t1 - t0):,.0f}/s")
    print(f"request+ack(+frame build): {n / (t3 - t2):,.0f}/s")
    print(f"renew ack: {n / (t5 - t4):,.0f}/s")
    print(f"expire all via handle_timer: {n / (t7 - t6):,.0f}/s")


if __name__ == "__main__":
    main()
