"""The fast paths give the same octets and answers as the plain ones they replace (seeded loops)."""

from __future__ import annotations

import hmac
import ipaddress
import random

import pytest

from abng.aaa import crypto, packet
from abng.aaa.client import ClientMachine, Kind, ServerAddr
from abng.aaa.dictionary import AttrType, Value, default_dictionary
from abng.aaa.packet import Code, PairEncoder
from abng.aaa.radius_auth import parse_accept
from abng.core.ipv4 import packed as ipv4_packed  # what the dictionary encodes IPADDR with

SECRET = b"testing123"


def _random_value(rng: random.Random, t: AttrType, names: list[str]) -> Value:
    if t in (AttrType.INTEGER, AttrType.DATE):
        if names and rng.random() < 0.5:
            return rng.choice(names)
        ints: list[Value] = [0, 1, rng.randrange(2**32), str(rng.randrange(1000))]
        return rng.choice(ints)
    if t is AttrType.INTEGER64:
        return rng.randrange(2**64)
    if t is AttrType.IPADDR:
        addrs: list[Value] = [
            ".".join(str(rng.randrange(256)) for _ in range(4)),
            rng.randrange(2**32),
            bytes(rng.randrange(256) for _ in range(4)),
        ]
        return rng.choice(addrs)
    if rng.random() < 0.5:
        return "".join(rng.choice("abcé€:._-0123456789") for _ in range(rng.randrange(0, 40)))
    return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 60)))


def test_pair_encoder_matches_make_all() -> None:
    rng = random.Random(4242)
    d = default_dictionary()
    defs = list(d.by_name.values())
    enc = PairEncoder(d)
    for _ in range(3000):
        pairs = []
        for _ in range(rng.randrange(0, 12)):
            defn = rng.choice(defs)
            pairs.append((defn.name, _random_value(rng, defn.type, list(defn.values))))
        expected = packet.encode_attributes(packet.make_all(pairs))
        assert enc.encode(pairs) == expected
        # twice: the second time from the cache
        assert enc.encode(pairs) == expected
        kept = [(n, v) for n, v in pairs if n != "Acct-Delay-Time"]
        assert enc.encode(pairs, drop=41) == packet.encode_attributes(packet.make_all(kept))


@pytest.mark.parametrize(
    ("name", "value", "exc"),
    [
        ("No-Such-Attribute", "x", KeyError),
        ("Session-Timeout", b"\x00", TypeError),
        ("Session-Timeout", "not-a-number", ValueError),
        ("Framed-IP-Address", "1.2.3.256", ValueError),
        ("User-Name", "x" * 254, ValueError),
        ("Athena-VRF", "x" * 248, ValueError),
        ("User-Name", 5, TypeError),
    ],
)
def test_pair_encoder_errors_match_make(name: str, value: Value, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        packet.encode_attributes(packet.make_all([(name, value)]))
    with pytest.raises(exc):
        PairEncoder().encode([(name, value)])


def test_ipv4_packed_accepts_exactly_what_ipaddress_accepts() -> None:
    rng = random.Random(7)
    cases: list[Value] = [
        "1.2.3.4",
        "0.0.0.0",
        "255.255.255.255",
        "256.1.1.1",
        "01.2.3.4",
        "1.2.3",
        "1",
        "0x7f.0.0.1",
        "1.2.3.4 ",
        " 1.2.3.4",
        "1.2.3.4 junk",
        "1.2.3.4\x00",
        "١.2.3.4",
        "1..2.3",
        "",
        "127.000.0.1",
        "-1.2.3.4",
        "+1.2.3.4",
        "1_0.2.3.4",
        16909060,
        b"\x01\x02\x03\x04",
        b"\x01\x02\x03",
    ]
    alphabet = "0123456789.x -+_"
    cases += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 17))) for _ in range(20000)]
    for c in cases:
        try:
            want: bytes | type[Exception] = ipaddress.IPv4Address(c).packed
        except ValueError as exc:
            want = type(exc)
        try:
            got: bytes | type[Exception] = ipv4_packed(c)
        except ValueError as exc:
            got = type(exc)
        assert got == want, c


def test_hmac_md5_matches_hmac_module() -> None:
    rng = random.Random(99)
    for n in (0, 1, 16, 63, 64, 65, 200):
        key = bytes(rng.randrange(256) for _ in range(n))
        for m in (0, 1, 64, 1000):
            msg = bytes(rng.randrange(256) for _ in range(m))
            assert crypto.hmac_md5(key, msg) == hmac.digest(key, msg, "md5")
            assert crypto.hmac_md5(key, msg) == hmac.digest(key, msg, "md5")  # cached key state


