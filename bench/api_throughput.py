"""Authenticated GET /api/v1/subscribers/summary vs public GET /api/v1/health, over HTTPS, one run.

    PYTHONPATH=. .venv/bin/python bench/api_throughput.py [seconds] [rounds]

Target: authenticated >= 75 % of public throughput.  wrk -t1 -c32 --latency; the two runs
alternate for several rounds (the machine is shared) and the median of the rounds is reported.
"""

from __future__ import annotations

import statistics
import sys

from bench.api_common import bench_stack, token, wrk
from tests.helpers.daemon import sample_session


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    sessions = [sample_session(i) for i in range(1, 1001)]
    with bench_stack(sessions) as api:
        auth = {"Authorization": f"Bearer {token(api)}"}
        health, summary = f"{api.base}/api/v1/health", f"{api.base}/api/v1/subscribers/summary"
        wrk(health, seconds=2)
        wrk(summary, headers=auth, seconds=2)
        print("| round | request | req/s | p50 ms | p99 ms | non-2xx |")
        print("|---|---|---|---|---|---|")
        ratios = []
        for n in range(1, rounds + 1):
            pub = wrk(health, seconds=seconds)
            aut = wrk(summary, headers=auth, seconds=seconds)
            ratios.append(aut.rps / pub.rps)
            print(f"| {n} " + pub.row("GET /api/v1/health (public)"))
            print(f"| {n} " + aut.row("GET /api/v1/subscribers/summary (JWT)"))
        print(
            f"\nauthenticated / public per round: {', '.join(f'{r:.0%}' for r in ratios)}; "
            f"median {statistics.median(ratios):.0%} (target >= 75%)"
        )


if __name__ == "__main__":
    main()
