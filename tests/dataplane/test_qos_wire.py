"""qos_wire encoders against its own parsers and fixed bytes, and the parsers against garbage."""

from __future__ import annotations

import ipaddress
import random
import struct

from abng.dataplane import qos_wire as w

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
