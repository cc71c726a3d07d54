"""The trunk filter run by a small classic-BPF interpreter against a Python reference, on seeded
random and mutated frames (many more cases than the veth test can send), with and without a
stripped outer tag (the ancillary VLAN_TAG_PRESENT value)."""

from __future__ import annotations

import random
import struct

import pytest

from abng.access import bpf
from abng.access.bpf import FilterSpec, Insn

ANC_PKTTYPE = (bpf.SKF_AD_OFF + bpf.SKF_AD_PKTTYPE) & 0xFFFFFFFF
ANC_VLAN_PRESENT = (bpf.SKF_AD_OFF + bpf.SKF_AD_VLAN_TAG_PRESENT) & 0xFFFFFFFF


def run(prog: list[Insn], pkt: bytes, vlan_present: int = 0, pkttype: int = 0) -> int:
    """Classic BPF semantics for the subset the trunk filter uses; out-of-bounds loads return 0."""
    a = x = 0
    pc = 0
    while True:
        i = prog[pc]
        assert isinstance(i.jt, int) and isinstance(i.jf, int)
        cls, size, mode = i.code & 0x07, i.code & 0x18, i.code & 0xE0
        pc += 1
        if cls in (bpf.BPF_LD, bpf.BPF_LDX) and mode == bpf.BPF_IMM:
            if cls == bpf.BPF_LD:
                a = i.k
            else:
                x = i.k
        elif cls == bpf.BPF_LD and mode in (bpf.BPF_ABS, bpf.BPF_IND):
            if i.k == ANC_PKTTYPE:
                a = pkttype
                continue
            if i.k == ANC_VLAN_PRESENT:
                a = vlan_present
                continue
            off = i.k + (x if mode == bpf.BPF_IND else 0)
            n = {bpf.BPF_W: 4, bpf.BPF_H: 2, bpf.BPF_B: 1}[size]
            if off + n > len(pkt):
                return 0
            a = int.from_bytes(pkt[off : off + n], "big")
        elif cls == bpf.BPF_ALU:
            operand = x if i.code & bpf.BPF_X else i.k
            op = i.code & 0xF0
            a = {bpf.BPF_ADD: a + operand, bpf.BPF_AND: a & operand, bpf.BPF_LSH: a << operand}[
                op
            ] & 0xFFFFFFFF
        elif cls == bpf.BPF_MISC:
            if i.code & 0xF8 == bpf.BPF_TXA:
                a = x
            else:
                x = a
        elif cls == bpf.BPF_JMP:
            op = i.code & 0xF0
            hit = (a == i.k) if op == bpf.BPF_JEQ else bool(a & i.k)
            pc += i.jt if hit else i.jf
        elif cls == bpf.BPF_RET:
            return i.k
        else:
            raise AssertionError(f"unexpected opcode 0x{i.code:02x}")


def reference(pkt: bytes, spec: FilterSpec, vlan_present: int) -> bool:
    off, depth = 12, vlan_present
    while True:
        if off + 2 > len(pkt):
            return False
        etype = int.from_bytes(pkt[off : off + 2], "big")
        if etype not in bpf.VLAN_TPIDS:
            break
        depth += 1
        if depth > bpf.MAX_TAGS:
            return False
        off += 4
    wanted = {
        bpf.ETH_P_PPP_DISC: spec.pppoe_discovery,
        bpf.ETH_P_PPP_SES: spec.pppoe_session,
        bpf.ETH_P_ARP: spec.arp,
    }
    if wanted.get(etype):
        return True
    if etype != bpf.ETH_P_IP:
        return False
    if spec.ipv4:
        return True
    if not spec.dhcp:
        return False
    ip = off + 2
    if len(pkt) < ip + 20 or pkt[ip + 9] != 17:
        return False
    if int.from_bytes(pkt[ip + 6 : ip + 8], "big") & 0x1FFF:
        return False
    udp = ip + (pkt[ip] & 0xF) * 4
    return len(pkt) >= udp + 4 and int.from_bytes(pkt[udp + 2 : udp + 4], "big") == 67


def random_frame(rng: random.Random) -> bytes:
    head = bytes(12)
    for _ in range(rng.choice([0, 0, 1, 2, 3, 4])):
        head += struct.pack("!HH", rng.choice(bpf.VLAN_TPIDS), rng.randrange(4096))
    etype = rng.choice([0x0800, 0x0800, 0x0806, 0x8863, 0x8864, 0x86DD, rng.randrange(65536)])
    ihl = rng.choice([5, 5, 6, 15, rng.randrange(16)])
    ip = bytes([0x40 | ihl, 0]) + bytes(4)
    ip += struct.pack("!H", rng.choice([0, 0x4000, 0x2000, 0x0001, rng.randrange(65536)]))
    ip += bytes([64, rng.choice([17, 17, 6, 1])]) + bytes(10) + bytes((ihl - 5) * 4 if ihl > 5 else 0)
    udp = struct.pack("!HH", 68, rng.choice([67, 67, 68, 53, rng.randrange(65536)])) + bytes(4)
    frame = head + struct.pack("!H", etype) + ip + udp + bytes(rng.randrange(20))
    return frame[: rng.randint(10, len(frame))] if rng.random() < 0.2 else frame


@pytest.mark.parametrize(
    "spec",
    [FilterSpec.control_plane(), FilterSpec.userspace(), FilterSpec(arp=True, dhcp=False)],
    ids=["control", "userspace", "arp_only"],
)
def test_filter_equals_reference(spec: FilterSpec) -> None:
    prog = bpf.build_program(spec)
    rng = random.Random(2024)
    accepted = 0
    for _ in range(6000):
        frame = random_frame(rng)
        vlan_present = rng.choice([0, 1])
        want = reference(frame, spec, vlan_present)
        assert (run(prog, frame, vlan_present) != 0) == want, (frame.hex(), vlan_present)
        accepted += want
        assert run(prog, frame, vlan_present, pkttype=bpf.PACKET_OUTGOING) == 0
    assert 500 < accepted < 5500  # both outcomes well represented
