"""RADIUS wire codec (RFC 2865 §3, §5; RFC 2866; RFC 5176): bytes <-> :class:`Packet`.

Structure only: this module splits a datagram into header and attributes (vendor-specific
attributes of the RFC 2865 §5.26 recommended format are split into their sub-attributes) and
joins them again.  Typed values come from :mod:`abng.aaa.dictionary`; authenticators,
Message-Authenticator and password hiding are in :mod:`abng.aaa.crypto`.

A length that disagrees with the datagram is a :class:`DecodeError`.  Attributes the dictionary
does not know are kept raw; a malformed Vendor-Specific attribute is kept as one raw type-26
attribute.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from abng.aaa.dictionary import AttrDef, AttrType, Dictionary, Value, ValueDecodeError, default_dictionary

HEADER = struct.Struct("!BBH16s")
_U32 = struct.Struct("!I")
MIN_LENGTH = 20
MAX_LENGTH = 4096
VENDOR_SPECIFIC = 26
MESSAGE_AUTHENTICATOR = 80


class Code(enum.IntEnum):
    ACCESS_REQUEST = 1
    ACCESS_ACCEPT = 2
    ACCESS_REJECT = 3
    ACCOUNTING_REQUEST = 4
    ACCOUNTING_RESPONSE = 5
    ACCESS_CHALLENGE = 11
    STATUS_SERVER = 12
    DISCONNECT_REQUEST = 40
    DISCONNECT_ACK = 41
    DISCONNECT_NAK = 42
    COA_REQUEST = 43
    COA_ACK = 44
    COA_NAK = 45


#: User-Password, CHAP-Password, Tunnel-Password: kept out of ``repr`` (log lines, tracebacks).
HIDDEN_ATTRIBUTES = frozenset({2, 3, 69})


class DecodeError(ValueError):
    """Garbage from the peer: a datagram that is not a well-formed RADIUS packet."""


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute as on the wire.  ``vendor`` != 0: a vendor sub-attribute (type = vendor type)."""

    type: int
    value: bytes
    vendor: int = 0

    @property
    def key(self) -> tuple[int, int]:
        return (self.vendor, self.type)

    def __repr__(self) -> str:
        hidden = self.vendor == 0 and self.type in HIDDEN_ATTRIBUTES
        value = f"<{len(self.value)} bytes hidden>" if hidden else repr(self.value)
        return f"Attribute(type={self.type}, value={value}, vendor={self.vendor})"


@dataclass(frozen=True, slots=True)
class Packet:
    code: int
    identifier: int
    authenticator: bytes
    attributes: tuple[Attribute, ...] = ()

    def raw(self, vendor: int, type_: int) -> list[bytes]:
        return [a.value for a in self.attributes if a.vendor == vendor and a.type == type_]

    def first(self, name: str, dictionary: Dictionary | None = None) -> Value | None:
        """First typed value of attribute ``name`` (None if absent or malformed)."""
        values = self.get_all(name, dictionary)
        return values[0] if values else None

    def get_all(self, name: str, dictionary: Dictionary | None = None) -> list[Value]:
        d = dictionary or default_dictionary()
        defn = d.attr(name)
        out: list[Value] = []
        for raw in self.raw(defn.vendor, defn.code):
            try:
                out.append(d.decode_value(defn, raw))
            except ValueDecodeError:
                continue
        return out

    def has(self, name: str, dictionary: Dictionary | None = None) -> bool:
        defn = (dictionary or default_dictionary()).attr(name)
        return any(a.vendor == defn.vendor and a.type == defn.code for a in self.attributes)

    def named(self, dictionary: Dictionary | None = None) -> dict[str, list[Value]]:
        """All attributes by name; unknown ones as ``Attr-<n>`` / ``Vendor-<v>-Attr-<n>`` bytes."""
        d = dictionary or default_dictionary()
        out: dict[str, list[Value]] = {}
        for a in self.attributes:
            defn = d.lookup(a.vendor, a.type)
            value: Value = a.value
            if defn is None:
                name = f"Vendor-{a.vendor}-Attr-{a.type}" if a.vendor else f"Attr-{a.type}"
            else:
                name = defn.name
                try:
                    value = d.decode_value(defn, a.value)
                except ValueDecodeError:
                    value = a.value
            out.setdefault(name, []).append(value)
        return out


