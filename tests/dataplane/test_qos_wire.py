"""qos_wire encoders against its own parsers and fixed bytes, and the parsers against garbage."""

from __future__ import annotations

import errno
import ipaddress
import random
import struct

from pyroute2.netlink.rtnl.tcmsg.common import calc_xmittime

from abng.dataplane import qos_wire as w
from tests.helpers.netns import requires_root

IP = int(ipaddress.IPv4Address("100.64.3.7"))


def test_htb_class_roundtrip() -> None:
    body = w.htb_class_msg(5, w.tc_handle(0x107, 1), w.tc_handle(0x107, 0), w.HtbRate(20_000_000, 34, 64))
    cls = w.parse_htb_class(body)
    assert cls == w.DumpedClass(0x1070001, 0x1070000, 20_000_000, 34, 64)
    # struct tcmsg: family 0, ifindex 5, handle, parent
    assert struct.unpack_from("=BxxxiII", body) == (0, 5, 0x1070001, 0x1070000)
    # linklayer ethernet (1) in both rate specs: no rate table needed by the kernel
    opts = w.attrs_dict(w.attrs_dict(body, 20)[w.TCA_OPTIONS])
    parms = bytes(opts[w.TCA_HTB_PARMS])
    assert parms[1] == 1 and parms[13] == 1 and len(parms) == 44


def test_htb_rate64() -> None:
    body = w.htb_class_msg(1, 0x10001, 0x10000, w.HtbRate(400_000_000_000))
    cls = w.parse_htb_class(body)
    assert cls is not None and cls.rate_bps == 400_000_000_000


def test_u32_ip_filter_roundtrip() -> None:
    handle = w.u32_handle(2, 3, 9)
    assert handle == 0x00203009
    body = w.u32_ip_filter_msg(5, 0x1070000, 10, handle, IP, 16, 0x1070001)
    parsed = w.parse_u32_filter(body)
    assert parsed == (0x1070001, [(IP, 0xFFFFFFFF, 16)])
    # tcm_info: prio 10 in the high half, ETH_P_IP in network order in the low half
    (info,) = struct.unpack_from("=I", body, 16)
    assert info >> 16 == 10 and struct.pack("=H", info & 0xFFFF) == b"\x08\x00"
    opts = w.attrs_dict(w.attrs_dict(body, 20)[w.TCA_OPTIONS])
    assert struct.unpack("=I", opts[w.TCA_U32_HASH]) == (0x00203000,)  # bucket 2:3:
    sel = bytes(opts[w.TCA_U32_SEL])
    assert sel[0] == w.TC_U32_TERMINAL and sel[2] == 1
    assert sel[16:24] == b"\xff\xff\xff\xff" + ipaddress.IPv4Address(IP).packed


def test_hashlink_selects_octet() -> None:
    body = w.u32_hashlink_msg(5, 0x1070000, 10, 2, 12, 0xFF00)
    opts = w.attrs_dict(w.attrs_dict(body, 20)[w.TCA_OPTIONS])
    sel = bytes(opts[w.TCA_U32_SEL])
    hoff, hmask = struct.unpack_from("=hI", sel, 10)
    assert hoff == 12 and hmask == struct.unpack("=I", b"\x00\x00\xff\x00")[0]
    assert struct.unpack("=I", opts[w.TCA_U32_LINK]) == (0x00200000,)


