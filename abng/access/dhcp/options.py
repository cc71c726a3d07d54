"""DHCP option registry (RFC 2132, 3046, 3442) and the Relay Agent Information option (82).

Options are kept on the wire as ``bytes``; the registry says how to check and convert them.
A value whose length disagrees with its type is *invalid*: the codec drops it from the
message and records its code in ``DhcpMessage.invalid`` (not trusted, packet still served).
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from abng.access.frames import DecodeError


class Kind(enum.Enum):
    IP = "ip"  # exactly 4 bytes
    IPS = "ips"  # n*4 bytes, n >= 1
    U8 = "u8"
    U16 = "u16"
    U32 = "u32"
    TEXT = "text"  # >= 1 byte, printable-ish; kept as bytes
    BYTES = "bytes"  # >= 1 byte (opaque)
    CODES = "codes"  # list of option codes (55)
    ROUTES = "routes"  # RFC 3442 classless static routes
    RELAY = "relay"  # RFC 3046 sub-options


@dataclass(frozen=True, slots=True)
class OptionSpec:
    code: int
    name: str
    kind: Kind


class Opt(enum.IntEnum):
    PAD = 0
    SUBNET_MASK = 1
    ROUTER = 3
    DNS = 6
    HOSTNAME = 12
    DOMAIN_NAME = 15
    BROADCAST = 28
    REQUESTED_IP = 50
    LEASE_TIME = 51
    OVERLOAD = 52
    MESSAGE_TYPE = 53
    SERVER_ID = 54
    PARAM_REQUEST = 55
    MESSAGE = 56
    MAX_MESSAGE_SIZE = 57
    RENEWAL_TIME = 58
    REBINDING_TIME = 59
    VENDOR_CLASS = 60
    CLIENT_ID = 61
    RAPID_COMMIT = 80
    CLIENT_FQDN = 81
    RELAY_AGENT = 82
    CLASSLESS_ROUTES = 121
    END = 255


class MessageType(enum.IntEnum):
    DISCOVER = 1
    OFFER = 2
    REQUEST = 3
    DECLINE = 4
    ACK = 5
    NAK = 6
    RELEASE = 7
    INFORM = 8


REGISTRY: dict[int, OptionSpec] = {
    s.code: s
    for s in (
        OptionSpec(1, "subnet-mask", Kind.IP),
        OptionSpec(2, "time-offset", Kind.U32),
        OptionSpec(3, "router", Kind.IPS),
        OptionSpec(6, "domain-name-server", Kind.IPS),
        OptionSpec(12, "host-name", Kind.TEXT),
        OptionSpec(15, "domain-name", Kind.TEXT),
        OptionSpec(26, "interface-mtu", Kind.U16),
        OptionSpec(28, "broadcast-address", Kind.IP),
        OptionSpec(42, "ntp-servers", Kind.IPS),
        OptionSpec(43, "vendor-specific", Kind.BYTES),
        OptionSpec(50, "requested-ip-address", Kind.IP),
        OptionSpec(51, "ip-address-lease-time", Kind.U32),
        OptionSpec(52, "option-overload", Kind.U8),
        OptionSpec(53, "dhcp-message-type", Kind.U8),
        OptionSpec(54, "server-identifier", Kind.IP),
        OptionSpec(55, "parameter-request-list", Kind.CODES),
        OptionSpec(56, "message", Kind.TEXT),
        OptionSpec(57, "maximum-dhcp-message-size", Kind.U16),
        OptionSpec(58, "renewal-time", Kind.U32),
        OptionSpec(59, "rebinding-time", Kind.U32),
        OptionSpec(60, "vendor-class-identifier", Kind.BYTES),
        OptionSpec(61, "client-identifier", Kind.BYTES),
        OptionSpec(80, "rapid-commit", Kind.BYTES),
        OptionSpec(81, "client-fqdn", Kind.BYTES),
        OptionSpec(82, "relay-agent-information", Kind.RELAY),
        OptionSpec(121, "classless-static-route", Kind.ROUTES),
    )
}

_FIXED = {Kind.IP: 4, Kind.U8: 1, Kind.U16: 2, Kind.U32: 4}
#: option code -> the exact length of its value, for the fixed-size kinds (the parser's fast path;
#: the message type's value range is checked by the caller of this table too)
FIXED_LENGTHS: dict[int, int] = {c: _FIXED[s.kind] for c, s in REGISTRY.items() if s.kind in _FIXED}


def option_name(code: int) -> str:
    spec = REGISTRY.get(code)
    return spec.name if spec else f"option-{code}"


_IPS_CODES = frozenset(c for c, s in REGISTRY.items() if s.kind is Kind.IPS)
#: codes whose value must not be empty (text, opaque bytes, code lists; rapid-commit excepted)
NONEMPTY_CODES = frozenset(c for c, s in REGISTRY.items() if s.kind in (Kind.TEXT, Kind.BYTES, Kind.CODES))
_MESSAGE_TYPES = frozenset(int(t) for t in MessageType)


def validate(code: int, value: bytes) -> None:
    """Raise :class:`DecodeError` when ``value`` does not fit option ``code``'s type."""
    want = FIXED_LENGTHS.get(code)
    if want is not None:
        if len(value) != want:
            raise DecodeError("option_length", f"{REGISTRY[code].name}: {len(value)} bytes")
        if code == 53 and value[0] not in _MESSAGE_TYPES:  # dhcp-message-type
            raise DecodeError("message_type", str(value[0]))
    elif code in NONEMPTY_CODES:
        if not value and code != 80:  # rapid-commit is empty by definition
            raise DecodeError("option_length", f"{REGISTRY[code].name}: empty")
    elif code in _IPS_CODES:
        if not value or len(value) % 4:
            raise DecodeError("option_length", f"{REGISTRY[code].name}: {len(value)} bytes")
    elif code in REGISTRY:
        kind = REGISTRY[code].kind
        if kind is Kind.ROUTES:
            check_routes(value)
        elif kind is Kind.RELAY:
            RelayAgentInfo.decode(value)


