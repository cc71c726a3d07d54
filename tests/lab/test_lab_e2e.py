"""`abng-lab` end to end: up --detach with the default subscribers, API and CLI show them, a flap is
seen in monitor.subscribe and as webhooks, teardown leaves nothing behind, a SIGKILLed lab is
recovered by the next `up`.  Root only; every lab here has its own prefix, dir and API port."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from abng.lab.topology import Topology, teardown

pytestmark = [
    pytest.mark.netns,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces (ip netns)"),
]

BIN = Path(sys.executable).parent
LAB = [str(BIN / "abng-lab")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Lab:
    def __init__(self, tmp: Path) -> None:
        self.prefix = "lt" + secrets.token_hex(3)
        self.dir = tmp / "lab"
        self.api_port = free_port()

    def cli(self, *args: str, timeout: float = 240.0) -> subprocess.CompletedProcess[str]:
        argv = [*LAB, "--lab-dir", str(self.dir), "--prefix", self.prefix, *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)

    @property
    def socket(self) -> Path:
        return self.dir / "run" / "abngd.sock"


def root_state() -> dict[str, Any]:
    """What the lab must never leave in the root namespace."""
    routes = subprocess.run(["ip", "-j", "route", "show", "table", "all"], capture_output=True, text=True)
    nft = subprocess.run(["nft", "-j", "list", "tables"], capture_output=True, text=True)
    tables = [
        (t["table"]["family"], t["table"]["name"])
        for t in json.loads(nft.stdout or '{"nftables": []}')["nftables"]
        if "table" in t
    ]
    return {
        "namespaces": subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout,
        "routes": [r.get("dst", "") for r in json.loads(routes.stdout or "[]")],
        "links": subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout,
        "nft": tables,
        "qdiscs": subprocess.run(["tc", "qdisc", "show"], capture_output=True, text=True).stdout,
    }


def assert_nothing_left(lab: Lab, before: dict[str, Any]) -> None:
    after = root_state()
    assert lab.prefix not in after["namespaces"]
    for name in ("trunk0", "sub0", "up0", "host0", "abng0"):
        assert f" {name}:" not in after["links"] and f" {name}@" not in after["links"]
    assert not {"198.51.100.0/24", "100.64.0.0/10"} & set(after["routes"])
    assert not {t for t in after["nft"] if "abng" in t[1]} - set(before["nft"])
    for name in ("trunk0", "up0", "abng0"):
        assert f"dev {name} " not in after["qdiscs"]
    leftover = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with contextlib.suppress(OSError):
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
                if str(lab.dir).encode() in cmd:
                    leftover.append(cmd.replace(b"\0", b" ").decode())
    assert leftover == []
    assert not (lab.dir / "lab.sock").exists()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path)
    try:
        yield lab
    finally:
        lab.cli("down", timeout=120)
        teardown(Topology(lab.prefix))


class Receiver:
    """A tiny webhook receiver on 127.0.0.1 (the API runs in the root namespace)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        events = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                events.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Monitor:
    """monitor.subscribe on abngd's socket, collected in a thread."""

    def __init__(self, path: Path) -> None:
        self.events: list[dict[str, Any]] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        req = {"jsonrpc": "2.0", "id": 1, "method": "monitor.subscribe", "params": {}}
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        self.file = self.sock.makefile("rb")
        assert json.loads(self.file.readline())["result"]["subscribed"] is True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            for line in self.file:
                self.events.append(json.loads(line)["params"])

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def wait_for(predicate: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return bool(predicate())


def test_lab_up_api_cli_flap_webhooks_and_clean_teardown(lab: Lab) -> None:
    before = root_state()
    up = lab.cli("up", "--detach", "--api-port", str(lab.api_port))
    assert up.returncode == 0, up.stdout + up.stderr
    url = f"https://localhost:{lab.api_port}"
    assert "abng lab is up" in up.stdout and f"{url}/api/v1" in up.stdout
    assert '"password":"changeme"' in up.stdout and f"--socket {lab.socket}" in up.stdout
    assert "sessions up 8/8" in lab.cli("status").stdout
    again = lab.cli("up", "--detach", "--no-api")
    assert again.returncode == 1 and "already running" in again.stderr + again.stdout
    assert "sessions up 8/8" in lab.cli("status").stdout  # the running lab was left alone

    with httpx.Client(base_url=url, verify=False, timeout=30) as api:
        login = api.post("/api/v1/auth/login", json={"username": "admin", "password": "changeme"})
        assert login.status_code == 200, login.text
        api.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        subs = api.get("/api/v1/subscribers").json()["data"]["sessions"]
        assert sorted(s["type"] for s in subs) == ["DHCP"] * 4 + ["PPPoE"] * 4
        assert {"user1@lab", "user2@lab", "user3@lab"} <= {s["username"] for s in subs}
        detail = [api.get(f"/api/v1/subscribers/{s['id']}").json()["data"] for s in subs]
        ifaces = {d["access_interface"] for d in detail}
        assert {"trunk0.200", "trunk0.100.1"} <= ifaces  # 802.1Q and QinQ access
        receiver = Receiver()
        try:
            hook = api.post(
                "/api/v1/webhooks", json={"url": receiver.url, "events": ["session.up", "session.down"]}
            )
            assert hook.status_code == 200, hook.text

            shown = subprocess.run(
                [str(BIN / "abng"), "--socket", str(lab.socket), "-c", "show subscribers"],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert shown.returncode == 0, shown.stderr
            for name in ("user1@lab", "user3@lab", "trunk0.100.1", "trunk0.200"):
                assert name in shown.stdout

            monitor = Monitor(lab.socket)
            try:
                flap = lab.cli("flap", "1", "--kind", "pppoe", "--down-for", "1")
                assert flap.returncode == 0 and "flapped 1" in flap.stdout, flap.stdout + flap.stderr
                kinds = lambda: [(e["event"], e["data"].get("type")) for e in monitor.events]  # noqa: E731
                assert wait_for(
                    lambda: ("session_down", "pppoe") in kinds() and ("session_up", "pppoe") in kinds()
                )
                down = next(e for e in monitor.events if e["event"] == "session_down")
                assert down["data"]["reason"] == "user_request"
            finally:
                monitor.close()
            hooks = lambda: {e.get("event") for e in receiver.events}  # noqa: E731
            assert wait_for(lambda: {"session.up", "session.down"} <= hooks()), receiver.events
        finally:
            receiver.close()
    assert wait_for(lambda: "sessions up 8/8" in lab.cli("status").stdout)
    ping = lab.cli("ping", "--subscribers", "8", "--packets", "2")
    result = json.loads(ping.stdout)
    assert result["sent"] == 16 and result["received"] == 16, result

    down = lab.cli("down")
    assert down.returncode == 0 and "torn down" in down.stdout
    assert_nothing_left(lab, before)


def test_up_after_sigkill_recovers(lab: Lab) -> None:
    before = root_state()
    first = lab.cli("up", "--detach", "--no-api", "--pppoe", "1", "--dhcp", "1")
    assert first.returncode == 0, first.stdout + first.stderr
    pid = int((lab.dir / "lab.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    assert wait_for(
        lambda: not Path(f"/proc/{pid}").exists() or b"Z" in Path(f"/proc/{pid}/stat").read_bytes()
    )
    assert f"{lab.prefix}-bng" in root_state()["namespaces"]  # the unclean kill left it all

    second = lab.cli("up", "--detach", "--no-api", "--pppoe", "1", "--dhcp", "1")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "sessions up 2/2" in second.stdout
    log = (lab.dir / "lab.log").read_text()
    assert "removed leftovers of a previous lab" in log and f"namespace {lab.prefix}-bng" in log
    assert lab.cli("down").returncode == 0
    assert_nothing_left(lab, before)


def test_ctrl_c_on_a_foreground_lab_tears_everything_down(lab: Lab) -> None:
    before = root_state()
    argv = [
        *LAB,
        "--lab-dir",
        str(lab.dir),
        "--prefix",
        lab.prefix,
        "up",
        "--no-api",
        "--pppoe",
        "1",
        "--dhcp",
        "1",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for(lambda: "sessions up 2/2" in lab.cli("status").stdout, timeout=120)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C delivers to the foreground process
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert "abng lab is up" in out
    assert_nothing_left(lab, before)


@pytest.mark.skipif(
    not Path("/etc/freeradius/3.0").is_dir(), reason="freeradius (Debian package) not installed"
)
def test_radius_lab_authenticates_and_accounts_through_freeradius(lab: Lab) -> None:
    before = root_state()
    up = lab.cli("up", "--detach", "--no-api", "--radius", "--auth", "chap", "--pppoe", "2", "--dhcp", "2")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "sessions up 4/4" in up.stdout
    detail = lab.dir / "radius" / "detail"
    assert wait_for(lambda: detail.exists() and detail.read_text().count("Acct-Status-Type = Start") >= 4)
    text = detail.read_text()
    assert '"user1@lab"' in text and '"02:ab:02:00:00:01"' in text  # PPPoE user and DHCP MAC
    assert lab.cli("down").returncode == 0
    assert_nothing_left(lab, before)
