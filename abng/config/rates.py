"""Bandwidth rates (DECISIONS.md D10).

Accepted everywhere as integer bits per second or as ``<number>(kbit|mbit|gbit)`` strings,
case-insensitive (``"100mbit"``, ``"2.5Gbit"``, ``"25Mbit"``).  Plain digit strings are bps.
"""

from __future__ import annotations

import re
from decimal import Decimal

_UNITS = {"": 1, "bit": 1, "kbit": 1_000, "mbit": 1_000_000, "gbit": 1_000_000_000}
_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit)?\s*$", re.IGNORECASE)

#: Highest rate we accept (400 Gbit/s); lowest is 8 kbit/s, below that HTB is meaningless.
MAX_RATE_BPS = 400_000_000_000
MIN_RATE_BPS = 8_000


class RateError(ValueError):
    """A rate that cannot be parsed or is out of range."""


def parse_rate(value: int | str) -> int:
    """Return the rate in bps; raise :class:`RateError` with a readable message otherwise."""
    if isinstance(value, bool):
        raise RateError("a rate must be an integer in bps or a string like '100mbit'")
    if isinstance(value, int):
        bps = value
    elif isinstance(value, str):
        m = _RATE_RE.match(value)
        if m is None:
            raise RateError(f"invalid rate {value!r}: use bps digits or <number>(kbit|mbit|gbit)")
        number, unit = m.group(1), (m.group(2) or "").lower()
        scaled = Decimal(number) * _UNITS[unit]  # exact: a float of 400 digits is inf
        if scaled != scaled.to_integral_value():
            raise RateError(f"invalid rate {value!r}: not a whole number of bits per second")
        bps = int(scaled)
    else:
        raise RateError("a rate must be an integer in bps or a string like '100mbit'")
    if not MIN_RATE_BPS <= bps <= MAX_RATE_BPS:
        raise RateError(f"rate {value!r} out of range ({MIN_RATE_BPS} bps to {MAX_RATE_BPS} bps)")
    return bps


def format_rate(bps: int | None) -> str | None:
    """Render bps as the shortest exact tc-style string: 100000000 -> '100mbit'."""
    if bps is None:
        return None
    for unit, factor in (("gbit", 1_000_000_000), ("mbit", 1_000_000), ("kbit", 1_000)):
        if bps >= factor and bps % factor == 0:
            return f"{bps // factor}{unit}"
    return f"{bps}bit"


def human_rate(bps: int | None) -> str:
    """Render bps for people: 100000000 -> '100 Mbps', 2500000 -> '2.5 Mbps'."""
    if bps is None:
        return "-"
    for unit, factor in (("Gbps", 1e9), ("Mbps", 1e6), ("kbps", 1e3)):
        if bps >= factor:
            return f"{bps / factor:.4g} {unit}"
    return f"{bps} bps"
