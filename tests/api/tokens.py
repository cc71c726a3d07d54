"""Hand-made bad tokens for the API tests."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import jwt


def _b64(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def claims(sub: str = "admin", role: str = "admin", **over: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"sub": sub, "role": role, "iat": now, "exp": now + 600, "jti": uuid.uuid4().hex}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def bad_tokens(secret: bytes | None = None) -> dict[str, str]:
    """name -> token that abng-api must refuse with 401."""
    other = b"another-secret-that-is-long-enough-0123456789-0123456789-0123456789"
    toks = {
        "garbage": "not.a.token",
        "random": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.AAAA",
        "other_secret": jwt.encode(claims(), other, algorithm="HS256"),
        "alg_none": _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(claims()) + ".",
        "alg_none_caps": _b64({"alg": "None", "typ": "JWT"}) + "." + _b64(claims()) + ".",
        "hs512_other": jwt.encode(claims(), other, algorithm="HS512"),
        "unknown_sub": jwt.encode(claims(sub="ghost"), other, algorithm="HS256"),
    }
    if secret is not None:
        toks.update(
            {
                "expired": jwt.encode(
                    claims(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600), secret
                ),
                "no_exp": jwt.encode(claims(exp=None), secret),
                "no_sub": jwt.encode(claims(sub=None), secret),
                "no_jti": jwt.encode(claims(jti=None), secret),
                "bad_role": jwt.encode(claims(role="root"), secret),
                "hs512_same_secret": jwt.encode(claims(), secret, algorithm="HS512"),
                "ghost_user": jwt.encode(claims(sub="ghost"), secret),
                "exp_string": jwt.encode(claims(exp="9999999999"), secret),
            }
        )
    return toks
