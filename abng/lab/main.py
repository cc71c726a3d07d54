"""``abng-lab``: a working BNG with emulated subscribers in network namespaces (issue 8).

abng-lab up [--detach] [--pppoe N] [--dhcp N] [--vlan-mode mixed|dot1q|qinq|untagged] [--radius]
abng-lab status [--json]        abng-lab list
abng-lab add --pppoe N --dhcp N abng-lab remove N [--kind pppoe|dhcp]
abng-lab flap N [--kind K] [--down-for S]
abng-lab ping [--subscribers N] [--packets N]
abng-lab traffic [--mbit M] [--seconds S] [--id ID]
abng-lab down
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from abng.lab.control import ControlError, ControlServer, request
from abng.lab.lab import DEFAULT_LAB_DIR, Lab, LabOptions, LabRunning
from abng.lab.procs import Procs, cmdline
from abng.lab.subscribers import VLAN_MODES
from abng.lab.topology import Topology, kill_pid, pid_alive, teardown

READY_TIMEOUT = 120.0


def banner(lab: Lab, elapsed: float, all_up: bool) -> str:
    venv = Path(sys.executable).parent
    cli = venv / "abng"
    try:
        cli = cli.relative_to(Path.cwd())
    except ValueError:
        pass
    lines = [
        f"abng lab is up in {elapsed:.1f} s"
        + ("" if all_up else " (not every subscriber is up yet: see `abng-lab list`)"),
        "",
    ]
    if lab.opts.api:
        lines += [
            f"  API      {lab.api_url}/api/v1   (docs: {lab.api_url}/api/docs)",
            "  Login    TOKEN=$(curl -sk -X POST " + f"{lab.api_url}/api/v1/auth/login \\",
            '             -H "Content-Type: application/json" \\',
            """             -d '{"username":"admin","password":"changeme"}' | jq -r '.access_token')""",
            f'           curl -sk -H "Authorization: Bearer $TOKEN" {lab.api_url}/api/v1/subscribers',
        ]
    lines += [
        f"  CLI      {cli} --socket {lab.socket}",
        f"  Lab      abng-lab status | list | add | flap | ping | traffic | down   (lab dir {lab.dir})",
        "",
    ]
    return "\n".join(lines)


def options(args: argparse.Namespace) -> LabOptions:
    return LabOptions(
        lab_dir=args.lab_dir, prefix=args.prefix, pppoe=args.pppoe, dhcp=args.dhcp,
        vlan_mode=args.vlan_mode, per_vlan=args.per_vlan, auth=args.auth, rate=args.rate,
        outstanding=args.outstanding,
        radius=args.radius, api=not args.no_api, api_port=args.api_port,
        lcp_echo_interval=args.lcp_echo_interval, lease_time=args.lease_time,
    )  # fmt: skip


async def run_lab(lab: Lab, foreground: bool) -> int:
    t0 = time.monotonic()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    control = ControlServer(lab, lab.dir / "lab.sock")
    try:
        found = await asyncio.to_thread(lab.recover)
    except LabRunning as exc:  # leave the running lab alone
        print(f"abng-lab: {exc}", file=sys.stderr, flush=True)
        return 1
    if found:
        print(f"abng-lab: removed leftovers of a previous lab: {', '.join(found)}", flush=True)
    try:
        await asyncio.to_thread(lab.start_services)
        engine = lab.open_engine()
        engine.start()
        await control.start()
        lab.add_subscribers(lab.opts.pppoe, lab.opts.dhcp)
        deadline = time.monotonic() + READY_TIMEOUT
        while engine.stats.total_established < engine.stats.total_requested and not stop.is_set():
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        await asyncio.to_thread(lab.wait_api)
        all_up = engine.stats.total_established >= engine.stats.total_requested
        control.banner = banner(lab, time.monotonic() - t0, all_up)
        control.ready = True
        print(control.banner, flush=True)
        while not stop.is_set():
            line = engine.stats.line(engine.now())
            if foreground:
                print(f"\r\033[K{line}", end="", flush=True)
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except TimeoutError:
                pass
        if foreground:
            print("\nabng-lab: tearing down...", flush=True)
        return 0
    except (RuntimeError, TimeoutError, OSError, ValueError) as exc:
        print(f"abng-lab: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        await control.close()
        await asyncio.to_thread(lab.stop)


def cmd_up(args: argparse.Namespace, argv: list[str]) -> int:
    if os.geteuid() != 0:
        print("abng-lab: run as root (network namespaces)", file=sys.stderr)
        return 1
    lab = Lab(options(args))
    running = Procs(lab.dir).pid("lab")
    if running is not None and pid_alive(running) and "abng" in cmdline(running):
        print(
            f"abng-lab: a lab is already running (pid {running}): run `abng-lab down` first", file=sys.stderr
        )
        return 1
    if not args.detach:
        return asyncio.run(run_lab(lab, foreground=sys.stdout.isatty()))
    lab.dir.mkdir(parents=True, exist_ok=True)
    argv = [a for a in argv if a != "--detach"]
    with open(lab.dir / "lab.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "abng.lab.main", *argv],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    sock = lab.dir / "lab.sock"
    deadline = time.monotonic() + READY_TIMEOUT + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"abng-lab: the lab exited ({proc.returncode}):", file=sys.stderr)
            print((lab.dir / "lab.log").read_text(errors="replace")[-3000:], file=sys.stderr)
            return 1
        try:
            status = request(sock, "status", timeout=5)
            if status["ready"]:
                print(status["banner"])
                print(f"  running in the background (pid {proc.pid}); log {lab.dir / 'lab.log'}")
                print(status["line"])
                return 0
        except (ControlError, OSError, ValueError):
            pass
        time.sleep(0.2)
    print("abng-lab: the lab did not become ready in time", file=sys.stderr)
    return 1


def cmd_down(args: argparse.Namespace) -> int:
    lab_dir = args.lab_dir.resolve()
    procs = Procs(lab_dir)
    pid = procs.pid("lab")
    prefix = args.prefix
    try:
        prefix = json.loads((lab_dir / "lab.json").read_text())["prefix"]
    except (OSError, ValueError, KeyError):
        pass
    stopped = False
    if pid is not None and pid_alive(pid) and "abng" in cmdline(pid):
        kill_pid(pid, timeout=60)
        stopped = True
    # whatever the lab process did not remove (it may have been killed): same as the recovery
    lab = Lab(LabOptions(lab_dir=lab_dir, prefix=prefix))
    leftovers = lab.recover()
    if not stopped and not leftovers:
        print("abng-lab: no lab was running")
    else:
        print("abng-lab: lab torn down" + (f" (removed {', '.join(leftovers)})" if leftovers else ""))
    return 0


def _print(result: Any, as_json: bool) -> None:
    print(json.dumps(result, indent=2) if as_json or not isinstance(result, str) else result)


def cmd_control(args: argparse.Namespace) -> int:
    sock = args.lab_dir.resolve() / "lab.sock"
    try:
        if args.command == "status":
            st = request(sock, "status")
            if args.json:
                _print(st, True)
            else:
                print(st["line"])
        elif args.command == "list":
            rows = request(sock, "list")
            print(f"{'ID':>5} {'KIND':5} {'STATE':10} {'IP':15} {'VLAN':10} {'USER/MAC':20} LAST-DOWN")
            for r in rows:
                print(f"{r['id']:>5} {r['kind']:5} {r['state']:10} {r['ip']:15} {r['vlan']:10} "
                      f"{r['username']:20} {r['last_down']}")  # fmt: skip
        elif args.command == "add":
            ids = request(sock, "add", pppoe=args.pppoe, dhcp=args.dhcp, vlan_mode=args.vlan_mode)
            print(f"added {len(ids)} subscribers (ids {ids[0]}-{ids[-1]})" if ids else "added nothing")
        elif args.command == "remove":
            print(f"removed {request(sock, 'remove', count=args.count, kind=args.kind, ids=args.id)}")
        elif args.command == "flap":
            n = request(sock, "flap", count=args.count, kind=args.kind, ids=args.id, down_for=args.down_for)
            print(f"flapped {n} subscribers (back in {args.down_for:g} s)")
        elif args.command == "ping":
            _print(request(sock, "ping", count=args.subscribers, packets=args.packets, ids=args.id), True)
        elif args.command == "traffic":
            res = request(
                sock, "udp", timeout=args.seconds + 30, mbit=args.mbit, seconds=args.seconds, ids=args.id
            )
            _print(res, True)
    except ControlError as exc:
        print(f"abng-lab: {exc}", file=sys.stderr)
        return 1
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="abng-lab", description="abng lab: BNG + emulated subscribers")
    p.add_argument("--lab-dir", type=Path, default=DEFAULT_LAB_DIR, help="lab dir (env ABNG_LAB_DIR)")
    p.add_argument("--prefix", default=os.environ.get("ABNG_LAB_PREFIX", "abl"), help="namespace prefix")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="build the lab and bring the subscribers up")
    up.add_argument("--detach", action="store_true", help="run in the background")
    up.add_argument("--pppoe", type=int, default=4, help="emulated PPPoE subscribers (default 4)")
    up.add_argument("--dhcp", type=int, default=4, help="emulated DHCP subscribers (default 4)")
    up.add_argument("--vlan-mode", choices=VLAN_MODES, default="mixed")
    up.add_argument("--per-vlan", type=int, default=1, help="subscribers sharing one VLAN (default 1)")
    up.add_argument("--auth", choices=("pap", "chap"), default="pap")
    up.add_argument("--rate", type=float, default=200.0, help="session setups started per second")
    up.add_argument("--outstanding", type=int, default=50, help="setups in flight at most")
    up.add_argument("--radius", action="store_true", help="authenticate through a lab FreeRADIUS")
    up.add_argument("--no-api", action="store_true", help="do not start abng-api")
    up.add_argument("--api-port", type=int, default=8443)
    up.add_argument("--lcp-echo-interval", type=int, help="pppoe.lcp_echo_interval for abngd")
    up.add_argument("--lease-time", type=int, help="dhcp.lease_time for abngd")
    sub.add_parser("down", help="tear the lab down")
    st = sub.add_parser("status", help="one status line (sessions up, setups/s, failures)")
    st.add_argument("--json", action="store_true")
    sub.add_parser("list", help="the emulated subscribers")
    add = sub.add_parser("add", help="add subscribers")
    add.add_argument("--pppoe", type=int, default=0)
    add.add_argument("--dhcp", type=int, default=0)
    add.add_argument("--vlan-mode", choices=VLAN_MODES)
    for name, text in (("remove", "remove subscribers"), ("flap", "hang up and re-dial subscribers")):
        c = sub.add_parser(name, help=text)
        c.add_argument("count", type=int, nargs="?", default=1)
        c.add_argument("--kind", choices=("pppoe", "dhcp"))
        c.add_argument("--id", type=int, action="append", help="engine subscriber id (repeatable)")
        if name == "flap":
            c.add_argument("--down-for", type=float, default=2.0)
    ping = sub.add_parser("ping", help="ICMP echo from subscribers to the upstream host")
    ping.add_argument("--subscribers", type=int, default=4)
    ping.add_argument("--packets", type=int, default=3)
    ping.add_argument("--id", type=int, action="append")
    tr = sub.add_parser("traffic", help="UDP stream from one subscriber to the upstream host")
    tr.add_argument("--mbit", type=float, default=20.0)
    tr.add_argument("--seconds", type=float, default=5.0)
    tr.add_argument("--id", type=int, action="append")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    if args.command == "up":
        return cmd_up(args, argv)
    if args.command == "down":
        return cmd_down(args)
    return cmd_control(args)


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["Topology", "main", "teardown"]
