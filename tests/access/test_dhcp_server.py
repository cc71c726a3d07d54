"""DHCP server machine: captures fed to the server, full state walks with a fake clock."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from abng.access.arp import ip_to_int
from abng.access.dhcp.codec import FLAG_BROADCAST, DhcpMessage, build_message, parse_message
from abng.access.dhcp.config import DhcpServerConfig, ip
from abng.access.dhcp.events import (
    AddressConflict,
    AuthorizeRequest,
    Declined,
    LeaseAborted,
    LeaseExpired,
    LeaseGranted,
    LeaseReleased,
    LeaseRenewed,
    PoolExhausted,
    Transmit,
)
from abng.access.dhcp.options import MessageType, Opt, RelayAgentInfo, decode_routes, enc_ip
from abng.access.dhcp.pool import Ipv4Pool
from abng.access.dhcp.server import DhcpServer
from abng.access.frames import (
    BROADCAST_MAC,
    ETH_P_IP,
    TPID_8021AD,
    TPID_8021Q,
    VlanTag,
    build_frame,
    build_ipv4_udp,
    parse_frame,
    parse_udp_frame,
    with_tags,
)
from tests.access.test_frames import read_pcap

SERVER_MAC = bytes.fromhex("0a95bc98d0b6")
GW = ip("10.99.0.1")
DNS = ip("10.99.0.53")
IFACE = "eth1.111.500.100"
CLIENT = bytes.fromhex("2ea6413aea23")


def make_server(**kw: object) -> DhcpServer:
    kw.setdefault("contain_errors", False)  # a bug must fail the test, not be contained
    cfg = DhcpServerConfig(
        server_mac=SERVER_MAC,
        gateway=GW,
        hostname="bng1",
        dns=(DNS,),
        default_pool="p",
        **kw,  # type: ignore[arg-type]
    )
    return DhcpServer(cfg, [Ipv4Pool.from_range("p", "10.99.0.100", "10.99.0.150")])


def client_frame(
    mtype: MessageType,
    mac: bytes = CLIENT,
    *,
    xid: int = 0x1234,
    ciaddr: int = 0,
    requested: int | None = None,
    server_id: int | None = None,
    flags: int = 0,
    dst_ip: int = 0xFFFFFFFF,
    extra: tuple[tuple[int, bytes], ...] = (),
    tags: tuple[VlanTag, ...] = (),
) -> bytes:
    opts: list[tuple[int, bytes]] = [(Opt.MESSAGE_TYPE, bytes([mtype]))]
    if requested is not None:
        opts.append((Opt.REQUESTED_IP, enc_ip(requested)))
    if server_id is not None:
        opts.append((Opt.SERVER_ID, enc_ip(server_id)))
    opts.extend(extra)
    payload = build_message(op=1, xid=xid, chaddr=mac, flags=flags, ciaddr=ciaddr, options=opts)
    packet = build_ipv4_udp(ciaddr, dst_ip, 68, 67, payload)
    dst_mac = BROADCAST_MAC if dst_ip == 0xFFFFFFFF else SERVER_MAC
    return build_frame(dst_mac, mac, tags, ETH_P_IP, packet)


def reply(tx: Transmit) -> DhcpMessage:
    """Decode the frame the I/O would send: checks the whole frame, not just the payload."""
    frame = parse_frame(tx.frame())
    assert frame.tags == tx.tags
    pkt = parse_udp_frame(frame, verify_udp_checksum=True)
    assert (pkt.udp.src_port, pkt.udp.dst_port) == (67, 68)
    assert pkt.ip.src == GW
    return parse_message(pkt.udp.payload)


def one(items: list[object], kind: type) -> object:
    assert len(items) == 1, items
    assert isinstance(items[0], kind), items
    return items[0]


def bind(server: DhcpServer, mac: bytes = CLIENT, now: float = 0.0, **auth: object) -> int:
    """DISCOVER -> auth -> OFFER -> REQUEST -> ACK; returns the bound address."""
    server.handle_frame(client_frame(MessageType.DISCOVER, mac), IFACE, now)
    ev = one(server.events(), AuthorizeRequest)
    assert isinstance(ev, AuthorizeRequest)
    assert server.authorized(ev.key, True, now, **auth)  # type: ignore[arg-type]
    offer = reply(one(server.transmits(), Transmit))  # type: ignore[arg-type]
    assert offer.message_type is MessageType.OFFER
    server.handle_frame(
        client_frame(MessageType.REQUEST, mac, requested=offer.yiaddr, server_id=GW), IFACE, now
    )
    ack = reply(one(server.transmits(), Transmit))  # type: ignore[arg-type]
    assert ack.message_type is MessageType.ACK
    assert isinstance(one(server.events(), LeaseGranted), LeaseGranted)
    return ack.yiaddr


@pytest.mark.parametrize("name", ["dhcp-dhclient.pcap", "dhcp-udhcpc.pcap"])
def test_capture_clients_get_offer_and_ack(name: str) -> None:
    server = make_server()
    frames = read_pcap(name)
    server.handle_frame(frames[0], IFACE, 0.0)
    ev = one(server.events(), AuthorizeRequest)
    assert isinstance(ev, AuthorizeRequest)
    assert ev.mac == "2e:a6:41:3a:ea:23"
    assert ev.circuit_id == IFACE and ev.remote_id == "bng1"
    if name == "dhcp-udhcpc.pcap":
        assert ev.hostname == "cpe1" and ev.vendor_class == b"cpe-vendor"
        assert server.counters["option82_malformed"] == 1
    server.authorized(ev.key, True, 0.0, ip="10.99.0.137")
    tx = one(server.transmits(), Transmit)
    assert isinstance(tx, Transmit)
    offer = reply(tx)
    assert offer.message_type is MessageType.OFFER
    assert offer.xid == parse_message(parse_udp_frame(frames[0]).udp.payload).xid
    assert offer.yiaddr == ip("10.99.0.137")
    assert (tx.dst_mac, tx.dst_ip) == (CLIENT, ip("10.99.0.137"))  # broadcast bit clear: unicast
    assert offer.options[Opt.SUBNET_MASK] == enc_ip(0xFFFFFFFF)
    assert offer.ip_option(Opt.ROUTER) == GW and offer.ip_option(Opt.DNS) == DNS
    assert offer.ip_option(Opt.SERVER_ID) == GW
    assert offer.uint_option(Opt.LEASE_TIME) == 3600
    assert offer.uint_option(Opt.RENEWAL_TIME) == 1800 and offer.uint_option(Opt.REBINDING_TIME) == 3150
    assert decode_routes(offer.options[Opt.CLASSLESS_ROUTES]) == [
        (ipaddress.IPv4Network("10.99.0.1/32"), 0),
        (ipaddress.IPv4Network("0.0.0.0/0"), GW),
    ]
    assert Opt.RELAY_AGENT not in offer.options  # malformed option 82 is not echoed
    # the captured REQUEST names dnsmasq's identifier 10.99.0.1 == our gateway
    server.handle_frame(frames[2], IFACE, 1.0)
    ack = reply(one(server.transmits(), Transmit))  # type: ignore[arg-type]
    assert ack.message_type is MessageType.ACK and ack.yiaddr == ip("10.99.0.137")
    granted = one(server.events(), LeaseGranted)
    assert isinstance(granted, LeaseGranted)
    assert (granted.ip, granted.lease_time, granted.pool) == ("10.99.0.137", 3600, "p")
    if name == "dhcp-dhclient.pcap":
        server.handle_frame(frames[4], IFACE, 2.0)  # unicast RELEASE
        assert server.transmits() == []
        rel = one(server.events(), LeaseReleased)
        assert isinstance(rel, LeaseReleased) and rel.reason == "user_request"


def test_bngblaster_option82_keep_and_insert() -> None:
    frames = read_pcap("ipoe-dhcp-opt82-untagged.pcap")
    for policy, circuit in (("keep", "trunk0.100.7 eth 0:1"), ("insert", IFACE), ("replace", IFACE)):
        server = make_server(option82_policy=policy)
        server.handle_frame(frames[0], IFACE, 0.0)
        ev = one(server.events(), AuthorizeRequest)
        assert isinstance(ev, AuthorizeRequest)
        assert ev.circuit_id == circuit
        assert ev.remote_id == ("REMOTE.1" if policy == "keep" else "bng1")
        server.authorized(ev.key, True, 0.0)
        offer = reply(one(server.transmits(), Transmit))  # type: ignore[arg-type]
        echoed = offer.relay_agent
        assert echoed is not None and echoed.circuit_id == b"trunk0.100.7 eth 0:1"  # RFC 3046 echo
        server.handle_frame(frames[4], IFACE, 0.5)  # REQUEST selecting, server id 10.0.0.10
        assert server.transmits() == []  # not our server identifier
        assert server.counters["request_selecting_other"] == 1
        assert len(server.bindings) == 0  # offer withdrawn


def test_tagged_walk_echoes_tags() -> None:
    server = make_server()
    tags = (VlanTag(TPID_8021AD, 111, pcp=3), VlanTag(TPID_8021Q, 500), VlanTag(TPID_8021Q, 100))
    frame = with_tags(read_pcap("dhcp-dhclient.pcap")[0], tags)
    server.handle_frame(frame, IFACE, 0.0)
    ev = one(server.events(), AuthorizeRequest)
    assert isinstance(ev, AuthorizeRequest) and ev.tags == tags
    server.authorized(ev.key, True, 0.0)
    tx = one(server.transmits(), Transmit)
    assert isinstance(tx, Transmit) and tx.tags == tags
    assert parse_frame(tx.frame()).tags == tags


def test_renew_rebind_and_expiry() -> None:
    server = make_server()
    addr = bind(server, now=0.0)
    assert server.get_timer() == 3600.0
    # RENEWING: unicast, ciaddr set -> unicast ACK to ciaddr
    server.handle_frame(client_frame(MessageType.REQUEST, ciaddr=addr, dst_ip=GW), IFACE, 1800.0)
    tx = one(server.transmits(), Transmit)
    assert isinstance(tx, Transmit) and (tx.dst_ip, tx.dst_mac) == (addr, CLIENT)
    ack = reply(tx)
    assert ack.message_type is MessageType.ACK and ack.ciaddr == addr and ack.yiaddr == addr
    ren = one(server.events(), LeaseRenewed)
    assert isinstance(ren, LeaseRenewed) and ren.expires_at == 5400.0
    # REBINDING: broadcast
    server.handle_frame(client_frame(MessageType.REQUEST, ciaddr=addr), IFACE, 3000.0)
    assert reply(one(server.transmits(), Transmit)).message_type is MessageType.ACK  # type: ignore[arg-type]
    assert server.counters["request_rebinding"] == 1
    assert server.events() == [LeaseRenewed("2e:a6:41:3a:ea:23", "10.99.0.100", 3600, IFACE, 6600.0)]
    assert server.get_timer() == 6600.0
    server.handle_timer(6599.0)
    assert server.events() == [] and server.leases() != []
    server.handle_timer(6600.0)
    exp = one(server.events(), LeaseExpired)
    assert isinstance(exp, LeaseExpired) and exp.reason == "lease_expired" and exp.ip == "10.99.0.100"
    assert server.leases() == [] and server.get_timer() is None
    assert bind(server, now=7000.0) == addr  # sticky


def test_nak_for_wrong_address_and_init_reboot() -> None:
    server = make_server()
    addr = bind(server)
    server.handle_frame(client_frame(MessageType.REQUEST, requested=addr + 1), IFACE, 10.0)  # INIT-REBOOT
    tx = one(server.transmits(), Transmit)
    assert isinstance(tx, Transmit)
    assert (tx.dst_mac, tx.dst_ip) == (BROADCAST_MAC, 0xFFFFFFFF)
    nak = reply(tx)
    assert nak.message_type is MessageType.NAK and nak.yiaddr == 0
    assert Opt.LEASE_TIME not in nak.options
    server.handle_frame(client_frame(MessageType.REQUEST, requested=addr), IFACE, 11.0)
    assert reply(one(server.transmits(), Transmit)).message_type is MessageType.ACK  # type: ignore[arg-type]
    server.handle_frame(client_frame(MessageType.REQUEST, ciaddr=addr + 5, dst_ip=GW), IFACE, 12.0)
    assert reply(one(server.transmits(), Transmit)).message_type is MessageType.NAK  # type: ignore[arg-type]
    # unknown client in INIT-REBOOT: silent (RFC 2131 §4.3.2)
    other = bytes.fromhex("020000000099")
    server.handle_frame(client_frame(MessageType.REQUEST, other, requested=addr), IFACE, 13.0)
    assert server.transmits() == [] and server.counters["request_unknown_client"] == 1
    # SELECTING with our id but no offer: NAK
    server.handle_frame(client_frame(MessageType.REQUEST, other, requested=addr, server_id=GW), IFACE, 14.0)
    assert reply(one(server.transmits(), Transmit)).message_type is MessageType.NAK  # type: ignore[arg-type]


def test_decline_holds_address() -> None:
    server = make_server(decline_hold=100.0)
    addr = bind(server)
    server.handle_frame(client_frame(MessageType.DECLINE, requested=addr, server_id=GW), IFACE, 5.0)
    dec = one(server.events(), Declined)
    assert isinstance(dec, Declined) and dec.had_lease and dec.ip == "10.99.0.100"
    assert server.transmits() == []
    assert bind(server, now=6.0) != addr  # picks another
    # RADIUS insisting on the held address: refused
    mac2 = bytes.fromhex("020000000002")
    server.handle_frame(client_frame(MessageType.DISCOVER, mac2), IFACE, 7.0)
    ev = one(server.events(), AuthorizeRequest)
    assert isinstance(ev, AuthorizeRequest)
    assert not server.authorized(ev.key, True, 7.0, ip=addr)
    assert isinstance(one(server.events(), AddressConflict), AddressConflict)
    server.handle_timer(105.0)
    assert server.pools["p"].is_free(addr)


def test_release_and_inform() -> None:
    server = make_server()
    addr = bind(server)
    server.handle_frame(
        client_frame(MessageType.RELEASE, ciaddr=addr + 1, server_id=GW, dst_ip=GW), IFACE, 1.0
    )
    assert server.events() == [] and server.counters["drop_release_unknown"] == 1
    server.handle_frame(client_frame(MessageType.RELEASE, ciaddr=addr, server_id=GW, dst_ip=GW), IFACE, 2.0)
    rel = one(server.events(), LeaseReleased)
    assert isinstance(rel, LeaseReleased) and rel.ip == "10.99.0.100"
    assert server.pools["p"].is_free(addr) and server.get_timer() is None
    server.handle_frame(client_frame(MessageType.INFORM, ciaddr=ip("192.0.2.7"), dst_ip=GW), IFACE, 3.0)
    tx = one(server.transmits(), Transmit)
    assert isinstance(tx, Transmit) and tx.dst_ip == ip("192.0.2.7")
    ack = reply(tx)
    assert ack.message_type is MessageType.ACK and ack.yiaddr == 0
    assert Opt.LEASE_TIME not in ack.options and ack.ip_option(Opt.ROUTER) == GW
    assert server.events() == []


def test_broadcast_flag_reply_is_broadcast() -> None:
    server = make_server()
    server.handle_frame(client_frame(MessageType.DISCOVER, flags=FLAG_BROADCAST), IFACE, 0.0)
    ev = one(server.events(), AuthorizeRequest)
    assert isinstance(ev, AuthorizeRequest)
    server.authorized(ev.key, True, 0.0)
    tx = one(server.transmits(), Transmit)
    assert isinstance(tx, Transmit) and (tx.dst_mac, tx.dst_ip) == (BROADCAST_MAC, 0xFFFFFFFF)
    assert reply(tx).broadcast


def test_pending_auth_retransmits_and_offer_retransmit() -> None:
    server = make_server()
    server.handle_frame(client_frame(MessageType.DISCOVER, xid=1), IFACE, 0.0)
    ev = one(server.events(), AuthorizeRequest)
    assert isinstance(ev, AuthorizeRequest)
    for i in range(3):
        server.handle_frame(client_frame(MessageType.DISCOVER, xid=2 + i), IFACE, 1.0 + i)
    assert server.events() == [] and server.counters["discover_auth_pending"] == 3
    server.authorized(ev.key, True, 4.0)
    assert reply(one(server.transmits(), Transmit)).xid == 4  # type: ignore[arg-type]
    assert not server.authorized(ev.key, True, 4.0)  # twice: stale
    server.handle_frame(client_frame(MessageType.DISCOVER, xid=9), IFACE, 5.0)
    assert server.events() == []  # offered already: no second auth
    assert reply(one(server.transmits(), Transmit)).xid == 9  # type: ignore[arg-type]
    # offer not taken: expires and frees the address
    server.handle_timer(5.0 + 60.0)
    assert len(server.bindings) == 0 and server.counters["offer_expired"] == 1


def test_auth_reject_and_timeout() -> None:
    server = make_server(auth_timeout=10.0)
    server.handle_frame(client_frame(MessageType.DISCOVER), IFACE, 0.0)
    ev = one(server.events(), AuthorizeRequest)
    assert isinstance(ev, AuthorizeRequest)
    assert not server.authorized(ev.key, False, 1.0)
    assert server.transmits() == [] and server.pending_auth_count == 0
    server.handle_frame(client_frame(MessageType.DISCOVER), IFACE, 2.0)
    ev2 = one(server.events(), AuthorizeRequest)
    assert isinstance(ev2, AuthorizeRequest) and ev2.key != ev.key
    assert server.get_timer() == 12.0
    server.handle_timer(12.0)
    assert server.pending_auth_count == 0 and server.counters["auth_timeout"] == 1
    assert not server.authorized(ev2.key, True, 13.0)


def test_framed_ip_duplicate_refused() -> None:
    server = make_server()
    bind(server, ip="100.64.0.11")
    mac2 = bytes.fromhex("020000000002")
    server.handle_frame(client_frame(MessageType.DISCOVER, mac2), IFACE, 1.0)
    ev = one(server.events(), AuthorizeRequest)
    assert isinstance(ev, AuthorizeRequest)
    assert not server.authorized(ev.key, True, 1.0, ip="100.64.0.11")
    conflict = one(server.events(), AddressConflict)
    assert isinstance(conflict, AddressConflict) and conflict.holder_mac == "2e:a6:41:3a:ea:23"
    assert server.transmits() == []
    # a Framed-IP inside the pool is reserved so that the pool never hands it out
    server.handle_frame(client_frame(MessageType.DISCOVER, mac2), IFACE, 2.0)
    ev = one(server.events(), AuthorizeRequest)
    assert isinstance(ev, AuthorizeRequest)
    assert server.authorized(ev.key, True, 2.0, ip="10.99.0.100")
    assert not server.pools["p"].is_free(ip("10.99.0.100"))


def test_pool_exhaustion() -> None:
    cfg = DhcpServerConfig(server_mac=SERVER_MAC, gateway=GW, default_pool="tiny")
    server = DhcpServer(cfg, [Ipv4Pool.from_network("tiny", "10.1.0.0/30", gateway="10.1.0.1")])
    assert server.pools["tiny"].size == 1
    bind(server, CLIENT)
    mac2 = bytes.fromhex("020000000002")
    server.handle_frame(client_frame(MessageType.DISCOVER, mac2), IFACE, 1.0)
    ev = one(server.events(), AuthorizeRequest)
    assert isinstance(ev, AuthorizeRequest)
    assert not server.authorized(ev.key, True, 1.0)
    ex = one(server.events(), PoolExhausted)
    assert isinstance(ex, PoolExhausted) and ex.pool == "tiny"
    assert server.transmits() == [] and server.counters["pool_exhausted"] == 1


def test_flood_protection() -> None:
    server = make_server(discover_burst=2, discover_rate=0.1, max_pending_auth=3)
    for i in range(5):
        server.handle_frame(client_frame(MessageType.DISCOVER, bytes([2, 0, 0, 0, 1, i])), IFACE, 0.0)
    assert server.pending_auth_count == 3 and server.counters["drop_pending_full"] == 2
    server = make_server(discover_burst=2, discover_rate=0.1)
    for _ in range(5):
        server.handle_frame(client_frame(MessageType.DISCOVER), IFACE, 0.0)
        for ev in server.events():
            assert isinstance(ev, AuthorizeRequest)
            server.authorized(ev.key, False, 0.0)
    assert server.counters["auth_requested"] == 2 and server.counters["drop_discover_rate"] == 3


def test_chaddr_mismatch_and_garbage_dropped() -> None:
    server = make_server()
    frame = bytearray(client_frame(MessageType.DISCOVER))
    frame[6:12] = bytes(6)
    server.handle_frame(bytes(frame), IFACE, 0.0)
    assert server.counters["drop_chaddr_mismatch"] == 1
    server.handle_frame(b"\x00" * 10, IFACE, 0.0)
    assert server.counters["drop_eth_short"] == 1
    assert server.events() == [] and server.transmits() == []


def test_restore_and_remove_lease() -> None:
    server = make_server()
    assert server.restore_lease("2e:a6:41:3a:ea:23", "10.99.0.120", IFACE, 500.0, 100.0, lease_time=3600)
    assert not server.pools["p"].is_free(ip("10.99.0.120"))
    assert not server.restore_lease("02:00:00:00:00:09", "10.99.0.120", IFACE, 500.0, 100.0)
    assert not server.restore_lease("02:00:00:00:00:09", "10.99.0.121", IFACE, 50.0, 100.0)
    server.handle_frame(client_frame(MessageType.REQUEST, ciaddr=ip("10.99.0.120"), dst_ip=GW), IFACE, 200.0)
    assert reply(one(server.transmits(), Transmit)).message_type is MessageType.ACK  # type: ignore[arg-type]
    assert isinstance(one(server.events(), LeaseRenewed), LeaseRenewed)
    assert server.remove_lease("2e:a6:41:3a:ea:23", IFACE)
    assert server.pools["p"].is_free(ip("10.99.0.120")) and server.events() == []


def test_unknown_pool_is_caller_bug() -> None:
    server = make_server()
    server.handle_frame(client_frame(MessageType.DISCOVER), IFACE, 0.0)
    ev = one(server.events(), AuthorizeRequest)
    assert isinstance(ev, AuthorizeRequest)
    with pytest.raises(ValueError):
        server.authorized(ev.key, True, 0.0, pool="nope")


def test_relay_agent_replace_keeps_other_suboptions() -> None:
    server = make_server(option82_policy="replace")
    ra = RelayAgentInfo(((1, b"x"), (2, b"y"), (9, b"vendor")))
    server.handle_frame(
        client_frame(MessageType.DISCOVER, extra=((Opt.RELAY_AGENT, ra.encode()),)), IFACE, 0.0
    )
    ev = one(server.events(), AuthorizeRequest)
    assert isinstance(ev, AuthorizeRequest)
    assert ev.relay_agent.suboptions == ((1, IFACE.encode()), (2, b"bng1"), (9, b"vendor"))
    assert ip_to_int("10.99.0.1") == GW


def test_truncated_capture_frames_only_counted_drops() -> None:
    server = make_server()
    for name in ("dhcp-dhclient.pcap", "dhcp-udhcpc.pcap", "ipoe-dhcp-opt82-untagged.pcap"):
        for raw in read_pcap(name):
            for cut in range(len(raw)):
                server.handle_frame(raw[:cut], IFACE, 0.0)
    assert server.events() == [] and server.transmits() == []
    assert sum(v for k, v in server.counters.items() if k.startswith("drop_")) > 5000


class FaultyPool(Ipv4Pool):
    """Fault injection: releasing ``bad`` raises, as a bug deep in the lease path would."""

    bad = ip("10.99.0.100")

    def release(self, addr: int) -> None:
        if addr == self.bad:
            raise RuntimeError("injected fault")
        super().release(addr)


def test_bug_is_contained_to_one_client() -> None:
    cfg = DhcpServerConfig(server_mac=SERVER_MAC, gateway=GW, default_pool="p")
    server = DhcpServer(cfg, [FaultyPool.from_range("p", "10.99.0.100", "10.99.0.150")])
    addr = bind(server, CLIENT)
    mac2 = bytes.fromhex("020000000002")
    addr2 = bind(server, mac2)
    server.handle_frame(client_frame(MessageType.RELEASE, ciaddr=addr, server_id=GW, dst_ip=GW), IFACE, 5.0)
    aborted = one(server.events(), LeaseAborted)
    assert isinstance(aborted, LeaseAborted)
    assert aborted.had_lease and aborted.reason == "nas_error" and "injected fault" in aborted.error
    assert server.transmits() == []
    assert server.counters["internal_error"] == 1 and server.bindings.get((IFACE, CLIENT)) is None
    # everyone else carries on
    server.handle_frame(client_frame(MessageType.REQUEST, mac2, ciaddr=addr2, dst_ip=GW), IFACE, 6.0)
    assert reply(one(server.transmits(), Transmit)).message_type is MessageType.ACK  # type: ignore[arg-type]
    strict = DhcpServer(
        dataclasses.replace(cfg, contain_errors=False),
        [FaultyPool.from_range("p", "10.99.0.100", "10.99.0.150")],
    )
    addr = bind(strict, CLIENT)
    with pytest.raises(RuntimeError):
        strict.handle_frame(
            client_frame(MessageType.RELEASE, ciaddr=addr, server_id=GW, dst_ip=GW), IFACE, 5.0
        )


def test_nak_rate_limited_per_mac() -> None:
    server = make_server(discover_burst=3, discover_rate=0.01)
    for _ in range(10):
        server.handle_frame(
            client_frame(MessageType.REQUEST, requested=ip("10.99.0.120"), server_id=GW), IFACE, 0.0
        )
    assert len(server.transmits()) == 3 and server.counters["drop_nak_rate"] == 7


def test_limit_lease_caps_every_ack_at_the_session_timeout() -> None:
    """Review gap 1: no lease is granted past ``not_after`` (the session's Session-Timeout)."""
    server = make_server()  # lease_time 3600
    server.handle_frame(client_frame(MessageType.DISCOVER), IFACE, 0.0)
    ev = one(server.events(), AuthorizeRequest)
    assert isinstance(ev, AuthorizeRequest) and server.authorized(ev.key, True, 0.0)
    assert server.limit_lease(CLIENT, IFACE, 1000.0)
    assert not server.limit_lease(bytes(6), IFACE, 1000.0)  # unknown client
    offer = reply(one(server.transmits(), Transmit))  # type: ignore[arg-type]
    server.handle_frame(client_frame(MessageType.REQUEST, requested=offer.yiaddr, server_id=GW), IFACE, 0.0)
    ack = reply(one(server.transmits(), Transmit))  # type: ignore[arg-type]
    assert int.from_bytes(ack.options[Opt.LEASE_TIME], "big") == 1000
    granted = one(server.events(), LeaseGranted)
    assert isinstance(granted, LeaseGranted) and granted.lease_time == 1000 and granted.expires_at == 1000.0
    server.handle_frame(client_frame(MessageType.REQUEST, ciaddr=ack.yiaddr, dst_ip=GW), IFACE, 600.0)
    renew = reply(one(server.transmits(), Transmit))  # type: ignore[arg-type]
    assert int.from_bytes(renew.options[Opt.LEASE_TIME], "big") == 400
    assert server.events() == [LeaseRenewed("2e:a6:41:3a:ea:23", "10.99.0.100", 400, IFACE, 1000.0)]
    assert server.get_timer() == 1000.0
