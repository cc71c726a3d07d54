"""Crash containment (STYLE §5) in the access layer, in-process (no root needed): the daemon's real
session manager, AAA and PPPoE service are driven with frames from the project's PPPoE client;
a bug inside one subscriber's PPP machine ends that session only (PADT, nas_error, counted)."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path
from typing import Any

import yaml

from abng.access.frames import ETH_P_PPPOE_DISC, ETH_P_PPPOE_SESS, build_frame, parse_frame
from abng.access.pppoe.client import DiscoveryClient, DiscoveryUp
from abng.access.pppoe.codec import decode, decode_session, session_frame
from abng.access.subsystem import AccessApplier, setup
from abng.core.daemon import Daemon, Paths
from abng.core.model import SessionState
from abng.ppp.client import ClientConfig, ClientUp, PPPClient

BNG_MAC = bytes.fromhex("020000000001")
CONFIG = {
    "system": {"hostname": "bng-unit"},
    "interfaces": {"management": "lo", "subscriber_trunk": "nosuchtrunk0", "upstream": "nosuchup0"},
    "demux": {"enabled": False},
    "pppoe": {"enabled": True, "ac_name": "unit-ac"},
    "aaa": {
        "pools": {"ppp": {"network": "100.64.0.0/24", "gateway": "100.64.0.1"}},
        "default_pool": "ppp",
        "subscribers": [{"username": "alice", "password": "secret1"}],
    },
}


class Client:
    def __init__(self, mac: bytes) -> None:
        self.mac = mac
        self.disc = DiscoveryClient(timeout=0.5)
        self.ppp: PPPClient | None = None
        self.sid = 0
        self.up: ClientUp | None = None
        self.padt = False
        self.out: list[bytes] = []

    def start(self, now: float) -> None:
        self.disc.start(now)
        self.flush(now)

    def flush(self, now: float) -> None:
        for dst, payload in self.disc.take_output():
            self.out.append(build_frame(dst, self.mac, (), ETH_P_PPPOE_DISC, payload))
        for e in self.disc.take_events():
            if isinstance(e, DiscoveryUp) and self.ppp is None:
                self.sid = e.session_id
                self.ppp = PPPClient(
                    ClientConfig("alice", "secret1", auth_protocols=("pap",)), secrets.token_bytes, now
                )
                for p in self.ppp.start(now):
                    self.out.append(
                        build_frame(BNG_MAC, self.mac, (), ETH_P_PPPOE_SESS, session_frame(self.sid, p))
                    )
        if self.ppp is not None:
            for p in self.ppp.take_output():
                self.out.append(
                    build_frame(BNG_MAC, self.mac, (), ETH_P_PPPOE_SESS, session_frame(self.sid, p))
                )
            for e in self.ppp.take_events():
                if isinstance(e, ClientUp):
                    self.up = e

    def receive(self, frame: bytes, now: float) -> None:
        eth = parse_frame(frame)
        if eth.ethertype == ETH_P_PPPOE_DISC:
            if decode(eth.payload).code == 0xA7:
                self.padt = True
            self.disc.receive(eth.payload, eth.src, now)
        elif self.ppp is not None:
            self.ppp.receive(decode_session(eth.payload)[1], now)
        self.flush(now)


async def pump(trunk: Any, sent: list[bytes], clients: list[Client], rounds: int = 100) -> None:
    for _ in range(rounds):
        now = time.time()
        for c in clients:
            frames, c.out = c.out, []
            for f in frames:
                trunk.on_frame(f, 0)
        frames, sent[:] = list(sent), []
        for f in frames:
            for c in clients:
                if f[:6] == c.mac:
                    c.receive(f, now)
        await asyncio.sleep(0.01)
        if all(c.up for c in clients) and not any(c.out for c in clients) and not sent:
            return


async def test_bug_in_one_ppp_session_ends_only_that_session(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "etc", tmp_path / "run", tmp_path / "var")
    paths.config_dir.mkdir(parents=True)
    (paths.config_dir / "running-config.yaml").write_text(yaml.safe_dump(CONFIG))
    daemon = Daemon(paths)
    daemon.load_config()
    await setup(daemon)  # the trunk cannot open (no such interface): abngd carries on, retrying
    applier = next(a for a in daemon.config_appliers if isinstance(a, AccessApplier))
    trunk, pppoe = applier.trunk, applier.pppoe
    assert trunk is not None and pppoe is not None and trunk.io is None
    trunk.datapath.trunk_mac = BNG_MAC
    sent: list[bytes] = []
    trunk.send = sent.append  # capture what the BNG puts on the wire
    a, b = Client(bytes.fromhex("02aa00000001")), Client(bytes.fromhex("02bb00000002"))
    for c in (a, b):
        c.start(time.time())
    await pump(trunk, sent, [a, b])
    assert a.up is not None and b.up is not None
    await asyncio.sleep(0.05)
    sessions = {s.mac_address: s for s in daemon.sessions.table}
    sa, sb = sessions["02:aa:00:00:00:01"], sessions["02:bb:00:00:00:02"]
    assert sa.state is SessionState.ACTIVE and sb.state is SessionState.ACTIVE

    def boom(*args: object) -> None:
        raise RuntimeError("injected bug")

    pppoe.subs[a.sid].ppp.receive = boom  # type: ignore[method-assign]
    assert a.ppp is not None and b.ppp is not None
    lcp_echo = b"\xc0\x21\x09\x07\x00\x08" + a.ppp.lcp_policy.magic.to_bytes(4, "big")
    a.out.append(build_frame(BNG_MAC, a.mac, (), ETH_P_PPPOE_SESS, session_frame(a.sid, lcp_echo)))
    await pump(trunk, sent, [a, b], rounds=20)
    await asyncio.sleep(0.1)
    assert a.padt  # the broken session got a PADT
    assert daemon.sessions.find(sa.id) is None
    ended = next(h for h in daemon.sessions.history if h.id == sa.id)
    assert ended.reason == "nas_error"
    assert daemon.sessions.get(sb.id).state is SessionState.ACTIVE  # everyone else carries on
    assert trunk.counters["pppoe_internal_error"] == 1
    # the other client's session is still served: its echo gets answered
    before = len(sent)
    echo = b"\xc0\x21\x09\x01\x00\x08" + b.ppp.lcp_policy.magic.to_bytes(4, "big")
    trunk.on_frame(build_frame(BNG_MAC, b.mac, (), ETH_P_PPPOE_SESS, session_frame(b.sid, echo)), 0)
    assert len(sent) == before + 1 and sent[-1][:6] == b.mac
    await daemon.tasks.close()
    await trunk.close()
    daemon.store.close()
