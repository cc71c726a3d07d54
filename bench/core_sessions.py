"""abngd with many sessions: restore time, RSS, summary latency, full list over the socket.

Run by hand:  .venv/bin/python bench/core_sessions.py [--sessions 100000]
There is no public RPC that creates sessions, so the store is seeded, then abngd restores it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from abng.core.model import SessionState, SessionType
from abng.core.rpcclient import SyncRpcClient
from tests.helpers.daemon import AbngdHandle, sample_session, seed_sessions, start_abngd


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def machine() -> dict[str, str]:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "?")  # fmt: skip
    free = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.splitlines()
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "mem": free[1] if len(free) > 1 else "?",
            "python": platform.python_version(), "kernel": platform.release()}  # fmt: skip


def timed_calls(
    c: SyncRpcClient, method: str, n: int, params: dict[str, object] | None = None
) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        c.call(method, params)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * q))]


def start_and_measure(base: Path, label: str) -> tuple[AbngdHandle, dict[str, float]]:
    t0 = time.perf_counter()
    d = start_abngd(base / "etc", base / "run", base / "var", timeout=120, log_path=base / f"{label}.log")
    ready = time.perf_counter() - t0
    m = re.findall(r"sessions restored in ([0-9.]+) s \(cpu ([0-9.]+) s\)", d.log())
    wall, cpu = (float(m[-1][0]), float(m[-1][1])) if m else (float("nan"), float("nan"))
    return d, {"ready_s": round(ready, 2), "restore_s": wall, "restore_cpu_s": cpu}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=100_000)
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args()
    n = args.sessions
    res: dict[str, object] = {"machine": machine(), "sessions": n, "loadavg_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        t0 = time.perf_counter()
        sessions = [sample_session(i, SessionType.PPPOE if i % 3 else SessionType.DHCP, SessionState.ACTIVE)
                    for i in range(1, n + 1)]  # fmt: skip
        seed_sessions(base / "var", sessions)
        res["seed_s"] = round(time.perf_counter() - t0, 2)
        res["db_mb"] = round((base / "var" / "sessions.db").stat().st_size / 2**20, 1)
        del sessions

        d, first = start_and_measure(base, "first")
        try:
            res["start"] = first
            res["rss_mb"] = round(rss_mb(d.process.pid), 1)
            with d.client(timeout=120) as c:
                assert c.call("subscribers.summary")["total"] == n
                lat = timed_calls(c, "subscribers.summary", args.calls)
                res["summary_ms"] = {
                    "median": round(statistics.median(lat), 3),
                    "p99": round(pct(lat, 0.99), 3),
                }
                lat = timed_calls(c, "subscribers.get", args.calls, {"session_id": n // 2})
                res["get_ms"] = {"median": round(statistics.median(lat), 3), "p99": round(pct(lat, 0.99), 3)}
                lat = timed_calls(c, "subscribers.list", 200, {"username": f"user{n // 3}"})
                res["list_by_username_ms"] = {"median": round(statistics.median(lat), 3)}
                lat = timed_calls(c, "subscribers.list", 200, {"limit": 50, "offset": n // 2})
                res["list_page_ms"] = {"median": round(statistics.median(lat), 3)}
                for method in ("show.subscribers", "subscribers.list"):
                    t0 = time.perf_counter()
                    out = c.call(method)
                    dt = time.perf_counter() - t0
                    size = len(json.dumps(out))
                    res[f"full_{method}"] = {"s": round(dt, 3), "mb": round(size / 2**20, 1)}
                res["rss_after_lists_mb"] = round(rss_mb(d.process.pid), 1)
            t0 = time.perf_counter()
            res["exit_code"] = d.stop(timeout=60)
            res["stop_s"] = round(time.perf_counter() - t0, 2)
        finally:
            d.stop()
        d2, second = start_and_measure(base, "second")
        try:
            res["restart"] = second
            res["rss_restart_mb"] = round(rss_mb(d2.process.pid), 1)
        finally:
            d2.stop()
    res["loadavg_after"] = os.getloadavg()
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
