"""Every endpoint under no token, bad tokens, operator and admin (live abngd + abng-api)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.conftest import seeded_sessions
from tests.api.stack import ApiHandle, running_stack
from tests.api.tokens import bad_tokens

SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789-abcdefghijklmnop"

# (method, path, json body, role): the 26 endpoints of reference §3.2 + docs
ENDPOINTS: list[tuple[str, str, Any, str]] = [
    ("GET", "/api/v1/subscribers", None, "operator"),
    ("GET", "/api/v1/subscribers/summary", None, "operator"),
    ("GET", "/api/v1/subscribers/1", None, "operator"),
    ("DELETE", "/api/v1/subscribers/999999", None, "admin"),
    ("PUT", "/api/v1/subscribers/999999/rate", {"rate_down": "50mbit", "rate_up": 20_000_000}, "admin"),
    ("POST", "/api/v1/subscribers/disconnect-by-interface", {"interface": "nothing.1.2"}, "admin"),
    ("GET", "/api/v1/system/version", None, "operator"),
    ("GET", "/api/v1/system/health", None, "operator"),
    ("GET", "/api/v1/system/config", None, "operator"),
    ("POST", "/api/v1/system/config/set", {"path": "system hostname", "value": "matrix"}, "admin"),
    ("POST", "/api/v1/system/config/delete", {"path": "system timezone"}, "admin"),
    ("POST", "/api/v1/system/config/discard", None, "admin"),
    ("POST", "/api/v1/system/config/commit", {"comment": "matrix", "check": True}, "admin"),
    ("POST", "/api/v1/system/config/rollback", {"n": 0}, "admin"),
    ("GET", "/api/v1/system/config/compare", None, "operator"),
    ("GET", "/api/v1/interfaces", None, "operator"),
    ("GET", "/api/v1/interfaces/vlans", None, "operator"),
    ("GET", "/api/v1/qos", None, "operator"),
    ("GET", "/api/v1/qos/profiles", None, "operator"),
    ("GET", "/api/v1/routing/bgp/summary", None, "operator"),
    ("POST", "/api/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["session.up"]}, "admin"),
    ("GET", "/api/v1/webhooks", None, "admin"),
    ("DELETE", "/api/v1/webhooks/00000000", None, "admin"),
]
PUBLIC = ["/api/v1/health", "/metrics", "/api/docs", "/api/redoc", "/api/openapi.json"]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiHandle]:
    with running_stack(
        tmp_path_factory.mktemp("matrix"), sessions=seeded_sessions(), env={"ABNG_API_SECRET": SECRET}
    ) as api:
        yield api


def _call(api: ApiHandle, token: str | None, method: str, path: str, body: Any) -> Any:
    with api.client(token) as c:
        return c.request(method, path, json=body)


def test_every_documented_endpoint_is_routed(secured: ApiHandle) -> None:
    with secured.client() as c:
        spec = c.get("/api/openapi.json").json()
    ops = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    assert len(ops) == 26
    for method, path, _, role in ENDPOINTS:
        templ = path.replace("/1", "/{id}").replace("/999999", "/{id}").replace("/00000000", "/{id}")
        assert (method, templ) in ops, (method, templ)
        assert spec["paths"][templ][method.lower()]["x-abng-role"] == role
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if op["x-abng-role"] == "public":
                continue
            assert {"401", "403", "422", "429"} <= set(op["responses"]), (method, path)
            assert op["security"] == [{"bearer": []}]


@pytest.mark.parametrize("name", sorted(bad_tokens(SECRET.encode())))
def test_bad_tokens_get_401_everywhere(secured: ApiHandle, name: str) -> None:
    token = bad_tokens(SECRET.encode())[name]
    for method, path, body, _ in ENDPOINTS:
        r = _call(secured, token, method, path, body)
        assert r.status_code == 401, (name, method, path, r.text)
        assert r.json() == {"detail": "Could not validate credentials"}
        assert r.headers["www-authenticate"] == "Bearer"


def test_no_token_and_wrong_scheme(secured: ApiHandle) -> None:
    for method, path, body, _ in ENDPOINTS:
        assert _call(secured, None, method, path, body).status_code == 401
        with secured.client() as c:
            r = c.request(method, path, json=body, headers={"Authorization": "Basic YWRtaW46Y2hhbmdlbWU="})
        assert r.status_code == 401


def test_operator_reads_but_never_changes(secured: ApiHandle) -> None:
    token = secured.login("operator")
    for method, path, body, role in ENDPOINTS:
        r = _call(secured, token, method, path, body)
        if role == "admin":
            assert r.status_code == 403, (method, path, r.text)
            assert r.json() == {"detail": "Admin role required"}
        else:
            assert (r.status_code not in (401, 403) and r.status_code < 500) or r.status_code == 503, (
                path,
                r.text,
            )


def test_admin_everywhere(secured: ApiHandle) -> None:
    token = secured.login("admin")
    expected = {
        "/api/v1/subscribers/999999": 404,
        "/api/v1/subscribers/999999/rate": 404,
        "/api/v1/webhooks/00000000": 404,
        "/api/v1/routing/bgp/summary": 503,
    }
    for method, path, body, _ in ENDPOINTS:
        r = _call(secured, token, method, path, body)
        want = expected.get(path)
        if want is not None:
            assert r.status_code == want, (path, r.text)
        else:
            assert r.status_code in (200, 503), (method, path, r.text)
        if r.status_code == 200 and path != "/metrics":
            assert r.json()["status"] == "ok"
        if r.status_code in (404, 503):
            assert isinstance(r.json()["detail"], str) and r.json()["detail"]
    with secured.client(token) as c:
        assert c.get("/api/v1/subscribers/424242").json() == {"detail": "Session 424242 not found"}


def test_public_paths_need_no_token(secured: ApiHandle) -> None:
    with secured.client() as c:
        for path in PUBLIC:
            assert c.get(path).status_code == 200, path
        assert c.get("/api/v1/health").json() == {"status": "ok"}
        metrics = c.get("/metrics").text
    assert "athenabng_sessions_total 8" in metrics
    assert "athenabng_sessions_pppoe 5" in metrics
    for private in ("user1", "10.0.1.", "02:00:", "admin"):
        assert private not in metrics
