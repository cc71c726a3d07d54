"""RFC 2131 §4.1/§4.3.2: a request relayed by a relay agent (giaddr set) is answered to the relay
agent's server port (67) at giaddr, through the MAC it came from; a relayed DHCPNAK carries the
broadcast bit so the relay broadcasts it."""

from __future__ import annotations

from abng.access.arp import ip_to_int
from abng.access.dhcp.codec import FLAG_BROADCAST, build_message, parse_message
from abng.access.dhcp.events import AuthorizeRequest, Transmit
from abng.access.dhcp.options import MessageType, Opt, enc_ip
from abng.access.frames import ETH_P_IP, build_frame, build_ipv4_udp, parse_frame, parse_udp_frame
from tests.access.test_dhcp_server import GW, IFACE, SERVER_MAC, make_server, one

RELAY_MAC = bytes.fromhex("02aabbccdd01")
RELAY_IP = ip_to_int("192.0.2.9")
CLIENT = bytes.fromhex("02000000c0fe")


def relayed(mtype: MessageType, *, requested: int | None = None, server_id: int | None = None) -> bytes:
    opts = [(Opt.MESSAGE_TYPE, bytes([mtype]))]
    if requested is not None:
        opts.append((Opt.REQUESTED_IP, enc_ip(requested)))
    if server_id is not None:
        opts.append((Opt.SERVER_ID, enc_ip(server_id)))
    payload = build_message(op=1, xid=0x77, chaddr=CLIENT, giaddr=RELAY_IP, options=opts)
    return build_frame(SERVER_MAC, RELAY_MAC, (), ETH_P_IP, build_ipv4_udp(RELAY_IP, GW, 67, 67, payload))


def sent(tx: Transmit) -> tuple[bytes, int, int, int]:
    pkt = parse_udp_frame(parse_frame(tx.frame()), verify_udp_checksum=True)
    return parse_frame(tx.frame()).dst, pkt.ip.dst, pkt.udp.dst_port, parse_message(pkt.udp.payload).flags


def test_relayed_offer_ack_and_nak_go_to_the_relay_agent() -> None:
    server = make_server()
    server.handle_frame(relayed(MessageType.DISCOVER), IFACE, 0.0)
    ev = one(server.events(), AuthorizeRequest)
    assert isinstance(ev, AuthorizeRequest)
    server.authorized(ev.key, True, 0.0)
    offer = one(server.transmits(), Transmit)
    assert isinstance(offer, Transmit)
    assert sent(offer)[:3] == (RELAY_MAC, RELAY_IP, 67)
    yiaddr = parse_message(parse_udp_frame(parse_frame(offer.frame())).udp.payload).yiaddr
    server.handle_frame(relayed(MessageType.REQUEST, requested=yiaddr, server_id=GW), IFACE, 1.0)
    ack = one(server.transmits(), Transmit)
    assert isinstance(ack, Transmit) and ack.message_type is MessageType.ACK
    assert sent(ack)[:3] == (RELAY_MAC, RELAY_IP, 67)
    server.handle_frame(relayed(MessageType.REQUEST, requested=yiaddr + 1), IFACE, 2.0)  # INIT-REBOOT, wrong
    nak = one(server.transmits(), Transmit)
    assert isinstance(nak, Transmit) and nak.message_type is MessageType.NAK
    dst_mac, dst_ip, port, flags = sent(nak)
    assert (dst_mac, dst_ip, port) == (RELAY_MAC, RELAY_IP, 67) and flags & FLAG_BROADCAST
