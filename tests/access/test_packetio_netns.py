"""PacketIO on a real veth: auxdata re-insertion, outgoing frames, asyncio adapter, send.

Every netns test runs twice: frames read from the TPACKET_V2 ring (the default) and with
`recvmsg` (ring=False, the fallback)."""

from __future__ import annotations

import asyncio
import select
import struct
from collections.abc import Iterator

import pytest

from abng.access.bpf import FilterSpec
from abng.access.packetio import (
    FLUSH_EVERY,
    PACKET_AUXDATA,
    PACKET_IGNORE_OUTGOING,
    SOL_PACKET,
    TP_STATUS_VLAN_TPID_VALID,
    TP_STATUS_VLAN_VALID,
    AuxData,
    PacketIO,
    restore_frame,
)
from abng.access.rxring import supported as ring_supported
from tests.helpers.netns import Link, in_netns, link_mac, linked_pair, ns_run, raw_socket, requires_root

DST = bytes.fromhex("ffffffffffff")
SRC = bytes.fromhex("020000000001")


def padi(*tags: tuple[int, int]) -> bytes:
    body = b"".join(struct.pack("!HH", tpid, vid) for tpid, vid in tags)
    return DST + SRC + body + struct.pack("!HBBHH", 0x8863, 0x11, 0x09, 0, 4) + b"\x01\x01\x00\x00"


def test_restore_frame_from_auxdata() -> None:
    frame = padi((0x8100, 20))
    aux = struct.pack("=IIIHHHH", TP_STATUS_VLAN_VALID | TP_STATUS_VLAN_TPID_VALID, 0, 0, 0, 0, 200, 0x88A8)
    assert restore_frame(frame, [(SOL_PACKET, PACKET_AUXDATA, aux)]) == padi((0x88A8, 200), (0x8100, 20))
    # TPID not reported: 802.1Q assumed; VLAN not valid: untouched
    aux_q = struct.pack("=IIIHHHH", TP_STATUS_VLAN_VALID, 0, 0, 0, 0, 7, 0)
    assert restore_frame(frame, [(SOL_PACKET, PACKET_AUXDATA, aux_q)])[12:16] == bytes.fromhex("81000007")
    assert restore_frame(frame, [(SOL_PACKET, PACKET_AUXDATA, bytes(20))]) == frame
    with pytest.raises(ValueError):
        AuxData.parse(b"\x00" * 4)
    with pytest.raises(ValueError):
        restore_frame(frame, [(SOL_PACKET, PACKET_AUXDATA, b"\x00" * 4)])
    with pytest.raises(ValueError):  # a tag to re-insert into a frame shorter than two MACs
        restore_frame(frame[:10], [(SOL_PACKET, PACKET_AUXDATA, aux)])


@pytest.fixture(params=[True, False], ids=["ring", "recvmsg"])
def ring(request: pytest.FixtureRequest) -> bool:
    if request.param and not ring_supported():
        pytest.skip("no TPACKET ring on this architecture (rxring.supported)")
    return bool(request.param)


@pytest.fixture
def link() -> Iterator[Link]:
    with linked_pair("cli", "bng") as lk:
        yield lk


def _open(link: Link, spec: FilterSpec | None, ring: bool) -> PacketIO:
    with in_netns(link.ns_b):
        pio = PacketIO(link.b, spec, ring=ring)
        pio.open()
    assert pio.ring is ring
    return pio


def _wait(pio: PacketIO) -> None:
    assert select.select([pio.fileno()], [], [], 5.0)[0], "nothing arrived"


@pytest.mark.netns
@requires_root
def test_qinq_arrives_with_both_tags_inline(link: Link, ring: bool) -> None:
    pio = _open(link, FilterSpec.control_plane(), ring)
    tx = raw_socket(link.ns_a, link.a)
    try:
        frame = padi((0x88A8, 200), (0x8100, 20))
        tx.send(frame)
        _wait(pio)
        assert pio.recv() == frame
        assert pio.counters.rx == 1 and pio.counters.rx_bytes == len(frame)
        assert pio.mac == bytes.fromhex(link_mac(link.ns_b, link.b).replace(":", ""))
    finally:
        tx.close()
        pio.close()


@pytest.mark.netns
@requires_root
def test_outgoing_frames_are_not_delivered(link: Link, ring: bool) -> None:
    """PACKET_IGNORE_OUTGOING: another sender's frames never reach the socket (not even cloned)."""
    pio = _open(link, None, ring)
    with in_netns(link.ns_a):
        rx = PacketIO(link.a, ring=ring)
        rx.open()
    other = raw_socket(link.ns_b, link.b)
    try:
        frame, marker = padi((0x8100, 100)), padi((0x8100, 101))
        other.send(frame)
        _wait(rx)
        assert rx.recv() == frame
        assert rx.send(marker)  # from the far end: the first frame pio sees is the marker
        _wait(pio)
        assert pio.recv() == marker
        assert pio.counters.dropped_outgoing == 0 and pio.counters.rx == 1
    finally:
        other.close()
        rx.close()
        pio.close()


