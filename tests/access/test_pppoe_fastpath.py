"""PPPoE session frames through TrunkService.on_frame: the known-session shortcut
(PppoeService.fast_frame) must do exactly what the general path does.

A real in-process Daemon (session store, manager, local AAA) with TrunkService + PppoeService;
the trunk is never opened: frames go in through ``TrunkService.on_frame`` and what abngd sends
is collected from ``TrunkService.send``. The subscriber is the lab's sans-I/O PPPoE client.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from abng.aaa import service as aaa_service
from abng.access.pppoe.service import PppoeService
from abng.access.service import TrunkService
from abng.core.daemon import Daemon, Paths
from abng.core.model import TerminateReason
from abng.lab.config import lab_config, write_config
from abng.lab.pppoe_client import PppoeSubscriber, PppoeUp
from abng.ppp.client import ClientConfig

AC_MAC = b"\x02\xac\x00\x00\x00\x01"
PEER = b"\x02\xab\x01\x00\x00\x01"
VIDS = (100, 1)
LCP_ECHO_REQ = bytes.fromhex("c021") + bytes((9, 42, 0, 8)) + b"\x00\x00\x00\x00"


def qinq(pcp: int = 0) -> bytes:
    return struct.pack("!HHHH", 0x88A8, pcp << 13 | VIDS[0], 0x8100, VIDS[1])


class Harness:
    def __init__(self, trunk: TrunkService, pppoe: PppoeService, daemon: Daemon) -> None:
        self.trunk, self.pppoe, self.daemon = trunk, pppoe, daemon
        self.sent: list[bytes] = []
        trunk.send = self.sent.append  # type: ignore[method-assign,assignment]
        self.client = PppoeSubscriber(
            ClientConfig("sub1@lab", "pw1", auth_protocols=("pap",)), random.Random(1).randbytes, b"hu"
        )
        self.frames_in = 0

    def feed(self, frame: bytes) -> None:
        self.frames_in += 1
        self.trunk.on_frame(frame, 1)

    def session_frame(
        self, ppp: bytes, *, tags: bytes | None = None, src: bytes = PEER, length: int | None = None
    ) -> bytes:
        sid = self.client.session_id
        n = len(ppp) if length is None else length
        return (
            AC_MAC
            + src
            + (qinq() if tags is None else tags)
            + b"\x88\x64\x11\x00"
            + struct.pack("!HH", sid, n)
            + ppp
        )

    async def exchange(self, now: float) -> None:
        for _ in range(50):
            out = self.client.take_output()
            for dst, etype, payload in out:
                self.feed(dst + PEER + qinq() + etype.to_bytes(2, "big") + payload)
            for _ in range(3):
                await asyncio.sleep(0)
            replies, self.sent[:] = list(self.sent), []
            for f in replies:
                assert f[:6] == PEER and f[6:12] == AC_MAC
                body = f[22:]
                if f[20:22] == b"\x88\x63":
                    self.client.receive_discovery(body, AC_MAC, now)
                else:
                    self.client.receive_session(body[6 : 6 + (body[4] << 8 | body[5])], now)
            if not out and not replies:
                return

    async def up(self) -> None:
        now = self.trunk.clock()
        self.client.start(now)
        await self.exchange(now)
        assert any(isinstance(e, PppoeUp) for e in self.client.take_events())


async def _build(tmp: Path, fast: bool) -> tuple[Harness, Any]:
    write_config(tmp / "etc", lab_config(pppoe_users=2, vlan_mode="qinq"))
    daemon = Daemon(Paths(tmp / "etc", tmp / "run", tmp / "var"))
    daemon.load_config()
    aaa = await aaa_service.setup(daemon)
    trunk = TrunkService(daemon, aaa)
    trunk.datapath.trunk_mac = AC_MAC
    pppoe = PppoeService(trunk)
    if not fast:
        trunk.fast = None
    return Harness(trunk, pppoe, daemon), daemon


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    harness, daemon = await _build(tmp_path, True)
    try:
        yield harness
    finally:
        harness.trunk.timers.close()
        await daemon.tasks.close()
        daemon.store.close()


def ipv4(src: str) -> bytes:
    """A 20-byte IPv4 header from `src` to 8.8.8.8 (the data path checks lengths, not sums)."""
    return bytes.fromhex("450000140000000040110000") + bytes(int(x) for x in src.split(".")) + bytes((8,) * 4)


def demux_frames(h: Harness) -> int:
    return int(next(r["frames"] for r in h.trunk.demux.snapshot() if tuple(r["vlans"]) == VIDS))  # type: ignore[call-overload]


def echo_replies(h: Harness) -> list[bytes]:
    return [f for f in h.sent if f[20:22] == b"\x88\x64" and f[28:30] == b"\xc0\x21" and f[30] == 10]


async def test_known_session_frames_take_the_shortcut_with_the_same_bookkeeping(h: Harness) -> None:
    await h.up()
    sub = h.pppoe.subs[h.client.session_id]
    assert h.pppoe.fast[sub.fast_key] is sub
    # every frame the subscriber sent was counted on its access interface, shortcut or not
    assert demux_frames(h) == h.frames_in
    assert dict(h.trunk.counters) == {}  # nothing dropped, nothing failed
    h.sent.clear()
    h.feed(h.session_frame(LCP_ECHO_REQ))
    assert len(echo_replies(h)) == 1 and demux_frames(h) == h.frames_in


async def test_general_and_short_path_agree(tmp_path: Path) -> None:
    results = []
    for fast in (False, True):
        harness, daemon = await _build(tmp_path / str(fast), fast)
        try:
            await harness.up()
            harness.feed(harness.session_frame(LCP_ECHO_REQ))
            harness.feed(harness.session_frame(LCP_ECHO_REQ, tags=qinq(pcp=5)))
            harness.feed(harness.session_frame(LCP_ECHO_REQ, length=200))
            ip = harness.pppoe.subs[harness.client.session_id].ip
            assert ip is not None
            for src in (ip, "192.0.2.9"):  # the subscriber's address, then a spoofed one
                harness.feed(harness.session_frame(b"\x00\x21" + ipv4(src)))
            harness.feed(harness.session_frame(b"\x00\x21" + ipv4(ip)[:19]))  # cut header
            c = harness.trunk.datapath.counters(ip)
            s = daemon.sessions.table.by_id
            results.append(
                (
                    demux_frames(harness),
                    dict(harness.trunk.counters),
                    dict(harness.trunk.datapath.drops),
                    len(echo_replies(harness)),
                    sorted(x.state.value for x in s.values()),
                    None if c is None else (c.in_packets, c.in_bytes),
                )
            )
        finally:
            harness.trunk.timers.close()
            await daemon.tasks.close()
            daemon.store.close()
    assert results[0] == results[1]
    assert results[1][3] == 2
    assert results[1][2] == {"pppoe_length": 1, "spoofed_source": 1, "ipv4_header": 1}
    assert results[1][5] == (1, 20)


async def test_frames_the_shortcut_leaves_to_the_general_path(h: Harness) -> None:
    await h.up()
    h.sent.clear()
    # another PCP: not the key, but the same session (the general path answers it)
    h.feed(h.session_frame(LCP_ECHO_REQ, tags=qinq(pcp=3)))
    assert len(echo_replies(h)) == 1
    # bad PPPoE lengths: the data path's drops, as always
    h.feed(h.session_frame(LCP_ECHO_REQ, length=len(LCP_ECHO_REQ) + 1))
    h.feed(h.session_frame(LCP_ECHO_REQ, length=1))
    h.feed(h.session_frame(b"\xc0", length=1))
    assert h.trunk.counters["datapath_pppoe_length"] == 2
    assert h.trunk.counters["datapath_pppoe_short"] == 1
    # IPv4 goes to the data path (its counters), not to the PPP machine
    ip = h.pppoe.subs[h.client.session_id].ip
    assert ip is not None
    h.feed(h.session_frame(b"\x00\x21" + ipv4(ip)))
    c = h.trunk.datapath.counters(ip)
    assert c is not None and c.in_packets == 1
    # another source MAC with the session id: unknown session, answered with PADT
    h.sent.clear()
    h.feed(h.session_frame(LCP_ECHO_REQ, src=b"\x02\xab\x01\x00\x00\x09"))
    assert h.trunk.counters["pppoe_unknown_session"] == 1 and h.sent[0][20:22] == b"\x88\x63"
    assert demux_frames(h) == h.frames_in - 4  # the data path took 4 (3 dropped, 1 IPv4) first


async def test_interface_without_pppoe_or_gone(h: Harness) -> None:
    await h.up()
    demux = h.trunk.demux
    entry = demux._ifaces[VIDS]
    entry.iface = dataclasses.replace(entry.iface, services=("dhcp",))
    h.sent.clear()
    h.feed(h.session_frame(LCP_ECHO_REQ))
    assert h.trunk.counters["no_service_8864"] == 1 and not h.sent
    demux.reconfigure([], enabled=True)  # no profile any more: the interface is removed
    h.feed(h.session_frame(LCP_ECHO_REQ))
    assert h.trunk.counters["demux_unknown_vlan"] == 1 and not h.sent


async def test_session_timer_and_teardown_drop_the_shortcut(h: Harness) -> None:
    await h.up()
    sub = h.pppoe.subs[h.client.session_id]
    h.sent.clear()
    sub.on_timer(h.trunk.clock() + 31)  # type: ignore[misc]  # the LCP echo interval passed
    assert any(f[28:30] == b"\xc0\x21" and f[30] == 9 for f in h.sent)  # Echo-Request
    s = h.daemon.sessions.find(sub.core_id)
    assert s is not None
    await h.pppoe.disconnect(s, TerminateReason.ADMIN_RESET)
    assert not h.pppoe.fast and h.client.session_id not in h.pppoe.subs
    h.sent.clear()
    h.feed(h.session_frame(LCP_ECHO_REQ))
    assert h.trunk.counters["pppoe_unknown_session"] == 1
