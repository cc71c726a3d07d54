"""Seeded fuzz: random and mutated frames through frames + ARP + DHCP parsers + server.

The only allowed outcomes are events/transmits or a counted drop (DecodeError inside the
parsers).  Nothing else may escape.
"""

from __future__ import annotations

import random

from abng.access.arp import answer_arp, ip_to_int
from abng.access.dhcp.codec import parse_message
from abng.access.dhcp.config import DhcpServerConfig, ip
from abng.access.dhcp.events import AuthorizeRequest
from abng.access.dhcp.options import RelayAgentInfo
from abng.access.dhcp.pool import Ipv4Pool
from abng.access.dhcp.server import DhcpServer
from abng.access.frames import (
    ETH_P_IP,
    TPID_8021AD,
    TPID_8021Q,
    DecodeError,
    VlanTag,
    build_frame,
    build_ipv4_udp,
    parse_frame,
    parse_udp_frame,
    with_tags,
)
from tests.access.test_dhcp_server import client_frame
from tests.access.test_frames import all_capture_frames, read_pcap

N_FRAMES = 100_000
SERVER_MAC = bytes.fromhex("0a95bc98d0b6")


def seeds() -> list[bytes]:
    from abng.access.dhcp.options import MessageType

    base = all_capture_frames() + read_pcap("pppoe-pap-untagged.pcap")
    base += [client_frame(t) for t in MessageType]
    tags = (VlanTag(TPID_8021AD, 111), VlanTag(TPID_8021Q, 500))
    return base + [with_tags(f, tags) for f in base]


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(6)
        if op == 0 and buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif op == 1:
            buf = buf[: rng.randrange(len(buf) + 1)]
        elif op == 2:
            pos = rng.randrange(len(buf) + 1)
            buf[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif op == 3 and len(buf) > 242:
            # aim at the DHCP option area (after eth 14 + ip 20 + udp 8 + bootp 240)
            pos = rng.randrange(min(len(buf) - 1, 282), len(buf))
            buf[pos] = rng.choice((0, 1, 52, 53, 82, 255, rng.randrange(256)))
        elif op == 4 and len(buf) > 12:
            pos = 12 + 4 * rng.randrange(3)
            buf[pos : pos + 2] = rng.choice((b"\x81\x00", b"\x88\xa8", b"\x91\x00", b"\x08\x00", b"\x08\x06"))
        elif op == 5 and buf:
            pos = rng.randrange(len(buf))
            buf[pos] ^= 1 << rng.randrange(8)
    return bytes(buf)


def is_dhcp(frame: bytes) -> bool:
    try:
        return parse_udp_frame(frame).udp.dst_port in (67, 68)
    except DecodeError:
        return False


def rewrap(frame: bytes, rng: random.Random) -> bytes:
    pkt = parse_udp_frame(frame)
    payload = bytearray(pkt.udp.payload)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(4)
        if len(payload) <= 240:
            break
        if kind == 0:
            payload[rng.randrange(len(payload))] = rng.randrange(256)
        elif kind == 1:
            pos = rng.randrange(240, len(payload))
            payload[pos] = rng.choice((0, 1, 50, 52, 53, 54, 61, 82, 255))
        elif kind == 2:
            payload = payload[: rng.randrange(len(payload) + 1)]
        else:
            pos = rng.randrange(240, len(payload) + 1)
            code = rng.choice((53, 82, 50, 54, 12, 121, 52))
            payload[pos:pos] = bytes((code, rng.randrange(12))) + rng.randbytes(rng.randrange(12))
    eth = pkt.frame
    ip_packet = build_ipv4_udp(pkt.ip.src, pkt.ip.dst, pkt.udp.src_port, 67, bytes(payload))
    return build_frame(eth.dst, eth.src, eth.tags, ETH_P_IP, ip_packet)


def test_fuzz_frames_arp_dhcp_server() -> None:
    rng = random.Random(0xAB4C)
    corpus = seeds()
    cfg = DhcpServerConfig(
        server_mac=SERVER_MAC,
        gateway=ip("10.99.0.1"),
        default_pool="p",
        discover_burst=1000,
        contain_errors=False,
    )
    server = DhcpServer(cfg, [Ipv4Pool.from_range("p", "10.99.0.100", "10.99.1.250")])
    gateways = {ip_to_int("10.0.0.10"), ip_to_int("10.99.0.1")}
    dhcp_corpus = [f for f in corpus if is_dhcp(f)]
    decoded = 0
    for n in range(N_FRAMES):
        pick = n % 10
        if pick == 0:
            frame = rng.randbytes(rng.randint(0, 400))
        elif pick < 6:
            frame = mutate(rng, rng.choice(corpus))
        else:  # mutate only the DHCP message and re-wrap it validly, so it reaches the server
            frame = rewrap(rng.choice(dhcp_corpus), rng)
        now = n * 0.01
        try:
            eth = parse_frame(frame)
            answer_arp(eth, SERVER_MAC, gateways)
            msg = parse_message(parse_udp_frame(eth).udp.payload)
            if msg.options.get(82):
                RelayAgentInfo.decode(msg.options[82])
            decoded += 1
        except DecodeError:
            pass
        server.handle_frame(frame, "trunk0.111.500", now)
        for ev in server.events():
            if isinstance(ev, AuthorizeRequest):
                server.authorized(ev.key, rng.random() < 0.8, now, ip=rng.choice((None, None, "10.99.0.120")))
        for tx in server.transmits():
            assert parse_message(parse_udp_frame(tx.frame(), verify_udp_checksum=True).udp.payload)
        if n % 1000 == 0:
            server.handle_timer(now)
    assert decoded > N_FRAMES // 4  # the mutations did reach the DHCP decoder
    assert server.counters["rx_discover"] > 100
    addresses = [b.ip for b in server.bindings]
    assert len(addresses) == len(set(addresses))
