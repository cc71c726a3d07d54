"""802.1Q and QinQ subscribers through the demux (a small scapy DHCP client on a raw socket), an
untagged busybox udhcpc on the same trunk (``demux.untagged``), and
bad input against the live daemon: truncated, oversized and mis-tagged frames, DHCP from unknown
VLANs, floods of DISCOVERs and PADIs.  Counted, and every existing session survives."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.layers.ppp import PPPoED, PPPoED_Tags, PPPoETag

from abng.access.frames import VlanTag
from abng.access.packetio import PacketIO
from tests.e2e.pppoe_client import PppoeClient
from tests.e2e.test_dhcp_local import UDHCPC_SCRIPT, lines, script
from tests.e2e.topology import UPSTREAM_HOST, Topo, topology
from tests.helpers.netns import NsProcess, in_netns, link_mac, ns_run, requires_root

pytestmark = requires_root

DEMUX = {
    "enabled": True,
    "untagged": True,
    "profiles": [
        {"name": "qinq", "trunk_interface": "TRUNK", "stag_range": "100-199", "ctag_range": "1-4094",
         "stag_protocol": "802.1ad"},
        {"name": "dot1q", "trunk_interface": "TRUNK", "stag_range": "200-299", "stag_protocol": "802.1q"},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topo]:
    tmp = tmp_path_factory.mktemp("tagged")
    with topology(tmp) as t:
        demux = {**DEMUX, "profiles": [{**p, "trunk_interface": t.trunk} for p in DEMUX["profiles"]]}  # type: ignore[dict-item]
        t.start_abngd(t.config(demux=demux))
        with in_netns(t.cli):
            io = PacketIO(t.cli_if)
            io.open()
        t.extra["io"] = io
        try:
            yield t
        finally:
            io.close()


def vlan_layers(tags: list[tuple[int, int]]) -> list[Dot1Q | Dot1AD]:
    layers = []
    for tpid, vid in tags:
        layers.append(Dot1AD(vlan=vid) if tpid == 0x88A8 else Dot1Q(vlan=vid))
    return layers


def dhcp_frame(mac: str, tags: list[tuple[int, int]], mtype: str, xid: int, **opts: str) -> bytes:
    pkt = Ether(src=mac, dst="ff:ff:ff:ff:ff:ff")
    for layer in vlan_layers(tags):
        pkt = pkt / layer
    options = [("message-type", mtype), *opts.items(), "end"]
    pkt = pkt / IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=68, dport=67)
    pkt = (
        pkt / BOOTP(chaddr=bytes.fromhex(mac.replace(":", "")), xid=xid, flags=0x8000) / DHCP(options=options)
    )
    return bytes(pkt)


def wait_reply(io: PacketIO, mac: str, xid: int, mtype: int, timeout: float) -> Ether | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = io.recv()
        if frame is None:
            time.sleep(0.01)
            continue
        pkt = Ether(frame)
        if BOOTP in pkt and pkt[BOOTP].xid == xid and pkt[BOOTP].op == 2:
            opts = dict(o for o in pkt[DHCP].options if isinstance(o, tuple))
            if opts.get("message-type") == mtype:
                return pkt
    return None


def dora(io: PacketIO, mac: str, tags: list[tuple[int, int]]) -> tuple[str, Ether]:
    xid = random.getrandbits(31)
    offer = None
    for _ in range(6):  # the demux wants require_packets DISCOVERs before it creates the interface
        io.send(dhcp_frame(mac, tags, "discover", xid))
        offer = wait_reply(io, mac, xid, 2, 1.0)
        if offer is not None:
            break
    assert offer is not None, f"no OFFER for {mac} on {tags}"
    ip = offer[BOOTP].yiaddr
    server = dict(o for o in offer[DHCP].options if isinstance(o, tuple))["server_id"]
    io.send(dhcp_frame(mac, tags, "request", xid, requested_addr=ip, server_id=server))
    ack = wait_reply(io, mac, xid, 5, 3.0)
    assert ack is not None, "no ACK"
    return ip, ack


def test_dot1q_and_qinq_clients_get_leases_on_their_interfaces(topo: Topo) -> None:
    io: PacketIO = topo.extra["io"]
    ip1, ack1 = dora(io, "02:00:00:00:01:01", [(0x88A8, 150), (0x8100, 42)])
    ip2, ack2 = dora(io, "02:00:00:00:01:02", [(0x8100, 250)])
    assert (ack1[Dot1AD].vlan, ack1[Dot1Q].vlan) == (150, 42)
    assert ack2[Dot1Q].vlan == 250
    topo.wait(lambda: len(topo.subscribers(type="dhcp")) >= 2, 20, "both sessions active")
    subs = {s["mac_address"]: s for s in topo.subscribers(type="dhcp")}
    assert subs["02:00:00:00:01:01"]["interface"] == f"{topo.trunk}.150.42"
    assert subs["02:00:00:00:01:01"]["ip_address"] == ip1
    assert subs["02:00:00:00:01:02"]["interface"] == f"{topo.trunk}.250"
    assert subs["02:00:00:00:01:02"]["ip_address"] == ip2
    vlans = {v["name"]: v for v in topo.call("show.vlans")}
    assert vlans[f"{topo.trunk}.150.42"]["stag"] == 150 and vlans[f"{topo.trunk}.150.42"]["ctag"] == 42
    assert (
        vlans[f"{topo.trunk}.150.42"]["profile"] == "qinq" and vlans[f"{topo.trunk}.150.42"]["sessions"] == 1
    )
    assert vlans[f"{topo.trunk}.250"]["profile"] == "dot1q"
    # interface listing from the kernel, with roles
    roles = {i["name"]: i["role"] for i in topo.call("show.interfaces")}
    assert roles[topo.trunk] == "subscriber_trunk" and roles["abng0"] == "subscriber_tun"


def test_unknown_vlan_gets_nothing(topo: Topo) -> None:
    io: PacketIO = topo.extra["io"]
    xid = 4242
    for _ in range(3):
        io.send(dhcp_frame("02:00:00:00:09:09", [(0x8100, 999)], "discover", xid))
    assert wait_reply(io, "02:00:00:00:09:09", xid, 2, 1.0) is None
    assert topo.call("show.access")["counters"].get("demux_unknown_vlan", 0) >= 3


def test_bad_input_and_floods_keep_sessions(topo: Topo) -> None:
    io: PacketIO = topo.extra["io"]
    before = {s["id"] for s in topo.subscribers()}
    assert len(before) >= 2
    rng = random.Random(5)
    good = dhcp_frame("02:00:00:00:02:01", [(0x8100, 250)], "discover", 7)
    padi = bytes(
        Ether(src="02:00:00:00:03:01", dst="ff:ff:ff:ff:ff:ff") / Dot1Q(vlan=250)
        / PPPoED(code=0x09) / PPPoED_Tags(tag_list=[PPPoETag(tag_type=0x0101, tag_value=b"")])
    )  # fmt: skip
    frames: list[bytes] = []
    for n in range(1, len(good)):  # truncated at every offset
        frames.append(good[:n])
    frames.append(good + b"\x00" * (1514 - len(good)))  # padded to the maximum
    frames.append(good[:12] + b"\x81\x00\x00\xfa" * 5 + good[16:])  # too many tags
    frames.append(good[:12] + b"\x88\xa8\x00\x96" + good[12:])  # QinQ tag on a dot1q stack
    for _ in range(300):  # mutations
        b = bytearray(rng.choice([good, padi]))
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(12, len(b))] = rng.randrange(256)
        frames.append(bytes(b))
    for i in range(500):  # DISCOVER flood from many MACs (150, under the pool size), PADI flood
        mac = f"02:01:{i >> 8:02x}:{i & 0xFF:02x}:00:01"
        if i < 150:
            frames.append(dhcp_frame(mac, [(0x8100, 250)], "discover", i))
        frames.append(padi[:6] + bytes.fromhex(mac.replace(":", "")) + padi[12:])
    for f in frames:
        io.send(f)
    time.sleep(2)
    assert before <= {s["id"] for s in topo.subscribers()}  # every session survived
    info = topo.call("show.access")
    assert info["up"] and info["counters"].get("handler_errors", 0) == 0
    assert sum(v for k, v in info["counters"].items() if k.startswith(("drop_", "pppoe_drop_", "demux_"))) > 0
    # the daemon still serves new subscribers afterwards
    ip, _ = dora(io, "02:00:00:00:04:01", [(0x88A8, 120), (0x8100, 7)])
    assert ip.startswith("100.64.1.")


def test_pppoe_over_qinq_and_dot1q(topo: Topo) -> None:
    for tags, name in (
        ((VlanTag(0x88A8, 160), VlanTag(0x8100, 5)), f"{topo.trunk}.160.5"),
        ((VlanTag(0x8100, 260),), f"{topo.trunk}.260"),
    ):
        with PppoeClient(topo.cli, topo.cli_if, "alice", "secret1", tags=tags).start() as c:
            c.wait_up(15)
            s = topo.wait(
                lambda: [x for x in topo.subscribers(type="pppoe") if x["state"] == "active"], 10, "up"
            )[0]
            assert s["interface"] == name
            assert c.ping(UPSTREAM_HOST)
            c.padt()
            topo.wait(lambda: not topo.subscribers(type="pppoe"), 20, "PADT ends it")


def test_disconnect_interface_ends_only_that_interface(topo: Topo) -> None:
    io: PacketIO = topo.extra["io"]
    dora(io, "02:00:00:00:05:01", [(0x8100, 270)])
    dora(io, "02:00:00:00:05:02", [(0x88A8, 170), (0x8100, 9)])
    topo.wait(
        lambda: {f"{topo.trunk}.270", f"{topo.trunk}.170.9"} <= {x["interface"] for x in topo.subscribers()},
        20,
        "both sessions active",
    )
    res = topo.call("request.subscriber.disconnect_interface", {"interface": f"{topo.trunk}.270"})
    assert res["count"] == 1
    left = {s["interface"] for s in topo.subscribers(type="dhcp")}
    assert f"{topo.trunk}.270" not in left and f"{topo.trunk}.170.9" in left
    hist = topo.call("subscribers.history", {"limit": 10})
    assert next(h for h in hist if h["id"] == res["disconnected"][0])["reason"] == "admin_reset"


def test_untagged_udhcpc_beside_a_tagged_client(topo: Topo, tmp_path: Path) -> None:
    """demux.untagged: one trunk serves an untagged udhcpc and a tagged client together."""
    io: PacketIO = topo.extra["io"]
    log = tmp_path / "udhcpc.log"
    sc = script(tmp_path / "udhcpc.sh", UDHCPC_SCRIPT, log)
    mac = link_mac(topo.cli, topo.cli_if)
    argv = ["busybox", "udhcpc", "-i", topo.cli_if, "-f", "-s", str(sc), "-t", "5", "-T", "1", "-A", "1"]
    try:
        with NsProcess(topo.cli, argv, log_dir=tmp_path):
            topo.wait(lambda: any(x.startswith("bound") for x in lines(log)), 15, "udhcpc bound")
            ip, _ = dora(io, "02:00:00:00:06:01", [(0x8100, 280)])
            subs = topo.wait(
                lambda: (
                    {s["mac_address"]: s for s in topo.subscribers(type="dhcp")}
                    if {mac, "02:00:00:00:06:01"} <= {s["mac_address"] for s in topo.subscribers(type="dhcp")}
                    else None
                ),
                20,
                "both sessions active",
            )
            bound = next(x for x in lines(log) if x.startswith("bound"))
            assert subs[mac]["interface"] == topo.trunk
            assert subs[mac]["ip_address"] == bound.split("ip=")[1].split()[0]
            assert subs["02:00:00:00:06:01"]["interface"] == f"{topo.trunk}.280"
            assert subs["02:00:00:00:06:01"]["ip_address"] == ip
    finally:
        ns_run(topo.cli, "ip", "addr", "flush", "dev", topo.cli_if)
