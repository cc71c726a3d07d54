"""What an emulated subscriber is (kind, MAC, VLAN tags, credentials) and how many are laid out.

``layout(kind, count, vlan_mode, first=...)`` gives the specs the lab and the load generator
hand to the engine.  VLAN plans match the lab's demux profiles (abng/lab/config.py):

- ``untagged``: no tag (the BNG runs with demux disabled);
- ``dot1q``: 802.1Q VLAN 200-299;
- ``qinq``: S-Tag 100-199 (802.1ad) + C-Tag 1-4000;
- ``mixed``: alternately dot1q and qinq.

``per_vlan`` subscribers share one VLAN (1 = one VLAN per subscriber, the 1:1 model).
Also: ICMP echo and UDP datagrams the engine sends over a session (lab traffic).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from abng.access.frames import TPID_8021AD, TPID_8021Q, VlanTag, build_ipv4, internet_checksum

VLAN_MODES = ("untagged", "dot1q", "qinq", "mixed")
DOT1Q_FIRST, DOT1Q_COUNT = 200, 100
STAG_FIRST, STAG_COUNT = 100, 100
CTAGS_PER_STAG = 4000
IPPROTO_ICMP = 1
IPPROTO_UDP = 17


@dataclass(frozen=True, slots=True)
class SubscriberSpec:
    kind: str  # "pppoe" | "dhcp"
    index: int  # unique per kind: MACs, user names and VLANs derive from it
    tags: tuple[VlanTag, ...] = ()
    username: str = ""
    password: str = field(default="", repr=False)
    auth: str = "pap"  # pap | chap (PPPoE)

    @property
    def mac(self) -> bytes:
        return bytes((0x02, 0xAB, 0x01 if self.kind == "pppoe" else 0x02)) + self.index.to_bytes(3, "big")

    @property
    def vlan_text(self) -> str:
        return ".".join(str(t.vid) for t in self.tags) or "untagged"


def lab_user(index: int) -> tuple[str, str]:
    """The generated local-AAA credentials of PPPoE subscriber ``index`` (see config.py)."""
    return f"sub{index}@lab", f"pw{index}"


#: VlanTag objects by (tpid << 16 | vid): tags are immutable, so subscribers on the same S-VLAN
#: (or C-VLAN number) share one object (at most 100 + 100 + 4,000 of them in these plans)
_VLAN_TAGS: dict[int, VlanTag] = {}


def _vlan_tag(tpid: int, vid: int) -> VlanTag:
    tag = _VLAN_TAGS.get(tpid << 16 | vid)
    if tag is None:
        tag = _VLAN_TAGS[tpid << 16 | vid] = VlanTag(tpid, vid)
    return tag


def tags_for(mode: str, slot: int) -> tuple[VlanTag, ...]:
    """The tag stack of VLAN ``slot`` under ``mode`` (slot = index // per_vlan)."""
    if mode == "qinq":
        stag = STAG_FIRST + (slot // CTAGS_PER_STAG) % STAG_COUNT
        return (_vlan_tag(TPID_8021AD, stag), _vlan_tag(TPID_8021Q, 1 + slot % CTAGS_PER_STAG))
    if mode == "untagged":
        return ()
    if mode == "mixed":
        return tags_for("dot1q" if slot % 2 == 0 else "qinq", slot // 2)
    if mode == "dot1q":
        return (_vlan_tag(TPID_8021Q, DOT1Q_FIRST + slot % DOT1Q_COUNT),)
    raise ValueError(f"unknown VLAN mode {mode!r} (one of {', '.join(VLAN_MODES)})")


def layout(
    kind: str,
    count: int,
    vlan_mode: str,
    *,
    first: int = 1,
    per_vlan: int = 1,
    auth: str = "pap",
    credentials: dict[int, tuple[str, str]] | None = None,
) -> list[SubscriberSpec]:
    if kind not in ("pppoe", "dhcp"):
        raise ValueError(f"unknown subscriber kind {kind!r}")
    if per_vlan < 1:
        raise ValueError("per_vlan must be >= 1")
    given = credentials or {}
    pppoe = kind == "pppoe"
    specs = []
    for index in range(first, first + count):
        tags = tags_for(vlan_mode, (index - 1) // per_vlan)
        if pppoe:
            user, pw = given.get(index) or (f"sub{index}@lab", f"pw{index}")  # = lab_user(index)
            specs.append(SubscriberSpec(kind, index, tags, user, pw, auth))
        else:
            specs.append(SubscriberSpec(kind, index, tags, "", "", auth))
    return specs


_TAG = struct.Struct("!HH")
_TAG2 = struct.Struct("!HHHH")


def tag_stack_bytes(tags: tuple[VlanTag, ...]) -> bytes:
    """The tag stack as on the wire (TPID + TCI per tag, outer first)."""
    if len(tags) == 2:
        outer, inner = tags
        return _TAG2.pack(outer.tpid, outer.tci, inner.tpid, inner.tci)
    return b"".join([_TAG.pack(t.tpid, t.tci) for t in tags])


# ------------------------------------------------------------------------------ traffic packets


def icmp_echo(src: int, dst: int, ident: int, seq: int, payload: bytes = b"abng-lab") -> bytes:
    body = struct.pack("!BBHHH", 8, 0, 0, ident & 0xFFFF, seq & 0xFFFF) + payload
    csum = internet_checksum(body)
    body = body[:2] + struct.pack("!H", csum) + body[4:]
    return build_ipv4(src, dst, IPPROTO_ICMP, body, ident=seq)


def parse_echo_reply(packet: bytes) -> tuple[int, int] | None:
    """(ident, seq) when ``packet`` is an IPv4 ICMP echo reply, else None."""
    if len(packet) < 28 or packet[0] >> 4 != 4 or packet[9] != IPPROTO_ICMP:
        return None
    ihl = (packet[0] & 0xF) * 4
    if len(packet) < ihl + 8 or packet[ihl] != 0:
        return None
    ident, seq = struct.unpack_from("!HH", packet, ihl + 4)
    return ident, seq


def udp_packet(src: int, dst: int, sport: int, dport: int, size: int) -> bytes:
    """A UDP datagram with ``size`` bytes of payload and no checksum (0 = none, RFC 768)."""
    header = struct.pack("!HHHH", sport, dport, 8 + size, 0)
    return build_ipv4(src, dst, IPPROTO_UDP, header + bytes(size))
