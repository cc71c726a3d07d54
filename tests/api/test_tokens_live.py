"""Secret handling across restarts, token expiry, role removal and downgrade (live stack)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.api.stack import ApiHandle, config, fast_hash, running_stack, start_api, users
from tests.helpers.daemon import REPO, running_abngd

SECRET = "persistent-secret-for-tests-0123456789abcdef"


def _status(api: ApiHandle, token: str, path: str = "/api/v1/subscribers/summary") -> int:
    with api.client(token) as c:
        return c.get(path).status_code


def test_restart_with_and_without_secret(tmp_path: pytest.TempPathFactory) -> None:
    with running_abngd(tmp_path, config()) as d:  # type: ignore[arg-type]
        api = start_api(d, env={"ABNG_API_SECRET": SECRET})
        token = api.login("admin")
        api.stop()
        api = start_api(d, port=api.port, env={"ABNG_API_SECRET": SECRET})
        assert _status(api, token) == 200  # survives: same secret
        api.stop()
        api = start_api(d, port=api.port)  # random secret
        try:
            assert _status(api, token) == 401
            random_token = api.login("admin")
            assert _status(api, random_token) == 200
        finally:
            api.stop()
        api = start_api(d, port=api.port)  # another random secret: tokens died with the process
        try:
            assert _status(api, random_token) == 401
        finally:
            api.stop()


def test_short_secret_is_refused(tmp_path: pytest.TempPathFactory) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "abng.api.main", "--config-dir", str(tmp_path), "--run-dir", str(tmp_path)],
        env={"ABNG_API_SECRET": "too-short", "PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "ABNG_API_SECRET" in out.stderr and "32 bytes" in out.stderr


def test_role_downgrade_and_removal_take_effect_at_once(tmp_path: pytest.TempPathFactory) -> None:
    with running_stack(tmp_path, api_users=users(admin="admin", boss="admin", ops="operator")) as api:  # type: ignore[arg-type]
        admin, boss, ops = api.login("admin"), api.login("boss"), api.login("ops")
        assert _status(api, boss, "/api/v1/webhooks") == 200
        # downgrade boss to operator through the REST config model
        new_users = users(admin="admin", boss="operator", ops="operator")
        with api.client(admin) as c:
            assert (
                c.post(
                    "/api/v1/system/config/set", json={"path": "api users", "value": new_users}
                ).status_code
                == 200
            )
            r = c.post("/api/v1/system/config/commit", json={"comment": "downgrade boss"})
            assert r.status_code == 200, r.text
        assert _status(api, boss, "/api/v1/webhooks") == 403
        assert _status(api, boss) == 200  # still may read
        # remove ops through abngd directly (as the CLI would): the config_commit event applies it
        d = api.abngd
        d.call("config.set", {"path": "api users", "value": users(admin="admin", boss="operator")})
        d.call("config.commit", {"comment": "remove ops"})
        deadline = time.monotonic() + 5
        while _status(api, ops) != 401 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _status(api, ops) == 401
        with api.client() as c:
            r = c.post("/api/v1/auth/login", json={"username": "ops", "password": "changeme"})
        assert r.status_code == 401
        assert fast_hash() not in api.audit_path.read_text()


def test_expired_token_and_expiry_claim(tmp_path: pytest.TempPathFactory) -> None:
    import jwt

    cfg_users = users(admin="admin")
    with running_stack(tmp_path, api_users=cfg_users, env={"ABNG_API_SECRET": SECRET}) as api:  # type: ignore[arg-type]
        token = api.login("admin")
        claims = jwt.decode(token, SECRET, algorithms=["HS256"])
        assert set(claims) == {"sub", "role", "iat", "exp", "jti"}
        assert claims["exp"] - claims["iat"] == 3600
        assert jwt.get_unverified_header(token)["alg"] == "HS256"
        expired = jwt.encode({**claims, "exp": int(time.time()) - 1}, SECRET, algorithm="HS256")
        assert _status(api, expired) == 401
        _ = config
