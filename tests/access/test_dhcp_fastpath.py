"""The DHCP server's cheap per-packet paths give exactly what the plain ones gave.

Seeded differential tests: ``wire.ipv4_udp``/``ethernet_head``/``udp_in_frame``
against ``abng.access.frames``; ``parse_message`` and ``make_reply`` against reference copies of
the straightforward implementations they replaced (kept here as the specification).
"""

from __future__ import annotations

import dataclasses
import functools
import random
import struct
from collections.abc import Callable

import pytest

from abng.access.arp import int_to_ip, ip_to_int
from abng.access.dhcp.builders import frozen_builder
from abng.access.dhcp.codec import (
    BOOTREPLY,
    FLAG_BROADCAST,
    HEADER,
    MAGIC_COOKIE,
    MAX_OPTIONS,
    OPTIONS_OFFSET,
    DhcpMessage,
    build_message,
    parse_message,
)
from abng.access.dhcp.config import DhcpServerConfig, ip
from abng.access.dhcp.events import (
    DHCP_CLIENT_PORT,
    DHCP_SERVER_PORT,
    AuthorizeRequest,
    LeaseGranted,
    Transmit,
)
from abng.access.dhcp.options import (
    REGISTRY,
    Kind,
    MessageType,
    Opt,
    RelayAgentInfo,
    decode_routes,
    enc_ip,
    enc_u8,
    validate,
)
from abng.access.dhcp.pool import Ipv4Pool
from abng.access.dhcp.replies import (
    RequestContext,
    address_reply,
    config_options,
    lease_options,
    make_reply,
)
from abng.access.dhcp.server import DhcpServer
from abng.access.dhcp.wire import ethernet_head, ipv4_udp, udp_in_frame
from abng.access.frames import (
    ETH_P_IP,
    TPID_8021AD,
    TPID_8021Q,
    DecodeError,
    VlanTag,
    build_frame,
    build_ipv4_udp,
    format_mac,
    parse_frame,
    parse_udp_frame,
)
from tests.access.test_dhcp_fuzz import mutate
from tests.access.test_dhcp_server import CLIENT, client_frame

SEED = 20261204
MAC = b"\x02" * 6


# ------------------------------------------------------------------ reference implementations


def ref_walk(area: bytes, raw: dict[int, bytearray], order: list[int], budget: list[int]) -> bool:
    i, n = 0, len(area)
    while i < n:
        code = area[i]
        if code == Opt.PAD:
            i += 1
            continue
        if code == Opt.END:
            return True
        if i + 1 >= n or i + 2 + area[i + 1] > n:
            return False
        length = area[i + 1]
        if budget[0] <= 0:
            return False
        budget[0] -= 1
        value = area[i + 2 : i + 2 + length]
        if code in raw:
            raw[code] += value
        else:
            raw[code] = bytearray(value)
            order.append(code)
        i += 2 + length
    return True


def ref_parse_message(data: bytes) -> DhcpMessage:
    buf = bytes(data)
    if len(buf) < OPTIONS_OFFSET:
        raise DecodeError("dhcp_short", f"{len(buf)} bytes")
    op, htype, hlen, hops, xid, secs, flags, ci, yi, si, gi, chaddr, sname, file_ = HEADER.unpack_from(buf, 0)
    if buf[HEADER.size : OPTIONS_OFFSET] != MAGIC_COOKIE:
        raise DecodeError("dhcp_cookie")
    if op not in (1, 2):
        raise DecodeError("dhcp_op", str(op))
    if hlen > 16:
        raise DecodeError("dhcp_hlen", str(hlen))
    raw: dict[int, bytearray] = {}
    order: list[int] = []
    budget = [MAX_OPTIONS]
    complete = ref_walk(buf[OPTIONS_OFFSET:], raw, order, budget)
    overload = raw.get(Opt.OVERLOAD)
    used_file = used_sname = False
    if overload is not None and len(overload) == 1 and overload[0] in (1, 2, 3):
        if overload[0] & 1:
            complete = ref_walk(file_, raw, order, budget) and complete
            used_file = True
        if overload[0] & 2:
            complete = ref_walk(sname, raw, order, budget) and complete
            used_sname = True
    options: dict[int, bytes] = {}
    invalid: list[int] = []
    for code in order:
        value = bytes(raw[code])
        try:
            validate(code, value)
        except DecodeError:
            invalid.append(code)
            continue
        options[code] = value
    return DhcpMessage(
        op, htype, hlen, hops, xid, secs, flags, ci, yi, si, gi, chaddr[:hlen],
        b"" if used_sname else sname.rstrip(b"\x00"),
        b"" if used_file else file_.rstrip(b"\x00"),
        options, tuple(invalid), not complete,
    )  # fmt: skip


