"""Ethernet frames with any VLAN tag stack, plus the IPv4/UDP layers DHCP needs (sans-I/O).

Parsing follows reference §6.1: start at offset 12 and, while the EtherType is a VLAN TPID
(0x8100 802.1Q, 0x88A8 802.1ad, 0x9100 legacy QinQ), take the TCI and advance 4 bytes; the
first other EtherType ends the stack.  Nesting depth is arbitrary (bounded by the frame).

Every malformed input raises :class:`DecodeError` (a ``ValueError`` carrying a short
``reason``), never ``IndexError`` or ``struct.error``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

TPID_8021Q = 0x8100
TPID_8021AD = 0x88A8
TPID_QINQ_LEGACY = 0x9100
VLAN_TPIDS = frozenset({TPID_8021Q, TPID_8021AD, TPID_QINQ_LEGACY})

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_PPPOE_DISC = 0x8863
ETH_P_PPPOE_SESS = 0x8864

IPPROTO_UDP = 17
BROADCAST_MAC = b"\xff" * 6
MAX_TAGS = 8  # deeper stacks are garbage on any real access network


class DecodeError(ValueError):
    """Peer garbage: a frame or packet that cannot be decoded.  ``reason`` is a short token."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class VlanTag:
    tpid: int
    vid: int
    pcp: int = 0
    dei: int = 0

    @property
    def tci(self) -> int:
        return (self.pcp & 7) << 13 | (self.dei & 1) << 12 | (self.vid & 0xFFF)

    @classmethod
    def from_tci(cls, tpid: int, tci: int) -> VlanTag:
        return cls(tpid, tci & 0xFFF, tci >> 13 & 7, tci >> 12 & 1)


#: VlanTag objects by (tpid << 16 | tci): tags are immutable, so every frame with the same tag
#: shares one object (at most 3 TPIDs x 65,536 TCIs; the cache stops growing at _TAG_CACHE_MAX)
_TAG_CACHE: dict[int, VlanTag] = {}
_TAG_CACHE_MAX = 1 << 16


def intern_tag(tpid: int, tci: int) -> VlanTag:
    """``VlanTag.from_tci(tpid, tci)``, one shared object per (tpid, tci) (tags are immutable)."""
    key = tpid << 16 | tci
    tag = _TAG_CACHE.get(key)
    if tag is None:
        tag = VlanTag(tpid, tci & 0xFFF, tci >> 13 & 7, tci >> 12 & 1)
        if len(_TAG_CACHE) < _TAG_CACHE_MAX:
            _TAG_CACHE[key] = tag
    return tag


@dataclass(slots=True)  # not frozen: built for every received frame (a frozen __init__ is 3x slower)
class EthernetFrame:
    dst: bytes
    src: bytes
    tags: tuple[VlanTag, ...]
    ethertype: int
    payload: bytes
    #: the VLAN ids of ``tags``, outermost first (given by parse_frame, which builds every frame)
    vids: tuple[int, ...]


#: (tags, vids) by the raw tag bytes of a frame: frames of one subscriber repeat the same stack
_STACKS: dict[bytes, tuple[tuple[VlanTag, ...], tuple[int, ...]]] = {}
_STACKS_MAX = 1 << 16


def format_mac(mac: bytes) -> str:
    return bytes(mac).hex(":")  # "aa:bb:cc:dd:ee:ff", lowercase


def parse_mac(text: str) -> bytes:
    parts = text.replace("-", ":").split(":")
    if len(parts) != 6:
        raise ValueError(f"bad MAC address {text!r}")
    return bytes(int(p, 16) for p in parts)


