"""Fixtures for the policy tests: abngd's subsystems in-process in a throwaway namespace.

``policy_env`` builds a real :class:`~abng.core.daemon.Daemon` (config store, session manager,
hooks) whose policy service works inside a fresh namespace holding a TUN device (the shaping
device of the userspace backend) and a veth pair used as the CGNAT handoff.  Sessions enter
through the manager's internal interface (open / activate / terminate), as the access layer does.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from abng.core.daemon import Daemon, Paths
from abng.core.model import Session, SessionType
from abng.dataplane import service as policy
from abng.dataplane.detect import DataplaneInfo, detect
from abng.dataplane.service import PolicyService
from tests.dataplane.dp_util import shard_filters, subscriber_classes
from tests.helpers.netns import delete_netns, ns_run, run, unique_name

requires_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces")

REPO = Path(__file__).resolve().parents[2]
TUN = "ptun0"
HANDOFF = "pho0"
HANDOFF_GW = "10.99.0.1"


def base_config() -> dict[str, Any]:
    """The embedded default with the access protocols off (sessions come from the test)."""
    cfg: dict[str, Any] = yaml.safe_load((REPO / "abng/config/default.yaml").read_text())
    cfg["pppoe"]["enabled"] = False
    cfg["dhcp"]["enabled"] = False
    cfg["api"]["enabled"] = False
    cfg["qos"] = {"enabled": True, "default_down": "100mbit", "default_up": "40mbit"}
    cfg["cgnat"] = {"enabled": False, "handoff_interface": HANDOFF, "handoff_gateway": HANDOFF_GW}
    return copy.deepcopy(cfg)


@pytest.fixture(scope="session")
def detected() -> DataplaneInfo:
    return detect("auto")


def make_netns(prefix: str) -> str:
    name = unique_name(prefix, max_len=32)
    run("ip", "netns", "add", name)
    ns_run(name, "ip", "link", "set", "lo", "up")
    return name


def add_tun(ns: str, name: str = TUN) -> None:
    ns_run(ns, "ip", "tuntap", "add", name, "mode", "tun")
    ns_run(ns, "ip", "link", "set", name, "up")


def add_handoff(ns: str) -> None:
    ns_run(ns, "ip", "link", "add", HANDOFF, "type", "veth", "peer", "name", "pho1")
    ns_run(ns, "ip", "addr", "add", "10.99.0.2/24", "dev", HANDOFF)
    for dev in (HANDOFF, "pho1"):
        ns_run(ns, "ip", "link", "set", dev, "up")


@pytest.fixture
def policy_ns() -> Iterator[str]:
    ns = make_netns("pol")
    try:
        add_tun(ns)
        add_handoff(ns)
        yield ns
    finally:
        delete_netns(ns)


@dataclass
class Env:
    daemon: Daemon
    svc: PolicyService
    ns: str

    @property
    def mgr(self) -> Any:
        return self.daemon.sessions

    async def up(self, n: int, ip: str, type: SessionType = SessionType.DHCP, **fields: Any) -> Session:
        s = self.mgr.open(type, f"user{n}", f"02:00:00:00:{n >> 8:02x}:{n & 0xFF:02x}", f"trunk0.100.{n}")
        return await self.mgr.activate(s.id, ip_address=ip, **fields)  # type: ignore[no-any-return]

    async def rpc(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return await self.daemon.rpc.methods[method](params or {}, None)  # type: ignore[arg-type]

    async def commit(self, *changes: tuple[str, Any]) -> dict[str, Any]:
        for path, value in changes:
            await asyncio.to_thread(self.daemon.config.set, path, value)
        return await self.daemon.commit_config(comment=None, user="test", check=False)


async def build_env(tmp_path: Path, ns: str, info: DataplaneInfo, config: dict[str, Any]) -> Env:
    etc = tmp_path / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "running-config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    daemon = Daemon(Paths(etc, tmp_path / "run", tmp_path / "var"))
    daemon.load_config()
    svc = await policy.setup(daemon, netns=ns, device=TUN, info=info)
    assert svc is not None
    return Env(daemon, svc, ns)


async def close_env(env: Env) -> None:
    await env.daemon.tasks.close()
    await env.svc.close()
    env.daemon.store.close()


@pytest.fixture
async def env(tmp_path: Path, policy_ns: str, detected: DataplaneInfo) -> AsyncIterator[Env]:
    e = await build_env(tmp_path, policy_ns, detected, base_config())
    try:
        yield e
    finally:
        await close_env(e)


# ---- kernel read-back (a second tool: tc -j, ip -j, nft -j) ----------------------------------
def classes(ns: str, dev: str) -> dict[str, int]:
    """Per-subscriber HTB classes: handle -> rate (bit/s), parsed from ``tc class show``."""
    return subscriber_classes(ns, dev)


def filters(ns: str, dev: str) -> list[dict[str, Any]]:
    """Per-subscriber u32 filters (``tc -j filter show`` of every shard qdisc)."""
    return shard_filters(ns, dev)


def routes188(ns: str, table: str = "main") -> list[dict[str, Any]]:
    out = ns_run(ns, "ip", "-j", "route", "show", "table", table, "proto", "188").stdout
    return json.loads(out or "[]")  # type: ignore[no-any-return]


def rules(ns: str) -> list[dict[str, Any]]:
    return json.loads(ns_run(ns, "ip", "-j", "rule", "show").stdout)  # type: ignore[no-any-return]


def nft_table(ns: str) -> list[dict[str, Any]]:
    proc = ns_run(ns, "nft", "-j", "list", "table", "inet", "abng_cgnat", check=False)
    if proc.returncode != 0:
        return []
    return json.loads(proc.stdout)["nftables"]  # type: ignore[no-any-return]


def nft_bypass(ns: str) -> set[str]:
    for item in nft_table(ns):
        if "set" in item and item["set"]["name"] == "bypass":
            return {str(e) for e in item["set"].get("elem", [])}
    return set()
