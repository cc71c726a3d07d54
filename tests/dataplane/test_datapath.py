"""Datapath core (sans-I/O): IPoE/PPPoE encap and decap, anti-spoofing, ARP, counters, garbage."""

from __future__ import annotations

import random

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether
from scapy.layers.ppp import PPP, PPPoE
from scapy.packet import Raw

from abng.access.frames import TPID_8021AD, TPID_8021Q, DecodeError, VlanTag, parse_frame
from abng.dataplane.datapath import (
    NOT_MINE,
    Datapath,
    Dropped,
    Kind,
    SubscriberPath,
    ToTrunk,
    ToTun,
    ipv4_trim,
    pppoe_session_decap,
    pppoe_session_encap,
    walk_tags,
)

TRUNK = bytes.fromhex("020000000001")
CLI = bytes.fromhex("02000000000a")
CLI_S = "02:00:00:00:00:0a"
QINQ = (VlanTag(TPID_8021AD, 200), VlanTag(TPID_8021Q, 20))


def dp() -> Datapath:
    d = Datapath(TRUNK, ["100.64.0.1"])
    d.add_subscriber("100.64.0.10", SubscriberPath(QINQ, CLI, access_interface="eth1.200.20"))
    d.add_subscriber("100.64.0.30", SubscriberPath(QINQ, CLI, Kind.PPPOE, session_id=0x1234))
    return d


def qinq_eth(src: str = CLI_S) -> Ether:
    return Ether(src=src, dst="02:00:00:00:00:01") / Dot1AD(vlan=200) / Dot1Q(vlan=20)


def echo(src: str, dst: str) -> bytes:
    return bytes(IP(src=src, dst=dst) / ICMP(id=7, seq=1) / Raw(b"abc"))


def test_pppoe_encap_matches_scapy_and_round_trips() -> None:
    packet = echo("192.0.2.2", "100.64.0.30")
    body = pppoe_session_encap(0x1234, packet)
    assert body == bytes(PPPoE(sessionid=0x1234) / PPP(proto=0x21) / Raw(packet))
    assert pppoe_session_decap(body + b"\x00" * 10) == (0x1234, 0x21, packet)  # padding dropped
    with pytest.raises(DecodeError):
        pppoe_session_decap(body[:-1])
    with pytest.raises(DecodeError):
        pppoe_session_decap(b"\x12" + body[1:])


def test_ipoe_in_and_out_keep_the_tag_stack() -> None:
    d = dp()
    packet = echo("100.64.0.10", "192.0.2.2")
    frame = bytes(qinq_eth() / IP(packet)) + b"\x00" * 6  # Ethernet padding
    assert d.handle_frame(frame) == ToTun(packet)
    reply = echo("192.0.2.2", "100.64.0.10")
    out = d.from_tun(reply)
    assert isinstance(out, ToTrunk)
    assert out.frame == bytes(
        Ether(src="02:00:00:00:00:01", dst=CLI_S) / Dot1AD(vlan=200) / Dot1Q(vlan=20) / IP(reply)
    )
    c = d.counters("100.64.0.10")
    assert c is not None and (c.in_packets, c.in_bytes, c.out_packets, c.out_bytes) == (
        1,
        len(packet),
        1,
        len(reply),
    )


def test_pppoe_in_and_out() -> None:
    d = dp()
    packet = echo("100.64.0.30", "192.0.2.2")
    frame = bytes(qinq_eth() / PPPoE(sessionid=0x1234) / PPP(proto=0x21) / Raw(packet))
    assert d.handle_frame(frame) == ToTun(packet)
    lcp = bytes(qinq_eth() / PPPoE(sessionid=0x1234) / PPP(proto=0xC021) / Raw(b"\x09\x01\x00\x08abcd"))
    assert d.handle_frame(lcp) is NOT_MINE
    other_session = bytes(qinq_eth() / PPPoE(sessionid=0x9999) / PPP(proto=0x21) / Raw(packet))
    assert d.handle_frame(other_session) is NOT_MINE
    out = d.from_tun(echo("192.0.2.2", "100.64.0.30"))
    assert isinstance(out, ToTrunk)
    parsed = Ether(out.frame)
    assert parsed[PPPoE].sessionid == 0x1234 and parsed[PPP].proto == 0x21
    assert parsed[Dot1AD].vlan == 200 and parsed[Dot1Q].vlan == 20 and parsed[ICMP].type == 8
    assert d.from_pppoe("100.64.0.30", packet) == ToTun(packet)
    assert d.from_pppoe("100.64.0.30", echo("100.64.0.31", "192.0.2.2")) == Dropped("spoofed_source")


def test_spoofing_unknown_and_dhcp() -> None:
    d = dp()
    wrong_mac = bytes(qinq_eth("02:00:00:00:00:0b") / IP(echo("100.64.0.10", "192.0.2.2")))
    assert d.handle_frame(wrong_mac) == Dropped("spoofed_source")
    wrong_vlan = bytes(
        Ether(src=CLI_S) / Dot1AD(vlan=200) / Dot1Q(vlan=21) / IP(echo("100.64.0.10", "192.0.2.2"))
    )
    assert d.handle_frame(wrong_vlan) == Dropped("spoofed_source")
    assert d.handle_frame(bytes(qinq_eth() / IP(echo("100.64.0.99", "192.0.2.2")))) == Dropped(
        "unknown_source"
    )
    discover = bytes(qinq_eth() / IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=68, dport=67))
    assert d.handle_frame(discover) is NOT_MINE
    assert d.from_tun(echo("192.0.2.2", "100.64.0.99")) == Dropped("no_subscriber")
    assert d.drops == {"spoofed_source": 2, "unknown_source": 1, "no_subscriber": 1}


