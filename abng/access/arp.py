"""ARP (RFC 826) for Ethernet/IPv4, and the gateway responder for access interfaces (sans-I/O).

Subscribers get /32 addresses and a gateway that lives on the BNG; the data path must answer
"who has <gateway>?" on every access interface.  :func:`answer_arp` takes a received frame and
returns the complete reply frame (same VLAN tag stack) or ``None``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Container
from dataclasses import dataclass

from abng.access.frames import (
    BROADCAST_MAC,
    ETH_P_ARP,
    DecodeError,
    EthernetFrame,
    build_frame,
    parse_frame,
)
from abng.core import ipv4

ARP_REQUEST = 1
ARP_REPLY = 2
_HTYPE_ETHERNET = 1
_PTYPE_IPV4 = 0x0800
_HEADER = struct.Struct("!HHBBH6sI6sI")


@dataclass(frozen=True, slots=True)
class ArpPacket:
    op: int
    sender_mac: bytes
    sender_ip: int
    target_mac: bytes
    target_ip: int

    @property
    def is_gratuitous(self) -> bool:
        return self.sender_ip == self.target_ip


def parse_arp(data: bytes) -> ArpPacket:
    """Decode an Ethernet/IPv4 ARP packet (trailing padding is ignored)."""
    if len(data) < _HEADER.size:
        raise DecodeError("arp_short", f"{len(data)} bytes")
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _HEADER.unpack_from(data, 0)
    if htype != _HTYPE_ETHERNET or ptype != _PTYPE_IPV4 or hlen != 6 or plen != 4:
        raise DecodeError("arp_not_ether_ipv4")
    if op not in (ARP_REQUEST, ARP_REPLY):
        raise DecodeError("arp_op", str(op))
    return ArpPacket(op, sha, spa, tha, tpa)


def build_arp(packet: ArpPacket) -> bytes:
    return _HEADER.pack(
        _HTYPE_ETHERNET,
        _PTYPE_IPV4,
        6,
        4,
        packet.op,
        packet.sender_mac,
        packet.sender_ip,
        packet.target_mac,
        packet.target_ip,
    )


def arp_reply(request: ArpPacket, our_mac: bytes) -> ArpPacket:
    """The reply to ``request`` claiming its target IP for ``our_mac``."""
    return ArpPacket(ARP_REPLY, our_mac, request.target_ip, request.sender_mac, request.sender_ip)


def answer_arp(
    frame: bytes | EthernetFrame,
    our_mac: bytes,
    gateway_ips: Container[int] | Callable[[int], bool],
    sender_allowed: Callable[[bytes, int], bool] | None = None,
) -> bytes | None:
    """Build the reply frame for an ARP request asking for one of our gateway addresses.

    ``gateway_ips`` holds the gateway addresses (as ints) we own on this access interface, or
    is a predicate.  ``sender_allowed(mac, ip)`` may restrict answers to known subscribers
    (e.g. the MAC holds a lease for that IP); a sender IP of 0 (RFC 5227 probe) is allowed.
    Returns ``None`` for anything we should not answer; raises :class:`DecodeError` on garbage.
    """
    eth = frame if isinstance(frame, EthernetFrame) else parse_frame(frame)
    if eth.ethertype != ETH_P_ARP:
        return None
    req = parse_arp(eth.payload)
    if req.op != ARP_REQUEST or req.is_gratuitous:
        return None
    owned = gateway_ips(req.target_ip) if callable(gateway_ips) else req.target_ip in gateway_ips
    if not owned:
        return None
    if (
        sender_allowed is not None
        and req.sender_ip != 0
        and not sender_allowed(req.sender_mac, req.sender_ip)
    ):
        return None
    reply = arp_reply(req, our_mac)
    dst = req.sender_mac if req.sender_mac != BROADCAST_MAC else eth.src
    return build_frame(dst, our_mac, eth.tags, ETH_P_ARP, build_arp(reply))


ip_to_int = ipv4.to_int
int_to_ip = ipv4.to_text
