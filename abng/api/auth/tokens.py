"""JWT issue and verification (seed page, D14): HS256 only, claims sub/role/iat/exp/jti.

Verification is pinned to HS256 (``alg: none`` and every other algorithm are refused) and
requires every claim.  Tokens that verified once are remembered until they expire, so the
hot path of an authenticated request is a dict lookup and a clock comparison.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("sub", "role", "iat", "exp", "jti")
ROLES = ("admin", "operator")
_CACHE_SIZE = 4096


class InvalidToken(Exception):
    """Any reason a bearer token is not acceptable (the client sees one 401 body)."""


@dataclass(frozen=True, slots=True)
class Claims:
    sub: str
    role: str
    iat: int
    exp: int
    jti: str


class TokenService:
    def __init__(self, secret: bytes, lifetime: int) -> None:
        self._secret = secret
        self.lifetime = lifetime
        self._cache: OrderedDict[str, Claims] = OrderedDict()

    def issue(self, username: str, role: str, now: float | None = None) -> str:
        iat = int(time.time() if now is None else now)
        payload = {
            "sub": username,
            "role": role,
            "iat": iat,
            "exp": iat + self.lifetime,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str, now: float | None = None) -> Claims:
        t = time.time() if now is None else now
        cached = self._cache.get(token)
        if cached is not None:
            if cached.exp > t:
                return cached
            self._cache.pop(token, None)
            raise InvalidToken("expired")
        claims = self._decode(token, t)
        self._cache[token] = claims
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return claims

    def _decode(self, token: str, now: float) -> Claims:
        if len(token) > 4096:
            raise InvalidToken("too long")
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != ALGORITHM:
                raise InvalidToken("algorithm")
            data = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": list(REQUIRED_CLAIMS), "verify_iat": False, "verify_exp": False},
                leeway=0,
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from exc
        sub, role, iat, exp, jti = (data.get(k) for k in REQUIRED_CLAIMS)
        if not (isinstance(sub, str) and sub and isinstance(jti, str) and role in ROLES):
            raise InvalidToken("claims")
        if not (isinstance(iat, int) and isinstance(exp, int)) or isinstance(exp, bool):
            raise InvalidToken("claims")
        if exp <= now:
            raise InvalidToken("expired")
        return Claims(sub=sub, role=str(role), iat=iat, exp=exp, jti=jti)