def decode(data: bytes) -> Packet:
    """Split a datagram (RFC 2865 §3: octets past Length are padding and ignored)."""
    if len(data) < MIN_LENGTH:
        raise DecodeError(f"datagram of {len(data)} octets is shorter than a RADIUS header")
    code, ident, length, auth = HEADER.unpack_from(data)
    if length < MIN_LENGTH or length > MAX_LENGTH:
        raise DecodeError(f"length field {length} out of range 20..4096")
    if length > len(data):
        raise DecodeError(f"length field {length} exceeds the datagram ({len(data)} octets)")
    if type(data) is not bytes:  # bytearray, memoryview: attribute values are bytes
        data = bytes(data)
    attrs: list[Attribute] = []
    pos = MIN_LENGTH
    while pos < length:
        if pos + 2 > length:
            raise DecodeError(f"truncated attribute header at offset {pos}")
        atype, alen = data[pos], data[pos + 1]
        end = pos + alen
        if alen < 2 or end > length:
            raise DecodeError(f"attribute {atype} at offset {pos} has bad length {alen}")
        if atype == VENDOR_SPECIFIC:
            attrs.extend(_split_vsa(data[pos + 2 : end]))
        else:
            attrs.append(Attribute(atype, data[pos + 2 : end]))
        pos = end
    return Packet(code, ident, auth, tuple(attrs))


def _split_vsa(value: bytes) -> list[Attribute]:
    """RFC 2865 §5.26 recommended format; anything else stays one raw Vendor-Specific attribute."""
    if len(value) < 4 + 2:
        return [Attribute(VENDOR_SPECIFIC, value)]
    vendor = int.from_bytes(value[:4], "big")
    subs: list[Attribute] = []
    pos = 4
    while pos < len(value):
        if pos + 2 > len(value) or vendor == 0:
            return [Attribute(VENDOR_SPECIFIC, value)]
        vtype, vlen = value[pos], value[pos + 1]
        if vlen < 2 or pos + vlen > len(value):
            return [Attribute(VENDOR_SPECIFIC, value)]
        subs.append(Attribute(vtype, value[pos + 2 : pos + vlen], vendor))
        pos += vlen
    return subs


_TLV_HEAD = struct.Struct("!BB")
_VSA_HEAD = struct.Struct("!BBIBB")


def encode_attributes(attrs: Iterable[Attribute]) -> bytes:
    parts: list[bytes] = []
    for a in attrs:
        value = a.value
        n = len(value)
        if a.vendor:
            if n > 247:
                raise ValueError(f"vendor attribute {a.vendor}/{a.type} value longer than 247 octets")
            parts.append(_VSA_HEAD.pack(VENDOR_SPECIFIC, n + 8, a.vendor, a.type, n + 2))
        else:
            if n > 253:
                raise ValueError(f"attribute {a.type} value longer than 253 octets")
            parts.append(_TLV_HEAD.pack(a.type, n + 2))
        parts.append(value)
    return b"".join(parts)


def encode(packet: Packet) -> bytes:
    body = encode_attributes(packet.attributes)
    length = MIN_LENGTH + len(body)
    if length > MAX_LENGTH:
        raise ValueError(f"packet of {length} octets exceeds 4096")
    if len(packet.authenticator) != 16:
        raise ValueError("authenticator must be 16 octets")
    return HEADER.pack(packet.code, packet.identifier, length, packet.authenticator) + body


