"""Authenticated GET /api/v1/subscribers/summary vs public GET /api/v1/health, over HTTPS, one run.

    PYTHONPATH=. .venv/bin/python bench/api_throughput.py [seconds] [rounds]

Target: authenticated >= 75 % of public throughput.  wrk -t1 -c32 --latency; the two runs
alternate for several rounds (the machine is shared) and the median of the rounds is reported.
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

from bench.api_common import bench_stack, token, wrk
from tests.helpers.daemon import sample_session


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    sessions = [sample_session(i) for i in range(1, 1001)]
    with bench_stack(sessions) as api:
        auth = {"Authorization": f"Bearer {token(api)}"}
        health, summary = f"{api.base}/api/v1/health", f"{api.base}/api/v1/subscribers/summary"
        wrk(health, seconds=2)
        wrk(summary, headers=auth, seconds=2)
        print("| round | request | req/s | p50 ms | p99 ms | non-2xx | API CPU µs/req |")
        print("|---|---|---|---|---|---|---|")
        ratios = []
        cpu_ratios = []
        for n in range(1, rounds + 1):
            c0 = cpu_seconds(api.process.pid)
            pub = wrk(health, seconds=seconds)
            c1 = cpu_seconds(api.process.pid)
            aut = wrk(summary, headers=auth, seconds=seconds)
            c2 = cpu_seconds(api.process.pid)
            pub_us = (c1 - c0) / (pub.rps * seconds) * 1e6
            aut_us = (c2 - c1) / (aut.rps * seconds) * 1e6
            ratios.append(aut.rps / pub.rps)
            cpu_ratios.append(pub_us / aut_us)
            print(f"| {n} " + pub.row("GET /api/v1/health (public)") + f" {pub_us:.0f} |")
            print(f"| {n} " + aut.row("GET /api/v1/subscribers/summary (JWT)") + f" {aut_us:.0f} |")
        print(
            f"\nauthenticated / public per round: {', '.join(f'{r:.0%}' for r in ratios)}; "
            f"median {statistics.median(ratios):.0%} (target >= 75%)"
        )
        print(
            f"by API CPU time per request (public / authenticated): "
            f"{', '.join(f'{r:.0%}' for r in cpu_ratios)}; median {statistics.median(cpu_ratios):.0%}"
        )


if __name__ == "__main__":
    main()
