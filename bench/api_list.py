"""GET /api/v1/subscribers?limit=100 with 100,000 sessions in abngd, over HTTPS.

    PYTHONPATH=. .venv/bin/python bench/api_list.py [sessions] [seconds]

Target: p50 < 20 ms.  wrk -t1 --latency, 1 and 8 connections; also offset=50000 and filters.
"""

from __future__ import annotations

import sys
import time

from abng.core.model import SessionType
from bench.api_common import bench_stack, info, token, wrk
from tests.helpers.daemon import sample_session


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    t0 = time.monotonic()
    sessions = [
        sample_session(i, SessionType.PPPOE if i % 4 else SessionType.DHCP) for i in range(1, count + 1)
    ]
    with bench_stack(sessions) as api:
        print(f"stack with {info(api)['sessions']['total']} sessions up in {time.monotonic() - t0:.1f} s")
        auth = {"Authorization": f"Bearer {token(api)}"}
        base = f"{api.base}/api/v1/subscribers"
        wrk(f"{base}?limit=100", headers=auth, seconds=2, connections=8)
        print("| request | req/s | p50 ms | p99 ms | non-2xx |")
        print("|---|---|---|---|---|")
        for query, conns in (
            ("?limit=100", 1),
            ("?limit=100", 8),
            ("?limit=100&offset=50000", 1),
            ("?type=dhcp&limit=100", 1),
            ("?username=user77777", 1),
        ):
            r = wrk(f"{base}{query}", headers=auth, seconds=seconds, connections=conns)
            print(r.row(f"GET /api/v1/subscribers{query} (c={conns})"))


if __name__ == "__main__":
    main()