def test_parsers_survive_truncation_and_garbage() -> None:
    good = [
        w.htb_class_msg(5, 0x1070001, 0x1070000, w.HtbRate(1_000_000, 0, 0)),
        w.u32_ip_filter_msg(5, 0x1070000, 10, w.u32_handle(2, 3, 9), IP, 16, 0x1070001),
    ]
    rng = random.Random(1234)
    for body in good:
        for cut in range(len(body)):
            for parse in (w.parse_htb_class, w.parse_u32_filter):
                parse(body[:cut])  # None or a value, never an exception
        for _ in range(500):
            mutated = bytearray(body)
            for _ in range(rng.randint(1, 6)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            w.parse_htb_class(bytes(mutated))
            w.parse_u32_filter(bytes(mutated))


def _generic_htb_class(ifindex: int, classid: int, parent: int, bps: int, overhead: int, mpu: int) -> bytes:
    """The class message built piece by piece (nla by nla), as before the cached encoding."""
    byte_rate = bps // 8
    buffer = calc_xmittime(byte_rate, byte_rate / 1000 + w.HTB_MTU)
    quantum = max(w.HTB_MTU, min(byte_rate // 10, w.HTB_MAX_QUANTUM))
    spec = struct.pack("=BBHhHI", 0, 1, overhead, 0, mpu, min(byte_rate, 0xFFFFFFFF))
    attrs = w.nla(w.TCA_HTB_PARMS, spec + spec + struct.pack("=IIIII", buffer, buffer, quantum, 0, 0))
    if byte_rate >= 1 << 32:
        attrs += w.nla(w.TCA_HTB_RATE64, struct.pack("=Q", byte_rate))
        attrs += w.nla(w.TCA_HTB_CEIL64, struct.pack("=Q", byte_rate))
    head = struct.pack("=BxxxiIII", 0, ifindex, classid, parent, 0)
    return head + w.nla(w.TCA_KIND, b"htb\0") + w.nla(w.TCA_OPTIONS, attrs)


def test_fast_encoders_equal_generic_ones() -> None:
    rng = random.Random(7)
    for _ in range(500):
        ifindex, classid, parent = rng.randrange(1, 1 << 20), rng.getrandbits(32), rng.getrandbits(32)
        bps = rng.choice([rng.randrange(8_000, 10**9), rng.randrange(10**9, 10**12), 400_000_000_000])
        overhead, mpu = rng.randrange(0, 257), rng.randrange(0, 257)
        want = _generic_htb_class(ifindex, classid, parent, bps, overhead, mpu)
        assert w.htb_class_msg_raw(ifindex, classid, parent, bps, overhead, mpu) == want
        assert w.htb_class_msg(ifindex, classid, parent, w.HtbRate(bps, overhead, mpu)) == want
        assert w.htb_class_options(w.HtbRate(bps, overhead, mpu)) == want[28:]
        handle, ip, off, prio = (
            rng.getrandbits(32),
            rng.getrandbits(32),
            rng.choice((12, 16)),
            rng.randrange(1, 100),
        )
        fast = w.u32_ip_filter_msg_fast(ifindex, parent, w.filter_info(prio), handle, ip, off, classid)
        assert fast == w.u32_ip_filter_msg(ifindex, parent, prio, handle, ip, off, classid)
        fast_del = w.u32_filter_del_msg_fast(ifindex, parent, w.filter_info(prio), handle)
        assert fast_del == w.u32_filter_del_msg(ifindex, parent, prio, handle)


@requires_root
def test_batch_maps_acks_to_requests() -> None:
    """Errno per request, in order, from one NETLINK_ROUTE batch (no namespace needed: bad
    requests only).  Two failures with different errnos, mixed at random over more than one
    chunk, so an ack matched to the wrong request shows: a class add on a device index that
    does not exist (ENODEV) and one on ``lo`` under a qdisc handle it does not have (ENOENT)."""
    rng = random.Random(11)
    rate = w.HtbRate(1_000_000)
    parent = w.tc_handle(0x7ABC, 0)
    nl = w.NetlinkBatch()
    try:
        reqs: list[w.Request] = []
        want: list[int] = []
        for i in range(450):
            if rng.random() < 0.5:  # no such device
                ifindex, err = 0x7FFF0000 + i, errno.ENODEV
            else:  # lo: a device, but no qdisc 7abc:
                ifindex, err = 1, errno.ENOENT
            body = w.htb_class_msg(ifindex, w.tc_handle(0x7ABC, 1 + i), parent, rate)
            reqs.append(w.Request(w.RTM_NEWTCLASS, w.create_flags(), body))
            want.append(err)
        assert set(want) == {errno.ENODEV, errno.ENOENT}
        assert nl.run(reqs) == want
    finally:
        nl.close()


def test_fast_address_parsing_is_as_strict_as_ipaddress() -> None:
    from abng.core import ipv4
    from abng.dataplane.qos import ShapeSpec

    rng = random.Random(3)
    cases = ["100.64.3.7", "0.0.0.0", "255.255.255.255", "01.2.3.4", "1.2.3", "1.2.3.4.5", "1.2.3.256",
             " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n", "0x1.2.3.4", "1..3.4", "", "١.2.3.4", "1.2.3.-4",
             "+1.2.3.4", "1.2.3.0004", "1.2.3.4/32", "::1"]  # fmt: skip
    cases += [
        ".".join(str(rng.randrange(0, 300)) for _ in range(rng.choice((3, 4, 4, 5)))) for _ in range(300)
    ]
    for text in cases:
        try:
            want: bytes | None = ipaddress.IPv4Address(text).packed
        except ValueError:
            want = None
        if want is None:
            for parse in (ipv4.packed, lambda t: ShapeSpec.build(1, "d", t, 10**6, 10**6).ip):
                try:
                    parse(text)
                except ValueError:
                    continue
                raise AssertionError(f"{text!r} accepted")
        else:
            assert ipv4.packed(text) == want
            assert ShapeSpec.build(1, "d", text, 10**6, 10**6).ip == ipaddress.IPv4Address(text)
