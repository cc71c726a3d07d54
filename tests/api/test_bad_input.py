"""Hostile input gets its documented 4xx, never a 5xx, and the API keeps serving (live stack)."""

from __future__ import annotations

import random

import pytest

from tests.api.stack import ApiHandle


def _ok(api: ApiHandle) -> None:
    with api.client() as c:
        assert c.get("/api/v1/health").status_code == 200


def test_login_body_errors(stack: ApiHandle) -> None:
    cases: list[tuple[bytes, str, int]] = [
        (b"{not json", "application/json", 422),
        (b'{"username": "admin"}', "application/json", 422),
        (b'{"username": 5, "password": "x"}', "application/json", 422),
        (b'{"username": "admin", "password": "changeme", "extra": 1}', "application/json", 422),
        (b'["admin", "changeme"]', "application/json", 422),
        (b'{"username": "admin", "password": "changeme"}', "text/plain", 422),
        (b"", "application/json", 422),
        (b'{"username": "' + b"a" * 300 + b'", "password": "x"}', "application/json", 422),
    ]
    with stack.client() as c:
        for body, ctype, want in cases:
            r = c.post("/api/v1/auth/login", content=body, headers={"content-type": ctype})
            assert r.status_code == want, (body[:40], r.status_code, r.text)
            assert "detail" in r.json()
        # a password longer than bcrypt's 72 bytes is a failed login, not an error
        r = c.post("/api/v1/auth/login", json={"username": "operator", "password": "changeme" + "x" * 100})
        assert r.status_code == 401
    _ok(stack)


