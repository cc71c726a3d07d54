"""DHCPv4 message codec (RFC 2131 §2 BOOTP header, RFC 2132 options, RFC 3396 concatenation).

``parse_message`` never raises anything but :class:`DecodeError` for a broken header; broken
*options* are dropped and listed in ``DhcpMessage.invalid`` so that the packet can still be
served without trusting them.  Option bombs are bounded by :data:`MAX_OPTIONS`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from abng.access.dhcp.builders import frozen_builder
from abng.access.dhcp.options import (
    FIXED_LENGTHS,
    NONEMPTY_CODES,
    MessageType,
    Opt,
    RelayAgentInfo,
    dec_ip,
    dec_uint,
    validate,
)
from abng.access.frames import DecodeError

BOOTREQUEST = 1
BOOTREPLY = 2
MAGIC_COOKIE = b"\x63\x82\x53\x63"
FLAG_BROADCAST = 0x8000
HEADER = struct.Struct("!BBBBIHHIIII16s64s128s")  # 236 bytes
OPTIONS_OFFSET = HEADER.size + 4
MAX_OPTIONS = 255  # option instances kept per message; more are counted as a bomb and ignored
MIN_REPLY_SIZE = 300  # BOOTP minimum (RFC 1542 §2.1): pad replies up to this
_unpack_header = HEADER.unpack_from
_HEADER_SIZE = HEADER.size
_OVERLOAD, _MESSAGE_TYPE, _RAPID_COMMIT = int(Opt.OVERLOAD), int(Opt.MESSAGE_TYPE), int(Opt.RAPID_COMMIT)
_MESSAGE_TYPES = frozenset(int(t) for t in MessageType)
_MESSAGE_TYPE_BY_VALUE: dict[int, MessageType] = {int(t): t for t in MessageType}


@dataclass(frozen=True, slots=True)
class DhcpMessage:
    op: int
    htype: int
    hlen: int
    hops: int
    xid: int
    secs: int
    flags: int
    ciaddr: int
    yiaddr: int
    siaddr: int
    giaddr: int
    chaddr: bytes  # the hlen significant bytes
    sname: bytes = b""
    file: bytes = b""
    options: Mapping[int, bytes] = field(default_factory=dict)  # wire order, concatenated per code
    invalid: tuple[int, ...] = ()  # codes dropped as malformed (not trusted)
    truncated: bool = False  # options ran past the end, or the bomb bound was hit

    @property
    def message_type(self) -> MessageType | None:
        v = self.options.get(_MESSAGE_TYPE)
        if not v:
            return None
        mt = _MESSAGE_TYPE_BY_VALUE.get(v[0])
        return mt if mt is not None else MessageType(v[0])  # the latter raises ValueError

    @property
    def broadcast(self) -> bool:
        return bool(self.flags & FLAG_BROADCAST)

    def ip_option(self, code: int) -> int | None:
        v = self.options.get(code)
        return dec_ip(v[:4]) if v else None

    def uint_option(self, code: int) -> int | None:
        v = self.options.get(code)
        return dec_uint(v) if v else None

    def text_option(self, code: int) -> str | None:
        v = self.options.get(code)
        return v.decode("utf-8", "replace") if v else None

    @property
    def relay_agent(self) -> RelayAgentInfo | None:
        v = self.options.get(Opt.RELAY_AGENT)
        return RelayAgentInfo.decode(v) if v else None


_new_message = frozen_builder(DhcpMessage)  # DhcpMessage(*all 17 fields), cheaper


def _walk(area: bytes, raw: dict[int, bytes], budget: list[int]) -> bool:
    """Collect options of ``area`` into ``raw`` (first-seen order, RFC 3396 concatenation of
    repeated codes); returns False when the area is truncated or the option budget runs out."""
    i, n = 0, len(area)
    left = budget[0]
    try:
        while i < n:
            code = area[i]
            if code == 0:  # PAD
                i += 1
                continue
            if code == 255:  # END
                return True
            if i + 1 >= n:
                return False  # length byte missing
            end = i + 2 + area[i + 1]
            if end > n:
                return False  # value past the end
            if left <= 0:
                return False
            left -= 1
            value = area[i + 2 : end]
            old = raw.get(code)
            raw[code] = value if old is None else old + value  # RFC 3396 concatenation
            i = end
        return True  # a missing END is tolerated (many clients pad instead)
    finally:
        budget[0] = left


def parse_message(data: bytes | bytearray | memoryview) -> DhcpMessage:
    buf = data if type(data) is bytes else bytes(data)
    if len(buf) < OPTIONS_OFFSET:
        raise DecodeError("dhcp_short", f"{len(buf)} bytes")
    op, htype, hlen, hops, xid, secs, flags, ci, yi, si, gi, chaddr, sname, file_ = _unpack_header(buf, 0)
    if buf[_HEADER_SIZE:OPTIONS_OFFSET] != MAGIC_COOKIE:
        raise DecodeError("dhcp_cookie")
    if op != BOOTREQUEST and op != BOOTREPLY:
        raise DecodeError("dhcp_op", str(op))
    if hlen > 16:
        raise DecodeError("dhcp_hlen", str(hlen))
    raw: dict[int, bytes] = {}
    budget = [MAX_OPTIONS]
    complete = _walk(buf[OPTIONS_OFFSET:], raw, budget)
    overload = raw.get(_OVERLOAD)
    used_file = used_sname = False
    if overload is not None and len(overload) == 1 and overload[0] in (1, 2, 3):
        # RFC 2131 §4.1: options, then 'file', then 'sname'.
        if overload[0] & 1:
            complete = _walk(file_, raw, budget) and complete
            used_file = True
        if overload[0] & 2:
            complete = _walk(sname, raw, budget) and complete
            used_sname = True
    options: dict[int, bytes] = raw
    invalid: list[int] | tuple[int, ...] = ()
    fixed, nonempty = FIXED_LENGTHS, NONEMPTY_CODES
    for code, value in raw.items():
        want = fixed.get(code)
        if want is not None:
            if len(value) == want and (code != _MESSAGE_TYPE or value[0] in _MESSAGE_TYPES):
                continue
        elif code in nonempty:  # text, opaque bytes, code lists: at least one byte
            if value or code == _RAPID_COMMIT:
                continue
        else:
            try:
                validate(code, value)
                continue
            except DecodeError:
                pass
        if not invalid:
            invalid = []
        assert isinstance(invalid, list)
        invalid.append(code)
    if invalid:
        options = {c: v for c, v in raw.items() if c not in invalid}
    return _new_message(
        op,
        htype,
        hlen,
        hops,
        xid,
        secs,
        flags,
        ci,
        yi,
        si,
        gi,
        chaddr[:hlen],
        b"" if used_sname else sname.rstrip(b"\x00"),
        b"" if used_file else file_.rstrip(b"\x00"),
        options,
        tuple(invalid),
        not complete,
    )


def encode_options(options: Iterable[tuple[int, bytes]]) -> bytes:
    """Encode options in order, splitting values over 255 bytes (RFC 3396), then END."""
    out = bytearray()
    for code, value in options:
        if not 0 < code < 255:
            raise ValueError(f"option code {code}")
        if not value:
            out += bytes((code, 0))
        for i in range(0, len(value), 255):
            chunk = value[i : i + 255]
            out += bytes((code, len(chunk))) + chunk
    out.append(Opt.END)
    return bytes(out)


def build_message(
    *,
    op: int,
    xid: int,
    chaddr: bytes,
    options: Iterable[tuple[int, bytes]],
    htype: int = 1,
    hops: int = 0,
    secs: int = 0,
    flags: int = 0,
    ciaddr: int = 0,
    yiaddr: int = 0,
    siaddr: int = 0,
    giaddr: int = 0,
    sname: bytes = b"",
    file: bytes = b"",
    pad_to: int = MIN_REPLY_SIZE,
) -> bytes:
    if len(chaddr) > 16 or len(sname) > 64 or len(file) > 128:
        raise ValueError("chaddr/sname/file too long")
    head = HEADER.pack(
        op, htype, len(chaddr), hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr, chaddr, sname, file
    )
    msg = head + MAGIC_COOKIE + encode_options(options)
    if len(msg) < pad_to:
        msg += b"\x00" * (pad_to - len(msg))
    return msg


def encode(msg: DhcpMessage) -> bytes:
    """Re-encode a parsed message (options in their stored order; no padding)."""
    return build_message(
        op=msg.op,
        xid=msg.xid,
        chaddr=msg.chaddr,
        options=msg.options.items(),
        htype=msg.htype,
        hops=msg.hops,
        secs=msg.secs,
        flags=msg.flags,
        ciaddr=msg.ciaddr,
        yiaddr=msg.yiaddr,
        siaddr=msg.siaddr,
        giaddr=msg.giaddr,
        sname=msg.sname,
        file=msg.file,
        pad_to=0,
    )
