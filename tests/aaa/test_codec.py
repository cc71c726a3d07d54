"""Codec golden vectors from a real FreeRADIUS/radclient capture (secret testing123)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from scapy.all import UDP, rdpcap  # type: ignore[attr-defined]

from abng.aaa import crypto, packet
from abng.aaa.dictionary import ATHENA_VENDOR, AttrType, Dictionary, default_dictionary
from abng.aaa.packet import Attribute, Code, DecodeError

PCAP = Path("/work/shared/captures/radius-auth-acct-coa.pcap")
SECRET = b"testing123"


@pytest.fixture(scope="module")
def frames() -> list[bytes]:
    return [bytes(p[UDP].payload) for p in rdpcap(str(PCAP))]


def test_dictionary_has_athena_vsas() -> None:
    d = default_dictionary()
    assert d.vendors["Athena"] == ATHENA_VENDOR
    expected = {
        "Athena-Rate-Down": (1, AttrType.STRING),
        "Athena-Rate-Up": (2, AttrType.STRING),
        "Athena-Overhead-Profile": (3, AttrType.STRING),
        "Athena-CGNAT-Bypass": (4, AttrType.INTEGER),
        "Athena-VRF": (5, AttrType.STRING),
        "Athena-Session-Timeout": (6, AttrType.INTEGER),
    }
    for name, (code, typ) in expected.items():
        defn = d.attr(name)
        assert (defn.vendor, defn.code, defn.type) == (ATHENA_VENDOR, code, typ)
    assert d.attr("User-Password").encrypt == 1
    assert d.attr("Acct-Terminate-Cause").values["Admin-Reset"] == 6
    assert d.attr("Error-Cause").values["Session-Context-Not-Found"] == 503
    assert d.attr("Event-Timestamp").type is AttrType.DATE


def test_dictionary_unknown_type_is_octets_and_bad_line_reports_position() -> None:
    d = Dictionary()
    d.parse("ATTRIBUTE Foo 200 ipv6prefix\n")
    assert d.attr("Foo").type is AttrType.OCTETS
    with pytest.raises(ValueError, match=r"x\(2\)"):
        d.parse("# c\nATTRIBUTE Bar notanumber string\n", source="x")


def test_pap_request_and_accept(frames: list[bytes]) -> None:
    req, acc = packet.decode(frames[0]), packet.decode(frames[1])
    assert req.code == Code.ACCESS_REQUEST and acc.code == Code.ACCESS_ACCEPT
    assert req.first("User-Name") == "user1@example.net"
    hidden = req.raw(0, 2)[0]
    assert crypto.unhide_password(hidden, SECRET, req.authenticator) == b"test"
    assert crypto.hide_password(b"test", SECRET, req.authenticator) == hidden
    assert crypto.verify_access_request(frames[0], SECRET, require_ma=True)
    assert not crypto.verify_access_request(frames[0], b"wrong", require_ma=True)
    # radtest's server reply has no Message-Authenticator: valid authenticator, but D22 drops it
    assert crypto.verify_reply(frames[1], req.authenticator, SECRET, require_ma=False)
    assert not crypto.verify_reply(frames[1], req.authenticator, SECRET, require_ma=True)
    assert not crypto.verify_reply(frames[1], bytes(16), SECRET, require_ma=False)
    assert acc.first("Framed-IP-Address") == "100.64.0.11"
    assert acc.first("Session-Timeout") == 86400
    assert acc.first("Acct-Interim-Interval") == 300


def test_chap_request(frames: list[bytes]) -> None:
    req = packet.decode(frames[2])
    chap = req.raw(0, 3)[0]
    assert len(chap) == 17
    # radtest uses the Request Authenticator as the challenge (RFC 2865 §5.3)
    assert crypto.chap_response(chap[0], b"test", req.authenticator) == chap[1:]
    assert crypto.verify_reply(frames[3], req.authenticator, SECRET, require_ma=False)


def test_reject(frames: list[bytes]) -> None:
    req, rej = packet.decode(frames[4]), packet.decode(frames[5])
    assert rej.code == Code.ACCESS_REJECT
    assert crypto.unhide_password(req.raw(0, 2)[0], SECRET, req.authenticator) != b"test"
    assert crypto.verify_reply(frames[5], req.authenticator, SECRET, require_ma=False)


@pytest.mark.parametrize(("index", "status"), [(6, 1), (8, 3), (10, 2)])
def test_accounting(frames: list[bytes], index: int, status: int) -> None:
    req = packet.decode(frames[index])
    assert crypto.verify_signed_request(frames[index], SECRET)
    assert not crypto.verify_signed_request(frames[index], b"nope")
    assert req.first("Acct-Status-Type") == status
    assert req.first("Acct-Session-Id") == "abng-1764864000-1"
    assert req.first("Acct-Input-Gigawords") == 1 and req.first("Acct-Output-Gigawords") == 2
    assert req.first("Acct-Input-Octets") == 123456
    resp = frames[index + 1]
    assert packet.decode(resp).code == Code.ACCOUNTING_RESPONSE
    assert crypto.verify_reply(resp, req.authenticator, SECRET, require_ma=False)


def test_coa_and_disconnect(frames: list[bytes]) -> None:
    coa, dm = packet.decode(frames[12]), packet.decode(frames[13])
    assert coa.code == Code.COA_REQUEST and dm.code == Code.DISCONNECT_REQUEST
    assert crypto.verify_signed_request(frames[12], SECRET)
    assert crypto.verify_signed_request(frames[13], SECRET)
    assert coa.first("Athena-Rate-Down") == "25mbit"
    assert coa.first("Athena-Rate-Up") == "10mbit"
    assert coa.raw(ATHENA_VENDOR, 1) == [b"25mbit"]
    assert dm.first("User-Name") == "user1@example.net"


def test_reencode_is_identical(frames: list[bytes]) -> None:
    for f in frames:
        assert packet.encode(packet.decode(f)) == f


def test_build_and_verify_round_trip() -> None:
    attrs = packet.make_all([("User-Name", "bob"), ("Athena-Rate-Down", "100mbit"), ("NAS-Port", 7)])
    auth = bytes(range(16))
    data = crypto.build_access_request(9, auth, SECRET, attrs)
    assert crypto.verify_access_request(data, SECRET, require_ma=True)
    reply = crypto.build_reply(Code.ACCESS_ACCEPT, 9, auth, SECRET, packet.make_all([("Class", b"c1")]))
    assert crypto.verify_reply(reply, auth, SECRET)
    tampered = bytearray(reply)
    tampered[-19] ^= 1  # last octet of the Class value
    assert not crypto.verify_reply(bytes(tampered), auth, SECRET)
    acct = crypto.build_signed_request(Code.ACCOUNTING_REQUEST, 3, SECRET, attrs)
    assert crypto.verify_signed_request(acct, SECRET, require_ma=True)
    pk = packet.decode(acct)
    assert pk.first("Athena-Rate-Down") == "100mbit" and pk.first("NAS-Port") == 7


def test_password_hiding_lengths() -> None:
    auth = bytes(16)
    for n in (0, 1, 15, 16, 17, 128):
        pw = b"x" * n
        hidden = crypto.hide_password(pw, SECRET, auth)
        assert len(hidden) % 16 == 0 and len(hidden) >= 16
        assert crypto.unhide_password(hidden, SECRET, auth) == pw
    with pytest.raises(ValueError):
        crypto.hide_password(b"x" * 129, SECRET, auth)


def test_unknown_attributes_kept_raw() -> None:
    vsa_unknown = Attribute(9, b"\x01\x02", vendor=999)
    pk = packet.Packet(2, 1, bytes(16), (Attribute(250, b"zz"), vsa_unknown, Attribute(26, b"\x00\x00")))
    back = packet.decode(packet.encode(pk))
    named = back.named()
    assert named["Attr-250"] == [b"zz"]
    assert named["Vendor-999-Attr-9"] == [b"\x01\x02"]
    assert named["Vendor-Specific"] == [b"\x00\x00"]


def test_bad_value_length_is_skipped_not_raised() -> None:
    pk = packet.Packet(2, 1, bytes(16), (Attribute(27, b"\x00\x01"),))
    assert pk.first("Session-Timeout") is None
    assert pk.named()["Session-Timeout"] == [b"\x00\x01"]


def test_length_errors(frames: list[bytes]) -> None:
    f = frames[6]
    for cut in range(len(f)):
        with pytest.raises(DecodeError):
            packet.decode(f[:cut])
    bad = bytearray(f)
    bad[21] = 1  # first attribute length 1
    with pytest.raises(DecodeError):
        packet.decode(bytes(bad))
    bad = bytearray(f)
    struct.pack_into("!H", bad, 2, 5000)
    with pytest.raises(DecodeError):
        packet.decode(bytes(bad))
    assert packet.decode(f + b"\x00\x00pad").attributes == packet.decode(f).attributes
