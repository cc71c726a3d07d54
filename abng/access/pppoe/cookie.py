"""AC-Cookie (RFC 2516 §5.2) that makes PADR spoofing useless (STYLE §6: no state before proof).

cookie = version (1) || bucket (4) || nonce (4) || HMAC-SHA256(secret, version || bucket ||
nonce || peer MAC || VLAN stack)[:16].  The nonce is a per-process counter: every PADO carries a
different cookie, so a PADR repeating a cookie is recognisably a retransmission of *that*
PADR (answered with the same PADS), while a client that restarts discovery gets a new session.
``bucket = floor(now / lifetime)``; a cookie is valid for the
current and the previous bucket, so between ``lifetime`` and ``2 * lifetime`` seconds.  The
secret is per process (``secrets.token_bytes(32)`` at start-up): cookies do not survive a restart,
clients simply send PADI again.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Sequence

COOKIE_VERSION = 1
COOKIE_LEN = 1 + 4 + 4 + 16
MIN_SECRET_LEN = 16


_HEAD = struct.Struct("!BIIB")
_BODY = struct.Struct("!BII")
_STACKS = [struct.Struct(f"!{n}H") for n in range(3)]  # untagged, 802.1Q, QinQ


def _mac(secret: bytes, bucket: int, nonce: int, peer_mac: bytes, vlans: Sequence[int]) -> bytes:
    n = len(vlans)
    stack = _STACKS[n].pack(*vlans) if n < 3 else struct.pack(f"!{n}H", *vlans)
    msg = _HEAD.pack(COOKIE_VERSION, bucket, nonce, n) + peer_mac + stack
    # hmac.digest: the one-shot C implementation of HMAC (same value as hmac.new(...).digest())
    return hmac.digest(secret, msg, "sha256")[:16]


def make_cookie(
    secret: bytes, peer_mac: bytes, vlans: Sequence[int], now: float, lifetime: float, nonce: int
) -> bytes:
    if len(secret) < MIN_SECRET_LEN:
        raise ValueError(f"cookie secret must be at least {MIN_SECRET_LEN} bytes")
    bucket = int(now // lifetime) & 0xFFFFFFFF
    nonce &= 0xFFFFFFFF
    return _BODY.pack(COOKIE_VERSION, bucket, nonce) + _mac(secret, bucket, nonce, peer_mac, vlans)


def check_cookie(
    secret: bytes, cookie: bytes, peer_mac: bytes, vlans: Sequence[int], now: float, lifetime: float
) -> str | None:
    """None when the cookie is ours, for this MAC and VLAN stack, and fresh; else a drop reason."""
    if len(cookie) != COOKIE_LEN or cookie[0] != COOKIE_VERSION:
        return "bad_cookie"
    bucket, nonce = struct.unpack_from("!II", cookie, 1)
    if not hmac.compare_digest(cookie[9:], _mac(secret, bucket, nonce, peer_mac, vlans)):
        return "bad_cookie"
    current = int(now // lifetime) & 0xFFFFFFFF
    if (current - bucket) & 0xFFFFFFFF > 1:
        return "stale_cookie"
    return None
