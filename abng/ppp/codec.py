"""PPP wire format: protocol field, control packets (LCP/IPCP), options, PAP and CHAP.

Everything here is pure: bytes in, immutable messages (named tuples: one or more is made per
packet, and a tuple costs a third of a frozen dataclass) out, and back.  A length that disagrees
with the buffer raises :class:`DecodeError` (never IndexError or struct.error).  Over PPPoE the
protocol field is always two bytes (RFC 2516 §7: no PFC/ACFC), so ``ppp_payload`` below means
"2-byte protocol + information field".
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

_H = struct.Struct("!H")
_I = struct.Struct("!I")
_BB = struct.Struct("!BB")
_BBH = struct.Struct("!BBH")
_HBBH = struct.Struct("!HBBH")
_tuple_new: Callable[[Any, tuple[Any, ...]], Any] = tuple.__new__


class DecodeError(ValueError):
    """Garbage from the peer.  ``reason`` is a short counter key (STYLE §4)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


# --- protocol numbers (RFC 1661 §2, IANA "PPP DLL protocol numbers") ---------------------------

PROTO_IPV4 = 0x0021
PROTO_IPV6 = 0x0057
PROTO_IPCP = 0x8021
PROTO_IPV6CP = 0x8057
PROTO_LCP = 0xC021
PROTO_PAP = 0xC023
PROTO_CHAP = 0xC223

PROTOCOL_NAMES: dict[int, str] = {
    PROTO_IPV4: "IPv4",
    PROTO_IPV6: "IPv6",
    PROTO_IPCP: "IPCP",
    PROTO_IPV6CP: "IPv6CP",
    PROTO_LCP: "LCP",
    PROTO_PAP: "PAP",
    PROTO_CHAP: "CHAP",
}


class Code(enum.IntEnum):
    """Control packet codes (RFC 1661 §5).  1-7 are shared by every NCP; 8-11 are LCP only."""

    CONF_REQ = 1
    CONF_ACK = 2
    CONF_NAK = 3
    CONF_REJ = 4
    TERM_REQ = 5
    TERM_ACK = 6
    CODE_REJ = 7
    PROTO_REJ = 8
    ECHO_REQ = 9
    ECHO_REPLY = 10
    DISCARD_REQ = 11


NCP_CODES = frozenset(range(1, 8))
LCP_CODES = frozenset(range(1, 12))


def split_protocol(ppp_payload: bytes) -> tuple[int, bytes]:
    """Split a PPP payload into (protocol, information)."""
    if len(ppp_payload) < 2:
        raise DecodeError("short_ppp", f"{len(ppp_payload)} bytes")
    proto = ppp_payload[0] << 8 | ppp_payload[1]
    # RFC 1661 §2: protocol values are odd, and the high octet is even.
    if not proto & 0x0001 or proto & 0x0100:
        raise DecodeError("bad_protocol_field", f"0x{proto:04x}")
    return proto, bytes(ppp_payload[2:])


def encode_ppp(protocol: int, information: bytes) -> bytes:
    return _H.pack(protocol) + information


# --- control packets (RFC 1661 §5) -----------------------------------------------------------
#
# ControlPacket and Option are immutable named tuples rather than frozen dataclasses: one or
# more of them is made for every packet, and a tuple costs a third of a frozen dataclass.


class ControlPacket(NamedTuple):
    code: int
    identifier: int
    data: bytes = b""

    def encode(self) -> bytes:
        return _BBH.pack(self.code, self.identifier, 4 + len(self.data)) + self.data


def decode_control(information: bytes) -> ControlPacket:
    """Decode an LCP/NCP packet.  Octets past Length are padding (RFC 1661 §5) and ignored."""
    have = len(information)
    if have < 4:
        raise DecodeError("short_packet", f"{have} bytes")
    code, ident, length = _BBH.unpack_from(information)
    if length < 4 or length > have:
        raise DecodeError("bad_length", f"length {length}, have {have}")
    pkt: ControlPacket = _tuple_new(ControlPacket, (code, ident, bytes(information[4:length])))
    return pkt


def ppp_control(ppp_payload: bytes) -> ControlPacket:
    """``decode_control(ppp_payload[2:])`` (the packet after a 2-byte protocol field, already
    checked by the caller) without copying the information field first: same errors."""
    have = len(ppp_payload) - 2
    if have < 4:
        raise DecodeError("short_packet", f"{have} bytes")
    code, ident, length = _BBH.unpack_from(ppp_payload, 2)
    if length < 4 or length > have:
        raise DecodeError("bad_length", f"length {length}, have {have}")
    data = ppp_payload[6 : 2 + length]
    if type(data) is not bytes:
        data = bytes(data)
    pkt: ControlPacket = _tuple_new(ControlPacket, (code, ident, data))
    return pkt


