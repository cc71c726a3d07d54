"""Start a real ``abngd`` in temporary directories, for any test suite (API, CLI, lab...).

    from tests.helpers.daemon import running_abngd

    def test_x(tmp_path):
        with running_abngd(tmp_path, config={...}) as d:
            d.call("show.system")

``config`` (a dict) becomes ``running-config.yaml``; without it abngd starts from
abng/config/default.yaml.  ``sessions`` are written to the session store before start (there is no
public RPC that creates sessions): abngd restores them.  The process is stopped by PID (SIGTERM,
then SIGKILL after ``stop_timeout``).  Its log (stderr) is ``handle.log_path``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from abng.core.model import Session, SessionState, SessionType
from abng.core.rpcclient import SyncRpcClient
from abng.core.store import SessionStore
from abng.lab.procs import unix_connectable

REPO = Path(__file__).resolve().parents[2]


@dataclass
class AbngdHandle:
    socket_path: Path
    config_dir: Path
    run_dir: Path
    state_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(self, timeout: float = 30.0) -> SyncRpcClient:
        return SyncRpcClient(self.socket_path, timeout=timeout)

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        with self.client() as c:
            return c.call(method, params)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM by PID; SIGKILL if it has not exited after ``timeout``.  Returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


def sample_session(
    session_id: int,
    type: SessionType = SessionType.PPPOE,
    state: SessionState = SessionState.ACTIVE,
    **fields: Any,
) -> Session:
    """A plausible session record for seeding stores (ip 10.x.y.z from the id)."""
    b = session_id.to_bytes(4, "big")
    default_mac = ":".join(f"{x:02x}" for x in (2, 0, *b))
    default_iface = f"trunk0.{100 + session_id % 100}.{1 + session_id % 4000}"
    s = Session(
        id=session_id,
        type=type,
        username=fields.pop("username", f"user{session_id}"),
        mac_address=fields.pop("mac_address", default_mac),
        access_interface=fields.pop("access_interface", default_iface),
        started_at=fields.pop("started_at", 1_700_000_000 + session_id),
        state=state,
    )
    if state is not SessionState.STARTING:
        s.ip_address = "10." + ".".join(str(x) for x in (session_id + 256).to_bytes(3, "big"))
        s.rate_down, s.rate_up = 100_000_000, 40_000_000
        s.activated_at = s.started_at + 1
        if type is SessionType.PPPOE:
            s.ppp_interface = f"ppp{session_id}"
            s.access_data = {"pppoe_session_id": session_id % 65535 + 1, "peer_mac": s.mac_address}
    for key, value in fields.items():
        setattr(s, key, value)
    return s


def seed_sessions(state_dir: Path, sessions: Iterable[Session], history: Iterable[Session] = ()) -> int:
    """Write sessions into ``<state_dir>/sessions.db`` (abngd must not be running)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    store = SessionStore(state_dir / "sessions.db")
    try:
        return store.seed(sessions, history)
    finally:
        store.close()


def start_abngd(
    config_dir: Path,
    run_dir: Path,
    state_dir: Path,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 20.0,
    log_path: Path | None = None,
) -> AbngdHandle:
    """Start ``python -m abng.core.daemon`` and wait until its socket accepts connections."""
    for d in (config_dir, run_dir, state_dir):
        d.mkdir(parents=True, exist_ok=True)
    log_path = log_path or run_dir.parent / "abngd.log"
    sock = run_dir / "abngd.sock"
    cmd = [sys.executable, "-m", "abng.core.daemon", "--config-dir", str(config_dir),
           "--run-dir", str(run_dir), "--state-dir", str(state_dir)]  # fmt: skip
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env=full_env, cwd=REPO)
    handle = AbngdHandle(sock, config_dir, run_dir, state_dir, proc, log_path)
    deadline = time.monotonic() + timeout
    while not unix_connectable(sock):
        if proc.poll() is not None:
            raise RuntimeError(f"abngd exited with {proc.returncode}:\n{handle.log()[-4000:]}")
        if time.monotonic() > deadline:
            handle.stop()
            raise RuntimeError(f"abngd did not open {sock} within {timeout}s:\n{handle.log()[-4000:]}")
        time.sleep(0.05)
    return handle


@contextlib.contextmanager
def running_abngd(
    tmp_path: Path,
    config: dict[str, Any] | None = None,
    *,
    sessions: Iterable[Session] = (),
    env: dict[str, str] | None = None,
) -> Iterator[AbngdHandle]:
    """A live abngd under ``tmp_path/abngd/{etc,run,var}``; always stopped by PID on exit."""
    base = tmp_path / "abngd"
    etc, run, var = base / "etc", base / "run", base / "var"
    etc.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (etc / "running-config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    sessions = list(sessions)
    if sessions:
        seed_sessions(var, sessions)
    handle = start_abngd(etc, run, var, env=env)
    try:
        yield handle
    finally:
        handle.stop()
