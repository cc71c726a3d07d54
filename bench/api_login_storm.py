"""p99 of authenticated reads, quiet vs during a storm of failed logins, over HTTPS.

    PYTHONPATH=. .venv/bin/python bench/api_login_storm.py [seconds] [rounds]

Target: storm p99 < 2x quiet p99.  Two storms: with the default per-address limit (the storm
is turned away with 429 after 30 failures), and with that limit lifted so every attempt costs
a bcrypt-12 check (random usernames, so the per-user lockout never helps either).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from bench.api_common import WrkResult, bench_stack, token, wrk

STORM_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
math.randomseed(os.time())
request = function()
  local body = string.format('{"username":"u%d","password":"wrong"}', math.random(1, 1000000000))
  return wrk.format(nil, "/api/v1/auth/login", nil, body)
end
"""


def storm_and_read(base: str, auth: dict[str, str], seconds: int) -> tuple[WrkResult, str]:
    with open("/tmp/abng-api-storm.lua", "w") as f:
        f.write(STORM_LUA)
    storm = subprocess.Popen(
        [
            "wrk",
            "-t1",
            "-c16",
            f"-d{seconds + 4}s",
            "-s",
            "/tmp/abng-api-storm.lua",
            f"{base}/api/v1/auth/login",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(2)
    reads = wrk(f"{base}/api/v1/subscribers/summary", headers=auth, seconds=seconds, connections=8)
    out, _ = storm.communicate(timeout=seconds + 60)
    rps = [line for line in out.splitlines() if "Requests/sec" in line or "Non-2xx" in line]
    return reads, "; ".join(x.strip() for x in rps)


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print("| limits | round | phase | req/s | p50 ms | p99 ms | non-2xx | storm |")
    print("|---|---|---|---|---|---|---|---|")
    for label, args in (("default", ()), ("no per-address limit", ("--login-ip-failures", "1000000000"))):
        with bench_stack(api_args=args) as api:
            auth = {"Authorization": f"Bearer {token(api)}"}
            url = f"{api.base}/api/v1/subscribers/summary"
            wrk(url, headers=auth, seconds=2, connections=8)
            ratios = []
            for n in range(1, rounds + 1):
                quiet = wrk(url, headers=auth, seconds=seconds, connections=8)
                stormy, storm = storm_and_read(api.base, auth, seconds)
                ratios.append(stormy.p99_ms / quiet.p99_ms)
                print(f"| {label} | {n} " + quiet.row("quiet") + " - |")
                print(f"| {label} | {n} " + stormy.row("storm") + f" {storm} |")
            print(
                f"| {label} | | p99 storm/quiet per round: {', '.join(f'{r:.2f}x' for r in ratios)}; "
                f"median {statistics.median(ratios):.2f}x (target < 2x) | | | | | |"
            )


if __name__ == "__main__":
    main()
