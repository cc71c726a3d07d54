"""CoA requests answered per second by a live abngd, with p50/p99 latency (issue 6: >= 1,000/s).

A real abngd runs in a throwaway namespace (qos on, coa_enabled, userspace backend on a TUN
device) with SESSIONS sessions seeded into its store (restored and shaped at start-up).  The load
tool of bench/aaa_coa_rate.py (pre-signed CoA-Requests, one UDP socket per worker, CONCURRENCY
outstanding) runs in a separate process in that namespace; every request changes a session's
rates, so each answer went through SessionManager.change_rate, the policy hook and an HTB class
change in the kernel (batched in the dataplane worker thread) before the CoA-ACK.

    .venv/bin/python bench/policy_coa.py [N] [CONCURRENCY] [SESSIONS]       (root)
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml

from abng.aaa import crypto, packet
from abng.aaa.packet import Code
from abng.core.model import Session, SessionState, SessionType
from abng.core.rpcclient import SyncRpcClient
from abng.core.store import SessionStore

REPO = Path(__file__).resolve().parent.parent
SECRET = b"testing123"
STARTED = 1_764_864_000


def seed(var: Path, n: int) -> None:
    sessions = []
    for i in range(1, n + 1):
        s = Session(i, SessionType.PPPOE, f"u{i}", f"02:00:00:00:{i >> 8:02x}:{i & 255:02x}",
                    f"trunk0.100.{i}", STARTED, SessionState.ACTIVE)  # fmt: skip
        s.ip_address, s.activated_at = f"100.64.{i >> 8}.{i & 255}", STARTED + 1
        sessions.append(s)
    store = SessionStore(var / "sessions.db")
    try:
        store.seed(sessions, [])
    finally:
        store.close()


def requests(n: int, base: int, sessions: int) -> list[bytes]:
    out = []
    for k in range(n):
        sid = f"abng-{STARTED}-{(base + k) % sessions + 1}"
        attrs = packet.make_all([("Acct-Session-Id", sid), ("Athena-Rate-Down", f"{k % 900 + 10}mbit")])
        out.append(crypto.build_signed_request(Code.COA_REQUEST, k & 0xFF, SECRET, attrs))
    return out


def client(port: int, n: int, conc: int, sessions: int) -> None:
    """Runs inside the namespace: the load, then one JSON line of results."""
    from aaa_coa_rate import worker

    async def go() -> tuple[list[float], float]:
        lat: list[float] = []
        per = n // conc
        work = [requests(per, w * per, sessions) for w in range(conc)]
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(port, reqs, lat) for reqs in work))
        return sorted(lat), time.perf_counter() - t0

    lat, dt = asyncio.run(go())
    print(
        json.dumps(
            {"n": len(lat), "seconds": dt, "p50": lat[len(lat) // 2], "p99": lat[int(len(lat) * 0.99)]}
        )
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(n: int, conc: int, sessions: int) -> None:
    ns = f"bcoa-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    proc = None
    try:
        for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "tuntap", "add", "abng0", "mode", "tun"],
                    ["ip", "link", "set", "abng0", "up"]):  # fmt: skip
            subprocess.run(["ip", "netns", "exec", ns, *cmd], check=True)
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            etc, run, var = base / "etc", base / "run", base / "var"
            for d in (etc, run, var):
                d.mkdir()
            port = free_port()
            cfg = yaml.safe_load((REPO / "abng/config/default.yaml").read_text())
            cfg["pppoe"]["enabled"] = cfg["dhcp"]["enabled"] = False
            cfg["radius"] = {"servers": [{"host": "127.0.0.1", "secret": SECRET.decode()}],
                             "coa_enabled": True, "coa_port": port, "coa_listen": "127.0.0.1"}  # fmt: skip
            (etc / "running-config.yaml").write_text(yaml.safe_dump(cfg))
            seed(var, sessions)
            env = {**os.environ, "PYTHONPATH": str(REPO), "ABNG_LOG_LEVEL": "warning"}
            argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "abng.core.daemon",
                    "--config-dir", str(etc), "--run-dir", str(run), "--state-dir", str(var)]  # fmt: skip
            with open(base / "abngd.log", "wb") as log:
                proc = subprocess.Popen(argv, stderr=log, env=env, cwd=REPO)
            deadline = time.monotonic() + 60
            while True:
                try:
                    with SyncRpcClient(run / "abngd.sock") as c:
                        shaped = c.call("show.system")["dataplane"]["qos"]["sessions"]
                    break
                except (ConnectionError, OSError):
                    if time.monotonic() > deadline or proc.poll() is not None:
                        sys.exit(f"abngd did not start:\n{(base / 'abngd.log').read_text()[-3000:]}")
                    time.sleep(0.1)
            pid = proc.pid
            cpu0 = _cpu(pid)
            out = subprocess.run(
                ["ip", "netns", "exec", ns, sys.executable, __file__, "--client", str(port), str(n),
                 str(conc), str(sessions)], capture_output=True, text=True, check=True, env=env,
            )  # fmt: skip
            cpu = _cpu(pid) - cpu0
            res = json.loads(out.stdout.strip().splitlines()[-1])
            with SyncRpcClient(run / "abngd.sock") as c:
                stats = c.call("show.coa")["stats"]
                changes = c.call("metrics.get")["rate_changes"]
            print(
                f"coa_requests={res['n']} concurrency={conc} sessions={sessions} (shaped at start: {shaped}) "
                f"rate={res['n'] / res['seconds']:.0f}/s "
                f"p50={res['p50'] * 1e3:.2f}ms p99={res['p99'] * 1e3:.2f}ms "
                f"abngd_cpu={cpu / res['n'] * 1e6:.0f}us/req rate_changes={changes} coa_stats={stats}"
            )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        subprocess.run(["ip", "netns", "del", ns], check=False)


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client(*(int(a) for a in sys.argv[2:6]))
    else:
        if os.geteuid() != 0:
            sys.exit("needs root (network namespaces)")
        args = [int(a) for a in sys.argv[1:4]]
        main(*(args + [20_000, 16, 1000][len(args) :]))
