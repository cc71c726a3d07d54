"""IPv4 addresses between text, octets and integers, without an ``ipaddress`` object per call.

The one place for this conversion (RADIUS attributes, IPCP options, routes, shaping, the data
path all use it).  Results and errors are exactly ``ipaddress.IPv4Address``'s: a canonical dotted
quad (the form ``inet_ntoa`` prints back, the only string form ``ipaddress`` accepts) is
converted by the C library; anything else goes to ``ipaddress``, which gives the same answer or
raises its usual ``ValueError``.
"""

from __future__ import annotations

import ipaddress
import socket

_aton, _ntoa = socket.inet_aton, socket.inet_ntoa


def packed(value: str | int | bytes | ipaddress.IPv4Address) -> bytes:
    """The 4 octets of ``value`` (what ``ipaddress.IPv4Address(value).packed`` gives)."""
    if type(value) is str:
        try:
            octets = _aton(value)
        except (OSError, ValueError):  # not an address, or a NUL in the string
            octets = b""
        if octets and _ntoa(octets) == value:
            return octets
    return ipaddress.IPv4Address(value).packed


def to_int(value: str | int | bytes | ipaddress.IPv4Address) -> int:
    """``int(ipaddress.IPv4Address(value))``."""
    if type(value) is int and 0 <= value <= 0xFFFFFFFF:
        return value
    return int.from_bytes(packed(value), "big")


def to_text(value: int) -> str:
    """``str(ipaddress.IPv4Address(value))`` for an integer."""
    if type(value) is int and 0 <= value <= 0xFFFFFFFF:
        return f"{value >> 24}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"
    return str(ipaddress.IPv4Address(value))  # its errors for anything else
