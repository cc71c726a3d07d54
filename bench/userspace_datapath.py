"""Userspace data path figures (D4): core lookups per second, and iperf3 through the full path.

    sudo .venv/bin/python bench/userspace_datapath.py [--seconds 5]

1. The sans-I/O `Datapath` alone: frames from the trunk (QinQ IPoE) and packets from TUN per
   second, with 10 000 subscribers in the table.
2. The real path: client ns --veth-- bng ns (PacketIO + TUN, one asyncio loop) --veth-- upstream
   ns; iperf3 TCP upload and download between client and upstream (untagged IPoE).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.packet import Raw

from abng.access.bpf import FilterSpec
from abng.access.frames import TPID_8021AD, TPID_8021Q, VlanTag
from abng.access.packetio import PacketIO
from abng.dataplane.datapath import Datapath, DatapathIO, SubscriberPath
from abng.dataplane.tun import TunDevice, enable_ip_forward, isolate_trunk
from tests.helpers.netns import (
    NsProcess,
    in_netns,
    link_mac,
    netns,
    ns_addr,
    ns_route,
    ns_run,
    ns_sysctl,
    veth_pair,
)


def core(n_subs: int = 10_000, rounds: int = 200_000) -> dict[str, float]:
    dp = Datapath(b"\x02\x00\x00\x00\x00\x01", ["100.64.0.1"])
    for i in range(n_subs):
        tags = (VlanTag(TPID_8021AD, 200 + i // 4000), VlanTag(TPID_8021Q, 1 + i % 4000))
        dp.add_subscriber(0x64400000 + 10 + i, SubscriberPath(tags, (0x020000000000 + i).to_bytes(6, "big")))
    frame = bytes(
        Ether(src="02:00:00:00:00:00", dst="02:00:00:00:00:01")
        / Dot1AD(vlan=200)
        / Dot1Q(vlan=1)
        / IP(src="100.64.0.10", dst="192.0.2.2")
        / UDP(sport=1000, dport=2000)
        / Raw(b"x" * 1400)
    )
    packet = bytes(IP(src="192.0.2.2", dst="100.64.0.10") / UDP(sport=2000, dport=1000) / Raw(b"x" * 1400))
    t0 = time.perf_counter()
    for _ in range(rounds):
        dp.handle_frame(frame)
    t1 = time.perf_counter()
    for _ in range(rounds):
        dp.from_tun(packet)
    t2 = time.perf_counter()
    return {"trunk_to_tun_pps": rounds / (t1 - t0), "tun_to_trunk_pps": rounds / (t2 - t1)}


async def iperf(seconds: int) -> dict[str, float]:
    with netns("cli") as cli, netns("bng") as bng, netns("up") as up:
        for ns in (cli, bng, up):
            ns_sysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1")
            ns_sysctl(ns, "net.ipv6.conf.default.disable_ipv6", "1")
        cli_if, trunk_if = veth_pair(cli, bng, "t")
        bng_up, up_if = veth_pair(bng, up, "u")
        ns_addr(bng, bng_up, "192.0.2.1/24")
        ns_addr(up, up_if, "192.0.2.2/24")
        ns_route(up, "100.64.0.0/10", "via", "192.0.2.1")
        # the client veth stands for a wire: real checksums (no CHECKSUM_PARTIAL), no TSO/GSO super-frames
        ns_run(cli, "ethtool", "-K", cli_if, "tx", "off", "tso", "off", "gso", "off", "sg", "off")
        ns_addr(cli, cli_if, "100.64.0.10/32")
        ns_route(cli, "100.64.0.1", "dev", cli_if)
        ns_route(cli, "default", "via", "100.64.0.1")
        with in_netns(bng):
            enable_ip_forward()
            isolate_trunk(trunk_if)
            trunk = PacketIO(trunk_if, FilterSpec.userspace())
            trunk.open()
            tun = TunDevice("abng0", netns=bng)
            tun.open()
        await asyncio.to_thread(tun.configure, ["100.64.0.1/32"])
        await asyncio.to_thread(tun.add_host_route, "100.64.0.10")
        dp = Datapath(trunk.mac, ["100.64.0.1"])
        dp.add_subscriber(
            "100.64.0.10", SubscriberPath((), bytes.fromhex(link_mac(cli, cli_if).replace(":", "")))
        )
        io = DatapathIO(dp, trunk, tun)
        trunk.start(io.on_frame)
        tun.start(io.on_tun_packet)
        out: dict[str, float] = {}
        try:
            with NsProcess(up, ["iperf3", "-s", "-1", "-p", "5201"]) as server:
                await asyncio.to_thread(server.wait_for, lambda s: "listening" in s, 5)
                for label, extra in (("upload_mbit", []), ("download_mbit", ["-R"])):
                    argv = ["ip", "netns", "exec", cli, "iperf3", "-c", "192.0.2.2", "-J", "-t", str(seconds)]
                    proc = await asyncio.create_subprocess_exec(*argv, *extra, stdout=asyncio.subprocess.PIPE)
                    data, _ = await proc.communicate()
                    result = json.loads(data)
                    out[label] = result["end"]["sum_received"]["bits_per_second"] / 1e6
                    if label == "upload_mbit":
                        server.stop()
                        server = NsProcess(up, ["iperf3", "-s", "-1", "-p", "5201"])
                        await asyncio.to_thread(server.wait_for, lambda s: "listening" in s, 5)
                server.stop()
        finally:
            trunk.close()
            tun.close()
        out["drops"] = float(sum(dp.drops.values()))
        return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    args = ap.parse_args()
    print(json.dumps(core(), indent=1))
    print(json.dumps(asyncio.run(iperf(args.seconds)), indent=1))


if __name__ == "__main__":
    main()
