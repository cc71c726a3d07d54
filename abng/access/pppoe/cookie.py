"""AC-Cookie (RFC 2516 §5.2) that makes PADR spoofing useless (STYLE §6: no state before proof).

cookie = version (1) || bucket (4, big-endian) || HMAC-SHA256(secret, version || bucket ||
peer MAC || VLAN stack)[:16].  ``bucket = floor(now / lifetime)``; a cookie is valid for the
current and the previous bucket, so between ``lifetime`` and ``2 * lifetime`` seconds.  The
secret is per process (``secrets.token_bytes(32)`` at start-up): cookies do not survive a restart,
clients simply send PADI again.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Sequence

COOKIE_VERSION = 1
COOKIE_LEN = 1 + 4 + 16
MIN_SECRET_LEN = 16


def _mac(secret: bytes, bucket: int, peer_mac: bytes, vlans: Sequence[int]) -> bytes:
    msg = (
        struct.pack("!BI", COOKIE_VERSION, bucket) + peer_mac + b"".join(struct.pack("!H", v) for v in vlans)
    )
    return hmac.new(secret, msg, hashlib.sha256).digest()[:16]


def make_cookie(secret: bytes, peer_mac: bytes, vlans: Sequence[int], now: float, lifetime: float) -> bytes:
    if len(secret) < MIN_SECRET_LEN:
        raise ValueError(f"cookie secret must be at least {MIN_SECRET_LEN} bytes")
    bucket = int(now // lifetime) & 0xFFFFFFFF
    return struct.pack("!BI", COOKIE_VERSION, bucket) + _mac(secret, bucket, peer_mac, vlans)


def check_cookie(
    secret: bytes, cookie: bytes, peer_mac: bytes, vlans: Sequence[int], now: float, lifetime: float
) -> str | None:
    """None when the cookie is ours, for this MAC and VLAN stack, and fresh; else a drop reason."""
    if len(cookie) != COOKIE_LEN or cookie[0] != COOKIE_VERSION:
        return "bad_cookie"
    (bucket,) = struct.unpack_from("!I", cookie, 1)
    if not hmac.compare_digest(cookie[5:], _mac(secret, bucket, peer_mac, vlans)):
        return "bad_cookie"
    current = int(now // lifetime) & 0xFFFFFFFF
    if (current - bucket) & 0xFFFFFFFF > 1:
        return "stale_cookie"
    return None
