"""A live abngd + abng-api pair over real HTTPS on 127.0.0.1, for the API tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import yaml

from abng.core.model import Session
from tests.helpers.daemon import REPO, AbngdHandle, running_abngd

PASSWORD = "changeme"
DEFAULT_CONFIG = REPO / "abng" / "config" / "default.yaml"
_HASHES: dict[str, str] = {}


def fast_hash(password: str = PASSWORD) -> str:
    """bcrypt cost 4 (tests only), cached per password."""
    if password not in _HASHES:
        _HASHES[password] = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    return _HASHES[password]


def users(**roles: str) -> list[dict[str, str]]:
    return [{"username": n, "password_hash": fast_hash(), "role": r} for n, r in roles.items()]


def config(api_users: list[dict[str, str]] | None = None) -> dict[str, Any]:
    cfg: dict[str, Any] = yaml.safe_load(DEFAULT_CONFIG.read_text())
    cfg["api"] = {
        "enabled": True,
        "listen": "127.0.0.1",
        "port": 8443,
        "token_expiry": 3600,
        "users": api_users if api_users is not None else users(admin="admin", operator="operator"),
    }
    return cfg


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ApiHandle:
    abngd: AbngdHandle
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base, verify=False, headers=headers, timeout=30.0)

    def login(self, username: str, password: str = PASSWORD) -> str:
        with self.client() as c:
            r = c.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        token: str = r.json()["access_token"]
        return token

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def audit_path(self) -> Path:
        return self.abngd.run_dir / "audit.log"

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


def start_api(
    abngd: AbngdHandle,
    *,
    port: int | None = None,
    env: dict[str, str] | None = None,
    args: Iterable[str] = (),
    timeout: float = 20.0,
) -> ApiHandle:
    port = port or free_port()
    log_path = abngd.run_dir.parent / f"abng-api-{port}.log"
    cmd = [
        sys.executable,
        "-m",
        "abng.api.main",
        "--config-dir",
        str(abngd.config_dir),
        "--run-dir",
        str(abngd.run_dir),
        "--listen",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        *args,
    ]
    base_env = {k: v for k, v in os.environ.items() if k != "ABNG_API_SECRET"}
    full_env = {**base_env, "PYTHONPATH": str(REPO), **(env or {})}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=full_env, cwd=REPO)
    handle = ApiHandle(abngd, port, proc, log_path, list(args), dict(env or {}))
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"abng-api exited with {proc.returncode}:\n{handle.log()[-3000:]}")
        try:
            with handle.client() as c:
                if c.get("/api/v1/health").status_code == 200:
                    return handle
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            handle.stop()
            raise RuntimeError(f"abng-api did not become healthy:\n{handle.log()[-3000:]}")
        time.sleep(0.1)


@contextlib.contextmanager
def running_api(abngd: AbngdHandle, **kwargs: Any) -> Iterator[ApiHandle]:
    handle = start_api(abngd, **kwargs)
    try:
        yield handle
    finally:
        handle.stop()


@contextlib.contextmanager
def running_stack(
    tmp_path: Path,
    *,
    api_users: list[dict[str, str]] | None = None,
    sessions: Iterable[Session] = (),
    **api_kwargs: Any,
) -> Iterator[ApiHandle]:
    with (
        running_abngd(tmp_path, config(api_users), sessions=sessions) as d,
        running_api(d, **api_kwargs) as api,
    ):
        yield api
