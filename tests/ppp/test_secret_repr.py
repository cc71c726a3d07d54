"""CHAP responses and RADIUS password attributes stay out of repr() (log lines, tracebacks)."""

from __future__ import annotations

from abng.aaa.packet import Attribute, Packet
from abng.ppp.codec import CHAP_RESPONSE, ChapValue, PapRequest


def test_ppp_auth_values_hidden() -> None:
    resp = ChapValue(CHAP_RESPONSE, 7, b"\xde\xad\xbe\xef" * 4, b"alice")
    assert "dead" not in repr(resp) and "xde" not in repr(resp) and "alice" in repr(resp)
    assert "hunter2" not in repr(PapRequest(1, b"alice", b"hunter2"))


def test_radius_password_attributes_hidden() -> None:
    pkt = Packet(
        1,
        3,
        bytes(16),
        (Attribute(1, b"alice"), Attribute(2, b"HIDDENPW" * 2), Attribute(3, b"\x07CHAPHASH")),
    )
    text = repr(pkt)
    assert "HIDDENPW" not in text and "CHAPHASH" not in text
    assert "alice" in text and "<16 bytes hidden>" in text
