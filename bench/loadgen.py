"""Load generator for the access benchmarks (issues 4 and 5): the lab's own subscriber engine.

    .venv/bin/python bench/loadgen.py --pppoe 10000 --rate 1000 --auth pap --vlan-mode qinq
    .venv/bin/python bench/loadgen.py --dhcp 10000 --rate 2000 --vlan-mode dot1q --radius

Builds the lab topology (abng/lab: namespaces, abngd on the lab config, no API), brings up the
subscribers with abng.lab.engine.Engine (the same code as `abng-lab up`), waits until every one
is established (or --timeout), holds them for --hold seconds (LCP echo at abngd's default 30 s
interval keeps running: flaps and lost_carrier would show), then prints a BNG Blaster-like
report (JSON with --json) including abngd's RSS growth per established session, and tears down.
Run as root.

abngd's CPU and RSS include its child processes (the dataplane policy worker).  With
``--sched batch`` (the default) the generator's engine thread and the lab's FreeRADIUS run as
SCHED_BATCH: they stand for subscribers and a RADIUS server on other machines, and as
SCHED_BATCH tasks the kernel does not let them preempt abngd's event loop each time one of
abngd's frames wakes them (measured: with both SCHED_OTHER, abngd's loop thread was switched out
runnable at the end of most of its AF_PACKET sends).  ``--sched normal`` leaves every process
SCHED_OTHER.  The CPU of FreeRADIUS is reported too.

With ``--gc-freeze`` (the default) the generator calls ``gc.freeze()`` once the subscribers are
added and every 0.1 s until all are up: what it keeps (subscriber records, the machines of the
sessions already up) moves out of the collector's generations and the allocation count starts
again, so the generator's cyclic GC, which does no emulation work, mostly stops competing with
abngd for the CPU.  Objects are still freed by reference counting; only garbage cycles made
during the storm stay until exit (a short-lived process).  abngd's GC is not touched.
``--no-gc-freeze`` runs the generator with the collector as before.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from abng.core.daemon import GC_THRESHOLDS
from abng.lab.lab import Lab, LabOptions
from abng.lab.subscribers import VLAN_MODES


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # gone
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (abngd's policy worker process)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_cpu(pid: int) -> float:
    return sum(cpu_seconds(p) for p in process_tree(pid))


def tree_rss(pid: int) -> int:
    total = 0
    for p in process_tree(pid):
        try:
            total += rss_kib(p)
        except OSError:
            pass
    return total


def set_batch(pid: int) -> None:
    """Every thread of ``pid`` (0: the calling thread) to SCHED_BATCH."""
    param = os.sched_param(0)
    tids = [0] if pid == 0 else [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    for tid in tids:
        try:
            os.sched_setscheduler(tid, os.SCHED_BATCH, param)
        except OSError:
            pass


def machine() -> dict[str, Any]:
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
         if ln.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return {"nproc": os.cpu_count(), "cpu": cpu, "mem_gib": round(int(mem) / 1024 / 1024, 1)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    opts = LabOptions(
        lab_dir=args.lab_dir, prefix=args.prefix, pppoe=args.pppoe, dhcp=args.dhcp,
        vlan_mode=args.vlan_mode, per_vlan=args.per_vlan, auth=args.auth, rate=args.rate,
        outstanding=args.outstanding, radius=args.radius, api=False, user_headroom=0,
        log_level=args.abngd_log_level,
    )  # fmt: skip
    lab = Lab(opts)
    try:
        await asyncio.to_thread(lab.recover)
        await asyncio.to_thread(lab.start_services)
        pid = lab.procs.pid("abngd") or 0
        radius_pid = lab.procs.pid("radius") if args.radius else None
        if args.sched == "batch":
            set_batch(0)  # the engine runs on this thread; abngd and its children were started before
            if radius_pid:
                set_batch(radius_pid)
        engine = lab.open_engine()
        engine.start()
        await asyncio.sleep(1.0)
        rss0 = tree_rss(pid)
        cpu0, own0 = tree_cpu(pid), time.process_time()
        radius0 = cpu_seconds(radius_pid) if radius_pid else 0.0
        t0 = time.monotonic()
        lab.add_subscribers(args.pppoe, args.dhcp)
        if args.gc_freeze:
            gc.freeze()  # the subscriber records live as long as the run: no collection walks them
        deadline = t0 + args.timeout
        last = 0.0
        while engine.stats.total_established < engine.stats.total_requested and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            if args.gc_freeze:
                gc.freeze()  # see --gc-freeze: what the last 0.1 s left alive is not collected again
            if args.progress and time.monotonic() - last >= 1.0:
                last = time.monotonic()
                print(engine.stats.line(engine.now()), file=sys.stderr, flush=True)
        up_wall = time.monotonic() - t0
        cpu = {"abngd": round(tree_cpu(pid) - cpu0, 2), "loadgen": round(time.process_time() - own0, 2)}
        if radius_pid:
            cpu["freeradius"] = round(cpu_seconds(radius_pid) - radius0, 2)
        await asyncio.sleep(2.0)  # let abngd settle (store flush) before measuring memory
        rss1 = tree_rss(pid)
        hold_end = time.monotonic() + args.hold
        await asyncio.sleep(max(0.0, hold_end - time.monotonic()))
        report = engine.stats.report()
        established = report["established_total"]
        report.update(
            {
                "command": " ".join(sys.argv),
                "wall_time_to_all_up": round(up_wall, 3),
                "hold_seconds": args.hold,
                "cpu_seconds_to_all_up": cpu,
                "abngd_rss_kib": {"before": rss0, "after": rss1, "end": tree_rss(pid)},
                "abngd_rss_per_session_kib": round((rss1 - rss0) / established, 2) if established else None,
                "frame_errors": engine.frame_errors,
                "sched": args.sched,
                "machine": machine(),
            }
        )
        return report
    finally:
        await asyncio.to_thread(lab.stop)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pppoe", type=int, default=0)
    p.add_argument("--dhcp", type=int, default=0)
    p.add_argument("--rate", type=float, default=1000.0, help="setups started per second")
    p.add_argument("--outstanding", type=int, default=50, help="setups in flight at most (default 50)")
    p.add_argument("--auth", choices=("pap", "chap"), default="pap")
    p.add_argument("--vlan-mode", choices=VLAN_MODES, default="qinq")
    p.add_argument("--per-vlan", type=int, default=1)
    p.add_argument("--radius", action="store_true", help="authenticate through FreeRADIUS")
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--hold", type=float, default=0.0, help="seconds to keep the sessions up afterwards")
    p.add_argument("--lab-dir", type=Path, default=Path(".state/loadgen"))
    p.add_argument("--prefix", default="abg")
    p.add_argument("--abngd-log-level", default="warning", choices=["debug", "info", "warning", "error"])
    p.add_argument("--sched", choices=("batch", "normal"), default="batch",
                   help="scheduling class of the generator and the lab's FreeRADIUS (see above)")  # fmt: skip
    p.add_argument("--gc-freeze", action=argparse.BooleanOptionalAction, default=True,
                   help="gc.freeze() what the generator keeps, every 0.1 s until all are up")  # fmt: skip
    p.add_argument("--progress", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.pppoe + args.dhcp <= 0:
        p.error("nothing to do: give --pppoe N and/or --dhcp N")
    gc.set_threshold(*GC_THRESHOLDS)  # as abngd
    report = asyncio.run(run(args))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        r = report["setup_rate"]
        print(f"sessions established {report['established_total']}/{report['requested_total']}"
              f" in {report['setup_time'] or report['wall_time_to_all_up']:.2f} s")  # fmt: skip
        print(f"setup rate min/avg/max {r['min']:.0f}/{r['avg']:.0f}/{r['max']:.0f} per s"
              f" (overall {r['overall']:.0f}/s: requested / setup time)")  # fmt: skip
        lat = report["latency"]
        ms = [round(lat[k] * 1000) for k in ("min", "avg", "max")]
        print(f"setup latency min/avg/max {ms[0]}/{ms[1]}/{ms[2]} ms")
        print(f"flaps {report['flaps']}  timeouts {report['timeouts']}  failures {report['failures']}")
        print(f"CPU seconds until all up: {report['cpu_seconds_to_all_up']}")
        print(
            f"abngd RSS {report['abngd_rss_kib']} KiB, per session {report['abngd_rss_per_session_kib']} KiB"
        )
    return 0 if report["established_total"] == report["requested_total"] else 1


if __name__ == "__main__":
    sys.exit(main())
