"""User/system CPU of the dataplane policy worker per Up intent (HTB + u32 + /32 route).

Re-runs itself inside a throwaway network namespace (``ip netns exec``) holding a TUN device, so
the worker uses the same code paths as in abngd (``netns=None``: ``if_nametoindex``), and applies
N ``Up`` intents in batches of B, as the policy service does.  ``--mode inproc`` drives a
:class:`PolicyWorker` in this process (``--profile`` prints a cProfile of it); ``--mode process``
drives a :class:`WorkerProcess` and reads the child's CPU from ``/proc/<pid>/stat``.

    .venv/bin/python bench/policy_worker_cpu.py [--n 5000] [--batch 25] [--mode inproc|process] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from abng.dataplane.policy_worker import Down, Outcome, PolicyWorker, Shape, Up, Want
from abng.dataplane.worker_process import WorkerProcess

TUN = "wtun0"


def wants(n: int) -> list[Want]:
    out = []
    for i in range(n):
        ip = f"100.{64 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}"
        shape = Shape((10 + i % 90) * 1_000_000, 40_000_000, 0, 0)
        out.append(Want(i + 1, ip, TUN, shape, False, 1492 if i % 2 else None))
    return out


def proc_cpu(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def inner(args: argparse.Namespace) -> None:
    items = wants(args.n)
    batches = [[Up(w) for w in items[i : i + args.batch]] for i in range(0, len(items), args.batch)]
    downs = [[Down(w) for w in items[i : i + args.batch]] for i in range(0, len(items), args.batch)]
    worker: PolicyWorker | WorkerProcess
    if args.mode == "inproc":
        worker = PolicyWorker("htb", has_vrf=False)
        worker.run([Up(Want(0, "100.127.255.254", TUN, Shape(1_000_000, 1_000_000)))])  # tree set-up
        prof = cProfile.Profile() if args.profile else None
        t0 = os.times()
        if prof:
            prof.enable()
        outs: list[Outcome] = [o for b in batches for o in worker.run(b)]
        if prof:
            prof.disable()
        t1 = os.times()
        user, sys_ = t1.user - t0.user, t1.system - t0.system
        installed = len(worker.installed())
        outs += [o for b in downs for o in worker.run(b)]
        t2 = os.times()
        down_user, down_sys = t2.user - t1.user, t2.system - t1.system
    else:
        worker = WorkerProcess("htb", has_vrf=False, log_level="warning")
        worker.run([Up(Want(0, "100.127.255.254", TUN, Shape(1_000_000, 1_000_000)))])
        u0, s0 = proc_cpu(worker.pid)
        outs = [o for b in batches for o in worker.run(b)]
        u1, s1 = proc_cpu(worker.pid)
        user, sys_ = u1 - u0, s1 - s0
        installed = len(worker.installed())
        u1, s1 = proc_cpu(worker.pid)
        outs += [o for b in downs for o in worker.run(b)]
        u2, s2 = proc_cpu(worker.pid)
        down_user, down_sys = u2 - u1, s2 - s1
        prof = None
    bad = sum(1 for o in outs if not o.ok)
    left = len(worker.installed())
    worker.shutdown()
    worker.close()
    print(
        f"mode={args.mode} n={args.n} batch={args.batch} failed={bad} classes={installed} "
        f"user={user * 1e6 / args.n:.0f}us/intent system={sys_ * 1e6 / args.n:.0f}us/intent | "
        f"Down: user={down_user * 1e6 / args.n:.0f}us/intent system={down_sys * 1e6 / args.n:.0f}us/intent "
        f"classes left={left}"
    )
    if prof:
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--batch", type=int, default=25)
    p.add_argument("--mode", choices=("inproc", "process"), default="inproc")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--inner", action="store_true")
    args = p.parse_args()
    if args.inner:
        inner(args)
        return
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    ns = f"bpwc-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "tuntap", "add", TUN, "mode", "tun"],
                    ["ip", "link", "set", TUN, "up"]):  # fmt: skip
            subprocess.run(["ip", "netns", "exec", ns, *cmd], check=True)
        subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, __file__, "--inner", *sys.argv[1:]], check=True
        )
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    main()
