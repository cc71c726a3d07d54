"""ARP codec and the gateway responder."""

from __future__ import annotations

import pytest

from abng.access.arp import (
    ARP_REPLY,
    ARP_REQUEST,
    ArpPacket,
    answer_arp,
    build_arp,
    ip_to_int,
    parse_arp,
)
from abng.access.frames import (
    ETH_P_ARP,
    TPID_8021AD,
    TPID_8021Q,
    DecodeError,
    VlanTag,
    build_frame,
    format_mac,
    parse_frame,
    with_tags,
)
from tests.access.test_frames import read_pcap

OUR_MAC = bytes.fromhex("0a95bc98d0b6")
GW = ip_to_int("10.0.0.10")


def capture_arps() -> list[bytes]:
    return [f for f in read_pcap("ipoe-dhcp-opt82-untagged.pcap") if parse_frame(f).ethertype == ETH_P_ARP]


def test_capture_values() -> None:
    reqs = [parse_arp(parse_frame(f).payload) for f in capture_arps()]
    assert [r.op for r in reqs] == [ARP_REQUEST, ARP_REQUEST, ARP_REPLY, ARP_REPLY]
    assert reqs[0].target_ip == GW and reqs[0].sender_ip == ip_to_int("10.0.0.11")
    assert format_mac(reqs[2].sender_mac) == "d6:f0:cc:38:3f:7c"
    for r in reqs:
        assert parse_arp(build_arp(r)) == r


def test_answer_gateway_on_tagged_interface() -> None:
    tags = (VlanTag(TPID_8021AD, 111), VlanTag(TPID_8021Q, 500))
    req_frame = with_tags(capture_arps()[0], tags)
    reply = answer_arp(req_frame, OUR_MAC, {GW})
    assert reply is not None
    f = parse_frame(reply)
    assert f.tags == tags
    assert f.dst == bytes.fromhex("020000000001") and f.src == OUR_MAC
    rep = parse_arp(f.payload)
    assert rep == ArpPacket(ARP_REPLY, OUR_MAC, GW, bytes.fromhex("020000000001"), ip_to_int("10.0.0.11"))


def test_not_answered() -> None:
    req = capture_arps()[0]
    assert answer_arp(req, OUR_MAC, {ip_to_int("10.0.0.99")}) is None
    assert answer_arp(capture_arps()[2], OUR_MAC, {GW}) is None  # a reply
    assert answer_arp(req, OUR_MAC, lambda ip: ip == GW, sender_allowed=lambda mac, ip: False) is None
    assert answer_arp(req, OUR_MAC, lambda ip: ip == GW, sender_allowed=lambda mac, ip: True) is not None
    garp = build_frame(
        b"\xff" * 6, OUR_MAC, (), ETH_P_ARP, build_arp(ArpPacket(ARP_REQUEST, OUR_MAC, GW, b"\0" * 6, GW))
    )
    assert answer_arp(garp, OUR_MAC, {GW}) is None
    dhcp = read_pcap("dhcp-dhclient.pcap")[0]
    assert answer_arp(dhcp, OUR_MAC, {GW}) is None


def test_garbage() -> None:
    arp = capture_arps()[0]
    for cut in range(14, 42):
        with pytest.raises(DecodeError):
            answer_arp(arp[:cut], OUR_MAC, {GW})
    bad = bytearray(arp)
    bad[14 + 7] = 9  # op
    with pytest.raises(DecodeError):
        answer_arp(bytes(bad), OUR_MAC, {GW})