def control_frame(protocol: int, code: int, identifier: int, data: bytes = b"") -> bytes:
    """A complete PPP payload carrying one control packet."""
    return _HBBH.pack(protocol, code, identifier, 4 + len(data)) + data


# --- configuration options (RFC 1661 §6) -----------------------------------------------------


class Option(NamedTuple):
    type: int
    data: bytes = b""

    def encode(self) -> bytes:
        return _BB.pack(self.type, 2 + len(self.data)) + self.data


def new_option(otype: int, data: bytes) -> Option:
    """``Option(otype, data)`` without the keyword handling of the generated constructor."""
    opt: Option = _tuple_new(Option, (otype, data))
    return opt


MAX_OPTIONS = 64
"""More options than this in one packet is treated as garbage (an option bomb)."""


def decode_options(data: bytes) -> tuple[Option, ...]:
    if type(data) is not bytes:
        data = bytes(data)  # then every slice below is bytes already
    options: list[Option] = []
    append = options.append
    pos = 0
    end = len(data)
    left = MAX_OPTIONS + 1  # options still allowed before the bomb check trips
    while pos < end:
        if end - pos < 2:
            raise DecodeError("truncated_option", f"at offset {pos}")
        olen = data[pos + 1]
        nxt = pos + olen
        if olen < 2 or nxt > end:
            raise DecodeError("bad_option_length", f"type {data[pos]} length {olen} at offset {pos}")
        append(_tuple_new(Option, (data[pos], data[pos + 2 : nxt])))
        pos = nxt
        left -= 1
        if not left:
            raise DecodeError("too_many_options", f"more than {MAX_OPTIONS}")
    return tuple(options)


def encode_options(options: Iterable[Option]) -> bytes:
    # a few short options (the usual case): concatenating is cheaper than building a list to join
    pack = _BB.pack
    out = b""
    for t, d in options:
        out += pack(t, 2 + len(d)) + d
    return out


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """Registry entry: name and the exact data length (None: variable, at least ``min_len``)."""

    name: str
    length: int | None
    min_len: int = 0

    def valid(self, option: Option) -> bool:
        if self.length is not None:
            return len(option.data) == self.length
        return len(option.data) >= self.min_len


# LCP options (RFC 1661 §6, RFC 1570).  Which of them we accept is the policy's business.
LCP_MRU = 1
LCP_ACCM = 2
LCP_AUTH = 3
LCP_QUALITY = 4
LCP_MAGIC = 5
LCP_PFC = 7
LCP_ACFC = 8

LCP_OPTIONS: dict[int, OptionSpec] = {
    LCP_MRU: OptionSpec("MRU", 2),
    LCP_ACCM: OptionSpec("ACCM", 4),
    LCP_AUTH: OptionSpec("Authentication-Protocol", None, 2),
    LCP_QUALITY: OptionSpec("Quality-Protocol", None, 2),
    LCP_MAGIC: OptionSpec("Magic-Number", 4),
    LCP_PFC: OptionSpec("Protocol-Field-Compression", 0),
    LCP_ACFC: OptionSpec("Address-and-Control-Field-Compression", 0),
}

# IPCP options (RFC 1332, RFC 1877)
IPCP_ADDRESSES = 1
IPCP_COMPRESSION = 2
IPCP_ADDRESS = 3
IPCP_DNS1 = 129
IPCP_NBNS1 = 130
IPCP_DNS2 = 131
IPCP_NBNS2 = 132

IPCP_OPTIONS: dict[int, OptionSpec] = {
    IPCP_ADDRESSES: OptionSpec("IP-Addresses", 8),
    IPCP_COMPRESSION: OptionSpec("IP-Compression-Protocol", None, 2),
    IPCP_ADDRESS: OptionSpec("IP-Address", 4),
    IPCP_DNS1: OptionSpec("Primary-DNS", 4),
    IPCP_NBNS1: OptionSpec("Primary-NBNS", 4),
    IPCP_DNS2: OptionSpec("Secondary-DNS", 4),
    IPCP_NBNS2: OptionSpec("Secondary-NBNS", 4),
}

CHAP_MD5 = 5
"""CHAP algorithm octet for MD5 (RFC 1994 §3)."""


_AUTH_DATA = {PROTO_PAP: struct.pack("!H", PROTO_PAP), PROTO_CHAP: struct.pack("!HB", PROTO_CHAP, CHAP_MD5)}
_AUTH_OPTIONS = {proto: Option(LCP_AUTH, data) for proto, data in _AUTH_DATA.items()}
AUTH_BY_DATA = {data: proto for proto, data in _AUTH_DATA.items()}


