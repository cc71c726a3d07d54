"""The trunk BPF filter on a real veth in throwaway namespaces: tagged, QinQ, triple, misses."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether
from scapy.layers.ppp import PPP, PPPoE, PPPoED
from scapy.packet import Packet, Raw

from abng.access.bpf import FilterSpec
from abng.access.packetio import PacketIO
from tests.helpers.netns import Link, in_netns, linked_pair, raw_socket, requires_root

pytestmark = [pytest.mark.netns, requires_root]

SRC = "02:00:00:00:00:01"
BCAST = "ff:ff:ff:ff:ff:ff"


def eth(*tags: tuple[str, int]) -> Packet:
    """Ether + tags: each ('ad'|'q'|'91', vid)."""
    pkt: Packet = Ether(src=SRC, dst=BCAST)
    for kind, vid in tags:
        if kind == "ad":
            pkt = pkt / Dot1AD(vlan=vid)
        elif kind == "91":
            pkt = pkt / Dot1Q(vlan=vid)
            pkt[Dot1Q].underlayer.type = 0x9100
        else:
            pkt = pkt / Dot1Q(vlan=vid)
    return pkt


def padi(marker: int) -> Packet:
    return PPPoED(code=0x09, sessionid=0) / Raw(bytes([0x01, 0x01, 0x00, 0x02, marker >> 8, marker & 0xFF]))


def dhcp(marker: int, dport: int = 67, options: bool = False, frag: int = 0) -> Packet:
    ip = IP(src="0.0.0.0", dst="255.255.255.255", frag=frag)
    if options:
        ip.options = [b"\x94\x04\x00\x00"]  # router alert: IHL 6
    return ip / UDP(sport=68, dport=dport) / Raw(marker.to_bytes(2, "big") * 20)


TAGSETS: dict[str, tuple[tuple[str, int], ...]] = {
    "untagged": (),
    "dot1q": (("q", 100),),
    "qinq": (("ad", 200), ("q", 20)),
    "qinq_8100": (("q", 200), ("q", 20)),
    "outer_9100": (("91", 300), ("q", 30)),
    "triple": (("ad", 111), ("q", 500), ("q", 100)),
}


def cases() -> Iterator[tuple[str, Packet, bool, bool]]:
    """(name, frame, accepted by control_plane(), accepted by userspace())."""
    m = 0
    for tname, tags in TAGSETS.items():
        for kind, payload, control, user in (
            ("padi", lambda m: padi(m), True, True),
            ("dhcp", lambda m: dhcp(m), True, True),
            ("dhcp_ipopts", lambda m: dhcp(m, options=True), True, True),
            ("udp68", lambda m: dhcp(m, dport=68), False, True),
            ("dhcp_frag", lambda m: dhcp(m, frag=100), False, True),
            ("tcp", lambda m: IP(dst="10.0.0.1") / TCP(dport=67) / Raw(bytes([m & 0xFF]) * 8), False, True),
            ("icmp", lambda m: IP(dst="10.0.0.1") / ICMP(id=m), False, True),
            ("ipv6", lambda m: IPv6(dst="ff02::1") / UDP(dport=67) / Raw(b"x" * m), False, False),
            ("arp", lambda m: ARP(psrc="10.0.0.2", pdst="10.0.0.1", hwsrc=SRC), False, True),
            ("pppoe_sess", lambda m: PPPoE(sessionid=m) / PPP(proto=0x0021) / IP() / ICMP(), False, True),
        ):
            m += 1
            yield f"{tname}/{kind}", eth(*tags) / payload(m), control, user
    m += 1
    four = (("ad", 1), ("q", 2), ("q", 3), ("q", 4))
    yield "four_tags/padi", eth(*four) / padi(m), False, False
    m += 1
    yield "four_tags/ipv4", eth(*four) / dhcp(m), False, False


SENTINEL = bytes(eth() / padi(0xFFFF))


@pytest.fixture
def link() -> Iterator[Link]:
    with linked_pair("cli", "bng") as lk:
        yield lk


def exchange(link: Link, spec: FilterSpec | None, frames: list[bytes]) -> list[bytes]:
    """Send `frames` + a sentinel from ns_a; return what PacketIO in ns_b received from SRC."""
    with in_netns(link.ns_b):
        pio = PacketIO(link.b, spec)
        pio.open()
    tx = raw_socket(link.ns_a, link.a)
    try:
        for frame in [*frames, SENTINEL]:
            tx.send(frame)
        got: list[bytes] = []
        while True:
            ready, _, _ = select.select([pio.fileno()], [], [], 5.0)
            assert ready, "sentinel never arrived"
            batch = pio.recv_batch()
            got += [f for f in batch if f[6:12] == bytes.fromhex(SRC.replace(":", ""))]
            if got and got[-1] == SENTINEL:
                return got[:-1]
    finally:
        tx.close()
        pio.close()


@pytest.mark.parametrize("which", ["control", "userspace"])
def test_filter_matches_exactly_the_expected_frames(link: Link, which: str) -> None:
    spec = FilterSpec.control_plane() if which == "control" else FilterSpec.userspace()
    all_cases = list(cases())
    frames = [bytes(pkt) for _, pkt, _, _ in all_cases]
    got = exchange(link, spec, frames)
    expected = [
        (name, bytes(pkt))
        for name, pkt, control, user in all_cases
        if (control if which == "control" else user)
    ]
    got_names = [
        dict((f, n) for n, f in ((n, bytes(p)) for n, p, _, _ in all_cases)).get(f, "?") for f in got
    ]
    assert got_names == [n for n, _ in expected]
    # tags re-inserted: each received frame is byte-identical to what was sent
    assert got == [f for _, f in expected]


def test_without_filter_everything_arrives(link: Link) -> None:
    all_cases = list(cases())
    frames = [bytes(pkt) for _, pkt, _, _ in all_cases]
    assert exchange(link, None, frames) == frames


def test_kernel_strips_outer_tag_and_packetio_restores_it(link: Link) -> None:
    frame = bytes(eth(("ad", 200), ("q", 20)) / padi(7))
    with in_netns(link.ns_b):
        plain = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        plain.bind((link.b, 0x0003))
    try:
        got = exchange(link, FilterSpec.control_plane(), [frame])
        plain.setblocking(False)
        seen = []
        while True:
            try:
                seen.append(plain.recv(65536))
            except BlockingIOError:
                break
        # without auxdata the outer 802.1ad tag is missing: inline starts with the inner 0x8100
        assert frame[:12] + frame[16:] in seen
        assert got == [frame]
    finally:
        plain.close()
