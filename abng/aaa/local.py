"""Local AAA without a RADIUS server (DECISIONS.md D19).

Subscribers are matched by username (PPPoE, PAP or CHAP-MD5) or by MAC (DHCP).  A match gives
a fixed IP or a named pool, and optional rates.  Unknown DHCP MACs may use a default pool.
Passwords are compared in constant time, and an unknown user costs the same work as a known one.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from abng.aaa.crypto import chap_response
from abng.aaa.types import AuthRequest, AuthResult
from abng.config.rates import parse_rate


@dataclass(frozen=True, slots=True)
class LocalSubscriber:
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    mac: str | None = None
    ip: str | None = None
    rate_down: int | str | None = None
    rate_up: int | str | None = None
    overhead_profile: str | None = None
    pool: str | None = None


@dataclass(frozen=True, slots=True)
class LocalPool:
    network: str | None = None
    start: str | None = None
    end: str | None = None
    gateway: str | None = None
    dns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LocalAaaConfig:
    subscribers: tuple[LocalSubscriber, ...] = ()
    pools: Mapping[str, LocalPool] = field(default_factory=dict)
    #: pool for DHCP MACs that are not listed (None: unknown MACs are rejected)
    default_pool: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LocalAaaConfig:
        subs = tuple(LocalSubscriber(**s) for s in data.get("subscribers", ()))
        pools = {
            name: LocalPool(**{**p, "dns": tuple(p.get("dns", ()))})
            for name, p in data.get("pools", {}).items()
        }
        return cls(subs, pools, data.get("default_pool"))


_sha256 = hashlib.sha256
_compare = hmac.compare_digest


def _norm_mac(mac: str) -> str:
    return mac.strip().lower().replace("-", ":")


class LocalAuthenticator:
    """:class:`abng.aaa.types.Authenticator` from the ``aaa`` configuration section."""

    _DUMMY = "\x00" * 16
    _DUMMY_DIGEST = hashlib.sha256(_DUMMY.encode()).digest()

    def __init__(self, config: LocalAaaConfig) -> None:
        self.config = config
        self._by_user = {s.username: s for s in config.subscribers if s.username}
        self._by_mac = {_norm_mac(s.mac): s for s in config.subscribers if s.mac}
        for s in config.subscribers:  # validate once, at load (rates: when _accepts is built)
            if s.pool is not None and s.pool not in config.pools:
                raise ValueError(f"local subscriber {s.username or s.mac}: unknown pool {s.pool!r}")
        if config.default_pool is not None and config.default_pool not in config.pools:
            raise ValueError(f"unknown default pool {config.default_pool!r}")
        for name, pool in config.pools.items():
            if pool.network:
                ipaddress.IPv4Network(pool.network)
            elif not (pool.start and pool.end):
                raise ValueError(f"pool {name!r} needs network or start and end")
        # Per-subscriber work done once, not per login: the PAP secret's SHA-256 (the login's
        # password is still hashed every time: same work for known and unknown users) and the
        # accept itself (rates parsed: a RateError here rejects the configuration).  An
        # AuthResult is frozen and nobody mutates its (empty) ``attrs``: every login of a
        # subscriber gets the same object, built with the configuration instead of per login.
        # Keyed by the very objects the lookups return.
        self._pap_digest = {
            id(s): hashlib.sha256(s.password.encode()).digest()
            for s in self._by_user.values()
            if s.password is not None
        }
        self._accepts = {id(s): AuthResult(True, **self._accept_fields(s)) for s in config.subscribers}
        self._default_accept = AuthResult(True, pool=config.default_pool) if config.default_pool else None

    async def authenticate(self, req: AuthRequest) -> AuthResult:
        if req.service == "dhcp":
            sub = self._by_mac.get(_norm_mac(req.mac))
            if sub is None:
                if self._default_accept is not None:
                    return self._default_accept
                return AuthResult.reject("unknown MAC")
            return self._accepts[id(sub)]
        sub = self._by_user.get(req.username)
        if sub is not None and sub.password is not None:
            password = req.password
            if req.chap_response is None and password is not None:  # PAP: _check's last lines, inline
                ok = _compare(_sha256(password.encode()).digest(), self._pap_digest[id(sub)])
            else:
                ok = self._check(req, sub.password, self._pap_digest[id(sub)])
        else:  # the same work for an unknown user (or one without a password), then a reject
            self._check(req, self._DUMMY, self._DUMMY_DIGEST)
            ok = False
        if not ok or sub is None:
            return AuthResult.reject("authentication failed")
        if sub.mac and _norm_mac(sub.mac) != _norm_mac(req.mac):
            return AuthResult.reject("authentication failed")
        return self._accepts[id(sub)]  # every sub is from config.subscribers

    @staticmethod
    def _check(req: AuthRequest, secret: str, secret_digest: bytes | None = None) -> bool:
        if req.chap_response is not None:
            if req.chap_id is None or req.chap_challenge is None:
                return False
            expected = chap_response(req.chap_id, secret.encode(), req.chap_challenge)
            return hmac.compare_digest(expected, req.chap_response)
        if req.password is None:
            return False
        a = hashlib.sha256(req.password.encode()).digest()
        b = secret_digest if secret_digest is not None else hashlib.sha256(secret.encode()).digest()
        return hmac.compare_digest(a, b)

    def _accept_fields(self, sub: LocalSubscriber) -> dict[str, Any]:
        return {
            "framed_ip": sub.ip,
            "framed_netmask": "255.255.255.255" if sub.ip else None,
            "pool": None if sub.ip else (sub.pool or self.config.default_pool),
            "rate_down_bps": parse_rate(sub.rate_down) if sub.rate_down is not None else None,
            "rate_up_bps": parse_rate(sub.rate_up) if sub.rate_up is not None else None,
            "overhead_profile": sub.overhead_profile,
        }

    def _result(self, sub: LocalSubscriber) -> AuthResult:
        return self._accepts[id(sub)]  # every sub is from config.subscribers