def auth_option(protocol: int) -> Option:
    """LCP Authentication-Protocol option for PAP (0xc023) or CHAP-MD5 (0xc223, algorithm 5)."""
    option = _AUTH_OPTIONS.get(protocol)
    if option is None:
        raise ValueError(f"unsupported auth protocol 0x{protocol:04x}")
    return option


def parse_auth_option(option: Option) -> int | None:
    """The auth protocol an Authentication-Protocol option names if we support it, else None."""
    return AUTH_BY_DATA.get(option.data)


def u16(option: Option) -> int:
    return int(_H.unpack(option.data)[0])


def u32(option: Option) -> int:
    return int(_I.unpack(option.data)[0])


# --- PAP (RFC 1334 §2.2) ---------------------------------------------------------------------

PAP_REQUEST = 1
PAP_ACK = 2
PAP_NAK = 3


class PapRequest(NamedTuple):
    identifier: int
    peer_id: bytes
    password: bytes

    def __repr__(self) -> str:  # the password never reaches a log line
        return f"PapRequest(identifier={self.identifier!r}, peer_id={self.peer_id!r})"

    def encode(self) -> bytes:
        peer_id, password = self.peer_id, self.password
        data = bytes((len(peer_id),)) + peer_id + bytes((len(password),)) + password
        return _BBH.pack(PAP_REQUEST, self.identifier, 4 + len(data)) + data


class PapReply(NamedTuple):
    code: int  # PAP_ACK or PAP_NAK
    identifier: int
    message: bytes = b""

    def encode(self) -> bytes:
        message = self.message
        return _BBH.pack(self.code, self.identifier, 5 + len(message)) + bytes((len(message),)) + message


def decode_pap(information: bytes) -> PapRequest | PapReply:
    pkt = decode_control(information)
    code, ident, d = pkt
    if code == PAP_REQUEST:
        if not d:
            raise DecodeError("bad_pap_request", "empty")
        plen = d[0]
        if 1 + plen >= len(d):
            raise DecodeError("bad_pap_request", "no password length")
        wlen = d[1 + plen]
        if 2 + plen + wlen > len(d):
            raise DecodeError("bad_pap_request", "password length")
        req: PapRequest = _tuple_new(PapRequest, (ident, d[1 : 1 + plen], d[2 + plen : 2 + plen + wlen]))
        return req
    if code in (PAP_ACK, PAP_NAK):
        if d and 1 + d[0] > len(d):
            raise DecodeError("bad_pap_reply", "message length")
        reply: PapReply = _tuple_new(PapReply, (code, ident, d[1 : 1 + d[0]] if d else b""))
        return reply
    raise DecodeError("unknown_pap_code", str(code))


# --- CHAP (RFC 1994 §4) ----------------------------------------------------------------------

CHAP_CHALLENGE = 1
CHAP_RESPONSE = 2
CHAP_SUCCESS = 3
CHAP_FAILURE = 4


class ChapValue(NamedTuple):
    """Challenge or Response: a value and the sender's name."""

    code: int
    identifier: int
    value: bytes  # a Response is a hash of the password: never in a log line (see __repr__)
    name: bytes

    def __repr__(self) -> str:
        return f"ChapValue(code={self.code!r}, identifier={self.identifier!r}, name={self.name!r})"

    def encode(self) -> bytes:
        data = bytes((len(self.value),)) + self.value + self.name
        return _BBH.pack(self.code, self.identifier, 4 + len(data)) + data


class ChapResult(NamedTuple):
    code: int  # CHAP_SUCCESS or CHAP_FAILURE
    identifier: int
    message: bytes = b""

    def encode(self) -> bytes:
        return _BBH.pack(self.code, self.identifier, 4 + len(self.message)) + self.message


def decode_chap(information: bytes) -> ChapValue | ChapResult:
    pkt = decode_control(information)
    code, ident, d = pkt
    if code in (CHAP_CHALLENGE, CHAP_RESPONSE):
        if not d or d[0] == 0 or 1 + d[0] > len(d):
            raise DecodeError("bad_chap_value", "value length")
        value: ChapValue = _tuple_new(ChapValue, (code, ident, d[1 : 1 + d[0]], d[1 + d[0] :]))
        return value
    if code in (CHAP_SUCCESS, CHAP_FAILURE):
        result: ChapResult = _tuple_new(ChapResult, (code, ident, d))
        return result
    raise DecodeError("unknown_chap_code", str(code))


def options_summary(options: Sequence[Option], registry: dict[int, OptionSpec]) -> str:
    """Human-readable option list for logs (never contains secrets: options carry none)."""
    return ",".join(registry[o.type].name if o.type in registry else f"opt{o.type}" for o in options)
