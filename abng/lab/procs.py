"""Processes of the lab (abngd, abng-api, FreeRADIUS, iperf3): started with pid files, stopped by PID.

Each process runs in its own session (``start_new_session``) with output to ``<lab>/<name>.log``
and its PID in ``<lab>/<name>.pid``.  ``stop(name)`` only signals a PID whose command line still
looks like the one we started (a recycled PID is left alone).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path

from abng.lab.topology import kill_pid, pid_alive


class Procs:
    def __init__(self, lab_dir: Path) -> None:
        self.lab_dir = lab_dir

    def pid_file(self, name: str) -> Path:
        return self.lab_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.lab_dir / f"{name}.log"

    def start(
        self, name: str, argv: list[str], *, netns: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        full = ["ip", "netns", "exec", netns, *argv] if netns else argv  # ip netns exec execs: same PID
        with open(self.log_file(name), "ab") as log:
            proc = subprocess.Popen(
                full,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **(env or {})},
            )
        self.pid_file(name).write_text(f"{proc.pid}\n")
        return proc

    def pid(self, name: str) -> int | None:
        try:
            return int(self.pid_file(name).read_text().strip())
        except (OSError, ValueError):
            return None

    def running(self, name: str, marker: str = "") -> int | None:
        """The PID of ``name`` when it is alive (and its command line contains ``marker``)."""
        pid = self.pid(name)
        if pid is None or not pid_alive(pid):
            return None
        if marker and marker not in cmdline(pid):
            return None
        return pid

    def stop(self, name: str, marker: str = "", timeout: float = 10.0) -> bool:
        pid = self.running(name, marker)
        if pid is not None:
            kill_pid(pid, timeout)
        with contextlib.suppress(FileNotFoundError):
            self.pid_file(name).unlink()
        return pid is not None


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def wait_until(predicate: object, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``predicate()`` until true; TimeoutError naming ``what``."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def unix_connectable(path: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def tcp_connectable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
