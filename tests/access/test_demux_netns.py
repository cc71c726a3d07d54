"""Frames from a real veth through PacketIO, the frames codec and the demux (QinQ and triple)."""

from __future__ import annotations

import select
import struct
from collections.abc import Iterator

import pytest

from abng.access.bpf import FilterSpec
from abng.access.demux import AccessInterface, Demux, Drop, Profile
from abng.access.frames import parse_frame
from abng.access.packetio import PacketIO
from tests.helpers.netns import Link, in_netns, linked_pair, raw_socket, requires_root

pytestmark = [pytest.mark.netns, requires_root]


def padi(*tags: tuple[int, int]) -> bytes:
    body = b"".join(struct.pack("!HH", tpid, vid) for tpid, vid in tags)
    return b"\xff" * 6 + bytes.fromhex("020000000001") + body + bytes.fromhex("8863110900000000")


@pytest.fixture
def link() -> Iterator[Link]:
    with linked_pair("cli", "bng") as lk:
        yield lk


def test_padis_create_access_interfaces_from_wire_frames(link: Link) -> None:
    demux = Demux(
        link.b,
        [
            Profile("res", link.b, frozenset({111}), (100, 999), (1, 4094), require_packets=2),
            Profile("biz", link.b, frozenset(), (200, 299), (1, 4094), require_packets=2),
        ],
    )
    with in_netns(link.ns_b):
        pio = PacketIO(link.b, FilterSpec.control_plane())
        pio.open()
    tx = raw_socket(link.ns_a, link.a)
    frames = [
        padi((0x88A8, 111), (0x8100, 500), (0x8100, 100)),
        padi((0x88A8, 250), (0x8100, 20)),
        padi((0x88A8, 113), (0x8100, 500), (0x8100, 100)),  # outer VLAN of no profile
    ]
    results: list[AccessInterface | Drop] = []
    try:
        for now in (0.0, 1.0):
            for frame in frames:
                tx.send(frame)
            for _ in frames:
                assert select.select([pio.fileno()], [], [], 5.0)[0]
                got = pio.recv()
                assert got is not None
                results.append(demux.classify(parse_frame(got).tags, now))
    finally:
        tx.close()
        pio.close()
    assert results[:3] == [Drop("pending"), Drop("pending"), Drop("unknown_vlan")]
    names = [r.name if isinstance(r, AccessInterface) else r for r in results[3:]]
    assert names == [f"{link.b}.111.500.100", f"{link.b}.250.20", Drop("unknown_vlan")]
    assert {i.name for i in demux.take_created()} == {f"{link.b}.111.500.100", f"{link.b}.250.20"}
