"""A live ``abngd`` subprocess inside a network namespace, and radclient run in that namespace.

(tests/helpers/daemon.py starts abngd in the root namespace; the policy tests need their own
namespace because abngd changes routes, qdiscs and nftables there.)
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from abng.core.model import Session
from abng.lab.procs import unix_connectable
from tests.helpers.daemon import AbngdHandle, seed_sessions
from tests.helpers.freeradius import radclient_dictdir

REPO = Path(__file__).resolve().parents[2]
SECRET = "testing123"


def write_config(base: Path, config: dict[str, Any]) -> None:
    etc = base / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "running-config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def start_in_ns(
    ns: str, base: Path, sessions: list[Session] | None = None, timeout: float = 30
) -> AbngdHandle:
    """Start abngd in ``ns`` on ``base/{etc,run,var}`` (config written by :func:`write_config`)."""
    etc, run, var = base / "etc", base / "run", base / "var"
    for d in (etc, run, var):
        d.mkdir(parents=True, exist_ok=True)
    if sessions:
        seed_sessions(var, sessions)
    log_path = base / "abngd.log"
    cmd = ["ip", "netns", "exec", ns, sys.executable, "-m", "abng.core.daemon",
           "--config-dir", str(etc), "--run-dir", str(run), "--state-dir", str(var)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env=env, cwd=REPO)
    handle = AbngdHandle(run / "abngd.sock", etc, run, var, proc, log_path)
    deadline = time.monotonic() + timeout
    while not unix_connectable(handle.socket_path):
        if proc.poll() is not None:
            raise RuntimeError(f"abngd exited with {proc.returncode}:\n{handle.log()[-4000:]}")
        if time.monotonic() > deadline:
            handle.stop()
            raise RuntimeError(f"abngd did not start within {timeout}s:\n{handle.log()[-4000:]}")
        time.sleep(0.05)
    return handle


def radclient(
    ns: str, dictdir: Path, port: int, command: str, attrs: str, secret: str = SECRET, wait: float = 1.0
) -> tuple[int, str]:
    """``radclient -x`` (one try) inside ``ns`` against 127.0.0.1:port; (rc, output)."""
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, "radclient", "-x", "-d", str(dictdir), "-r", "1", "-t", str(wait),
         f"127.0.0.1:{port}", command, secret],
        input=attrs, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return proc.returncode, proc.stdout + proc.stderr


def dictdir(root: Path) -> Path:
    return radclient_dictdir(root)


class EventReader:
    """A ``monitor.subscribe`` connection; :meth:`next` returns the next event (or None)."""

    def __init__(self, path: Path, events: list[str]) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        req = {"jsonrpc": "2.0", "id": 1, "method": "monitor.subscribe", "params": {"events": events}}
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        self.buf = b""
        reply = self._line(5.0)
        assert reply is not None and reply.get("result", {}).get("subscribed") is True

    def _line(self, timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return None
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)  # type: ignore[no-any-return]

    def next(self, timeout: float = 5.0) -> dict[str, Any] | None:
        msg = self._line(timeout)
        return None if msg is None else msg.get("params")

    def close(self) -> None:
        self.sock.close()
