"""Authenticated GET /api/v1/subscribers/summary vs public GET /api/v1/health, over HTTPS, one run.

    .venv/bin/python bench/api_throughput.py [seconds]

Target: authenticated >= 75 % of public throughput.  wrk -t1 -c32 --latency, 2 s warm-up each.
"""

from __future__ import annotations

import sys

from bench.api_common import bench_stack, token, wrk
from tests.helpers.daemon import sample_session


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    sessions = [sample_session(i) for i in range(1, 1001)]
    with bench_stack(sessions) as api:
        auth = {"Authorization": f"Bearer {token(api)}"}
        health, summary = f"{api.base}/api/v1/health", f"{api.base}/api/v1/subscribers/summary"
        wrk(health, seconds=2)
        wrk(summary, headers=auth, seconds=2)
        pub = wrk(health, seconds=seconds)
        aut = wrk(summary, headers=auth, seconds=seconds)
        print("| request | req/s | p50 ms | p99 ms | non-2xx |")
        print("|---|---|---|---|---|")
        print(pub.row("GET /api/v1/health (public)"))
        print(aut.row("GET /api/v1/subscribers/summary (JWT)"))
        print(f"\nauthenticated / public = {aut.rps / pub.rps:.0%} (target >= 75%)")


if __name__ == "__main__":
    main()
