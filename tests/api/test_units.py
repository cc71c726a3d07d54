"""Unit tests of the API's pure parts: tokens, lockout, signing, payloads, metrics, guard, audit."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest

from abng.api.audit import REDACTED, AuditLog, redact
from abng.api.auth.lockout import LoginGuard
from abng.api.auth.passwords import check_password, hash_password
from abng.api.auth.tokens import InvalidToken, TokenService
from abng.api.guard import RoleRouter, check_routes
from abng.api.metrics import ApiCounters, render
from abng.api.settings import LoginLimits, SettingsError, load_secret
from abng.api.tls import ensure_pair, server_context
from abng.api.webhooks import signing
from abng.api.webhooks.events import iso_seconds, payload
from abng.core.model import SessionType, TerminateReason
from tests.api.tokens import bad_tokens
from tests.helpers.daemon import sample_session

SECRET = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"


def test_tokens_roundtrip_and_refusals() -> None:
    svc = TokenService(SECRET, 3600)
    tok = svc.issue("admin", "admin", now=1000)
    assert svc.verify(tok, now=1001).sub == "admin"
    with pytest.raises(InvalidToken):
        svc.verify(tok, now=4600)  # expired, also when cached
    for name, bad in bad_tokens(SECRET).items():
        if name in ("unknown_sub", "ghost_user"):
            continue  # well-formed: refused later, because the user does not exist
        with pytest.raises(InvalidToken):
            TokenService(SECRET, 3600).verify(bad)
    other = TokenService(b"x" * 64, 3600)
    with pytest.raises(InvalidToken):
        other.verify(tok, now=1001)


def test_bcrypt_unknown_user_and_long_password() -> None:
    h = hash_password("pw", cost=4)
    dummy = hash_password("dummy", cost=4)
    assert check_password("pw", h, dummy)
    assert not check_password("pw", None, dummy)
    assert not check_password("pw", "not-a-hash", dummy)
    # bcrypt alone would accept any password sharing the first 72 bytes: we refuse the long one
    assert not check_password("p" * 80, hash_password("p" * 72, cost=4), dummy)
    with pytest.raises(ValueError):
        hash_password("x" * 73, cost=4)


def test_lockout_store(tmp_path: Path) -> None:
    g = LoginGuard(
        tmp_path / "l.db", LoginLimits(user_failures=3, window=100, lock_seconds=50, ip_failures=5)
    )
    assert g.check("a", "1.1.1.1", 0) is None
    assert g.failure("a", "1.1.1.1", 1) == []
    g.failure("a", "1.1.1.1", 2)
    caused = g.failure("a", "1.1.1.1", 3)
    assert [c.kind for c in caused] == ["user"]
    locked = g.check("a", "9.9.9.9", 10)
    assert locked is not None and locked.kind == "user" and locked.retry_after == 43
    assert g.check("a", "9.9.9.9", 54) is None  # lock over
    g.failure("b", "1.1.1.1", 60)
    assert [c.kind for c in g.failure("c", "1.1.1.1", 61)] == ["address"]  # 5th from the address
    assert g.check("zzz", "1.1.1.1", 62) is not None
    assert (tmp_path / "l.db").stat().st_mode & 0o777 == 0o600
    g.close()


def test_standard_webhooks_vector() -> None:
    # test vector of the Standard Webhooks reference libraries
    key = signing.secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    sig = signing.sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert signing.verify(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, "v1,bad " + sig)
    assert signing.secret_key("plain-secret") == b"plain-secret"
    with pytest.raises(ValueError):
        signing.secret_key("whsec_***")


def test_payloads_from_session_views() -> None:
    s = sample_session(7, SessionType.DHCP)
    up = payload({"event": "session_up", "timestamp": "2026-03-14T12:00:00.123456Z", "data": s.to_rpc()})
    assert up == {
        "event": "session.up",
        "timestamp": "2026-03-14T12:00:00Z",
        "data": {**s.webhook_up()},
    }
    assert up["data"]["type"] == "DHCP" and up["data"]["interface"] == s.access_interface
    s.reason = TerminateReason.USER_REQUEST
    down = payload(
        {"event": "session_down", "timestamp": 1773489900, "data": {**s.to_rpc(), "reason": "user_request"}}
    )
    assert down == {"event": "session.down", "timestamp": "2026-03-14T12:05:00Z", "data": s.webhook_down()}
    assert payload({"event": "config_commit", "data": {}}) is None
    assert iso_seconds("garbage").endswith("Z")


def test_metrics_render_has_no_private_labels() -> None:
    counters = ApiCounters()
    counters.requests[("GET", "/api/v1/subscribers/{id}", 200)] += 3
    counters.login_failures["bad_credentials"] += 2
    text = render(
        {"sessions": {"total": 3, "pppoe": 2, "dhcp": 1}, "uptime": 5, "version": "1.0"}, counters, {}
    )
    lines = [x for x in text.splitlines() if not x.startswith("#")]
    assert "athenabng_sessions_total 3" in lines and "athenabng_uptime_seconds 5" in lines
    assert 'athenabng_version_info{version="1.0"} 1' in lines
    assert (
        'athenabng_api_requests_total{method="GET",route="/api/v1/subscribers/{id}",status="200"} 3' in lines
    )
    assert 'athenabng_api_login_failures_total{reason="bad_credentials"} 2' in lines
    assert "athenabng_api_abngd_up 0" in render(None, counters, {})


def test_router_refuses_routes_without_role() -> None:
    router = RoleRouter()

    async def endpoint() -> None:
        return None

    with pytest.raises(TypeError):
        router.add_api_route("/x", endpoint)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        router.get("/x")  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        router.add_api_route("/x", endpoint, role="root")
    with pytest.raises(TypeError):
        router.add_route("/x", endpoint)
    router.add_api_route("/ok", endpoint, role="admin")
    assert check_routes([router]) == 1
    # a route smuggled in through the plain APIRouter path is caught at start-up
    from fastapi import APIRouter

    APIRouter.add_api_route(router, "/sneaky", endpoint)
    with pytest.raises(TypeError, match="no role rule"):
        check_routes([router])


def test_audit_redaction(tmp_path: Path) -> None:
    params = {
        "path": "radius servers 0 secret",
        "value": "s3cr3t",
        "nested": {"password": "x", "ok": 1},
        "users": [{"username": "a", "password_hash": "$2b$12$abc"}],
        "raw": "$2b$04$zzz",
    }
    out = redact(params)
    assert out["value"] == REDACTED and out["nested"] == {"password": REDACTED, "ok": 1}
    assert out["users"] == [{"username": "a", "password_hash": REDACTED}] and out["raw"] == REDACTED
    log = AuditLog(tmp_path / "a.log")
    log.record("call", user="admin", params=params, status=200)
    log.close()
    entry = json.loads((tmp_path / "a.log").read_text())
    assert entry["user"] == "admin" and "s3cr3t" not in json.dumps(entry)
    assert (tmp_path / "a.log").stat().st_mode & 0o777 == 0o600


def test_secret_rules() -> None:
    with pytest.raises(SettingsError, match="32 bytes"):
        load_secret({"ABNG_API_SECRET": "short"})
    secret, from_env = load_secret({"ABNG_API_SECRET": "y" * 40})
    assert (secret, from_env) == (b"y" * 40, True)
    s1, env1 = load_secret({})
    s2, _ = load_secret({})
    assert len(s1) == 32 and not env1 and s1 != s2


def test_self_signed_pair_is_kept(tmp_path: Path) -> None:
    cert, key, generated = ensure_pair(tmp_path, None, None, "127.0.0.1")
    assert generated and key.stat().st_mode & 0o777 == 0o600
    again = ensure_pair(tmp_path, None, None, "127.0.0.1")
    assert again == (cert, key, False)
    ctx = server_context(cert, key)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