# ---------------------------------------------------------------- typed encoders


def enc_ip(*addrs: int) -> bytes:
    return b"".join(struct.pack("!I", a) for a in addrs)


def enc_u8(v: int) -> bytes:
    return struct.pack("!B", v)


def enc_u16(v: int) -> bytes:
    return struct.pack("!H", v)


def enc_u32(v: int) -> bytes:
    return struct.pack("!I", v & 0xFFFFFFFF)


def dec_ip(value: bytes) -> int:
    return int(struct.unpack("!I", value)[0])


def dec_uint(value: bytes) -> int:
    return int.from_bytes(value, "big")


def encode_routes(routes: Iterable[tuple[ipaddress.IPv4Network, int]]) -> bytes:
    """RFC 3442: width, significant octets of the destination, router."""
    out = bytearray()
    for net, router in routes:
        width = net.prefixlen
        out.append(width)
        out += net.network_address.packed[: (width + 7) // 8]
        out += struct.pack("!I", router)
    return bytes(out)


def check_routes(value: bytes) -> None:
    """RFC 3442 validation of option 121 alone, in integer arithmetic (no objects built).

    Same decisions and errors as :func:`decode_routes`, in the same order: empty, then per
    route the width (> 32), truncation, and destination bits set past the width.
    """
    size = len(value)
    if not size:
        raise DecodeError("option_length", "classless-static-route: empty")
    i = 0
    while i < size:
        width = value[i]
        if width > 32:
            raise DecodeError("route_width", str(width))
        n = (width + 7) >> 3
        if i + 5 + n > size:
            raise DecodeError("route_truncated")
        # the significant octets' bits past the width must be zero (the rest is padding)
        if n and int.from_bytes(value[i + 1 : i + 1 + n], "big") & ((1 << (8 * n - width)) - 1):
            raise DecodeError("route_host_bits")
        i += 5 + n


def decode_routes(value: bytes) -> list[tuple[ipaddress.IPv4Network, int]]:
    """RFC 3442 routes as (destination, router); :class:`DecodeError` as :func:`check_routes`."""
    check_routes(value)
    routes: list[tuple[ipaddress.IPv4Network, int]] = []
    i, size = 0, len(value)
    while i < size:
        width = value[i]
        n = (width + 7) >> 3
        dest = int.from_bytes(value[i + 1 : i + 1 + n], "big") << (8 * (4 - n))
        routes.append((ipaddress.IPv4Network((dest, width)), dec_ip(value[i + 1 + n : i + 5 + n])))
        i += 5 + n
    return routes


# ---------------------------------------------------------------- Option 82 (RFC 3046)

SUBOPT_CIRCUIT_ID = 1
SUBOPT_REMOTE_ID = 2


@dataclass(frozen=True, slots=True)
class RelayAgentInfo:
    """Relay Agent Information: sub-options in wire order (1 Circuit-ID, 2 Remote-ID, others)."""

    suboptions: tuple[tuple[int, bytes], ...]

    def get(self, code: int) -> bytes | None:
        for c, v in self.suboptions:
            if c == code:
                return v
        return None

    @property
    def circuit_id(self) -> bytes | None:
        return self.get(SUBOPT_CIRCUIT_ID)

    @property
    def remote_id(self) -> bytes | None:
        return self.get(SUBOPT_REMOTE_ID)

    @classmethod
    def make(
        cls, circuit_id: bytes | None, remote_id: bytes | None, *others: tuple[int, bytes]
    ) -> RelayAgentInfo:
        subs: list[tuple[int, bytes]] = []
        if circuit_id is not None:
            subs.append((SUBOPT_CIRCUIT_ID, circuit_id))
        if remote_id is not None:
            subs.append((SUBOPT_REMOTE_ID, remote_id))
        if others:
            subs.extend(o for o in others if o[0] not in (SUBOPT_CIRCUIT_ID, SUBOPT_REMOTE_ID))
        return cls(tuple(subs))

    @classmethod
    def decode(cls, value: bytes) -> RelayAgentInfo:
        """Strict: every sub-option must fit exactly (RFC 3046 §2.0); else :class:`DecodeError`."""
        if not value:
            raise DecodeError("option82_empty")
        subs: list[tuple[int, bytes]] = []
        i = 0
        while i < len(value):
            if i + 2 > len(value):
                raise DecodeError("option82_truncated", f"sub-option header at {i}")
            code, length = value[i], value[i + 1]
            if length == 0 or i + 2 + length > len(value):
                raise DecodeError("option82_suboption_length", f"sub-option {code} claims {length}")
            subs.append((code, bytes(value[i + 2 : i + 2 + length])))
            i += 2 + length
        return cls(tuple(subs))

    def encode(self) -> bytes:
        out = bytearray()
        for code, value in self.suboptions:
            if not 0 < len(value) <= 255:
                raise ValueError(f"sub-option {code} must be 1..255 bytes")
            out += bytes((code, len(value))) + value
        if len(out) > 255:
            raise ValueError("relay agent information longer than 255 bytes")
        return bytes(out)