def ref_make_reply(
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
        opts.append((Opt.RELAY_AGENT, ctx.raw_relay_agent))
    ciaddr = request.ciaddr if mtype is MessageType.ACK else 0
    flags = request.flags
    if request.giaddr and mtype is MessageType.NAK:
        flags |= FLAG_BROADCAST
    payload = build_message(
        op=BOOTREPLY, xid=request.xid, chaddr=request.chaddr, htype=request.htype, flags=flags,
        ciaddr=ciaddr, yiaddr=yiaddr, giaddr=request.giaddr, options=opts,
    )  # fmt: skip
    if request.giaddr:
        dst_mac, dst_ip, dst_port = ctx.src_mac, request.giaddr, DHCP_SERVER_PORT
    else:
        (dst_mac, dst_ip), dst_port = address_reply(request, mtype, yiaddr), DHCP_CLIENT_PORT
    return Transmit(
        ctx.access_interface, ctx.tags, dst_mac, config.server_mac, dst_ip, config.identifier, payload, mtype,
        dst_port,
    )  # fmt: skip


# ------------------------------------------------------------------ tests


def outcome(fn: object, *args: object) -> object:
    try:
        return fn(*args)  # type: ignore[operator]
    except DecodeError as exc:
        return ("DecodeError", exc.reason, str(exc))


def ref_frame(t: Transmit) -> bytes:
    packet = build_ipv4_udp(t.src_ip, t.dst_ip, DHCP_SERVER_PORT, t.dst_port, t.payload)
    return build_frame(t.dst_mac, t.src_mac, t.tags, ETH_P_IP, packet)


def frame_or_error(build: Callable[[], bytes]) -> bytes | str:
    try:
        return build()
    except ValueError as exc:  # a 16-byte chaddr is no destination MAC: both refuse it
        return str(exc)


def test_reply_packets_and_frames_match_frames_module() -> None:
    rng = random.Random(SEED + 1)
    for _ in range(1000):
        src, dst = rng.getrandbits(32), rng.choice((0xFFFFFFFF, rng.getrandbits(32)))
        sport, dport = 67, rng.choice((67, 68))
        payload = rng.randbytes(rng.randrange(0, 600))
        assert ipv4_udp(src, dst, sport, dport, payload) == build_ipv4_udp(src, dst, sport, dport, payload)
        tags = tuple(
            VlanTag(
                rng.choice((TPID_8021AD, TPID_8021Q)), rng.randrange(4096), rng.randrange(8), rng.randrange(2)
            )
            for _ in range(rng.randrange(3))
        )
        d, s = rng.randbytes(6), rng.randbytes(6)
        want = build_frame(d, s, tags, ETH_P_IP, build_ipv4_udp(src, dst, sport, dport, payload))
        assert ethernet_head(d, s, tags) + ipv4_udp(src, dst, sport, dport, payload) == want
    with pytest.raises(ValueError):
        ethernet_head(b"\x00" * 5, b"\x00" * 6, ())
    with pytest.raises(ValueError):
        ipv4_udp(1, 2, 67, 68, bytes(0xFFFF))


def _udp_view(data: bytes) -> object:
    pkt = parse_udp_frame(data)
    return pkt.frame, pkt.ip.dst, pkt.udp.dst_port, pkt.udp.payload


def test_udp_in_frame_matches_parse_udp_frame_on_mutated_frames() -> None:
    rng = random.Random(SEED + 2)
    tags = (VlanTag(TPID_8021AD, 111), VlanTag(TPID_8021Q, 500))
    seeds = [client_frame(t, tags=tags) for t in MessageType] + [client_frame(MessageType.DISCOVER)]
    frames = list(seeds)
    for _ in range(8000):
        frames.append(mutate(rng, rng.choice(seeds)))
    for f in frames:
        try:
            eth = parse_frame(f)
        except DecodeError:
            continue
        assert outcome(udp_in_frame, eth) == outcome(_udp_view, eth)
        assert outcome(udp_in_frame, f) == outcome(_udp_view, f)


def test_parse_message_matches_reference_on_mutated_messages() -> None:
    rng = random.Random(SEED + 3)
    opts = [
        (Opt.MESSAGE_TYPE, b"\x03"),
        (Opt.REQUESTED_IP, enc_ip(0x0A000002)),
        (Opt.SERVER_ID, enc_ip(0x0A000001)),
        (Opt.PARAM_REQUEST, bytes((1, 3, 6, 51))),
        (Opt.MAX_MESSAGE_SIZE, b"\x05\xdc"),
        (Opt.HOSTNAME, b"h"),
        (Opt.RELAY_AGENT, b"\x01\x03abc\x02\x02xy"),
        (Opt.CLASSLESS_ROUTES, b"\x18\x0a\x00\x00\x0a\x00\x00\x01"),
        (Opt.RAPID_COMMIT, b""),
        (Opt.DNS, enc_ip(1, 2)),
    ]
    seeds = [
        build_message(op=1, xid=7, chaddr=MAC, options=opts),
        build_message(
            op=1,
            xid=7,
            chaddr=MAC,
            options=[(Opt.MESSAGE_TYPE, b"\x01"), (Opt.OVERLOAD, b"\x03")],
            file=bytes((Opt.HOSTNAME, 2)) + b"ab\xff",
            sname=bytes((Opt.HOSTNAME, 1)) + b"c",
        ),
        build_message(op=1, xid=7, chaddr=MAC, options=[(Opt.MESSAGE_TYPE, b"\x01")] + [(200, b"x")] * 300),
        build_message(
            op=2, xid=7, chaddr=MAC, options=[(Opt.HOSTNAME, b"y" * 300), (Opt.MESSAGE_TYPE, b"\x09")]
        ),
    ]
    msgs = list(seeds)
    for _ in range(8000):
        msgs.append(mutate(rng, rng.choice(seeds)))
    for m in msgs:
        assert outcome(parse_message, m) == outcome(ref_parse_message, m)
        assert outcome(parse_message, bytearray(m)) == outcome(ref_parse_message, m)


@pytest.mark.parametrize("echo", [True, False])
def test_make_reply_matches_reference(echo: bool) -> None:
    rng = random.Random(SEED + 4)
    configs = [
        DhcpServerConfig(server_mac=b"\x0a" * 6, gateway=ip("10.0.0.1"), echo_option82=echo),
        DhcpServerConfig(
            server_mac=b"\x0b" * 6, gateway=ip("10.0.0.1"), server_id=ip("10.0.0.2"), dns=(1, 2, 3),
            domain_name="example.net", classless_routes=False, echo_option82=echo,
            extra_options=((42, enc_ip(5)), (43, b"v" * 300), (80, b"")), t1_ratio=0.4, t2_ratio=0.8,
        ),
    ]  # fmt: skip
    for _ in range(3000):
        config = rng.choice(configs)
        ra = rng.choice((None, b"\x01\x02ab", b"\x01\xff" + b"c" * 255 + b"\x02\x02xy"))
        request = DhcpMessage(
            1, 1, 6, 0, rng.getrandbits(32), 0, rng.choice((0, FLAG_BROADCAST)),
            rng.choice((0, 0x0A000005)), 0, 0, rng.choice((0, 0x0A0000FE)),
            rng.randbytes(rng.choice((6, 6, 16))),
        )  # fmt: skip
        ctx = RequestContext("trunk0.1.2", (VlanTag(TPID_8021AD, 1),), rng.randbytes(6), 0xFFFFFFFF, ra)
        mtype = rng.choice(list(MessageType))
        yiaddr = rng.choice((0, 0x0A000009))
        lease = rng.choice((None, 60, 3600, 86400 * 7))
        msg = rng.choice((None, "", "address not assigned", "é" * 200))
        got = make_reply(config, request, ctx, mtype, yiaddr, lease, msg)
        want = ref_make_reply(config, request, ctx, mtype, yiaddr, lease, msg)
        assert got == want
        assert frame_or_error(got.frame) == frame_or_error(functools.partial(ref_frame, want))
    changed = dataclasses.replace(configs[0], lease_time=10)  # a new config object: its own encodings
    request = DhcpMessage(1, 1, 6, 0, 1, 0, 0, 0, 0, 0, 0, b"\x02" * 6)
    ctx = RequestContext("x", (), b"\x02" * 6, 0xFFFFFFFF, None)
    assert make_reply(changed, request, ctx, MessageType.OFFER, 5, 99) == ref_make_reply(
        changed, request, ctx, MessageType.OFFER, 5, 99
    )


def test_int_to_ip_and_back() -> None:
    rng = random.Random(SEED + 5)
    import ipaddress

    for v in [0, 1, 0xFFFFFFFF, 0x0A000001] + [rng.getrandbits(32) for _ in range(2000)]:
        assert int_to_ip(v) == str(ipaddress.IPv4Address(v))
        assert ip_to_int(int_to_ip(v)) == v
    for bad in (-1, 1 << 32):
        with pytest.raises(ipaddress.AddressValueError):
            int_to_ip(bad)
    for text in ("1.2.3", "01.2.3.4", "1.2.3.256", "a.b.c.d", " 1.2.3.4", ""):
        with pytest.raises(ipaddress.AddressValueError):
            ip_to_int(text)


def test_message_type_of_bad_value_still_raises() -> None:
    m = DhcpMessage(1, 1, 6, 0, 1, 0, 0, 0, 0, 0, 0, b"\x02" * 6, options={Opt.MESSAGE_TYPE: b"\x63"})
    with pytest.raises(ValueError):
        _ = m.message_type
    assert DhcpMessage(1, 1, 6, 0, 1, 0, 0, 0, 0, 0, 0, b"\x02" * 6).message_type is None
    ok = DhcpMessage(1, 1, 6, 0, 1, 0, 0, 0, 0, 0, 0, b"\x02" * 6, options={Opt.MESSAGE_TYPE: b"\x05"})
    assert ok.message_type is MessageType.ACK
    assert struct.pack("!B", ok.message_type) == b"\x05"


def test_frozen_builder_makes_real_frozen_instances() -> None:
    values = (1, 1, 6, 0, 7, 0, 0, 0, 0, 0, 0, MAC, b"s", b"f", {53: b"\x01"}, (82,), True)
    built = frozen_builder(DhcpMessage)(*values)
    assert type(built) is DhcpMessage and built == DhcpMessage(*values)
    assert repr(built) == repr(DhcpMessage(*values))
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.xid = 8  # type: ignore[misc]
    assert dataclasses.replace(built, xid=9).xid == 9
    with pytest.raises(TypeError):
        frozen_builder(DhcpMessage)(*values[:-1])  # every field must be given
    with pytest.raises(TypeError):
        frozen_builder(Ipv4Pool)  # not a dataclass

    @dataclasses.dataclass(slots=True)
    class Mutable:
        a: int

    with pytest.raises(TypeError):
        frozen_builder(Mutable)


def test_server_events_equal_keyword_built_events() -> None:
    cfg = DhcpServerConfig(
        server_mac=b"\x0a" * 6, gateway=ip("10.0.0.1"), default_pool="p", contain_errors=False
    )
    server = DhcpServer(cfg, [Ipv4Pool.from_network("p", "10.0.0.0/24", gateway="10.0.0.1")])
    tags = (VlanTag(TPID_8021AD, 111), VlanTag(TPID_8021Q, 500))
    extra = ((Opt.HOSTNAME, b"box"), (Opt.CLIENT_ID, b"\x01cid"), (Opt.VENDOR_CLASS, b"vc"))
    server.handle_frame(
        client_frame(MessageType.DISCOVER, tags=tags, extra=extra, requested=0x0A000063), "i0", 5.0
    )
    [auth] = server.events()
    assert isinstance(auth, AuthorizeRequest)
    ra = server.effective_relay_agent(parse_message(_payload_of(client_frame(MessageType.DISCOVER))), "i0")
    assert auth == AuthorizeRequest(
        key=auth.key, xid=0x1234, mac=format_mac(CLIENT), access_interface="i0",
        circuit_id="i0", remote_id="abng", relay_agent=ra, hostname="box", vendor_class=b"vc",
        client_id=b"\x01cid", requested_ip="10.0.0.99", tags=tags,
    )  # fmt: skip
    assert server.authorized(auth.key, True, 5.0, attrs={"k": 1})
    offer = parse_message(_payload_of(server.transmits()[0].frame()))
    req = client_frame(
        MessageType.REQUEST, tags=tags, extra=extra, requested=offer.yiaddr, server_id=cfg.identifier
    )
    server.handle_frame(req, "i0", 6.0)
    [granted] = server.events()
    assert granted == LeaseGranted(
        mac=auth.mac, ip=int_to_ip(offer.yiaddr), lease_time=3600, access_interface="i0", circuit_id="i0",
        remote_id="abng", hostname="box", client_id=b"\x01cid", pool="p", expires_at=3606.0, tags=tags,
        attrs={"k": 1},
    )  # fmt: skip


def _payload_of(frame: bytes) -> bytes:
    return parse_udp_frame(frame).udp.payload


def ref_validate(code: int, value: bytes) -> None:
    spec = REGISTRY.get(code)
    if spec is None:
        return
    kind = spec.kind
    fixed = {Kind.IP: 4, Kind.U8: 1, Kind.U16: 2, Kind.U32: 4}
    if kind in fixed:
        if len(value) != fixed[kind]:
            raise DecodeError("option_length", f"{spec.name}: {len(value)} bytes")
    elif kind is Kind.IPS:
        if not value or len(value) % 4:
            raise DecodeError("option_length", f"{spec.name}: {len(value)} bytes")
    elif kind in (Kind.TEXT, Kind.BYTES, Kind.CODES):
        if not value and code != Opt.RAPID_COMMIT:
            raise DecodeError("option_length", f"{spec.name}: empty")
    elif kind is Kind.ROUTES:
        decode_routes(value)
    elif kind is Kind.RELAY:
        RelayAgentInfo.decode(value)
    if code == Opt.MESSAGE_TYPE and value[0] not in MessageType._value2member_map_:
        raise DecodeError("message_type", str(value[0]))


def test_validate_matches_reference() -> None:
    rng = random.Random(SEED + 6)
    values = [b"", b"\x00", b"\x09", b"\x05", b"\x01\x02", b"\x01\x02\x03\x04", bytes(8), bytes(7)]
    values += [b"\x18\x0a\x00\x00\x0a\x00\x00\x01", b"\x21" + bytes(8), b"\x01\x03abc\x02\x02xy", b"\x01\x00"]
    for code in range(256):
        for value in values + [rng.randbytes(rng.randrange(12)) for _ in range(40)]:
            assert outcome(validate, code, value) == outcome(ref_validate, code, value), (code, value)
