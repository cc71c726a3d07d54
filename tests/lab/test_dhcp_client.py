"""The lab's DHCP client machine against abngd's DHCP server machine, in memory, fake clock."""

from __future__ import annotations

from abng.access.dhcp.codec import build_message, parse_message
from abng.access.dhcp.config import DhcpServerConfig, ip
from abng.access.dhcp.events import AuthorizeRequest, LeaseGranted, LeaseReleased, LeaseRenewed
from abng.access.dhcp.pool import Ipv4Pool
from abng.access.dhcp.server import DhcpServer
from abng.access.frames import ETH_P_IP, VlanTag, build_frame, build_ipv4_udp
from abng.lab.dhcp_client import DhcpBound, DhcpClient, DhcpFailed, DhcpLost

SERVER_MAC = bytes.fromhex("0a95bc98d0b6")
CLIENT_MAC = bytes.fromhex("02ab02000001")
IFACE = "trunk0.200"
TAGS = (VlanTag(0x8100, 200),)


class Link:
    """Client <-> server with AAA answered at once; ``drop`` loses everything the client sends."""

    def __init__(self, lease_time: int = 100) -> None:
        cfg = DhcpServerConfig(
            server_mac=SERVER_MAC, gateway=ip("100.64.64.1"), hostname="bng", dns=(ip("192.0.2.53"),),
            default_pool="p", lease_time=lease_time, contain_errors=False,
        )  # fmt: skip
        self.server = DhcpServer(cfg, [Ipv4Pool.from_range("p", "100.64.64.10", "100.64.64.20")])
        self.client = DhcpClient(CLIENT_MAC, 0x1234, hostname="lab1", timeout=1.0, max_tries=3)
        self.now = 0.0
        self.drop = False
        self.sent = 0
        self.server_events: list[object] = []

    def pump(self) -> None:
        for _ in range(10):
            outs = self.client.take_output()
            if not outs:
                return
            for out in outs:
                self.sent += 1
                if self.drop:
                    continue
                packet = build_ipv4_udp(out.src_ip, out.dst_ip, 68, 67, out.payload)
                frame = build_frame(out.dst_mac, CLIENT_MAC, TAGS, ETH_P_IP, packet)
                self.server.handle_frame(frame, IFACE, self.now)
                for ev in self.server.events():
                    self.server_events.append(ev)
                    if isinstance(ev, AuthorizeRequest):
                        self.server.authorized(ev.key, True, self.now)
                for tx in self.server.transmits():
                    assert tx.tags == TAGS
                    self.client.receive(parse_message(tx.payload), tx.src_mac, self.now)

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while (d := self.client.next_deadline()) is not None and d <= end:
            self.now = d
            self.client.handle_timer(d)
            self.pump()
        self.now = end


def test_bind_renew_at_t1_and_release() -> None:
    link = Link(lease_time=100)
    link.client.start(link.now)
    link.pump()
    (bound,) = link.client.take_events()
    assert isinstance(bound, DhcpBound) and not bound.renewed
    assert ip("100.64.64.10") <= bound.ip <= ip("100.64.64.20")
    assert bound.gateway == ip("100.64.64.1") and bound.server_mac == SERVER_MAC
    assert link.client.next_deadline() == 50.0  # T1 = lease / 2
    link.advance(51)
    (renewed,) = link.client.take_events()
    assert isinstance(renewed, DhcpBound) and renewed.renewed and renewed.ip == bound.ip
    assert any(isinstance(e, LeaseRenewed) for e in link.server_events)
    link.client.release(link.now)
    link.pump()
    assert any(isinstance(e, LeaseReleased) for e in link.server_events)
    assert link.client.state == "released" and link.client.next_deadline() is None
    assert sum(isinstance(e, LeaseGranted) for e in link.server_events) == 1


def test_lease_is_lost_when_the_server_stops_answering() -> None:
    link = Link(lease_time=100)
    link.client.start(0.0)
    link.pump()
    link.client.take_events()
    link.drop = True
    sent = link.sent
    link.advance(99)
    assert link.client.state == "rebinding" and link.client.take_events() == []
    assert link.sent > sent + 2  # renewing then rebinding requests were retransmitted
    link.advance(2)
    assert link.client.take_events() == [DhcpLost("lease_expired")]


def test_discover_timeout_after_max_tries() -> None:
    link = Link()
    link.drop = True
    link.client.start(0.0)
    link.pump()
    link.advance(60)
    assert link.client.take_events() == [DhcpFailed("discover_timeout")]
    assert link.sent == 3  # max_tries


def test_replies_for_another_client_are_ignored() -> None:
    link = Link()
    link.client.start(0.0)
    link.pump()
    assert link.client.state == "bound"
    ack = build_message(op=2, xid=0x1234, chaddr=bytes.fromhex("02ab02000002"), options=[(53, b"\x05")])
    msg = parse_message(ack)
    link.client.receive(msg, SERVER_MAC, 1.0)
    assert link.client.counters["foreign"] == 1
