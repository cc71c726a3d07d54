"""The DHCP server's IPv4/UDP layers, per packet and cheap (sans-I/O).

Byte for byte what :mod:`abng.access.frames` builds (``build_frame`` + ``build_ipv4_udp``), and
the same checks and :class:`DecodeError` reasons as ``parse_udp_frame`` (UDP checksum not
verified), without the intermediate objects: the DHCP server handles every lease's four
packets here.  The internet checksum (RFC 1071) uses the identity
``sum of 16-bit words = int.from_bytes(data) mod 0xFFFF`` (since 2**16 = 1 mod 0xFFFF).
"""

from __future__ import annotations

import struct

from abng.access.frames import (
    ETH_P_IP,
    IPPROTO_UDP,
    DecodeError,
    EthernetFrame,
    VlanTag,
    internet_checksum,
    parse_frame,
)

_IP_HEADER = struct.Struct("!BBHHHBBHII")
_UDP_HEADER = struct.Struct("!HHHH")
_PSEUDO = struct.Struct("!IIBBH")
_TAG = struct.Struct("!HH")
_ETHERTYPE_IP = struct.pack("!H", ETH_P_IP)
_from_bytes = int.from_bytes


def ipv4_udp(src_ip: int, dst_ip: int, sport: int, dport: int, payload: bytes, ttl: int = 64) -> bytes:
    """``frames.build_ipv4_udp``: IPv4 (DSCP byte 0x10, ident 0, DF clear) + UDP, both checksums."""
    ulen = 8 + len(payload)
    total = 20 + ulen
    if total > 0xFFFF:
        raise ValueError("UDP payload too large")
    udp_head = _UDP_HEADER.pack(sport, dport, ulen, 0)
    csum = (
        internet_checksum(_PSEUDO.pack(src_ip, dst_ip, 0, IPPROTO_UDP, ulen) + udp_head + payload) or 0xFFFF
    )
    ip_head = _IP_HEADER.pack(0x45, 0x10, total, 0, 0, ttl, IPPROTO_UDP, 0, src_ip, dst_ip)
    ip_head = _IP_HEADER.pack(
        0x45, 0x10, total, 0, 0, ttl, IPPROTO_UDP, internet_checksum(ip_head), src_ip, dst_ip
    )
    return b"".join((ip_head, _UDP_HEADER.pack(sport, dport, ulen, csum), payload))


def ethernet_head(dst: bytes, src: bytes, tags: tuple[VlanTag, ...]) -> bytes:
    """Destination, source, the tag stack (outer first) and EtherType IPv4."""
    if len(dst) != 6 or len(src) != 6:
        raise ValueError("MAC addresses are 6 bytes")
    pack = _TAG.pack
    parts = [dst, src]
    for t in tags:
        parts.append(pack(t.tpid, (t.pcp & 7) << 13 | (t.dei & 1) << 12 | (t.vid & 0xFFF)))
    parts.append(_ETHERTYPE_IP)
    return b"".join(parts)


def udp_in_frame(
    data: bytes | bytearray | memoryview | EthernetFrame,
) -> tuple[EthernetFrame, int, int, bytes]:
    """``frames.parse_udp_frame`` (no UDP checksum check) reduced to what the server uses:
    (frame, IPv4 destination, UDP destination port, UDP payload)."""
    frame = data if isinstance(data, EthernetFrame) else parse_frame(data)
    if frame.ethertype != ETH_P_IP:
        raise DecodeError("not_ipv4", f"ethertype 0x{frame.ethertype:04x}")
    ip = frame.payload
    n = len(ip)
    if n < 20:
        raise DecodeError("ip_short")
    ver_ihl = ip[0]
    if ver_ihl >> 4 != 4:
        raise DecodeError("ip_version", str(ver_ihl >> 4))
    ihl = (ver_ihl & 0xF) * 4
    if ihl < 20 or ihl > n:
        raise DecodeError("ip_ihl", str(ihl))
    total_len = ip[2] << 8 | ip[3]
    if total_len < ihl or total_len > n:
        raise DecodeError("ip_total_length", f"{total_len} for {n} bytes")
    if internet_checksum(ip[:ihl]) != 0:
        raise DecodeError("ip_checksum")
    if (ip[6] << 8 | ip[7]) & 0x3FFF:  # MF set or non-zero offset
        raise DecodeError("ip_fragment")
    if ip[9] != IPPROTO_UDP:
        raise DecodeError("not_udp", str(ip[9]))
    udp = ip[ihl:total_len]
    if len(udp) < 8:
        raise DecodeError("udp_short")
    _sport, dport, length, _csum = _UDP_HEADER.unpack_from(udp, 0)
    if length < 8 or length > len(udp):
        raise DecodeError("udp_length", f"{length} for {len(udp)} bytes")
    return frame, _from_bytes(ip[16:20], "big"), dport, udp[8:length]
