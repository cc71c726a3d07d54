"""The userspace data path end to end in namespaces.

    client ns --veth-- bng ns (PacketIO on the trunk veth + TUN abng0, ip_forward) --veth-- upstream ns
    100.64.0.x/32                 gateway 100.64.0.1 on abng0, 192.0.2.1/24          192.0.2.2/24

The client's address is static and registered in the datapath by hand (no DHCP yet). Untagged
IPoE uses the client's kernel and `ping`; 802.1Q, QinQ and PPPoE frames are built with scapy and
sent/received in the client namespace through a raw socket (PacketIO, which restores the tag
the kernel strips on receive).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether
from scapy.layers.ppp import PPP, PPPoE
from scapy.packet import Packet, Raw

from abng.access.bpf import FilterSpec
from abng.access.frames import TPID_8021AD, TPID_8021Q, VlanTag
from abng.access.packetio import PacketIO
from abng.dataplane.datapath import Datapath, DatapathIO, Kind, SubscriberPath
from abng.dataplane.tun import TunDevice, enable_ip_forward, isolate_trunk
from tests.helpers.netns import (
    in_netns,
    link_mac,
    netns,
    ns_addr,
    ns_route,
    ns_sysctl,
    requires_root,
    veth_pair,
)

pytestmark = [pytest.mark.netns, requires_root]

GATEWAY = "100.64.0.1"
UPSTREAM = "192.0.2.2"


@dataclass
class Topology:
    cli: str
    bng: str
    up: str
    cli_if: str
    trunk_if: str
    trunk: PacketIO
    tun: TunDevice
    datapath: Datapath
    io: DatapathIO

    @property
    def trunk_mac(self) -> str:
        return ":".join(f"{b:02x}" for b in self.trunk.mac)


@pytest.fixture
def topo() -> Iterator[Topology]:
    with netns("cli") as cli, netns("bng") as bng, netns("up") as up:
        for ns in (cli, bng, up):
            ns_sysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1")
            ns_sysctl(ns, "net.ipv6.conf.default.disable_ipv6", "1")
        cli_if, trunk_if = veth_pair(cli, bng, "t")
        bng_up, up_if = veth_pair(bng, up, "u")
        ns_addr(bng, bng_up, "192.0.2.1/24")
        ns_addr(up, up_if, f"{UPSTREAM}/24")
        ns_route(up, "100.64.0.0/10", "via", "192.0.2.1")
        with in_netns(bng):
            enable_ip_forward()
            isolate_trunk(trunk_if)
            trunk = PacketIO(trunk_if, FilterSpec.userspace())
            trunk.open()
            tun = TunDevice("abng0", netns=bng)
            tun.open()
        try:
            tun.configure([f"{GATEWAY}/32"])
            dp = Datapath(trunk.mac, [GATEWAY])
            yield Topology(cli, bng, up, cli_if, trunk_if, trunk, tun, dp, DatapathIO(dp, trunk, tun))
        finally:
            tun.close()
            trunk.close()


async def add_subscriber(t: Topology, ip: str, path: SubscriberPath) -> None:
    t.datapath.add_subscriber(ip, path)
    await asyncio.to_thread(t.tun.add_host_route, ip, 1492 if path.kind is Kind.PPPOE else None)


def start(t: Topology) -> None:
    t.trunk.start(t.io.on_frame)
    t.tun.start(t.io.on_tun_packet)


def stop(t: Topology) -> None:
    t.trunk.stop()
    t.tun.stop()


async def test_untagged_ipoe_ping_through_the_kernel_of_the_client(topo: Topology) -> None:
    t = topo
    ns_addr(t.cli, t.cli_if, "100.64.0.10/32")
    ns_route(t.cli, GATEWAY, "dev", t.cli_if)
    ns_route(t.cli, "default", "via", GATEWAY)
    cli_mac = bytes.fromhex(link_mac(t.cli, t.cli_if).replace(":", ""))
    await add_subscriber(t, "100.64.0.10", SubscriberPath((), cli_mac, access_interface=t.trunk_if))
    start(t)
    try:
        proc = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", t.cli, "ping", "-c", "3", "-i", "0.2", "-W", "2", UPSTREAM,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, out.decode()
        assert "3 received" in out.decode()
    finally:
        stop(t)
    c = t.datapath.counters("100.64.0.10")
    assert c is not None and c.in_packets >= 3 and c.out_packets >= 3
    assert t.datapath.drops["spoofed_source"] == 0
    # the kernel of the BNG did not answer ARP nor forward on the trunk: one reply per request
    assert "duplicates" not in out.decode() and "DUP!" not in out.decode()


class Client:
    """Raw frames in the client namespace: send scapy frames, await matching replies."""

    def __init__(self, t: Topology) -> None:
        with in_netns(t.cli):
            self.pio = PacketIO(t.cli_if)
            self.pio.open()
        self.mac = ":".join(f"{b:02x}" for b in self.pio.mac)
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.pio.start(lambda frame, _i: self.queue.put_nowait(frame))

    async def exchange(self, frame: Packet, want: type[Packet], check: object = None) -> Packet:
        self.pio.send(bytes(frame))
        while True:
            got = Ether(await asyncio.wait_for(self.queue.get(), 5.0))
            if want in got and (check is None or check(got)):  # type: ignore[operator]
                return got

    def close(self) -> None:
        self.pio.close()


TAGSETS = {
    "dot1q": ((VlanTag(TPID_8021Q, 100),), lambda: Dot1Q(vlan=100)),
    "qinq": ((VlanTag(TPID_8021AD, 200), VlanTag(TPID_8021Q, 20)), lambda: Dot1AD(vlan=200) / Dot1Q(vlan=20)),
    "triple": (
        (VlanTag(TPID_8021AD, 111), VlanTag(TPID_8021Q, 500), VlanTag(TPID_8021Q, 100)),
        lambda: Dot1AD(vlan=111) / Dot1Q(vlan=500) / Dot1Q(vlan=100),
    ),
}


def tag_stack(pkt: Packet) -> list[tuple[int, int]]:
    out = []
    layer = pkt.payload
    while isinstance(layer, Dot1Q | Dot1AD):
        out.append((layer.underlayer.type, layer.vlan))
        layer = layer.payload
    return out


@pytest.mark.parametrize("tagset", list(TAGSETS))
async def test_tagged_ipoe_echo_and_arp_keep_the_tags(topo: Topology, tagset: str) -> None:
    t = topo
    tags, layers = TAGSETS[tagset]
    sent_stack = [(tag.tpid, tag.vid) for tag in tags]
    client = Client(t)
    await add_subscriber(t, "100.64.0.20", SubscriberPath(tags, client.pio.mac))
    start(t)
    try:
        eth = Ether(src=client.mac, dst="ff:ff:ff:ff:ff:ff")
        arp = await client.exchange(
            eth / layers() / ARP(op=1, hwsrc=client.mac, psrc="100.64.0.20", pdst=GATEWAY), ARP
        )
        assert arp[ARP].op == 2 and arp[ARP].hwsrc == t.trunk_mac and tag_stack(arp) == sent_stack
        eth = Ether(src=client.mac, dst=t.trunk_mac)
        request = eth / layers() / IP(src="100.64.0.20", dst=UPSTREAM) / ICMP(id=42, seq=1) / Raw(b"x" * 32)
        reply = await client.exchange(request, ICMP, lambda p: p[ICMP].type == 0)
        assert (reply[IP].src, reply[IP].dst, reply[ICMP].id) == (UPSTREAM, "100.64.0.20", 42)
        assert tag_stack(reply) == sent_stack
        assert reply.src == t.trunk_mac and reply.dst == client.mac
    finally:
        stop(t)
        client.close()


async def test_pppoe_session_echo(topo: Topology) -> None:
    t = topo
    tags, layers = TAGSETS["qinq"]
    client = Client(t)
    path = SubscriberPath(tags, client.pio.mac, Kind.PPPOE, session_id=0x2A)
    await add_subscriber(t, "100.64.0.30", path)
    start(t)
    try:
        request = (
            Ether(src=client.mac, dst=t.trunk_mac)
            / layers()
            / PPPoE(sessionid=0x2A)
            / PPP(proto=0x0021)
            / IP(src="100.64.0.30", dst=UPSTREAM)
            / ICMP(id=43, seq=2)
        )
        reply = await client.exchange(request, PPPoE, lambda p: ICMP in p and p[ICMP].type == 0)
        assert reply[PPPoE].sessionid == 0x2A and reply[PPPoE].code == 0 and reply[PPP].proto == 0x0021
        assert (reply[IP].src, reply[IP].dst, reply[ICMP].id) == (UPSTREAM, "100.64.0.30", 43)
        assert tag_stack(reply) == [(TPID_8021AD, 200), (TPID_8021Q, 20)]
        c = t.datapath.counters("100.64.0.30")
        assert c is not None and (c.in_packets, c.out_packets) == (1, 1)
    finally:
        stop(t)
        client.close()