def test_huge_bodies_are_refused(stack: ApiHandle, admin_token: str) -> None:
    big = b'{"path": "system hostname", "value": "' + b"x" * (70 * 1024) + b'"}'
    with stack.client(admin_token) as c:
        r = c.post("/api/v1/system/config/set", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413
    with stack.client() as c:
        r = c.post("/api/v1/auth/login", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413
    _ok(stack)


def test_paths_and_queries(stack: ApiHandle, admin_token: str) -> None:
    with stack.client(admin_token) as c:
        for path in (
            "/api/v1/subscribers/abc",
            "/api/v1/subscribers/1.5",
            "/api/v1/subscribers/0",
            "/api/v1/subscribers/99999999999999999999999",
            "/api/v1/subscribers/-3",
        ):
            assert c.get(path).status_code == 422, path
        assert c.put("/api/v1/subscribers/x/rate", json={"rate_down": 1}).status_code == 422
        for query in ("type=ftth", "limit=-1", "offset=abc", "ip=999.1.1.1", "state=dead"):
            assert c.get(f"/api/v1/subscribers?{query}").status_code == 422, query
        assert c.get("/api/v1/nothing-here").status_code == 404
        assert c.patch("/api/v1/subscribers/1").status_code == 405


def test_request_bodies(stack: ApiHandle, admin_token: str) -> None:
    with stack.client(admin_token) as c:
        bad = [
            ("PUT", "/api/v1/subscribers/1/rate", {}),
            ("PUT", "/api/v1/subscribers/1/rate", {"rate_down": "fast"}),
            ("PUT", "/api/v1/subscribers/1/rate", {"rate_down": True}),
            ("PUT", "/api/v1/subscribers/1/rate", {"rate_down": 10, "burst": 1}),
            ("POST", "/api/v1/subscribers/disconnect-by-interface", {"interface": "a b"}),
            ("POST", "/api/v1/subscribers/disconnect-by-interface", {}),
            ("POST", "/api/v1/system/config/set", {"path": "system hostname"}),
            ("POST", "/api/v1/system/config/set", {"path": "", "value": 1}),
            ("POST", "/api/v1/system/config/set", {"path": "no such path", "value": 1}),
            ("POST", "/api/v1/system/config/delete", {"path": []}),
            ("POST", "/api/v1/system/config/rollback", {"n": 50}),
            ("POST", "/api/v1/system/config/rollback", {"n": "1"}),
            ("POST", "/api/v1/system/config/commit", {"comment": 5}),
            ("POST", "/api/v1/webhooks", {"url": "ftp://x/y", "events": ["session.up"]}),
            ("POST", "/api/v1/webhooks", {"url": "http://h/x", "events": ["session.sideways"]}),
            ("POST", "/api/v1/webhooks", {"url": "http://h/x", "events": []}),
            (
                "POST",
                "/api/v1/webhooks",
                {"url": "http://h/x", "events": ["session.up"], "secret": "whsec_!!!!!!!!"},
            ),
            ("POST", "/api/v1/webhooks", {"url": "file:///etc/passwd", "events": ["session.up"]}),
        ]
        for method, path, body in bad:
            r = c.request(method, path, json=body)
            assert r.status_code == 422, (method, path, body, r.status_code, r.text)
        # an invalid value makes the commit fail with the errors list, running config untouched
        assert c.post(
            "/api/v1/system/config/set", json={"path": "pppoe mtu", "value": 99999}
        ).status_code in (
            200,
            422,
        )
        r = c.post("/api/v1/system/config/commit")
        if r.status_code == 422:
            assert isinstance(r.json()["detail"], list) and r.json()["detail"][0]["loc"][0] == "config"
        assert c.post("/api/v1/system/config/discard").status_code == 200
    _ok(stack)


def test_fuzzed_requests_never_500(stack: ApiHandle, admin_token: str) -> None:
    rng = random.Random(1234)
    paths = [
        "/api/v1/auth/login",
        "/api/v1/subscribers/1/rate",
        "/api/v1/system/config/set",
        "/api/v1/webhooks",
        "/api/v1/subscribers/disconnect-by-interface",
        "/api/v1/system/config/rollback",
    ]
    alphabet = b'{}[]":,0123456789abcdefnulltrue \\\x00\xff'
    with stack.client(admin_token) as c:
        for _ in range(150):
            body = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
            path = rng.choice(paths)
            method = "PUT" if path.endswith("/rate") else "POST"
            r = c.request(method, path, content=body, headers={"content-type": "application/json"})
            assert r.status_code < 500, (path, body, r.text)
    _ok(stack)


def test_tls_only_and_at_least_1_2(stack: ApiHandle) -> None:
    import socket
    import ssl
    import warnings

    import httpx

    warnings.simplefilter("ignore", DeprecationWarning)  # we mean to offer only TLS 1.0/1.1
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("ALL:@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", stack.port), timeout=5) as raw:
        try:
            with old.wrap_socket(raw) as tls:
                version = tls.version()
        except (ssl.SSLError, ConnectionResetError):
            version = None
    assert version is None  # TLS 1.0/1.1 refused
    with pytest.raises(httpx.HTTPError):  # no plain HTTP on the port
        httpx.get(f"http://127.0.0.1:{stack.port}/api/v1/health", timeout=5)
    modern = ssl.create_default_context()
    modern.check_hostname, modern.verify_mode = False, ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", stack.port), timeout=5) as raw,
        modern.wrap_socket(raw) as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    _ok(stack)


def test_mutating_calls_are_audited_with_request_id(stack: ApiHandle, admin_token: str) -> None:
    import json
    import time

    with stack.client(admin_token) as c:
        r = c.post(
            "/api/v1/system/config/set",
            json={"path": "radius servers", "value": [{"host": "127.0.0.1", "secret": "topsecret-radius"}]},
            headers={"X-Request-ID": "audit-test-1"},
        )
        assert r.headers["x-request-id"] == "audit-test-1"
        c.post("/api/v1/system/config/discard")
        rid = c.get("/api/v1/health").headers["x-request-id"]
        assert len(rid) == 32
    with stack.client() as c:
        c.post("/api/v1/system/config/discard")  # refused (401): audited too
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        entries = [json.loads(x) for x in stack.audit_path.read_text().splitlines()]
        mine = [e for e in entries if e.get("request_id") == "audit-test-1"]
        refused = [
            e for e in entries if e.get("status") == 401 and e.get("path") == "/api/v1/system/config/discard"
        ]
        if mine and refused:
            break
        time.sleep(0.05)
    assert len(mine) == 1
    entry = mine[0]
    assert (entry["event"], entry["user"], entry["role"], entry["client"]) == (
        "call",
        "admin",
        "admin",
        "127.0.0.1",
    )
    assert entry["route"] == "/api/v1/system/config/set" and entry["params"]["path"] == "radius servers"
    assert entry["params"]["value"][0]["secret"] == "********"
    assert "topsecret-radius" not in stack.audit_path.read_text()
    assert refused and refused[0].get("user") is None
