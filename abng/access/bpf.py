"""Classic BPF filters for the subscriber trunk (reference §6.1, MACHINE.md "Plain AF_PACKET").

The program is assembled here in Python (a tiny label-resolving assembler) and attached to an
AF_PACKET socket with SO_ATTACH_FILTER. It:

1. rejects the host's own transmitted frames (ancillary load of the packet type,
   PACKET_OUTGOING = 4), so userspace never even sees them;
2. walks the VLAN tags written inline in the frame (TPIDs 0x8100, 0x88A8, 0x9100). On receive
   the kernel has already moved the OUTER tag into skb metadata, so the frame the filter sees
   starts after it; the filter reads SKF_AD_VLAN_TAG_PRESENT and then allows one inline tag fewer,
   keeping the total depth (stripped + inline) at most MAX_TAGS = 3;
3. matches, after the tags, whichever of these the caller enabled:
   PPPoE discovery (0x8863), PPPoE session (0x8864), ARP (0x0806), DHCP to the server
   (IPv4, protocol UDP, not a non-first fragment, UDP destination port 67 found through the
   IHL, so IP options are handled), and "any IPv4" for the userspace data path.

Why "any IPv4" rather than "IPv4 from known MACs": classic BPF has no hash lookup, so a MAC
list would be a linear chain of compares, re-attached on every session change and capped by
the 4096-instruction limit (about 2000 subscribers). The trunk carries subscriber traffic only,
so the userspace data path takes all IPv4 and checks source MAC, tag stack and source address
against its subscriber table, counting what it drops (abng/dataplane/datapath.py).
"""

from __future__ import annotations

import ctypes
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

# BPF instruction classes and modes (linux/bpf_common.h)
BPF_LD, BPF_LDX, BPF_ALU, BPF_JMP, BPF_RET, BPF_MISC = 0x00, 0x01, 0x04, 0x05, 0x06, 0x07
BPF_W, BPF_H, BPF_B = 0x00, 0x08, 0x10
BPF_IMM, BPF_ABS, BPF_IND = 0x00, 0x20, 0x40
BPF_ADD, BPF_AND, BPF_LSH = 0x00, 0x50, 0x60
BPF_JA, BPF_JEQ, BPF_JSET = 0x00, 0x10, 0x40
BPF_K, BPF_X = 0x00, 0x08
BPF_TAX, BPF_TXA = 0x00, 0x80

# Ancillary loads (linux/filter.h): SKF_AD_OFF + SKF_AD_*
SKF_AD_OFF = -0x1000
SKF_AD_PKTTYPE = 4
SKF_AD_VLAN_TAG = 44
SKF_AD_VLAN_TAG_PRESENT = 48

SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27
SO_LOCK_FILTER = 44
PACKET_OUTGOING = 4

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_PPP_DISC = 0x8863
ETH_P_PPP_SES = 0x8864
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
MAX_TAGS = 3
DHCP_SERVER_PORT = 67
ACCEPT_LEN = 0x40000  # snap length returned on accept: the whole frame


@dataclass(frozen=True, slots=True)
class Insn:
    """One sock_filter. `jt`/`jf` are label names (str) until assembled, then offsets."""

    code: int
    k: int = 0
    jt: int | str = 0
    jf: int | str = 0


@dataclass(frozen=True, slots=True)
class Label:
    name: str


@dataclass(frozen=True, slots=True)
class FilterSpec:
    """Which frame kinds the trunk filter accepts."""

    pppoe_discovery: bool = True
    pppoe_session: bool = False
    dhcp: bool = True
    arp: bool = False
    ipv4: bool = False  # any IPv4 (userspace data path); implies dhcp

    @classmethod
    def control_plane(cls) -> FilterSpec:
        """Kernel dataplane: only PPPoE discovery and DHCP reach userspace."""
        return cls()

    @classmethod
    def userspace(cls) -> FilterSpec:
        """Userspace dataplane (D4): PPPoE discovery+session, ARP and all IPv4."""
        return cls(pppoe_discovery=True, pppoe_session=True, dhcp=True, arp=True, ipv4=True)


def _jump(k: int, jt: int | str, jf: int | str) -> Insn:
    return Insn(BPF_JMP | BPF_JEQ | BPF_K, k, jt, jf)


def assemble(program: Sequence[Insn | Label]) -> list[Insn]:
    """Resolve labels into relative forward jump offsets (classic BPF jumps only forward)."""
    where: dict[str, int] = {}
    pc = 0
    for item in program:
        if isinstance(item, Label):
            if item.name in where:
                raise ValueError(f"duplicate label {item.name}")
            where[item.name] = pc
        else:
            pc += 1
    out: list[Insn] = []
    for item in program:
        if isinstance(item, Label):
            continue
        pc = len(out)

        def rel(target: int | str, pc: int = pc) -> int:
            if isinstance(target, int):
                return target
            off = where[target] - pc - 1
            if not 0 <= off <= 255:
                raise ValueError(f"jump to {target} out of range ({off})")
            return off

        out.append(Insn(item.code, item.k, rel(item.jt), rel(item.jf)))
    return out


