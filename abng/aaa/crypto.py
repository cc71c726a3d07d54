"""RADIUS authenticators, Message-Authenticator and password hiding.

- Access-Request: random Request Authenticator (RFC 2865 §3), User-Password hiding (§5.2).
- Accounting-Request (RFC 2866 §3), CoA-/Disconnect-Request (RFC 5176 §3.5): Request
  Authenticator = MD5(Code+Identifier+Length+16 zero octets+Attributes+Secret).
- Replies: Response Authenticator = MD5(Code+Identifier+Length+RequestAuth+Attributes+Secret).
- Message-Authenticator (RFC 3579 §3.2, RFC 5176 §3.5): HMAC-MD5 over the packet with the
  attribute zeroed; the authenticator field holds the Request Authenticator for Access-Request
  and every reply, and 16 zero octets for Accounting/CoA/Disconnect requests (as FreeRADIUS does).

Every packet we build carries a Message-Authenticator (DECISIONS.md D22).  Secrets are bytes and
are compared only through :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import struct
from collections.abc import Callable, Iterable

from abng.aaa.packet import HEADER, MESSAGE_AUTHENTICATOR, MIN_LENGTH, Attribute, Code, encode_attributes

ZERO16 = bytes(16)
_MA_TLV = bytes((MESSAGE_AUTHENTICATOR, 18)) + ZERO16
#: request codes whose authenticator is the MD5 of the packet (not random)
SIGNED_REQUEST_CODES = frozenset({Code.ACCOUNTING_REQUEST, Code.DISCONNECT_REQUEST, Code.COA_REQUEST})


try:  # CPython's own MD5: for packets this small, ~3x cheaper per call than OpenSSL 3's EVP
    from _md5 import md5 as _new_md5  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - a Python built without it
    _new_md5 = hashlib.md5
#: a new MD5 object (RFC 2865/2866/3579 mandate MD5), optionally fed with initial octets
new_md5: Callable[..., hashlib._Hash] = _new_md5


def _md5(*parts: bytes) -> bytes:
    h = new_md5()
    for p in parts:
        h.update(p)
    return h.digest()


_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


@functools.lru_cache(maxsize=64)
def _hmac_states(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """MD5 states after the inner and outer padded keys (one per shared secret, kept in memory only)."""
    if len(key) > 64:
        key = new_md5(key).digest()
    key = key.ljust(64, b"\0")
    return new_md5(key.translate(_IPAD)), new_md5(key.translate(_OPAD))


def hmac_md5(key: bytes, msg: bytes) -> bytes:
    """HMAC-MD5 (RFC 2104): same bytes as ``hmac.digest(key, msg, "md5")``, which goes through
    OpenSSL 3's one-shot HMAC (MAC and digest fetched on every call, ~3x the cost).  The MD5
    states after the padded keys are computed once per key and copied."""
    inner, outer = _hmac_states(key)
    h = inner.copy()
    h.update(msg)
    o = outer.copy()
    o.update(h.digest())
    return o.digest()


class RandomPool:
    """``os.urandom`` taken in blocks: one getrandom(2) call per ``block`` octets instead of one per
    Request Authenticator (each call costs a syscall and lets the daemon's other threads take the
    GIL).  Same kernel CSPRNG octets, each handed out once.  :data:`urandom` is the shared pool; a
    forked child empties it so that parent and child never hand out the same octets.  Not for
    concurrent use from several threads (the RADIUS client runs on the event loop thread)."""

    def __init__(self, block: int = 4096) -> None:
        self._block = block
        self._buf = b""
        self._pos = 0

    def __call__(self, n: int) -> bytes:
        pos = self._pos
        if pos + n > len(self._buf):
            self._buf, pos = os.urandom(max(self._block, n)), 0
        self._pos = pos + n
        return self._buf[pos : pos + n]

    def reset(self) -> None:
        self._buf, self._pos = b"", 0


urandom = RandomPool()
os.register_at_fork(after_in_child=urandom.reset)


def _xor16(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(16, "big")


# ---- passwords --------------------------------------------------------------------------------
def hide_password(password: bytes, secret: bytes, request_auth: bytes) -> bytes:
    """RFC 2865 §5.2 User-Password hiding (padded to a multiple of 16, max 128 octets)."""
    if len(password) > 128:
        raise ValueError("User-Password longer than 128 octets")
    padded = password + bytes(-len(password) % 16 or (16 if not password else 0))
    out: list[bytes] = []
    prev = request_auth
    for i in range(0, len(padded), 16):
        key = new_md5(secret + prev).digest()
        block = int.from_bytes(padded[i : i + 16], "big") ^ int.from_bytes(key, "big")
        prev = block.to_bytes(16, "big")
        out.append(prev)
    return b"".join(out)


def unhide_password(hidden: bytes, secret: bytes, request_auth: bytes) -> bytes:
    """Reverse of :func:`hide_password`; trailing NULs removed.  ValueError on a bad length."""
    if not hidden or len(hidden) % 16 or len(hidden) > 128:
        raise ValueError("hidden User-Password length must be a multiple of 16, 16..128")
    out = bytearray()
    prev = request_auth
    for i in range(0, len(hidden), 16):
        chunk = hidden[i : i + 16]
        out += _xor16(chunk, _md5(secret, prev))
        prev = chunk
    return bytes(out).rstrip(b"\x00")


def chap_response(chap_id: int, password: bytes, challenge: bytes) -> bytes:
    """RFC 1994 CHAP-MD5: MD5(Identifier + secret + Challenge)."""
    return _md5(bytes([chap_id]), password, challenge)


# ---- building ---------------------------------------------------------------------------------
def _assemble(code: int, ident: int, auth: bytes, body: bytes) -> bytes:
    """Header + encoded attributes + a zeroed Message-Authenticator (always last)."""
    length = MIN_LENGTH + len(body) + len(_MA_TLV)
    if length > 4096:
        raise ValueError(f"packet of {length} octets exceeds 4096")
    return HEADER.pack(code, ident, length, auth) + body + _MA_TLV


def _sign_ma(pkt: bytes, secret: bytes) -> bytes:
    return pkt[:-16] + hmac_md5(secret, pkt)  # our placeholder is always last


def _sign_authenticator(pkt: bytes, secret: bytes) -> bytes:
    h = new_md5(pkt)
    h.update(secret)
    return pkt[:4] + h.digest() + pkt[MIN_LENGTH:]


def _ma_offset(buf: bytes | bytearray) -> int | None:
    """Offset of the Message-Authenticator value, walking a packet already known to be well formed."""
    pos, length = MIN_LENGTH, len(buf)
    while pos + 2 <= length:
        atype, alen = buf[pos], buf[pos + 1]
        if alen < 2:
            return None
        if atype == MESSAGE_AUTHENTICATOR:
            return pos + 2 if alen == 18 else None
        pos += alen
    return None


def build_access_request(ident: int, request_auth: bytes, secret: bytes, attrs: Iterable[Attribute]) -> bytes:
    """Access-Request (or Status-Server) with Message-Authenticator; attrs already hidden."""
    return build_access_request_wire(ident, request_auth, secret, encode_attributes(attrs))


def build_access_request_wire(ident: int, request_auth: bytes, secret: bytes, body: bytes) -> bytes:
    """:func:`build_access_request` from attributes already encoded (``body``)."""
    return _sign_ma(_assemble(Code.ACCESS_REQUEST, ident, request_auth, body), secret)


def build_signed_request(code: int, ident: int, secret: bytes, attrs: Iterable[Attribute]) -> bytes:
    """Accounting-, CoA- or Disconnect-Request (RFC 2866 §3, RFC 5176 §3.5)."""
    return build_signed_request_wire(code, ident, secret, encode_attributes(attrs))


def build_signed_request_wire(code: int, ident: int, secret: bytes, body: bytes) -> bytes:
    """:func:`build_signed_request` from attributes already encoded (``body``)."""
    return _sign_authenticator(_sign_ma(_assemble(code, ident, ZERO16, body), secret), secret)


def build_reply(
    code: int, ident: int, request_auth: bytes, secret: bytes, attrs: Iterable[Attribute]
) -> bytes:
    """A reply (Access-Accept/Reject, Accounting-Response, CoA/Disconnect ACK/NAK)."""
    pkt = _assemble(code, ident, request_auth, encode_attributes(attrs))
    return _sign_authenticator(_sign_ma(pkt, secret), secret)


# ---- verifying --------------------------------------------------------------------------------
def _ma_matches(data: bytes, off: int, auth_field: bytes, secret: bytes) -> bool:
    msg = b"".join((data[:4], auth_field, data[MIN_LENGTH:off], ZERO16, data[off + 16 :]))
    return hmac.compare_digest(hmac_md5(secret, msg), data[off : off + 16])


def _ma_ok(data: bytes, auth_field: bytes, secret: bytes, required: bool) -> bool:
    off = _ma_offset(data)
    if off is None:
        return not required
    return _ma_matches(data, off, auth_field, secret)


def verify_reply(data: bytes, request_auth: bytes, secret: bytes, require_ma: bool = True) -> bool:
    """Response Authenticator and Message-Authenticator of a reply (``data`` trimmed to Length)."""
    h = new_md5(data[:4])
    h.update(request_auth)
    h.update(data[MIN_LENGTH:])
    h.update(secret)
    if not hmac.compare_digest(h.digest(), data[4:20]):
        return False
    off = _ma_offset(data)
    if off is None:
        return not require_ma
    # No RFC defines Message-Authenticator in an Accounting-Response; FreeRADIUS signs it with the
    # authenticator field zeroed (as for requests).  Accept that or the RFC 3579 reply convention.
    if data[0] == Code.ACCOUNTING_RESPONSE and _ma_matches(data, off, ZERO16, secret):
        return True
    return _ma_matches(data, off, request_auth, secret)


def verify_signed_request(data: bytes, secret: bytes, require_ma: bool = False) -> bool:
    """Accounting/CoA/Disconnect Request Authenticator, and its Message-Authenticator if present."""
    expected = _md5(data[:4], ZERO16, data[MIN_LENGTH:], secret)
    if not hmac.compare_digest(expected, data[4:20]):
        return False
    return _ma_ok(data, ZERO16, secret, require_ma)


def verify_access_request(data: bytes, secret: bytes, require_ma: bool = False) -> bool:
    """Message-Authenticator of an Access-Request (its authenticator is random)."""
    return _ma_ok(data, data[4:20], secret, require_ma)


def trim(data: bytes) -> bytes:
    """The datagram cut to its Length field (call after :func:`abng.aaa.packet.decode`)."""
    return data[: struct.unpack_from("!H", data, 2)[0]]
