"""Ethernet/VLAN/IPv4/UDP codec: golden captures, tag stacks, truncation at every offset."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from abng.access.frames import (
    ETH_P_ARP,
    ETH_P_IP,
    TPID_8021AD,
    TPID_8021Q,
    TPID_QINQ_LEGACY,
    DecodeError,
    VlanTag,
    build_frame,
    build_ipv4_udp,
    format_mac,
    insert_outer_tag,
    internet_checksum,
    parse_frame,
    parse_ipv4,
    parse_mac,
    parse_udp,
    parse_udp_frame,
    with_tags,
)

CAPTURES = Path("/work/shared/captures")


def read_pcap(name: str) -> list[bytes]:
    """Classic little-endian pcap reader (the captures are written by tcpdump)."""
    data = (CAPTURES / name).read_bytes()
    assert struct.unpack_from("<I", data, 0)[0] == 0xA1B2C3D4
    off, frames = 24, []
    while off < len(data):
        _, _, incl, _ = struct.unpack_from("<IIII", data, off)
        off += 16
        frames.append(data[off : off + incl])
        off += incl
    return frames


DHCP_CAPTURES = ("dhcp-dhclient.pcap", "dhcp-udhcpc.pcap", "ipoe-dhcp-opt82-untagged.pcap")


def all_capture_frames() -> list[bytes]:
    return [f for name in DHCP_CAPTURES for f in read_pcap(name)]


def test_captures_decode_untagged() -> None:
    frames = read_pcap("dhcp-dhclient.pcap")
    assert len(frames) == 5
    first = parse_frame(frames[0])
    assert first.tags == ()
    assert first.ethertype == ETH_P_IP
    assert format_mac(first.src) == "2e:a6:41:3a:ea:23"
    assert first.dst == b"\xff" * 6
    u = parse_udp_frame(first)
    assert (u.udp.src_port, u.udp.dst_port) == (68, 67)
    assert u.ip.dst == 0xFFFFFFFF
    assert len(u.udp.payload) == 300
    arps = [parse_frame(f) for f in read_pcap("ipoe-dhcp-opt82-untagged.pcap")]
    assert [f.ethertype for f in arps].count(ETH_P_ARP) == 4


@pytest.mark.parametrize(
    "tags",
    [
        (VlanTag(TPID_8021Q, 100),),
        (VlanTag(TPID_8021AD, 111, pcp=5), VlanTag(TPID_8021Q, 500, dei=1)),
        (VlanTag(TPID_8021AD, 111), VlanTag(TPID_8021AD, 200), VlanTag(TPID_8021Q, 4094, pcp=7)),
        (VlanTag(TPID_QINQ_LEGACY, 7), VlanTag(TPID_8021Q, 1)),
    ],
)
def test_tag_stack_roundtrip(tags: tuple[VlanTag, ...]) -> None:
    for raw in all_capture_frames():
        plain = parse_frame(raw)
        tagged = with_tags(raw, tags)
        assert len(tagged) == len(raw) + 4 * len(tags)
        got = parse_frame(tagged)
        assert got.tags == tags
        assert got.ethertype == plain.ethertype
        assert got.payload == plain.payload
        assert build_frame(got.dst, got.src, got.tags, got.ethertype, got.payload) == tagged


def test_insert_outer_tag_restores_auxdata_tag() -> None:
    raw = read_pcap("dhcp-udhcpc.pcap")[0]
    inner = with_tags(raw, (VlanTag(TPID_8021Q, 500),))
    full = insert_outer_tag(inner, TPID_8021AD, (3 << 13) | 111)
    f = parse_frame(full)
    assert f.tags == (VlanTag(TPID_8021AD, 111, pcp=3), VlanTag(TPID_8021Q, 500))
    assert f.vids == (111, 500)
    # tp_vlan_tpid of 0 (old kernels) means 802.1Q
    assert parse_frame(insert_outer_tag(raw, 0, 42)).tags == (VlanTag(TPID_8021Q, 42),)


def test_tci_fields() -> None:
    t = VlanTag.from_tci(TPID_8021Q, 0xB00A)
    assert (t.pcp, t.dei, t.vid) == (5, 1, 10)
    assert t.tci == 0xB00A


def test_truncation_at_every_offset_raises_decode_error_only() -> None:
    tags = (VlanTag(TPID_8021AD, 111), VlanTag(TPID_8021Q, 500))
    for raw in (with_tags(f, tags) for f in all_capture_frames()):
        for cut in range(len(raw)):
            try:
                f = parse_frame(raw[:cut])
                if f.ethertype == ETH_P_IP:
                    parse_udp_frame(f)
            except DecodeError as exc:
                assert exc.reason
            else:
                assert cut >= 14


def test_ipv4_udp_build_and_checksums() -> None:
    payload = b"hello dhcp" * 31
    pkt = build_ipv4_udp(0x0A000001, 0xFFFFFFFF, 67, 68, payload)
    assert internet_checksum(pkt[:20]) == 0
    ip = parse_ipv4(pkt)
    udp = parse_udp(ip, verify_checksum=True)
    assert (udp.src_port, udp.dst_port, udp.payload) == (67, 68, payload)
    bad = bytearray(pkt)
    bad[30] ^= 0xFF
    with pytest.raises(DecodeError) as exc:
        parse_udp(parse_ipv4(bytes(bad)), verify_checksum=True)
    assert exc.value.reason == "udp_checksum"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b.__setitem__(0, 0x65), "ip_version"),
        (lambda b: b.__setitem__(0, 0x44), "ip_ihl"),
        (lambda b: b.__setitem__(10, b[10] ^ 1), "ip_checksum"),
        (lambda b: b.__setitem__(3, 0xFF), "ip_total_length"),
    ],
)
def test_ipv4_errors(mutate: object, reason: str) -> None:
    pkt = bytearray(build_ipv4_udp(1, 2, 67, 68, b"x" * 40))
    mutate(pkt)  # type: ignore[operator]
    with pytest.raises(DecodeError) as exc:
        parse_ipv4(bytes(pkt))
    assert exc.value.reason == reason


def test_ipv4_fragment_dropped() -> None:
    pkt = bytearray(build_ipv4_udp(1, 2, 67, 68, b"x" * 40))
    pkt[6] = 0x20  # MF
    pkt[10:12] = b"\x00\x00"
    pkt[10:12] = struct.pack("!H", internet_checksum(bytes(pkt[:20])))
    with pytest.raises(DecodeError) as exc:
        parse_ipv4(bytes(pkt))
    assert exc.value.reason == "ip_fragment"


def test_too_many_tags_and_short() -> None:
    raw = read_pcap("dhcp-dhclient.pcap")[0]
    with pytest.raises(DecodeError):
        parse_frame(with_tags(raw, tuple(VlanTag(TPID_8021Q, i) for i in range(1, 10))))
    with pytest.raises(DecodeError) as exc:
        parse_frame(raw[:13])
    assert exc.value.reason == "eth_short"
    assert isinstance(exc.value, ValueError)


def test_mac_helpers() -> None:
    assert parse_mac("02-00-00-00-00-01") == b"\x02\x00\x00\x00\x00\x01"
    assert format_mac(parse_mac("AA:bb:cc:dd:ee:ff")) == "aa:bb:cc:dd:ee:ff"
    with pytest.raises(ValueError):
        parse_mac("aa:bb")


def _reference_checksum(data: bytes) -> int:
    """RFC 1071 as written: sum the 16-bit words with end-around carry, complement."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for i in range(0, len(data), 2):
        total += data[i] << 8 | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def test_internet_checksum_matches_rfc1071_word_sum() -> None:
    import random

    from abng.access.frames import internet_checksum

    rng = random.Random(1071)
    cases = [b"", b"\x00" * 20, b"\xff" * 20, b"\xff\xff", b"\x00\x01", b"\xff\xfe\x00\x01", b"\x01"]
    cases += [b"\x00", b"\xff", b"\xff\xff\xff\xff", b"\xff" * 33]
    cases += [b"\x12\x34" * k + b"\xed\xcb" * k for k in range(1, 5)]  # sums to a multiple of 0xFFFF
    for i in range(5000):
        data = rng.randbytes(rng.randrange(0, 300))
        if i % 3 == 0:  # many 0xFF bytes: sums that fold to 0xFFFF
            data = bytes(0xFF if rng.random() < 0.7 else b for b in data)
        cases.append(data)
    for data in cases:
        assert internet_checksum(data) == _reference_checksum(data), data.hex()
