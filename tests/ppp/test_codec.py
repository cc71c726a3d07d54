"""PPP and PPPoE codecs: round trips, truncation at every offset, lengths that lie."""

from __future__ import annotations

import struct

import pytest

from abng.access.pppoe import codec as pppoe
from abng.ppp import codec
from abng.ppp.codec import DecodeError, Option

LCP_REQ = bytes.fromhex("c02101010012010405d40304c023050601000001")


def test_lcp_request_round_trip() -> None:
    proto, info = codec.split_protocol(LCP_REQ)
    assert proto == codec.PROTO_LCP
    pkt = codec.decode_control(info)
    assert (pkt.code, pkt.identifier) == (codec.Code.CONF_REQ, 1)
    opts = codec.decode_options(pkt.data)
    assert [o.type for o in opts] == [codec.LCP_MRU, codec.LCP_AUTH, codec.LCP_MAGIC]
    assert codec.u16(opts[0]) == 1492 and codec.u32(opts[2]) == 0x01000001
    assert codec.parse_auth_option(opts[1]) == codec.PROTO_PAP
    assert codec.control_frame(proto, pkt.code, pkt.identifier, codec.encode_options(opts)) == LCP_REQ


def test_padding_after_length_is_ignored() -> None:
    pkt = codec.decode_control(LCP_REQ[2:] + b"\x00" * 10)
    assert len(pkt.data) == 14


@pytest.mark.parametrize("cut", range(len(LCP_REQ[2:])))
def test_truncated_control_packet_is_a_decode_error(cut: int) -> None:
    info = LCP_REQ[2:][:cut]
    with pytest.raises(DecodeError):
        pkt = codec.decode_control(info)
        codec.decode_options(pkt.data)


@pytest.mark.parametrize(
    "data",
    [
        b"\x01\x00",  # option length 0
        b"\x01\x01",  # option length 1
        b"\x01\x08\x05\xd4",  # length past the end
        b"\x01",  # a lone type octet
    ],
)
def test_bad_option_lengths(data: bytes) -> None:
    with pytest.raises(DecodeError):
        codec.decode_options(data)


def test_option_bomb_is_refused() -> None:
    bomb = b"".join(Option(200, b"").encode() for _ in range(500))
    with pytest.raises(DecodeError) as exc:
        codec.decode_options(bomb)
    assert exc.value.reason == "too_many_options"


def test_pap_and_chap_codecs() -> None:
    req = codec.PapRequest(3, b"user1@example.net", b"test")
    back = codec.decode_pap(req.encode())
    assert back == req
    assert "test" not in repr(back)
    ack = codec.PapReply(codec.PAP_ACK, 3, b"welcome")
    assert codec.decode_pap(ack.encode()) == ack
    chal = codec.ChapValue(codec.CHAP_CHALLENGE, 9, b"\x01" * 16, b"abng")
    assert codec.decode_chap(chal.encode()) == chal
    enc = req.encode()
    for cut in range(4, len(enc)):
        broken = enc[:2] + struct.pack("!H", cut) + enc[4:cut]
        with pytest.raises(DecodeError):
            codec.decode_pap(broken)


def test_protocol_field_rules() -> None:
    with pytest.raises(DecodeError):
        codec.split_protocol(b"\xc0")
    with pytest.raises(DecodeError):
        codec.split_protocol(b"\xc0\x20")  # even protocol value
    with pytest.raises(DecodeError):
        codec.split_protocol(b"\x01\x21")  # odd high octet


PADI = bytes.fromhex("11090000000401010000")


def test_pppoe_round_trip_and_padding() -> None:
    pkt = pppoe.decode(PADI + b"\x00" * 20)  # Ethernet padding after Length
    assert pkt.code == pppoe.Code.PADI and pkt.tags == ((pppoe.Tag.SERVICE_NAME, b""),)
    assert pkt.encode() == PADI
    sid, ppp = pppoe.decode_session(pppoe.session_frame(7, LCP_REQ))
    assert (sid, ppp) == (7, LCP_REQ)


@pytest.mark.parametrize("cut", range(len(PADI)))
def test_pppoe_truncation(cut: int) -> None:
    with pytest.raises(pppoe.DecodeError):
        pppoe.decode(PADI[:cut])


def test_pppoe_lengths_that_lie() -> None:
    with pytest.raises(pppoe.DecodeError):
        pppoe.decode(bytes.fromhex("110900000010"))  # Length 16, nothing follows
    with pytest.raises(pppoe.DecodeError):
        pppoe.decode(bytes.fromhex("11090000000601010009ab"))  # tag runs past Length
    with pytest.raises(pppoe.DecodeError):
        pppoe.decode(bytes.fromhex("2109000000000000"))  # version 2
    bomb = pppoe.encode_tags([(0x0105, b"")] * 200)
    with pytest.raises(pppoe.DecodeError):
        pppoe.decode(struct.pack("!BBHH", 0x11, 0x09, 0, len(bomb)) + bomb)


def test_end_of_list_stops_tag_parsing() -> None:
    body = pppoe.encode_tags([(0x0101, b""), (0x0000, b""), (0x0102, b"x")])
    pkt = pppoe.decode(struct.pack("!BBHH", 0x11, 0x09, 0, len(body)) + body)
    assert pkt.tags == ((0x0101, b""),)


def test_ip_bytes_and_ip_str_agree_with_ipaddress() -> None:
    """ip_bytes (abng.core.ipv4.packed, cached) and ip_str (inet_ntoa) answer as ipaddress does."""
    import ipaddress
    import random

    from abng.ppp.ipcp import ip_bytes, ip_str

    r = random.Random(3)
    cases = ["1.2.3.4", "0.0.0.0", "255.255.255.255", "01.2.3.4", "1.2.3", "1.2.3.4.5", " 1.2.3.4"]
    cases += ["1.2.3.4 ", "256.1.1.1", "1.2.3.04", "", "x", "1.2.3.4\x00", "\u0661.2.3.4", "0x1.2.3.4"]
    cases += [".".join(str(r.randrange(300)) for _ in range(r.choice((3, 4, 4, 5)))) for _ in range(300)]
    for text in cases:
        try:
            want: bytes | None = ipaddress.IPv4Address(text).packed
        except ValueError:
            want = None
        if want is None:
            with pytest.raises(ValueError):
                ip_bytes(text)
        else:
            assert ip_bytes(text) == want
            assert ip_str(want) == str(ipaddress.IPv4Address(want))
