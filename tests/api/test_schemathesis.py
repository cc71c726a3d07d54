"""schemathesis 4.x over the live OpenAPI document: auth is enforced, no server errors, documented
status codes and content types.  Bounded: a few examples per operation, < 60 s."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.conftest import seeded_sessions
from tests.api.stack import running_stack

CHECKS = "not_a_server_error,ignored_auth,status_code_conformance,content_type_conformance"


@pytest.mark.slow
def test_schemathesis(tmp_path: Path) -> None:
    with running_stack(tmp_path, sessions=seeded_sessions()) as api:
        token = api.login("admin")
        # subsystems that do not exist yet in abngd answer 503 by contract (-32003): leave them out
        excluded: list[str] = []
        with api.client(token) as c:
            for path in (
                "/api/v1/interfaces",
                "/api/v1/interfaces/vlans",
                "/api/v1/qos",
                "/api/v1/qos/profiles",
                "/api/v1/routing/bgp/summary",
                "/api/v1/system/config",
            ):
                if c.get(path).status_code == 503:
                    excluded += ["--exclude-path", path]
        cmd = [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{api.base}/api/openapi.json",
            "-H",
            f"Authorization: Bearer {token}",
            "--checks",
            CHECKS,
            "--max-examples",
            "5",
            "--tls-verify",
            "false",
            "--max-time",
            "20",
            "--seed",
            "7",
            "--workers",
            "1",  # CPython 3.11 ast is not thread-safe: with 2 workers schemathesis itself crashed once
            "--phases",
            "examples,coverage,fuzzing",
            "--warnings",
            "off",
            *excluded,
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        (tmp_path / "schemathesis.out").write_text(out.stdout + out.stderr)
        assert out.returncode == 0, out.stdout[-8000:] + out.stderr[-2000:]
        with api.client() as c:  # and the API still serves
            assert c.get("/api/v1/health").status_code == 200
