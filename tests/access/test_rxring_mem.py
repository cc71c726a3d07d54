"""RxRing read on an in-memory ring filled as the kernel fills it (no socket, no root).

The ring is an anonymous shared mapping (``fileno() == -1``); slots are written like the
kernel writes them (tpacket2_hdr, sockaddr_ll packet type, the outer tag moved into the
header). Every frame read must be what ``frames.insert_outer_tag`` makes of the slot's frame,
in order, with the same counters as reading one frame at a time.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

import pytest

from abng.access import rxring
from abng.access.frames import insert_outer_tag
from abng.access.packetio import PacketCounters

_TP2 = struct.Struct("=IIIHHIIHH")
SLOT = 2048


class _Sock:
    def setsockopt(self, *args: object) -> None:
        return None

    def fileno(self) -> int:
        return -1


@dataclass
class Slot:
    frame: bytes  # as the kernel holds it (outer tag already stripped)
    tci: int = 0
    tpid: int = 0
    vlan: bool = False
    tpid_valid: bool = True
    outgoing: bool = False
    cut: int = 0  # snaplen = len - cut (a frame longer than the slot)
    mac: int = 66


def make_ring(slots_wanted: int = 32) -> tuple[rxring.RxRing, list[int]]:
    ring = rxring.RxRing(_Sock(), SLOT, SLOT * slots_wanted)  # type: ignore[arg-type]
    return ring, [0]


def deliver(ring: rxring.RxRing, pos: list[int], s: Slot) -> None:
    mm = ring._map
    assert mm is not None
    off = pos[0] * ring.slot
    assert not mm[off] & rxring.TP_STATUS_USER, "ring full"
    status = rxring.TP_STATUS_USER
    if s.vlan:
        status |= rxring.TP_STATUS_VLAN_VALID
        if s.tpid_valid:
            status |= rxring.TP_STATUS_VLAN_TPID_VALID
    snap = len(s.frame) - s.cut
    mm[off + 32 : off + s.mac] = b"\xee" * (s.mac - 32)  # sockaddr_ll and padding: garbage
    mm[off + s.mac : off + s.mac + snap] = s.frame[:snap]
    mm[off + 32 + 10] = rxring.PACKET_OUTGOING if s.outgoing else 0
    _TP2.pack_into(mm, off, status, len(s.frame), snap, s.mac, s.mac + 14, 0, 0, s.tci, s.tpid)
    pos[0] = (pos[0] + 1) % ring.slots


def expected(s: Slot) -> bytes | None:
    if s.outgoing or s.cut:
        return None
    if not s.vlan:
        return s.frame
    if len(s.frame) < 12:
        return None
    return insert_outer_tag(s.frame, s.tpid if s.tpid_valid else 0, s.tci)


def random_slot(rng: random.Random) -> Slot:
    n = rng.choice([6, 11, 12, 13, 14, 60, 64, 200, 1500])
    return Slot(
        frame=rng.randbytes(n),
        tci=rng.randrange(0x10000),
        tpid=rng.choice([0x8100, 0x88A8, 0x9100, 0]),
        vlan=rng.random() < 0.7,
        tpid_valid=rng.random() < 0.8,
        outgoing=rng.random() < 0.1,
        cut=rng.choice([0, 0, 0, 0, 1]) if n > 1 else 0,
        mac=rng.choice([66, 82, 98]),
    )


def test_tagged_frame_comes_back_with_its_tag_inline() -> None:
    ring, pos = make_ring()
    body = bytes(range(12)) + b"\x88\x64" + b"payload"
    deliver(ring, pos, Slot(body, tci=0x6005, tpid=0x88A8, vlan=True))
    deliver(ring, pos, Slot(body, tci=7, tpid=0, vlan=True, tpid_valid=False))  # old kernel: 802.1Q
    deliver(ring, pos, Slot(body))
    c = PacketCounters()
    got = ring.read(64, c)
    assert got == [
        body[:12] + b"\x88\xa8\x60\x05" + body[12:],
        body[:12] + b"\x81\x00\x00\x07" + body[12:],
        body,
    ]
    assert (c.rx, c.rx_bytes) == (3, sum(len(f) for f in got))
    assert ring.read(64, c) == []


@pytest.mark.parametrize("seed", range(6))
def test_batches_match_frame_by_frame_semantics(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    if seed % 2:  # the copying way (a frame offset with no room before it; kernels never do it)
        monkeypatch.setattr(rxring, "_IN_PLACE", SLOT)
    rng = random.Random(seed)
    ring, pos = make_ring(16)
    counters = PacketCounters()
    want: list[bytes] = []
    got: list[bytes] = []
    outgoing = truncated = errors = 0
    for _round in range(40):  # wraps around the 16 slots many times
        for _ in range(rng.randrange(0, 16)):
            s = random_slot(rng)
            deliver(ring, pos, s)
            e = expected(s)
            if e is not None:
                want.append(e)
            elif s.outgoing:
                outgoing += 1
            elif s.cut:
                truncated += 1
            else:
                errors += 1
        limit = rng.choice([1, 3, 64])
        while True:
            batch = ring.next_frame(counters) if limit == 1 else ring.read(limit, counters)
            if not batch:
                break
            got.extend([batch] if isinstance(batch, bytes) else batch)
    assert got == want
    assert counters.rx == len(want) and counters.rx_bytes == sum(map(len, want))
    assert (counters.dropped_outgoing, counters.truncated, counters.errors) == (outgoing, truncated, errors)


def test_read_respects_the_limit_and_releases_each_slot() -> None:
    ring, pos = make_ring(8)
    for i in range(8):
        deliver(ring, pos, Slot(bytes([i]) * 20))
    c = PacketCounters()
    assert [f[0] for f in ring.read(5, c)] == [0, 1, 2, 3, 4]
    for i in range(5):  # the slots read are the kernel's again: it can fill them
        deliver(ring, pos, Slot(bytes([8 + i]) * 20))
    assert [f[0] for f in ring.read(64, c)] == [5, 6, 7, 8, 9, 10, 11, 12]
    assert c.rx == 13


def test_closed_ring_reads_nothing() -> None:
    ring, pos = make_ring(4)
    deliver(ring, pos, Slot(b"x" * 20))
    ring.close()
    assert ring.read(64, PacketCounters()) == []
    assert ring.next_frame(PacketCounters()) is None
