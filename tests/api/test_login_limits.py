"""D13: failed logins, lockout with Retry-After, per-address limit, audit (live stack)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.api.stack import PASSWORD, ApiHandle, running_stack

BAD = {"detail": "Incorrect username or password"}


@pytest.fixture
def api(tmp_path: pytest.TempPathFactory) -> Iterator[ApiHandle]:
    with running_stack(tmp_path, args=["--login-ip-failures", "12"]) as handle:  # type: ignore[arg-type]
        yield handle


def _login(api: ApiHandle, username: str, password: str) -> tuple[int, dict[str, str], object]:
    with api.client() as c:
        r = c.post("/api/v1/auth/login", json={"username": username, "password": password})
    return r.status_code, dict(r.headers), r.json()


def _audit(api: ApiHandle) -> list[dict[str, object]]:
    deadline = time.monotonic() + 5
    while True:
        lines = [json.loads(x) for x in api.audit_path.read_text().splitlines()]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_lockout_after_five_failures(api: ApiHandle) -> None:
    for _ in range(5):
        status, headers, body = _login(api, "admin", "wrong")
        assert (status, body) == (401, BAD)
    status, headers, body = _login(api, "admin", PASSWORD)  # even the right password
    assert status == 429
    assert 850 <= int(headers["retry-after"]) <= 900
    assert "try again" in body["detail"]  # type: ignore[index]
    # other users are not affected
    assert _login(api, "operator", PASSWORD)[0] == 200
    # an unknown username is locked the same way, with the same bodies
    for _ in range(5):
        assert _login(api, "nobody", "x")[::2] == (401, BAD)
    assert _login(api, "nobody", "x")[0] == 429
    time.sleep(0.3)
    entries = _audit(api)
    logins = [e for e in entries if e["event"] == "login"]
    assert len(logins) == 13
    assert {e["result"] for e in logins} == {"bad_credentials", "ok", "locked_user"}
    locks = [e for e in entries if e["event"] == "lockout"]
    assert [(e["user"], e["kind"]) for e in locks] == [("admin", "user"), ("nobody", "user")]
    raw = api.audit_path.read_text()
    assert PASSWORD not in raw and "wrong" not in raw and "$2b$" not in raw and "eyJ" not in raw
    assert all(e["client"] == "127.0.0.1" and e["request_id"] for e in logins)


def test_lockout_survives_api_restart(api: ApiHandle) -> None:
    for _ in range(5):
        _login(api, "operator", "wrong")
    api.stop()
    from tests.api.stack import start_api

    again = start_api(api.abngd, port=api.port, args=api.args)
    try:
        assert _login(again, "operator", PASSWORD)[0] == 429
        assert _login(again, "admin", PASSWORD)[0] == 200
    finally:
        again.stop()


def test_per_address_limit(api: ApiHandle) -> None:
    for i in range(12):
        assert _login(api, f"spray{i}", "x")[0] == 401
    status, headers, _ = _login(api, "admin", PASSWORD)
    assert status == 429 and int(headers["retry-after"]) > 0
    # the block never turns into a server error and the API keeps serving
    with api.client() as c:
        assert c.get("/api/v1/health").status_code == 200
