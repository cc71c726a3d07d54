"""PPPoE wire format (RFC 2516 §4, RFC 4638): the 6-byte header and discovery tags.

``payload`` here is what follows the Ethernet/VLAN header (EtherType 0x8863 or 0x8864).  Octets
after the PPPoE Length are Ethernet padding and ignored; a Length that runs past the frame, a
tag that runs past the Length, or a wrong version/type is a :class:`DecodeError`.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

VER_TYPE = 0x11
HEADER_LEN = 6
MAX_TAGS = 64

_HDR = struct.Struct("!BBHH")
_HH = struct.Struct("!HH")
_H = struct.Struct("!H")
SESSION = 0x00  # Code.SESSION as a plain int
_tuple_new: Callable[[Any, tuple[Any, ...]], Any] = tuple.__new__


class DecodeError(ValueError):
    """Garbage from the peer; ``reason`` is a short counter key."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class Code(enum.IntEnum):
    SESSION = 0x00
    PADO = 0x07
    PADI = 0x09
    PADR = 0x19
    PADS = 0x65
    PADT = 0xA7


class Tag(enum.IntEnum):
    """Registry of tag types (RFC 2516 Appendix A, RFC 4638 §4)."""

    END_OF_LIST = 0x0000
    SERVICE_NAME = 0x0101
    AC_NAME = 0x0102
    HOST_UNIQ = 0x0103
    AC_COOKIE = 0x0104
    VENDOR_SPECIFIC = 0x0105
    RELAY_SESSION_ID = 0x0110
    PPP_MAX_PAYLOAD = 0x0120
    SERVICE_NAME_ERROR = 0x0201
    AC_SYSTEM_ERROR = 0x0202
    GENERIC_ERROR = 0x0203


TAG_NAMES = {t.value: t.name for t in Tag}


class PPPoEPacket(NamedTuple):
    """One PPPoE packet (an immutable named tuple: one is made per frame, and a tuple costs a
    third of a frozen dataclass)."""

    code: int
    session_id: int
    tags: tuple[tuple[int, bytes], ...] = ()
    payload: bytes = b""  # session stage: the PPP payload (tags are empty)

    def tag(self, tag_type: int) -> bytes | None:
        """Value of the first tag of this type (RFC 2516: later duplicates are ignored)."""
        for t, v in self.tags:
            if t == tag_type:
                return v
        return None

    def has(self, tag_type: int) -> bool:
        return self.tag(tag_type) is not None  # tag values are bytes, never None

    def encode(self) -> bytes:
        body = encode_tags(self.tags) if self.code != SESSION else self.payload
        return _HDR.pack(VER_TYPE, self.code, self.session_id, len(body)) + body


def encode_tags(tags: Iterable[tuple[int, bytes]]) -> bytes:
    pack = _HH.pack
    return b"".join([pack(t, len(v)) + v for t, v in tags])


def decode_tags(body: bytes) -> tuple[tuple[int, bytes], ...]:
    if type(body) is not bytes:
        body = bytes(body)  # then every slice below is bytes already
    tags: list[tuple[int, bytes]] = []
    append = tags.append
    pos = 0
    end = len(body)
    unpack_from = _HH.unpack_from
    while pos < end:
        if end - pos < 4:
            raise DecodeError("truncated_tag", f"at offset {pos}")
        ttype, tlen = unpack_from(body, pos)
        nxt = pos + 4 + tlen
        if nxt > end:
            raise DecodeError("bad_tag_length", f"tag 0x{ttype:04x} length {tlen} at offset {pos}")
        if ttype == 0:
            break  # RFC 2516 Appendix A: End-Of-List ends the list
        if len(tags) == MAX_TAGS:
            raise DecodeError("too_many_tags", f"more than {MAX_TAGS}")
        append((ttype, body[pos + 4 : nxt]))
        pos = nxt
    return tuple(tags)


def _header(payload: bytes) -> tuple[int, int, int]:
    """(code, session id, length) of a PPPoE header that fits the payload."""
    have = len(payload)
    if have < HEADER_LEN:
        raise DecodeError("short_header", f"{have} bytes")
    ver_type, code, sid, length = _HDR.unpack_from(payload)
    if ver_type != VER_TYPE:
        raise DecodeError("bad_version", f"0x{ver_type:02x}")
    if HEADER_LEN + length > have:
        raise DecodeError("bad_length", f"length {length}, have {have - HEADER_LEN}")
    return code, sid, length


def decode(payload: bytes) -> PPPoEPacket:
    """Decode a discovery or session packet."""
    code, sid, length = _header(payload)
    body = payload[HEADER_LEN : HEADER_LEN + length]
    if type(body) is not bytes:
        body = bytes(body)
    pkt: PPPoEPacket
    if code == SESSION:
        pkt = _tuple_new(PPPoEPacket, (code, sid, (), body))
    else:
        pkt = _tuple_new(PPPoEPacket, (code, sid, decode_tags(body), b""))
    return pkt


def session_frame(session_id: int, ppp_payload: bytes) -> bytes:
    """PPPoE session-stage payload (EtherType 0x8864) carrying one PPP payload."""
    return _HDR.pack(VER_TYPE, SESSION, session_id, len(ppp_payload)) + ppp_payload


def decode_session(payload: bytes) -> tuple[int, bytes]:
    """(session_id, ppp_payload) of a session-stage packet."""
    code, sid, length = _header(payload)
    if code != SESSION:
        decode(payload)  # a discovery packet: its tag errors take precedence, as they always did
        raise DecodeError("not_session_code", f"0x{code:02x}")
    body = payload[HEADER_LEN : HEADER_LEN + length]
    return sid, body if type(body) is bytes else bytes(body)


def first_tags(tags: Iterable[tuple[int, bytes]], slots: Mapping[int, int], n: int) -> list[bytes | None]:
    """The value of the first tag of each wanted type, found in one pass (RFC 2516: later duplicates
    are ignored): ``slots`` maps a tag type to its index in the returned list of ``n`` values."""
    found: list[bytes | None] = [None] * n
    slot = slots.get
    for t, v in tags:
        i = slot(t)
        if i is not None and found[i] is None:
            found[i] = v
    return found


def u16(value: bytes) -> int | None:
    return int(_H.unpack(value)[0]) if len(value) == 2 else None
