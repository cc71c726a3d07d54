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

import functools
import hashlib
import hmac
import struct
from collections.abc import Sequence
from typing import Any

COOKIE_VERSION = 1
COOKIE_LEN = 1 + 4 + 4 + 16
MIN_SECRET_LEN = 16


_BODY = struct.Struct("!BII")
_BUCKET_NONCE = struct.Struct("!II")
# version, bucket, nonce, VLAN count, peer MAC and the VLAN stack in one pack, per stack depth
_MSG = [struct.Struct(f"!BIIB6s{n}H") for n in range(3)]  # untagged, 802.1Q, QinQ


_BLOCK = 64  # SHA-256 block size


@functools.lru_cache(maxsize=8)
def _keyed(secret: bytes) -> tuple[Any, Any]:
    """SHA-256 states after absorbing ``K xor ipad`` and ``K xor opad`` (RFC 2104): each HMAC
    then costs two state copies and two short updates instead of a keyed OpenSSL HMAC set-up."""
    key = hashlib.sha256(secret).digest() if len(secret) > _BLOCK else secret
    key = key.ljust(_BLOCK, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    return inner, outer


_last: tuple[bytes, Any, Any] = (b"", None, None)  # the secret in use and its states: no cache lookup


def hmac_sha256(secret: bytes, msg: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104), equal to ``hmac.digest(secret, msg, "sha256")``."""
    global _last
    last_secret, inner, outer = _last
    if secret is not last_secret:
        inner, outer = _keyed(secret)
        _last = (secret, inner, outer)
    h = inner.copy()
    h.update(msg)
    o = outer.copy()
    o.update(h.digest())
    digest: bytes = o.digest()
    return digest


def _mac(secret: bytes, bucket: int, nonce: int, peer_mac: bytes, vlans: Sequence[int]) -> bytes:
    n = len(vlans)
    if n < 3 and len(peer_mac) == 6:
        msg = _MSG[n].pack(COOKIE_VERSION, bucket, nonce, n, peer_mac, *vlans)
    else:
        msg = struct.pack(f"!BIIB{len(peer_mac)}s{n}H", COOKIE_VERSION, bucket, nonce, n, peer_mac, *vlans)
    return hmac_sha256(secret, msg)[:16]


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
    bucket, nonce = _BUCKET_NONCE.unpack_from(cookie, 1)
    if not hmac.compare_digest(cookie[9:], _mac(secret, bucket, nonce, peer_mac, vlans)):
        return "bad_cookie"
    current = int(now // lifetime) & 0xFFFFFFFF
    if (current - bucket) & 0xFFFFFFFF > 1:
        return "stale_cookie"
    return None