@pytest.mark.netns
@requires_root
def test_own_outgoing_frames_are_ignored(link: Link, ring: bool) -> None:
    pio = _open(link, None, ring)  # no BPF: the userspace PACKET_OUTGOING check must do it
    assert pio._sock is not None  # kernels before 4.20 have no PACKET_IGNORE_OUTGOING: the fallback
    pio._sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 0)
    with in_netns(link.ns_a):
        rx = PacketIO(link.a, ring=ring)
        rx.open()
    other = raw_socket(link.ns_b, link.b)  # another sender on the host, like the kernel's stack
    try:
        frame = padi((0x8100, 100))
        assert pio.send(frame)  # the kernel never loops a socket's own frames back to it
        other.send(frame)
        for _ in range(2):
            _wait(rx)
            assert rx.recv() == frame  # it did go out, tag inline
        _wait(pio)  # the other socket's frame shows up as PACKET_OUTGOING
        assert pio.recv() is None
        assert pio.counters.dropped_outgoing == 1 and pio.counters.rx == 0 and pio.counters.tx == 1
    finally:
        other.close()
        rx.close()
        pio.close()


@pytest.mark.netns
@requires_root
async def test_asyncio_adapter_batches_and_survives_handler_errors(link: Link, ring: bool) -> None:
    pio = _open(link, FilterSpec.control_plane(), ring)
    tx = raw_socket(link.ns_a, link.a)
    got: list[tuple[bytes, int]] = []
    done = asyncio.Event()

    def on_frame(frame: bytes, ifindex: int) -> None:
        got.append((frame, ifindex))
        if len(got) == 10:
            done.set()
        if len(got) == 3:
            raise RuntimeError("handler bug")

    try:
        pio.start(on_frame)
        frames = [padi((0x8100, vid)) for vid in range(1, 11)]
        for f in frames:
            tx.send(f)
        await asyncio.wait_for(done.wait(), 5.0)
        assert [f for f, _ in got] == frames
        assert {i for _, i in got} == {pio.ifindex}
        assert pio.counters.handler_errors == 1
        with pytest.raises(RuntimeError):
            pio.start(on_frame)
    finally:
        tx.close()
        pio.close()
    with pytest.raises(RuntimeError, match="not open"):
        pio.fileno()


@pytest.mark.netns
@requires_root
def test_filter_rejects_outgoing_frames_in_the_kernel(link: Link, ring: bool) -> None:
    pio = _open(link, FilterSpec.control_plane(), ring)
    other = raw_socket(link.ns_b, link.b)
    tx = raw_socket(link.ns_a, link.a)
    try:
        other.send(padi((0x8100, 100)))  # a PADI the host itself sends: outgoing, never queued
        marker = padi((0x8100, 101))
        tx.send(marker)
        _wait(pio)
        assert pio.recv() == marker
        assert pio.recv() is None
        assert pio.counters.dropped_outgoing == 0 and pio.counters.rx == 1
    finally:
        tx.close()
        other.close()
        pio.close()


@pytest.mark.netns
@requires_root
def test_frames_longer_than_a_ring_slot_are_dropped_and_counted(link: Link, ring: bool) -> None:
    """Slots are sized from the MTU at open; a larger frame later arrives cut and is dropped."""
    pio = _open(link, None, ring)
    tx = raw_socket(link.ns_a, link.a)
    try:
        for ns, dev in ((link.ns_a, link.a), (link.ns_b, link.b)):
            ns_run(ns, "ip", "link", "set", dev, "mtu", "9000")
        small, big = padi((0x8100, 5)), padi((0x8100, 6)) + bytes(8000)
        tx.send(big)
        tx.send(small)
        _wait(pio)
        if ring:  # 2048-byte slots from MTU 1500: the 8 KB frame is cut and dropped
            assert pio.recv() == small
            assert pio.counters.truncated == 1
        else:  # recvmsg reads up to 64 KiB
            assert pio.recv() == big and pio.recv() == small
            assert pio.counters.truncated == 0
        assert pio.recv() is None
    finally:
        tx.close()
        pio.close()


@pytest.mark.netns
@requires_root
async def test_sends_during_a_batch_go_out_after_it_in_order(link: Link, ring: bool) -> None:
    """A handler's sends are queued (flushed every FLUSH_EVERY frames and at the end of the
    batch), never sent from inside the handler; sends outside a batch go at once; order kept."""
    pio = _open(link, None, ring)
    with in_netns(link.ns_a):
        peer = PacketIO(link.a, ring=ring)
        peer.open()
    n = FLUSH_EVERY + 4
    tx_seen: list[int] = []
    done = asyncio.Event()

    def on_frame(frame: bytes, ifindex: int) -> None:
        assert pio.send(frame[:12] + struct.pack("!HH", 0x8100, 500 + len(tx_seen)) + frame[16:])
        tx_seen.append(pio.counters.tx)
        if len(tx_seen) == n:
            done.set()

    try:
        assert pio.send(padi((0x8100, 400)))  # outside a batch: sent now
        assert pio.counters.tx == 1
        _wait(peer)
        assert peer.recv() == padi((0x8100, 400))
        for vid in range(n):  # queued before the reader starts: one batch
            assert peer.send(padi((0x8100, vid)))
        await asyncio.sleep(0.05)
        pio.start(on_frame)
        await asyncio.wait_for(done.wait(), 5.0)
        await asyncio.sleep(0.05)
        assert pio.counters.tx == 1 + n
        # the k-th handler call (0-based) saw at most its predecessors' replies sent, never its own
        assert all(t <= 1 + k for k, t in enumerate(tx_seen)), tx_seen
        assert tx_seen[FLUSH_EVERY] == 1 + FLUSH_EVERY  # the first FLUSH_EVERY replies went together
        assert tx_seen[FLUSH_EVERY - 1] == 1
        got = []
        for _ in range(n):
            _wait(peer)
            frame = peer.recv()
            assert frame is not None
            got.append(struct.unpack_from("!H", frame, 14)[0] & 0xFFF)
        assert got == [500 + k for k in range(n)]  # in the order they were sent
    finally:
        peer.close()
        pio.close()
