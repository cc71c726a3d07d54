"""DHCP codec: golden captures, Option 82, overload, malformed options, bombs, truncation."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from abng.access.dhcp.codec import (
    BOOTREQUEST,
    MAX_OPTIONS,
    build_message,
    encode,
    encode_options,
    parse_message,
)
from abng.access.dhcp.options import (
    MessageType,
    Opt,
    RelayAgentInfo,
    decode_routes,
    enc_ip,
    encode_routes,
    option_name,
)
from abng.access.frames import DecodeError, parse_udp_frame
from tests.access.test_frames import read_pcap

MAC = bytes.fromhex("2ea6413aea23")


def dhcp_of(frame: bytes) -> bytes:
    return parse_udp_frame(frame).udp.payload


def test_dhclient_capture_values() -> None:
    msgs = [parse_message(dhcp_of(f)) for f in read_pcap("dhcp-dhclient.pcap")]
    assert [m.message_type for m in msgs] == [
        MessageType.DISCOVER,
        MessageType.OFFER,
        MessageType.REQUEST,
        MessageType.ACK,
        MessageType.RELEASE,
    ]
    assert all(m.chaddr == MAC for m in msgs)
    offer, ack = msgs[1], msgs[3]
    assert str(ipaddress.IPv4Address(offer.yiaddr)) == "10.99.0.137"
    assert offer.ip_option(Opt.ROUTER) == int(ipaddress.IPv4Address("10.99.0.1"))
    assert offer.ip_option(Opt.DNS) == int(ipaddress.IPv4Address("10.99.0.53"))
    assert ack.uint_option(Opt.LEASE_TIME) == 3600
    assert msgs[2].ip_option(Opt.REQUESTED_IP) == offer.yiaddr
    assert msgs[4].ciaddr == offer.yiaddr
    assert all(m.invalid == () and not m.truncated for m in msgs)


def test_udhcpc_capture_malformed_option82_not_trusted() -> None:
    msgs = [parse_message(dhcp_of(f)) for f in read_pcap("dhcp-udhcpc.pcap")]
    discover = msgs[0]
    assert discover.text_option(Opt.HOSTNAME) == "cpe1"
    assert discover.options[Opt.VENDOR_CLASS] == b"cpe-vendor"
    assert discover.options[Opt.CLIENT_ID] == b"\x01" + MAC
    assert discover.invalid == (Opt.RELAY_AGENT,)
    assert Opt.RELAY_AGENT not in discover.options
    assert discover.relay_agent is None
    with pytest.raises(DecodeError):
        RelayAgentInfo.decode(bytes.fromhex("0109") + b"abc")


def test_bngblaster_option82_values() -> None:
    frames = read_pcap("ipoe-dhcp-opt82-untagged.pcap")
    discovers = [parse_message(dhcp_of(f)) for f in frames[:2]]
    for n, m in enumerate(discovers, start=1):
        ra = m.relay_agent
        assert ra is not None
        assert ra.circuit_id == f"trunk0.100.7 eth 0:{n}".encode()
        assert ra.remote_id == f"REMOTE.{n}".encode()
        assert RelayAgentInfo.decode(ra.encode()) == ra
        assert m.chaddr == bytes.fromhex(f"02000000000{n}")


@pytest.mark.parametrize("name", ["dhcp-dhclient.pcap", "dhcp-udhcpc.pcap", "ipoe-dhcp-opt82-untagged.pcap"])
def test_reencode_roundtrip(name: str) -> None:
    for f in read_pcap(name):
        try:
            payload = dhcp_of(f)
        except DecodeError:
            continue  # ARP frames
        m = parse_message(payload)
        # invalid options are dropped on decode, so they do not come back
        assert parse_message(encode(m)) == dataclasses.replace(m, invalid=())


def test_truncation_at_every_offset() -> None:
    for name in ("dhcp-udhcpc.pcap", "ipoe-dhcp-opt82-untagged.pcap"):
        payload = dhcp_of(read_pcap(name)[0])
        full = parse_message(payload)
        for cut in range(len(payload)):
            try:
                m = parse_message(payload[:cut])
            except DecodeError as exc:
                assert cut < 240, exc
                continue
            assert m.xid == full.xid
            assert set(m.options) <= set(full.options) | {Opt.RELAY_AGENT}


def test_option_length_past_end_marks_truncated() -> None:
    msg = build_message(op=BOOTREQUEST, xid=1, chaddr=MAC, options=[(53, b"\x01")], pad_to=0)
    broken = msg[:-1] + bytes((Opt.HOSTNAME, 40)) + b"abc"
    m = parse_message(broken)
    assert m.truncated
    assert m.message_type is MessageType.DISCOVER
    assert Opt.HOSTNAME not in m.options


def test_wrong_length_fixed_option_is_invalid() -> None:
    m = parse_message(
        build_message(
            op=1, xid=1, chaddr=MAC, options=[(53, b"\x03"), (50, b"\x0a\x00\x00"), (54, enc_ip(5))]
        )
    )
    assert m.invalid == (Opt.REQUESTED_IP,)
    assert m.ip_option(Opt.SERVER_ID) == 5
    assert m.ip_option(Opt.REQUESTED_IP) is None


def test_option_overload_file_and_sname() -> None:
    file_opts = encode_options([(Opt.HOSTNAME, b"fromfile")])
    sname_opts = encode_options([(Opt.VENDOR_CLASS, b"fromsname")])
    msg = build_message(
        op=1,
        xid=9,
        chaddr=MAC,
        options=[(53, b"\x01"), (Opt.OVERLOAD, b"\x03")],
        file=file_opts,
        sname=sname_opts,
    )
    m = parse_message(msg)
    assert m.text_option(Opt.HOSTNAME) == "fromfile"
    assert m.options[Opt.VENDOR_CLASS] == b"fromsname"
    assert m.file == b"" and m.sname == b""


def test_long_option_split_and_concatenated() -> None:
    big = bytes(range(256)) * 2
    msg = build_message(op=1, xid=1, chaddr=MAC, options=[(53, b"\x01"), (43, big)])
    assert parse_message(msg).options[43] == big


def test_option_bomb_bounded() -> None:
    opts = [(53, b"\x01")] + [(200 + (i % 50), b"x") for i in range(5000)]
    raw = build_message(op=1, xid=1, chaddr=MAC, options=opts)
    m = parse_message(raw)
    assert m.truncated
    assert m.message_type is MessageType.DISCOVER
    assert len(m.options) <= MAX_OPTIONS


def test_bad_header() -> None:
    good = build_message(op=1, xid=1, chaddr=MAC, options=[(53, b"\x01")])
    with pytest.raises(DecodeError) as exc:
        parse_message(good[:236] + b"\x00\x00\x00\x00" + good[240:])
    assert exc.value.reason == "dhcp_cookie"
    with pytest.raises(DecodeError):
        parse_message(b"\x03" + good[1:])
    with pytest.raises(DecodeError):
        parse_message(good[:2] + b"\x20" + good[3:])
    bad_type = parse_message(build_message(op=1, xid=1, chaddr=MAC, options=[(53, b"\x09")]))
    assert bad_type.message_type is None
    assert bad_type.invalid == (53,)


def test_classless_routes() -> None:
    gw = int(ipaddress.IPv4Address("100.64.0.1"))
    routes = [(ipaddress.IPv4Network("100.64.0.1/32"), 0), (ipaddress.IPv4Network("0.0.0.0/0"), gw)]
    raw = encode_routes(routes)
    assert raw == bytes([32, 100, 64, 0, 1, 0, 0, 0, 0, 0, 100, 64, 0, 1])
    assert decode_routes(raw) == routes
    for bad in (b"\x21\x00\x00\x00\x00", b"\x18\x0a\x00", b"\x08\x0a\xff"):
        with pytest.raises(DecodeError):
            decode_routes(bad)


def test_option_names() -> None:
    assert option_name(82) == "relay-agent-information"
    assert option_name(250) == "option-250"


def test_relay_agent_make() -> None:
    ra = RelayAgentInfo.make(b"eth1.111.500.100", b"bng1", (9, b"vendor"), (1, b"dup"))
    assert ra.suboptions == ((1, b"eth1.111.500.100"), (2, b"bng1"), (9, b"vendor"))
    with pytest.raises(ValueError):
        RelayAgentInfo.make(b"", None).encode()
