"""Option 121 (RFC 3442): the integer-arithmetic check/decode against the ipaddress-based reference.

The reference below is decode_routes as it was before it moved to integer arithmetic; on seeded
random and mutated input both must make the same accept/reject decision with the same error reason
and message, and decode_routes must return the same routes.
"""

from __future__ import annotations

import ipaddress
import random
import struct

import pytest

from abng.access.dhcp.codec import parse_message
from abng.access.dhcp.options import check_routes, decode_routes, encode_routes, validate
from abng.access.frames import DecodeError


def reference_decode_routes(value: bytes) -> list[tuple[ipaddress.IPv4Network, int]]:
    routes: list[tuple[ipaddress.IPv4Network, int]] = []
    i = 0
    if not value:
        raise DecodeError("option_length", "classless-static-route: empty")
    while i < len(value):
        width = value[i]
        if width > 32:
            raise DecodeError("route_width", str(width))
        n = (width + 7) // 8
        if i + 1 + n + 4 > len(value):
            raise DecodeError("route_truncated")
        dest = value[i + 1 : i + 1 + n] + b"\x00" * (4 - n)
        try:
            net = ipaddress.IPv4Network((dest, width))
        except ValueError as exc:
            raise DecodeError("route_host_bits") from exc
        routes.append((net, int(struct.unpack("!I", value[i + 1 + n : i + 5 + n])[0])))
        i += 5 + n
    return routes


def outcome(fn: object, value: bytes) -> tuple[str, object]:
    assert callable(fn)
    try:
        return "ok", fn(value)
    except DecodeError as exc:
        return "error", (exc.reason, str(exc))


def random_valid(rng: random.Random) -> bytes:
    routes = []
    for _ in range(rng.randint(1, 6)):
        width = rng.randint(0, 32)
        addr = rng.getrandbits(32) & ((0xFFFFFFFF << (32 - width)) & 0xFFFFFFFF)
        routes.append((ipaddress.IPv4Network((addr, width)), rng.getrandbits(32)))
    return encode_routes(routes)


def mutate(rng: random.Random, value: bytes) -> bytes:
    b = bytearray(value)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        if op == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1 and b:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif op == 2 and b:
            del b[rng.randrange(len(b)) :]
        elif op == 3:
            b.insert(rng.randrange(len(b) + 1), rng.randrange(256))
        elif b:
            b[rng.randrange(len(b))] = rng.choice((0, 1, 7, 8, 9, 16, 24, 25, 31, 32, 33, 255))
    return bytes(b)


def inputs() -> list[bytes]:
    rng = random.Random(3442)
    out: list[bytes] = [b"", b"\x00", b"\x00\x00\x00\x00\x00", b"\x20" + bytes(8), b"\x21" + bytes(8)]
    for _ in range(4000):
        valid = random_valid(rng)
        out.append(valid)
        out.append(mutate(rng, valid))
        out.append(rng.randbytes(rng.randint(0, 24)))
    return out


def test_same_decisions_as_the_ipaddress_reference() -> None:
    accepted = rejected = 0
    for value in inputs():
        want = outcome(reference_decode_routes, value)
        assert outcome(decode_routes, value) == want, value.hex()
        got_check = outcome(check_routes, value)
        assert got_check[0] == want[0], value.hex()
        if want[0] == "error":
            assert got_check == want, value.hex()
            rejected += 1
        else:
            accepted += 1
    assert accepted > 3000 and rejected > 3000  # both sides of the decision were exercised


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "option_length"),
        (b"\x21\x00\x00\x00\x00", "route_width"),
        (b"\x18\x0a\x00", "route_truncated"),
        (b"\x08\x0a\xff", "route_truncated"),
        (b"\x07\x01\x00\x00\x00\x00", "route_host_bits"),
        (b"\x19\x0a\x00\x00\x40\x00\x00\x00\x00", "route_host_bits"),
    ],
)
def test_validate_rejects_like_decode(value: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as via_validate:
        validate(121, value)
    with pytest.raises(DecodeError) as via_decode:
        decode_routes(value)
    assert via_validate.value.reason == via_decode.value.reason == reason


def test_parser_drops_invalid_routes_only() -> None:
    base = bytearray(236)
    base[0], base[1], base[2] = 2, 1, 6
    good = encode_routes([(ipaddress.IPv4Network("10.0.0.0/8"), 0x0A000001)])
    bad = b"\x07\x01\x00\x00\x00\x00"
    for value, ok in ((good, True), (bad, False)):
        raw = bytes(base) + b"\x63\x82\x53\x63" + bytes((53, 1, 2, 121, len(value))) + value + b"\xff"
        msg = parse_message(raw)
        assert (121 in msg.options) is ok
        assert (121 in msg.invalid) is not ok
