"""Standard Webhooks signatures (https://www.standardwebhooks.com/, D16).

``webhook-signature: v1,<base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}"))>``.  A secret
given as ``whsec_<base64>`` is the base64 of the key; any other secret is used as UTF-8 bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    if secret.startswith(PREFIX):
        try:
            return base64.b64decode(secret[len(PREFIX) :], validate=True)
        except binascii.Error as exc:
            raise ValueError("secret: whsec_ must be followed by base64") from exc
    return secret.encode()


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(key: bytes, msg_id: str, timestamp: int, body: bytes, header: str) -> bool:
    """True if any ``v1,`` signature in the (space-separated) header matches."""
    expected = sign(key, msg_id, timestamp, body)
    return any(hmac.compare_digest(expected, part) for part in header.split())


def headers(secret_key_bytes: bytes | None, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    out = {
        "content-type": "application/json",
        "user-agent": "abng-api-webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
    }
    if secret_key_bytes is not None:
        out["webhook-signature"] = sign(secret_key_bytes, msg_id, timestamp, body)
    return out
