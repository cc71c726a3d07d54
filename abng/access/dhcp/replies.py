"""Building OFFER/ACK/NAK and addressing them (RFC 2131 §4.1, §4.3; RFC 3046; RFC 3442)."""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

from abng.access.dhcp.codec import BOOTREPLY, FLAG_BROADCAST, DhcpMessage, build_message
from abng.access.dhcp.config import DhcpServerConfig
from abng.access.dhcp.events import DHCP_CLIENT_PORT, DHCP_SERVER_PORT, Transmit
from abng.access.dhcp.options import (
    MessageType,
    Opt,
    enc_ip,
    enc_u8,
    enc_u32,
    encode_routes,
)
from abng.access.frames import BROADCAST_MAC, VlanTag

ALL_ONES = 0xFFFFFFFF
HOST_MASK = enc_ip(ALL_ONES)


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Where a request came from: enough to address the reply."""

    access_interface: str
    tags: tuple[VlanTag, ...]
    src_mac: bytes
    dst_ip: int  # the request's IPv4 destination: broadcast (REBINDING) or us (RENEWING)
    raw_relay_agent: bytes | None  # a valid option 82 as received, echoed per RFC 3046 §2.2


def lease_options(config: DhcpServerConfig, lease_time: int) -> list[tuple[int, bytes]]:
    return [
        (Opt.LEASE_TIME, enc_u32(lease_time)),
        (Opt.RENEWAL_TIME, enc_u32(int(lease_time * config.t1_ratio))),
        (Opt.REBINDING_TIME, enc_u32(int(lease_time * config.t2_ratio))),
    ]


@functools.lru_cache(maxsize=16)
def config_options(config: DhcpServerConfig) -> tuple[tuple[int, bytes], ...]:
    """Subnet mask /32, router, DNS, domain, and option 121 so /32 clients get a usable default route."""
    opts: list[tuple[int, bytes]] = [(Opt.SUBNET_MASK, HOST_MASK), (Opt.ROUTER, enc_ip(config.gateway))]
    if config.dns:
        opts.append((Opt.DNS, enc_ip(*config.dns)))
    if config.domain_name:
        opts.append((Opt.DOMAIN_NAME, config.domain_name.encode()))
    if config.classless_routes:
        gw_net = ipaddress.IPv4Network((config.gateway, 32))
        default = ipaddress.IPv4Network("0.0.0.0/0")
        opts.append((Opt.CLASSLESS_ROUTES, encode_routes([(gw_net, 0), (default, config.gateway)])))
    opts.extend(config.extra_options)
    return tuple(opts)


def make_reply(
    config: DhcpServerConfig,
    request: DhcpMessage,
    ctx: RequestContext,
    mtype: MessageType,
    yiaddr: int = 0,
    lease_time: int | None = None,
    message: str | None = None,
) -> Transmit:
    opts: list[tuple[int, bytes]] = [
        (Opt.MESSAGE_TYPE, enc_u8(mtype)),
        (Opt.SERVER_ID, enc_ip(config.identifier)),
    ]
    if mtype is MessageType.NAK:
        if message:
            opts.append((Opt.MESSAGE, message.encode()))
    else:
        if lease_time is not None:
            opts.extend(lease_options(config, lease_time))
        opts.extend(config_options(config))
    if config.echo_option82 and ctx.raw_relay_agent is not None:
        opts.append((Opt.RELAY_AGENT, ctx.raw_relay_agent))  # last, as the relay agent appended it
    ciaddr = request.ciaddr if mtype is MessageType.ACK else 0
    flags = request.flags
    if request.giaddr and mtype is MessageType.NAK:
        flags |= FLAG_BROADCAST  # RFC 2131 §4.3.2: so that the relay agent broadcasts it
    payload = build_message(
        op=BOOTREPLY,
        xid=request.xid,
        chaddr=request.chaddr,
        htype=request.htype,
        flags=flags,
        ciaddr=ciaddr,
        yiaddr=yiaddr,
        giaddr=request.giaddr,
        options=opts,
    )
    if request.giaddr:  # RFC 2131 §4.1: relayed -> the relay agent's server port, at its MAC
        dst_mac, dst_ip, dst_port = ctx.src_mac, request.giaddr, DHCP_SERVER_PORT
    else:
        (dst_mac, dst_ip), dst_port = address_reply(request, mtype, yiaddr), DHCP_CLIENT_PORT
    return Transmit(
        ctx.access_interface, ctx.tags, dst_mac, config.server_mac, dst_ip, config.identifier, payload, mtype,
        dst_port,
    )  # fmt: skip


def address_reply(request: DhcpMessage, mtype: MessageType, yiaddr: int) -> tuple[bytes, int]:
    """RFC 2131 §4.1 with giaddr = 0 (we are the first hop; relayed replies: ``make_reply``):
    NAK -> broadcast; ciaddr set -> unicast to ciaddr; broadcast bit -> broadcast;
    otherwise unicast to yiaddr at chaddr (a raw frame needs no ARP entry)."""
    if mtype is MessageType.NAK:
        return BROADCAST_MAC, ALL_ONES
    if request.ciaddr:
        return request.chaddr, request.ciaddr
    if request.broadcast or not yiaddr:
        return BROADCAST_MAC, ALL_ONES
    return request.chaddr, yiaddr