def parse_frame(data: bytes | bytearray | memoryview) -> EthernetFrame:
    """Decode an Ethernet II frame and its VLAN tag stack (reference §6.1)."""
    buf = data if type(data) is bytes else bytes(data)
    n = len(buf)
    if n < 14:
        raise DecodeError("eth_short", f"{n} bytes")
    etype = buf[12] << 8 | buf[13]
    if etype not in VLAN_TPIDS:
        return EthernetFrame(buf[0:6], buf[6:12], (), etype, buf[14:], ())
    off = 12
    depth = 0
    while etype in VLAN_TPIDS:
        if depth >= MAX_TAGS:
            raise DecodeError("eth_too_many_tags")
        if off + 6 > n:
            raise DecodeError("eth_tag_truncated", f"tag {depth}")
        depth += 1
        off += 4
        etype = buf[off] << 8 | buf[off + 1]
    raw = buf[12:off]
    stack = _STACKS.get(raw)
    if stack is None:
        tags = tuple(
            intern_tag(raw[i] << 8 | raw[i + 1], raw[i + 2] << 8 | raw[i + 3]) for i in range(0, len(raw), 4)
        )
        stack = (tags, tuple(t.vid for t in tags))
        if len(_STACKS) < _STACKS_MAX:
            _STACKS[raw] = stack
    return EthernetFrame(buf[0:6], buf[6:12], stack[0], etype, buf[off + 2 :], stack[1])


def build_frame(
    dst: bytes, src: bytes, tags: tuple[VlanTag, ...] | list[VlanTag], ethertype: int, payload: bytes
) -> bytes:
    """Encode a frame, outer tag first.  No padding: the kernel/NIC pads short frames."""
    if len(dst) != 6 or len(src) != 6:
        raise ValueError("MAC addresses are 6 bytes")
    head = [dst, src]
    for tag in tags:
        head.append(struct.pack("!HH", tag.tpid, tag.tci))
    head.append(struct.pack("!H", ethertype))
    head.append(payload)
    return b"".join(head)


_TAG_PACK = struct.Struct("!HH").pack  # per received tagged frame (AF_PACKET strips the outer tag)


def insert_outer_tag(frame: bytes | bytearray | memoryview, tpid: int, tci: int) -> bytes:
    """Re-insert the outer tag the kernel stripped into PACKET_AUXDATA (tp_vlan_tpid/tp_vlan_tci)."""
    buf = bytes(frame)
    if len(buf) < 12:
        raise DecodeError("eth_short", f"{len(buf)} bytes")
    return buf[:12] + _TAG_PACK(tpid or TPID_8021Q, tci & 0xFFFF) + buf[12:]


def with_tags(frame: bytes, tags: tuple[VlanTag, ...] | list[VlanTag]) -> bytes:
    """Return ``frame`` with ``tags`` inserted (outermost first) before its existing tags."""
    out = bytes(frame)
    for tag in reversed(tuple(tags)):
        out = insert_outer_tag(out, tag.tpid, tag.tci)
    return out


# ---------------------------------------------------------------------------- IPv4 / UDP


def internet_checksum(data: bytes) -> int:
    """RFC 1071 one's-complement sum of the 16-bit words, complemented.

    Computed with one big integer: since 2**16 = 1 (mod 0xFFFF), the folded one's-complement sum
    of the words is the data read as one big-endian number modulo 0xFFFF, except that a non-zero
    sum is never 0 but 0xFFFF (C speed instead of a Python loop over the words)."""
    if len(data) % 2:
        data += b"\x00"
    number = int.from_bytes(data, "big")
    total = number % 0xFFFF
    if total == 0 and number:
        total = 0xFFFF
    return ~total & 0xFFFF


@dataclass(slots=True)
class Ipv4Packet:
    src: int
    dst: int
    protocol: int
    ttl: int
    tos: int
    ident: int
    payload: bytes


def parse_ipv4(data: bytes) -> Ipv4Packet:
    """Decode an IPv4 header; checksum verified; fragments are refused (DHCP never fragments)."""
    if len(data) < 20:
        raise DecodeError("ip_short")
    ver_ihl, tos, total_len, ident, frag, ttl, proto, _csum, src, dst = struct.unpack_from(
        "!BBHHHBBHII", data, 0
    )
    if ver_ihl >> 4 != 4:
        raise DecodeError("ip_version", str(ver_ihl >> 4))
    ihl = (ver_ihl & 0xF) * 4
    if ihl < 20 or ihl > len(data):
        raise DecodeError("ip_ihl", str(ihl))
    if total_len < ihl or total_len > len(data):
        raise DecodeError("ip_total_length", f"{total_len} for {len(data)} bytes")
    if internet_checksum(data[:ihl]) != 0:
        raise DecodeError("ip_checksum")
    if frag & 0x3FFF:  # MF set or non-zero offset
        raise DecodeError("ip_fragment")
    return Ipv4Packet(src, dst, proto, ttl, tos, ident, data[ihl:total_len])