def arp_req(sender_ip: str, target_ip: str, src: str = CLI_S) -> bytes:
    return bytes(
        Ether(src=src, dst="ff:ff:ff:ff:ff:ff")
        / Dot1AD(vlan=200)
        / Dot1Q(vlan=20)
        / ARP(op=1, hwsrc=src, psrc=sender_ip, pdst=target_ip)
    )


def test_arp_gateway_proxy_and_probes() -> None:
    d = dp()
    out = d.handle_frame(arp_req("100.64.0.10", "100.64.0.1"))
    assert isinstance(out, ToTrunk)
    reply = Ether(out.frame)
    assert reply[ARP].op == 2 and reply[ARP].hwsrc == "02:00:00:00:00:01" and reply[ARP].psrc == "100.64.0.1"
    assert reply.dst == CLI_S and reply[Dot1AD].vlan == 200 and reply[Dot1Q].vlan == 20
    # proxy ARP: a known subscriber asking for anyone else
    proxied = d.handle_frame(arp_req("100.64.0.10", "8.8.8.8"))
    assert isinstance(proxied, ToTrunk) and Ether(proxied.frame)[ARP].psrc == "8.8.8.8"
    # unknown sender: only the gateway is answered
    assert d.handle_frame(arp_req("100.64.0.77", "8.8.8.8", "02:00:00:00:00:0c")) == Dropped(
        "arp_not_answered"
    )
    assert isinstance(d.handle_frame(arp_req("100.64.0.77", "100.64.0.1", "02:00:00:00:00:0c")), ToTrunk)
    # a DHCP client's probe of its own address must stay unanswered
    assert d.handle_frame(arp_req("0.0.0.0", "100.64.0.10")) == Dropped("arp_not_answered")
    # a subscriber asking for its own address (conflict check) is not answered either
    assert d.handle_frame(arp_req("100.64.0.10", "100.64.0.10")) == Dropped("arp_not_answered")


def test_remove_and_replace_subscriber() -> None:
    d = dp()
    d.handle_frame(
        bytes(qinq_eth() / PPPoE(sessionid=0x1234) / PPP(proto=0x21) / Raw(echo("100.64.0.30", "1.1.1.1")))
    )
    final = d.remove_subscriber("100.64.0.30")
    assert final is not None and final.in_packets == 1
    assert d.remove_subscriber("100.64.0.30") is None
    frame = bytes(
        qinq_eth() / PPPoE(sessionid=0x1234) / PPP(proto=0x21) / Raw(echo("100.64.0.30", "1.1.1.1"))
    )
    assert d.handle_frame(frame) is NOT_MINE  # session gone: the PPPoE layer answers
    d.add_subscriber("100.64.0.10", SubscriberPath((), CLI))  # moved to untagged: old tags no longer pass
    assert d.handle_frame(bytes(qinq_eth() / IP(echo("100.64.0.10", "1.1.1.1")))) == Dropped("spoofed_source")
    assert len(d) == 1


def test_ipv4_trim_rejects_bad_lengths() -> None:
    p = echo("1.1.1.1", "2.2.2.2")
    assert ipv4_trim(p + b"\x00\x00") == p
    for bad in (p[:19], b"\x60" + p[1:], p[:-1]):
        with pytest.raises(DecodeError):
            ipv4_trim(bad)


def test_truncation_and_mutation_only_give_verdicts() -> None:
    d = dp()
    seeds = [
        bytes(qinq_eth() / IP(echo("100.64.0.10", "192.0.2.2"))),
        bytes(qinq_eth() / PPPoE(sessionid=0x1234) / PPP(proto=0x21) / Raw(echo("100.64.0.30", "1.1.1.1"))),
        arp_req("100.64.0.10", "100.64.0.1"),
    ]
    rng = random.Random(4)
    for seed in seeds:
        for cut in range(len(seed)):
            d.handle_frame(seed[:cut])
        for _ in range(2000):
            mutated = bytearray(seed)
            for _ in range(rng.randint(1, 4)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            verdict = d.handle_frame(bytes(mutated))
            assert isinstance(verdict, ToTun | ToTrunk | Dropped) or verdict is NOT_MINE
        for cut in range(30):
            d.from_tun(echo("1.1.1.1", "100.64.0.10")[:cut])


def test_walk_tags_agrees_with_the_frames_codec() -> None:
    rng = random.Random(11)
    seeds = [
        bytes(qinq_eth() / IP(echo("100.64.0.10", "192.0.2.2"))),
        bytes(Ether() / Dot1Q(vlan=5) / Dot1Q(vlan=6) / Dot1Q(vlan=7) / Dot1Q(vlan=8) / Raw(b"x" * 40)),
        b"\x00" * 12 + b"\x81\x00" * 30,
    ]
    for seed in seeds:
        for _ in range(3000):
            frame = bytearray(seed[: rng.randint(0, len(seed))])
            for _ in range(rng.randint(0, 3)):
                if frame:
                    frame[rng.randrange(len(frame))] = rng.choice(
                        [0x81, 0x00, 0x88, 0xA8, 0x91, rng.randrange(256)]
                    )
            try:
                eth = parse_frame(bytes(frame))
            except DecodeError as exc:
                with pytest.raises(DecodeError) as caught:
                    walk_tags(bytes(frame))
                assert caught.value.reason == exc.reason
                continue
            src, vids, ethertype, offset = walk_tags(bytes(frame))
            assert (src, vids, ethertype, bytes(frame[offset:])) == (
                eth.src,
                eth.vids,
                eth.ethertype,
                eth.payload,
            )