def test_machine_builds_the_same_packets_from_attributes_or_wire() -> None:
    attrs = packet.make_all(
        [("User-Name", "u"), ("NAS-Port", 1), ("Acct-Delay-Time", 99), ("Acct-Status-Type", "Start")]
    )
    out = []
    for use_wire in (False, True):
        m = ClientMachine([ServerAddr("127.0.0.1", SECRET)], urandom=lambda n: bytes(range(n)))
        if use_wire:
            m.submit_wire(Kind.AUTH, packet.encode_attributes(attrs), 0.0, password=b"pw")
            no_delay = [a for a in attrs if a.type != 41]
            m.submit_wire(Kind.ACCT, packet.encode_attributes(no_delay), 0.0, delay_offset=3.0)
        else:
            m.submit(Kind.AUTH, attrs, 0.0, password=b"pw")
            m.submit(Kind.ACCT, attrs, 0.0, delay_offset=3.0)
        out.append([t.data for t in m.pop_transmits()])
    assert out[0] == out[1]
    auth, acct = (packet.decode(d) for d in out[0])
    assert [a.type for a in auth.attributes] == [1, 2, 5, 41, 40, 80]  # User-Password second
    assert crypto.unhide_password(auth.raw(0, 2)[0], SECRET, auth.authenticator) == b"pw"
    assert crypto.verify_access_request(out[0][0], SECRET, require_ma=True)
    assert [a.type for a in acct.attributes] == [1, 5, 40, 41, 80]  # one Acct-Delay-Time, last
    assert acct.first("Acct-Delay-Time") == 3
    assert crypto.verify_signed_request(out[0][1], SECRET, require_ma=True)


ACCEPT_CASES: list[tuple[str, Value, str, object]] = [
    ("Reply-Message", "hello", "reply_message", "hello"),
    ("Framed-IP-Address", "100.64.0.9", "framed_ip", "100.64.0.9"),
    ("Framed-IP-Netmask", "255.255.255.255", "framed_netmask", "255.255.255.255"),
    ("Framed-Pool", "pool-a", "pool", "pool-a"),
    ("Athena-Rate-Down", "100mbit", "rate_down_bps", 100_000_000),
    ("Athena-Rate-Up", "20mbit", "rate_up_bps", 20_000_000),
    ("Athena-Overhead-Profile", "vdsl", "overhead_profile", "vdsl"),
    ("Athena-Session-Timeout", 60, "session_timeout", 60),
    ("Session-Timeout", 70, "session_timeout", 70),
    ("Idle-Timeout", 80, "idle_timeout", 80),
    ("Acct-Interim-Interval", 90, "interim_interval", 90),
    ("Athena-CGNAT-Bypass", 1, "cgnat_bypass", True),
    ("Athena-VRF", "blue", "vrf", "blue"),
]


@pytest.mark.parametrize(("name", "value", "field", "expected"), ACCEPT_CASES)
def test_parse_accept_reads_each_attribute(name: str, value: Value, field: str, expected: object) -> None:
    extra = packet.make_all([(name, value), ("Class", b"c1")])
    data = crypto.build_reply(Code.ACCESS_ACCEPT, 1, bytes(16), SECRET, extra)
    result = parse_accept(packet.decode(data))
    assert getattr(result, field) == expected
    assert result.class_attr == (b"c1",)


def test_parse_accept_with_nothing_to_read() -> None:
    data = crypto.build_reply(Code.ACCESS_ACCEPT, 1, bytes(16), SECRET, packet.make_all([("Class", b"c")]))
    result = parse_accept(packet.decode(data))
    assert result.accepted and result.class_attr == (b"c",) and result.framed_ip is None
    assert set(result.attrs) == {"Class", "Message-Authenticator"}


def test_random_pool_hands_out_each_octet_once_and_refills() -> None:
    pool = crypto.RandomPool(block=64)
    chunks = [pool(16) for _ in range(40)] + [pool(100)]
    assert all(len(c) == 16 for c in chunks[:-1]) and len(chunks[-1]) == 100
    assert len(set(chunks)) == len(chunks)  # 128 random bits each: a repeat would be a bug
    pool.reset()
    assert len(pool(16)) == 16