@dataclass(slots=True)
class UdpDatagram:
    src_port: int
    dst_port: int
    payload: bytes


def parse_udp(ip: Ipv4Packet, verify_checksum: bool = True) -> UdpDatagram:
    """Decode UDP inside ``ip``; a zero checksum means "none" (RFC 768)."""
    data = ip.payload
    if ip.protocol != IPPROTO_UDP:
        raise DecodeError("not_udp", str(ip.protocol))
    if len(data) < 8:
        raise DecodeError("udp_short")
    sport, dport, length, csum = struct.unpack_from("!HHHH", data, 0)
    if length < 8 or length > len(data):
        raise DecodeError("udp_length", f"{length} for {len(data)} bytes")
    if verify_checksum and csum != 0:
        pseudo = struct.pack("!IIBBH", ip.src, ip.dst, 0, IPPROTO_UDP, length)
        if internet_checksum(pseudo + data[:length]) != 0:
            raise DecodeError("udp_checksum")
    return UdpDatagram(sport, dport, data[8:length])


def build_udp(src_ip: int, dst_ip: int, sport: int, dport: int, payload: bytes) -> bytes:
    length = 8 + len(payload)
    if length > 0xFFFF:
        raise ValueError("UDP payload too large")
    header = struct.pack("!HHHH", sport, dport, length, 0)
    pseudo = struct.pack("!IIBBH", src_ip, dst_ip, 0, IPPROTO_UDP, length)
    csum = internet_checksum(pseudo + header + payload) or 0xFFFF
    return struct.pack("!HHHH", sport, dport, length, csum) + payload


def build_ipv4(
    src_ip: int, dst_ip: int, protocol: int, payload: bytes, ttl: int = 64, ident: int = 0
) -> bytes:
    total = 20 + len(payload)
    if total > 0xFFFF:
        raise ValueError("IPv4 packet too large")
    header = struct.pack(
        "!BBHHHBBHII", 0x45, 0x10, total, ident & 0xFFFF, 0, ttl, protocol, 0, src_ip, dst_ip
    )
    csum = internet_checksum(header)
    return header[:10] + struct.pack("!H", csum) + header[12:] + payload


def build_ipv4_udp(src_ip: int, dst_ip: int, sport: int, dport: int, payload: bytes, ttl: int = 64) -> bytes:
    """A complete IPv4+UDP packet with both checksums set (for DHCP replies sent as raw frames)."""
    return build_ipv4(src_ip, dst_ip, IPPROTO_UDP, build_udp(src_ip, dst_ip, sport, dport, payload), ttl)


@dataclass(slots=True)
class UdpInFrame:
    """A frame decoded down to UDP: what the DHCP server consumes."""

    frame: EthernetFrame
    ip: Ipv4Packet
    udp: UdpDatagram


def parse_udp_frame(
    data: bytes | bytearray | memoryview | EthernetFrame, verify_udp_checksum: bool = False
) -> UdpInFrame:
    """Decode down to UDP.  The UDP checksum is not checked by default: frames looped through a
    local veth carry CHECKSUM_PARTIAL (offload) sums, and DHCP does its own validation."""
    frame = data if isinstance(data, EthernetFrame) else parse_frame(data)
    if frame.ethertype != ETH_P_IP:
        raise DecodeError("not_ipv4", f"ethertype 0x{frame.ethertype:04x}")
    ip = parse_ipv4(frame.payload)
    return UdpInFrame(frame, ip, parse_udp(ip, verify_udp_checksum))
