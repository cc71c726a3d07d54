"""Dataplane benchmark: shaping for 10,000 sessions, 1,000 rate changes, routes, detection.

Run as root:  .venv/bin/python bench/dataplane_qos.py [--sessions 10000] [--changes 1000]
Everything happens in a throwaway network namespace (removed at the end).  Prints a Markdown
table; figures go to docs/benchmarks-dataplane.md.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import time
from collections.abc import Callable

from pyroute2 import IPRoute, netns

from abng.dataplane.detect import detect
from abng.dataplane.qos import QosManager, ShapeSpec
from abng.dataplane.routes import RouteManager

BASE = int(ipaddress.IPv4Address("100.64.0.1"))


def timed(label: str, rows: list[tuple[str, float, int]], count: int, fn: Callable[[], object]) -> None:
    start = time.perf_counter()
    fn()
    rows.append((label, time.perf_counter() - start, count))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=10_000)
    ap.add_argument("--changes", type=int, default=1_000)
    args = ap.parse_args()
    n, c = args.sessions, args.changes
    rows: list[tuple[str, float, int]] = []
    timed("detect() (probe namespace, all features)", rows, 1, detect)
    ns = f"bench-dp-{secrets.token_hex(3)}"
    netns.create(ns)
    try:
        with IPRoute(netns=ns) as ipr:
            ipr.link("add", ifname="bdev", kind="veth", peer="bpeer")
            ipr.link("set", index=ipr.link_lookup(ifname="bdev")[0], state="up")
        qos, routes = QosManager("htb", netns=ns), RouteManager(netns=ns)
        ips = [ipaddress.IPv4Address(BASE + i) for i in range(n)]
        specs = [ShapeSpec(i, "bdev", ips[i], 100_000_000, 40_000_000, 34, 64) for i in range(n)]
        qos.apply_subscriber("warm-up", "bdev", "10.255.255.1", "1mbit", "1mbit")  # device set-up
        timed(
            f"apply_many: {n} sessions (down + up class and filter)", rows, n, lambda: qos.apply_many(specs)
        )
        timed(
            f"change_rate: {c} one call each", rows, c,
            lambda: [qos.change_rate(i, "50mbit", "20mbit") for i in range(c)],
        )  # fmt: skip
        timed(
            f"change_many: {c} in one batch", rows, c,
            lambda: qos.change_many([(i, 60_000_000, 25_000_000) for i in range(c)]),
        )  # fmt: skip
        timed(f"installed(): dump {2 * n} classes + filters", rows, 2 * n, qos.installed)
        timed(f"remove_many: {n} sessions", rows, n, lambda: qos.remove_many(list(range(n))))
        one = [ShapeSpec(f"s{i}", "bdev", ips[i], 100_000_000, 40_000_000, 34, 64) for i in range(c)]
        timed(
            f"apply_subscriber: {c} one call each", rows, c,
            lambda: [qos.apply_many([s]) for s in one],
        )  # fmt: skip
        timed(
            f"remove_subscriber: {c} one call each", rows, c,
            lambda: [qos.remove_subscriber(s.key) for s in one],
        )  # fmt: skip
        timed(f"routes add_many: {n}", rows, n, lambda: routes.add_many([(ip, "bdev") for ip in ips]))
        timed(f"list_subscriber_routes: {n}", rows, n, routes.list_subscriber_routes)
        timed(f"routes remove_many: {n}", rows, n, lambda: routes.remove_many(ips))
        qos.close()
        routes.close()
    finally:
        netns.remove(ns)
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    print("| operation | total | per item |")
    print("|---|---|---|")
    for label, secs, count in rows:
        print(f"| {label} | {secs:.2f} s | {secs / count * 1e6:.0f} µs |")


if __name__ == "__main__":
    main()
