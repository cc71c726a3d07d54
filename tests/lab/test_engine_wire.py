"""The engine's DHCP wire shortcuts against the general frames.py functions (seeded random input)."""

from __future__ import annotations

import random

from abng.access.frames import DecodeError, build_ipv4_udp, parse_ipv4, parse_udp
from abng.lab.engine import _dhcp_reply


def slow_reply(data: bytes) -> bytes | None:
    """What the engine's general path hands to parse_message (None: not DHCP to the client, or bad)."""
    try:
        ip = parse_ipv4(data)
        if ip.protocol != 17:
            return None
        udp = parse_udp(ip, verify_checksum=False)
    except DecodeError:
        return None
    return udp.payload if udp.dst_port == 68 else None


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(4)
        if op == 0 and b:
            b[rng.randrange(min(len(b), 32))] = rng.randrange(256)
        elif op == 1 and b:
            b[rng.randrange(min(len(b), 32))] ^= 1 << rng.randrange(8)
        elif op == 2 and b:
            del b[rng.randrange(len(b)) :]
        else:
            b += rng.randbytes(rng.randint(1, 8))
    return bytes(b)


def test_reply_shortcut_agrees_with_parsers() -> None:
    rng = random.Random(68)
    taken = 0
    for _ in range(8000):
        sport, dport = rng.choice(((67, 68), (67, 68), (53, 68), (67, 67), (68, 4660)))
        packet = build_ipv4_udp(rng.getrandbits(32), rng.getrandbits(32), sport, dport, rng.randbytes(300))
        if rng.random() < 0.7:
            packet = mutate(rng, packet)
        pad = rng.randbytes(rng.choice((0, 0, 4)))  # Ethernet padding after the datagram
        for o, buf in ((0, packet + pad), (18, rng.randbytes(18) + packet + pad)):
            fast = _dhcp_reply(buf, o, len(buf))
            if fast is not None:
                taken += 1
                assert fast == slow_reply(buf[o:])
    assert taken > 2000  # the shortcut was exercised, not only the fallback
