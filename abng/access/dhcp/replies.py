"""Building OFFER/ACK/NAK and addressing them (RFC 2131 §4.1, §4.3; RFC 3046; RFC 3442)."""

from __future__ import annotations

import functools
import ipaddress
import struct
from dataclasses import dataclass

from abng.access.dhcp.builders import frozen_builder
from abng.access.dhcp.codec import (
    BOOTREPLY,
    FLAG_BROADCAST,
    MAGIC_COOKIE,
    MIN_REPLY_SIZE,
    DhcpMessage,
    encode_options,
)
from abng.access.dhcp.config import DhcpServerConfig
from abng.access.dhcp.events import DHCP_CLIENT_PORT, DHCP_SERVER_PORT, Transmit
from abng.access.dhcp.options import (
    MessageType,
    Opt,
    enc_ip,
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


new_request_context = frozen_builder(RequestContext)  # all 5 fields, positional
_new_transmit = frozen_builder(Transmit)


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


class _Encoded:
    """The constant parts of one configuration's replies, encoded once (make_reply's cache)."""

    __slots__ = ("config", "constant", "identifier", "lease", "server_id", "server_mac")

    def __init__(self, config: DhcpServerConfig) -> None:
        self.config = config
        self.identifier = config.identifier
        self.server_mac = config.server_mac
        self.server_id = encode_options(((Opt.SERVER_ID, enc_ip(self.identifier)),))[:-1]
        self.constant = encode_options(config_options(config))[:-1]  # without END
        self.lease: dict[int, bytes] = {}

    def lease_options(self, lease_time: int) -> bytes:
        got = self.lease.get(lease_time)
        if got is None:
            if len(self.lease) >= 1024:
                self.lease.clear()
            got = self.lease[lease_time] = encode_options(lease_options(self.config, lease_time))[:-1]
        return got


_ENCODED: dict[int, _Encoded] = {}  # id(config) -> its encodings (the entry holds the config)
_MESSAGE_TYPE_OPTION = {t: bytes((Opt.MESSAGE_TYPE, 1, t)) for t in MessageType}
_FIXED_HEAD = struct.Struct("!BBBBIHHIIII16s")  # BOOTP up to chaddr; sname and file are zeros
_TAIL = bytes(64 + 128) + MAGIC_COOKIE
_END = bytes((Opt.END,))
_NAK, _ACK = MessageType.NAK, MessageType.ACK


def _encoded(config: DhcpServerConfig) -> _Encoded:
    enc = _ENCODED.get(id(config))
    if enc is None or enc.config is not config:
        if len(_ENCODED) >= 16:
            _ENCODED.clear()
        enc = _ENCODED[id(config)] = _Encoded(config)
    return enc


def make_reply(
    config: DhcpServerConfig,
    request: DhcpMessage,
    ctx: RequestContext,
    mtype: MessageType,
    yiaddr: int = 0,
    lease_time: int | None = None,
    message: str | None = None,
) -> Transmit:
    """The reply, byte for byte ``build_message`` of: message type, server id, then for a NAK
    the message (56), else the lease times and the configuration's options, then the echoed
    option 82; END; padded to 300 bytes."""
    enc = _encoded(config)
    parts = [_MESSAGE_TYPE_OPTION[mtype], enc.server_id]
    if mtype is _NAK:
        if message:
            parts.append(encode_options(((Opt.MESSAGE, message.encode()),))[:-1])
    else:
        if lease_time is not None:
            parts.append(enc.lease_options(lease_time))
        parts.append(enc.constant)
    raw_ra = ctx.raw_relay_agent
    if raw_ra is not None and config.echo_option82:
        parts.append(encode_options(((Opt.RELAY_AGENT, raw_ra),))[:-1])  # last, as the relay put it
    parts.append(_END)
    chaddr, giaddr = request.chaddr, request.giaddr
    if len(chaddr) > 16:
        raise ValueError("chaddr/sname/file too long")
    flags = request.flags
    if giaddr and mtype is _NAK:
        flags |= FLAG_BROADCAST  # RFC 2131 §4.3.2: so that the relay agent broadcasts it
    ciaddr = request.ciaddr if mtype is _ACK else 0
    head = _FIXED_HEAD.pack(
        BOOTREPLY, request.htype, len(chaddr), 0, request.xid, 0, flags, ciaddr, yiaddr, 0, giaddr, chaddr
    )
    payload = b"".join((head, _TAIL, *parts))
    if len(payload) < MIN_REPLY_SIZE:
        payload += bytes(MIN_REPLY_SIZE - len(payload))
    if giaddr:  # RFC 2131 §4.1: relayed -> the relay agent's server port, at its MAC
        dst_mac, dst_ip, dst_port = ctx.src_mac, giaddr, DHCP_SERVER_PORT
    else:
        (dst_mac, dst_ip), dst_port = address_reply(request, mtype, yiaddr), DHCP_CLIENT_PORT
    return Transmit(
        ctx.access_interface,
        ctx.tags,
        dst_mac,
        enc.server_mac,
        dst_ip,
        enc.identifier,
        payload,
        mtype,
        dst_port,
    )


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
