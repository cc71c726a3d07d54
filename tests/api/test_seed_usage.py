"""The seed page's commands, run as printed (only the port substituted), against a live stack."""

from __future__ import annotations

import json
import subprocess

import bcrypt

from tests.api.stack import ApiHandle

SCRIPTED_USAGE = """TOKEN=$(curl -sk -X POST https://localhost:8443/api/v1/auth/login \\
-H "Content-Type: application/json" \\
-d '{"username":"admin","password":"changeme"}' \\
| jq -r '.access_token')

curl -sk -H "Authorization: Bearer $TOKEN" \\
https://localhost:8443/api/v1/subscribers/summary
"""

GETTING_A_TOKEN = """curl -sk -X POST https://localhost:8443/api/v1/auth/login \\
-H "Content-Type: application/json" \\
-d '{"username": "admin", "password": "changeme"}'
"""

USING_THE_TOKEN = """curl -sk -H "Authorization: Bearer $TOKEN" \\
https://localhost:8443/api/v1/subscribers
"""


def _bash(script: str, port: int, env: dict[str, str] | None = None) -> str:
    script = script.replace("localhost:8443", f"localhost:{port}")
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_scripted_usage(stack: ApiHandle) -> None:
    body = json.loads(_bash(SCRIPTED_USAGE, stack.port))
    assert body == {"status": "ok", "data": {"total": 8, "pppoe": 5, "dhcp": 3}}


def test_getting_and_using_a_token(stack: ApiHandle) -> None:
    body = json.loads(_bash(GETTING_A_TOKEN, stack.port))
    assert set(body) == {"access_token", "token_type"}
    assert body["token_type"] == "bearer"
    assert body["access_token"].startswith("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.")
    listing = json.loads(
        _bash(USING_THE_TOKEN, stack.port, {"TOKEN": body["access_token"], "PATH": "/usr/bin:/bin"})
    )
    assert listing["status"] == "ok"
    assert listing["data"]["count"] == 8
    first = listing["data"]["sessions"][0]
    assert set(first) == {
        "id",
        "type",
        "username",
        "ip_address",
        "interface",
        "rate_down",
        "rate_up",
        "state",
        "started_at",
    }
    assert first["type"] == "PPPoE" and first["interface"] == "ppp1" and first["rate_down"] == 100_000_000


def test_troubleshooting_bodies(stack: ApiHandle, operator_token: str) -> None:
    with stack.client() as c:
        r = c.get("/api/v1/subscribers")
        assert r.status_code == 401
        assert r.json() == {"detail": "Could not validate credentials"}
        assert r.headers["www-authenticate"] == "Bearer"
    with stack.client(operator_token) as c:
        r = c.post("/api/v1/system/config/discard")
        assert r.status_code == 403
        assert r.json() == {"detail": "Admin role required"}


def test_python_one_liner_hash_is_accepted(stack: ApiHandle) -> None:
    """The seed's hash command produces what api.users expects (bcrypt $2b$)."""
    one_liner = "import bcrypt; print(bcrypt.hashpw(b'yourpassword', bcrypt.gensalt(4)).decode())"
    out = subprocess.run([".venv/bin/python", "-c", one_liner], capture_output=True, text=True, check=True)
    assert bcrypt.checkpw(b"yourpassword", out.stdout.strip().encode())


def test_hash_password_command_reads_stdin() -> None:
    out = subprocess.run(
        [".venv/bin/python", "-m", "abng.api.main", "hash-password", "--cost", "4"],
        input="s3cret pass\n",
        capture_output=True,
        text=True,
        check=True,
    )
    hashed = out.stdout.strip()
    assert hashed.startswith("$2b$04$")
    assert bcrypt.checkpw(b"s3cret pass", hashed.encode())
    assert "s3cret" not in out.stdout + out.stderr
    empty = subprocess.run(
        [".venv/bin/python", "-m", "abng.api.main", "hash-password"],
        input="\n",
        capture_output=True,
        text=True,
    )
    assert empty.returncode == 1 and "empty" in empty.stderr
