"""Time to apply shaping for N sessions through the hook path (issue 6 target: 10,000 in < 10 s).

abngd's subsystems run in-process (config store, SessionManager, policy service with its one
dataplane worker thread) against a throwaway namespace holding a TUN device (the userspace
backend's shaping device) and a CGNAT handoff veth.  N sessions are opened, then activated all at
once (``SessionManager.activate`` -> policy hook: HTB classes + u32 filters on the TUN and its IFB,
/32 route, CGNAT bypass for 1 in 10); the time runs until every activation returned.  Then a
CoA-sized burst of rate changes, and every session terminated; what the kernel still holds is
counted afterwards (must be zero).

    .venv/bin/python bench/policy_apply.py [N]          (root)
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml

from abng.core.daemon import Daemon, Paths
from abng.core.model import SessionType, TerminateReason
from abng.dataplane import service as policy
from abng.dataplane.detect import detect
from abng.dataplane.qos_htb import SHARD_MAJORS

REPO = Path(__file__).resolve().parent.parent
TUN = "btun0"


def sh(ns: str, *args: str) -> str:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *args], capture_output=True, text=True, check=True
    ).stdout


def count_kernel(ns: str) -> dict[str, int]:
    classes = filters = 0
    for dev in (TUN, f"ifb-{TUN}"):
        text = subprocess.run(["ip", "netns", "exec", ns, "tc", "class", "show", "dev", dev],
                              capture_output=True, text=True).stdout  # fmt: skip
        classes += sum(1 for m in re.finditer(r"^class htb (\w+):", text, re.M) if m[1] != "1")
        batch = "".join(f"filter show dev {dev} parent {major:x}:\n" for major in SHARD_MAJORS)
        text = subprocess.run(["ip", "netns", "exec", ns, "tc", "-batch", "-"], input=batch,
                              capture_output=True, text=True).stdout  # fmt: skip
        filters += text.count("flowid")
    routes = len(json.loads(sh(ns, "ip", "-j", "route", "show", "proto", "188") or "[]"))
    nft = json.loads(sh(ns, "nft", "-j", "list", "set", "inet", "abng_cgnat", "bypass"))["nftables"]
    bypass = sum(len(i["set"].get("elem", [])) for i in nft if "set" in i)
    return {"classes": classes, "filters": filters, "routes": routes, "bypass": bypass}


async def run(n: int, ns: str, tmp: Path) -> None:
    cfg = yaml.safe_load((REPO / "abng/config/default.yaml").read_text())
    cfg["pppoe"]["enabled"] = cfg["dhcp"]["enabled"] = False
    cfg["qos"] = {"enabled": True, "default_down": "100mbit", "default_up": "40mbit"}
    cfg["cgnat"] = {"enabled": True, "handoff_interface": "bho0", "handoff_gateway": "10.99.0.1"}
    (tmp / "etc").mkdir()
    (tmp / "etc/running-config.yaml").write_text(yaml.safe_dump(cfg))
    info = await asyncio.to_thread(detect)
    daemon = Daemon(Paths(tmp / "etc", tmp / "run", tmp / "var"))
    daemon.load_config()
    svc = await policy.setup(daemon, netns=ns, device=TUN, info=info)
    assert svc is not None
    mgr = daemon.sessions
    ids = []
    for i in range(n):
        mac = f"02:00:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"
        s = mgr.open(SessionType.PPPOE, f"u{i}", mac, f"trunk0.{100 + i // 4000}.{1 + i % 4000}")
        ids.append(s.id)

    def fields(i: int) -> dict[str, object]:
        ip = f"100.{64 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}"
        return {"ip_address": ip, "rate_down": f"{10 + i % 90}mbit", "cgnat_bypass": i % 10 == 0}

    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(mgr.activate(sid, **fields(i)) for i, sid in enumerate(ids)))
    up_s, up_cpu = time.perf_counter() - t0, time.process_time() - c0
    after_up = await asyncio.to_thread(count_kernel, ns)
    t0 = time.perf_counter()
    await asyncio.gather(*(mgr.change_rate(sid, "25mbit", "10mbit", "radius_coa") for sid in ids[:1000]))
    change_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    await asyncio.gather(*(mgr.terminate(sid, TerminateReason.ADMIN_RESET) for sid in ids))
    down_s = time.perf_counter() - t0
    after_down = await asyncio.to_thread(count_kernel, ns)
    print(
        f"sessions={n} activate_all={up_s:.2f}s ({n / up_s:.0f}/s, process cpu {up_cpu:.2f}s, all threads) "
        f"change_1000={change_s:.2f}s terminate_all={down_s:.2f}s batches={svc.stats['batches']} "
        f"ops={svc.stats['ops']}\nkernel after up: {after_up}\nkernel after down: {after_down}"
    )
    await daemon.tasks.close()
    await svc.close()
    daemon.store.close()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    ns = f"bpol-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "tuntap", "add", TUN, "mode", "tun"],
                    ["ip", "link", "set", TUN, "up"],
                    ["ip", "link", "add", "bho0", "type", "veth", "peer", "name", "bho1"],
                    ["ip", "addr", "add", "10.99.0.2/24", "dev", "bho0"], ["ip", "link", "set", "bho0", "up"],
                    ["ip", "link", "set", "bho1", "up"]):  # fmt: skip
            sh(ns, *cmd)
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(run(n, ns, Path(tmp)))
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    main()