def build_program(spec: FilterSpec) -> list[Insn]:
    """The trunk filter for `spec`, assembled (see the module docstring for what it does)."""
    p: list[Insn | Label] = [
        Insn(BPF_LD | BPF_W | BPF_ABS, (SKF_AD_OFF + SKF_AD_PKTTYPE) & 0xFFFFFFFF),
        _jump(PACKET_OUTGOING, "reject", 0),
        Insn(BPF_LDX | BPF_W | BPF_IMM, 0),  # X = bytes of inline tags walked so far
        Insn(BPF_LD | BPF_W | BPF_ABS, (SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT) & 0xFFFFFFFF),
        _jump(0, "tag0", "tag1"),  # outer tag stripped: one inline tag fewer allowed
    ]
    for depth in range(MAX_TAGS):
        p += [
            Label(f"tag{depth}"),
            Insn(BPF_LD | BPF_H | BPF_IND, 12),
            _jump(VLAN_TPIDS[0], f"skip{depth}", 0),
            _jump(VLAN_TPIDS[1], f"skip{depth}", 0),
            _jump(VLAN_TPIDS[2], f"skip{depth}", "proto"),
            Label(f"skip{depth}"),
            Insn(BPF_MISC | BPF_TXA),
            Insn(BPF_ALU | BPF_ADD | BPF_K, 4),
            Insn(BPF_MISC | BPF_TAX),
        ]
    # still a tag after MAX_TAGS: too deep
    p += [
        Insn(BPF_LD | BPF_H | BPF_IND, 12),
        _jump(VLAN_TPIDS[0], "reject", 0),
        _jump(VLAN_TPIDS[1], "reject", 0),
        _jump(VLAN_TPIDS[2], "reject", "proto"),
        Label("proto"),  # A = ethertype after the tags, X = tag bytes
    ]
    for enabled, ethertype in (
        (spec.pppoe_discovery, ETH_P_PPP_DISC),
        (spec.pppoe_session, ETH_P_PPP_SES),
        (spec.arp, ETH_P_ARP),
    ):
        if enabled:
            p.append(_jump(ethertype, "accept", 0))
    if spec.ipv4:
        p.append(_jump(ETH_P_IP, "accept", "reject"))
    elif spec.dhcp:
        p += [
            _jump(ETH_P_IP, 0, "reject"),
            Insn(BPF_LD | BPF_B | BPF_IND, 14 + 9),  # IPv4 protocol
            _jump(socket.IPPROTO_UDP, 0, "reject"),
            Insn(BPF_LD | BPF_H | BPF_IND, 14 + 6),  # flags + fragment offset
            Insn(BPF_JMP | BPF_JSET | BPF_K, 0x1FFF, "reject", 0),
            Insn(BPF_LD | BPF_B | BPF_IND, 14),  # version + IHL
            Insn(BPF_ALU | BPF_AND | BPF_K, 0x0F),
            Insn(BPF_ALU | BPF_LSH | BPF_K, 2),
            Insn(BPF_ALU | BPF_ADD | BPF_X),  # A = IHL*4 + tag bytes
            Insn(BPF_MISC | BPF_TAX),
            Insn(BPF_LD | BPF_H | BPF_IND, 14 + 2),  # UDP destination port
            _jump(DHCP_SERVER_PORT, "accept", "reject"),
        ]
    p += [
        Label("reject"),
        Insn(BPF_RET | BPF_K, 0),
        Label("accept"),
        Insn(BPF_RET | BPF_K, ACCEPT_LEN),
    ]
    return assemble(p)


def pack(program: Sequence[Insn]) -> bytes:
    """struct sock_filter[]: u16 code, u8 jt, u8 jf, u32 k (native byte order)."""
    out = bytearray()
    for insn in program:
        if not isinstance(insn.jt, int) or not isinstance(insn.jf, int):
            raise ValueError("program not assembled")
        out += struct.pack("=HBBI", insn.code, insn.jt, insn.jf, insn.k & 0xFFFFFFFF)
    return bytes(out)


def attach(sock: socket.socket, program: Sequence[Insn]) -> None:
    """SO_ATTACH_FILTER: struct sock_fprog { u16 len; struct sock_filter *filter; }."""
    raw = pack(program)
    buf = ctypes.create_string_buffer(raw, len(raw))
    fprog = struct.pack("HL", len(program), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def detach(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, SO_DETACH_FILTER, 0)


def disassemble(program: Sequence[Insn]) -> str:
    """One line per instruction, for docs and debugging (code, jt, jf, k like `tcpdump -dd`)."""
    return "\n".join(f"{{ 0x{i.code:02x}, {i.jt}, {i.jf}, 0x{i.k & 0xFFFFFFFF:08x} }}," for i in program)