def make(name: str, value: Value, dictionary: Dictionary | None = None) -> Attribute:
    """An :class:`Attribute` from a dictionary name and a typed value."""
    d = dictionary or default_dictionary()
    defn: AttrDef = d.attr(name)
    return Attribute(defn.code, d.encode_value(defn, value), defn.vendor)


def make_all(pairs: Iterable[tuple[str, Value]], dictionary: Dictionary | None = None) -> list[Attribute]:
    return [make(n, v, dictionary) for n, v in pairs]


_STRING_KIND, _INTEGER_KIND, _OTHER_KIND = 1, 2, 0
_CACHE_MAX = 4096


class PairEncoder:
    """``(name, value)`` pairs straight to attribute wire octets: the same bytes as
    ``encode_attributes(make_all(pairs))`` (same errors too) without an :class:`Attribute` per pair.

    Names are resolved once; the encodings of integer attributes given by value name
    (``"Framed-User"``, ``"Start"``) and of addresses given as strings are cached (the first
    4096 seen: the NAS's own address and the value names come first).  ``drop``: the code of a
    standard attribute to leave out (0: none)."""

    def __init__(self, dictionary: Dictionary | None = None) -> None:
        self.dictionary = dictionary or default_dictionary()
        self._defs: dict[str, tuple[AttrDef, int, int]] = {}  # name -> (defn, kind, vendor<<8|code)
        self._named: dict[tuple[str, str], bytes] = {}  # (name, string value) -> whole attribute

    def encode(self, pairs: Iterable[tuple[str, Value]], drop: int = 0) -> bytes:
        parts: list[bytes] = []
        append, defs, named, tlv_head = parts.append, self._defs, self._named, _TLV_HEAD.pack
        for name, value in pairs:
            entry = defs.get(name)
            if entry is None:
                entry = self._define(name)
            defn, kind, key = entry
            if key == drop:
                continue
            if kind == _STRING_KIND and isinstance(value, str):
                raw = value.encode()
            elif kind == _INTEGER_KIND and isinstance(value, int):
                raw = _U32.pack(value)
            elif kind == _STRING_KIND and isinstance(value, bytes):
                raw = value
            elif isinstance(value, str) and kind != _STRING_KIND:  # a value name, an IPv4 address
                tlv = named.get((name, value))
                if tlv is None:
                    tlv = self._attribute(defn, self.dictionary.encode_value(defn, value))
                    if len(named) < _CACHE_MAX:
                        named[(name, value)] = tlv
                append(tlv)
                continue
            else:
                append(self._attribute(defn, self.dictionary.encode_value(defn, value)))
                continue
            if key < 256 and len(raw) <= 253:  # the usual case, inline: a standard attribute
                append(tlv_head(key, len(raw) + 2))
                append(raw)
            else:
                append(self._attribute(defn, raw))
        return b"".join(parts)

    @staticmethod
    def _attribute(defn: AttrDef, raw: bytes) -> bytes:
        n = len(raw)
        if defn.vendor:
            if n > 247:
                raise ValueError(f"vendor attribute {defn.vendor}/{defn.code} value longer than 247 octets")
            return _VSA_HEAD.pack(VENDOR_SPECIFIC, n + 8, defn.vendor, defn.code, n + 2) + raw
        if n > 253:
            raise ValueError(f"attribute {defn.code} value longer than 253 octets")
        return _TLV_HEAD.pack(defn.code, n + 2) + raw

    def _define(self, name: str) -> tuple[AttrDef, int, int]:
        defn = self.dictionary.attr(name)  # KeyError: our own misuse, as in make()
        t = defn.type
        if t in (AttrType.STRING, AttrType.OCTETS, AttrType.VSA):
            kind = _STRING_KIND
        elif t in (AttrType.INTEGER, AttrType.DATE):
            kind = _INTEGER_KIND
        else:
            kind = _OTHER_KIND
        entry = (defn, kind, defn.vendor << 8 | defn.code)
        self._defs[name] = entry
        return entry
