"""Shared pieces of the API benchmarks: a live stack with realistic bcrypt cost, and wrk runs."""

from __future__ import annotations

import contextlib
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt

from abng.core.model import Session
from tests.api.stack import ApiHandle, config, running_api
from tests.helpers.daemon import running_abngd

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: str

    def row(self, label: str) -> str:
        return f"| {label} | {self.rps:,.0f} | {self.p50_ms:.2f} | {self.p99_ms:.2f} | {self.non_2xx} |"


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    assert m, text
    return float(m.group(1)) * _UNITS[m.group(2)]


def wrk(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    seconds: int = 10,
    connections: int = 32,
    threads: int = 1,
    script: str | None = None,
) -> WrkResult:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script or "")
        lua = f.name
    if script:
        cmd += ["-s", lua]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=seconds + 60).stdout
    Path(lua).unlink()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors:.*", out)
    return WrkResult(rps, p50, p99, int(m.group(1)) if m else 0, errs.group(0) if errs else "")


@contextlib.contextmanager
def bench_stack(
    sessions: list[Session] | None = None, cost: int = 12, api_args: tuple[str, ...] = ()
) -> Iterator[ApiHandle]:
    """abngd + abng-api in a temp dir, users hashed at the production cost (12)."""
    pw_hash = bcrypt.hashpw(b"changeme", bcrypt.gensalt(cost)).decode()
    users = [
        {"username": "admin", "password_hash": pw_hash, "role": "admin"},
        {"username": "operator", "password_hash": pw_hash, "role": "operator"},
    ]
    with (
        tempfile.TemporaryDirectory(prefix="abng-api-bench-") as tmp,
        running_abngd(Path(tmp), config(users), sessions=sessions or []) as d,
        running_api(d, args=api_args, timeout=120) as api,
    ):
        yield api


def token(api: ApiHandle) -> str:
    return api.login("operator")


def info(api: ApiHandle) -> dict[str, Any]:
    with api.client(token(api)) as c:
        data: dict[str, Any] = c.get("/api/v1/system/health").json()["data"]
    return data
