"""End-to-end topology: a real abngd in its own namespace between subscribers and an upstream host.

```
 cli ns [cli_if] ==veth== [trunk] bng ns (abngd, TUN abng0) [up_bng] ==veth== [up_if] up ns
                                                              192.0.2.1/24      192.0.2.2/24
```

abngd runs as ``ip netns exec <bng> python -m abng.core.daemon`` (``ip netns exec`` execs, so
the PID is abngd's) and is stopped by PID.  Services abngd talks to (FreeRADIUS) are started
inside the bng namespace (``in_netns`` around the fork) so they share its loopback.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from abng.lab.procs import unix_connectable
from tests.helpers.daemon import REPO, AbngdHandle
from tests.helpers.netns import (
    netns,
    ns_addr,
    ns_route,
    ns_run,
    ns_sysctl,
    veth_pair,
)

UPSTREAM_BNG = "192.0.2.1"
UPSTREAM_HOST = "192.0.2.2"
PPP_POOL = {"network": "100.64.0.0/24", "gateway": "100.64.0.1", "dns": ["192.0.2.53"]}
IPOE_POOL = {"network": "100.64.1.0/24", "gateway": "100.64.1.1", "dns": ["192.0.2.53"]}


@dataclass
class Topo:
    bng: str
    cli: str
    up: str
    trunk: str
    cli_if: str
    up_bng: str
    up_if: str
    base: Path
    abngd: AbngdHandle | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    # ---- abngd ----------------------------------------------------------------------------------
    def config(self, **sections: Any) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "system": {"hostname": "bng-e2e", "dataplane": "userspace"},
            "interfaces": {"management": "lo", "subscriber_trunk": self.trunk, "upstream": self.up_bng},
            "demux": {"enabled": False},
            "pppoe": {"enabled": True, "ac_name": "abng-e2e", "lcp_echo_interval": 1, "lcp_echo_failure": 3},
            "dhcp": {"enabled": True, "lease_time": 120},
            "aaa": {
                "order": ["local", "radius"],
                "pools": {"ppp": PPP_POOL, "ipoe": IPOE_POOL},
                "default_pool": "ppp",
                "dhcp_default_pool": "ipoe",
                "subscribers": [
                    {"username": "alice", "password": "secret1"},
                    {"username": "bob", "password": "secret2", "rate_down": "50mbit", "rate_up": "20mbit"},
                ],
            },
        }
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(cfg.get(key), dict):
                cfg[key] = {**cfg[key], **value}
            else:
                cfg[key] = value
        return cfg

    def start_abngd(self, config: dict[str, Any], timeout: float = 20.0) -> AbngdHandle:
        etc, run, var = self.base / "etc", self.base / "run", self.base / "var"
        for d in (etc, run, var):
            d.mkdir(parents=True, exist_ok=True)
        (etc / "running-config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        log_path = self.base / "abngd.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        cmd = [
            "ip",
            "netns",
            "exec",
            self.bng,
            sys.executable,
            "-m",
            "abng.core.daemon",
            "--config-dir",
            str(etc),
            "--run-dir",
            str(run),
            "--state-dir",
            str(var),
            "--log-level",
            "info",
        ]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env=env, cwd=REPO)
        handle = AbngdHandle(run / "abngd.sock", etc, run, var, proc, log_path)
        deadline = time.monotonic() + timeout
        while (
            not unix_connectable(handle.socket_path)
            or f"subscriber trunk {self.trunk} open" not in handle.log()[offset:]
        ):
            if proc.poll() is not None:
                raise RuntimeError(f"abngd exited with {proc.returncode}:\n{handle.log()[-4000:]}")
            if time.monotonic() > deadline:
                handle.stop()
                raise RuntimeError(f"abngd not ready within {timeout}s:\n{handle.log()[-4000:]}")
            time.sleep(0.05)
        self.abngd = handle
        return handle

    def stop_abngd(self) -> None:
        if self.abngd is not None:
            self.abngd.stop()

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        assert self.abngd is not None
        return self.abngd.call(method, params)

    def subscribers(self, **filters: Any) -> list[dict[str, Any]]:
        """``show.subscribers``; active sessions unless another ``state`` is asked for."""
        filters.setdefault("state", "active")
        return list(self.call("show.subscribers", filters))

    def wait(self, predicate: Any, timeout: float = 10.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                log = self.abngd.log()[-3000:] if self.abngd else ""
                raise AssertionError(f"timed out waiting for {what}\n--- abngd log ---\n{log}")
            time.sleep(0.1)

    def ping(self, ns: str, target: str, count: int = 3) -> subprocess.CompletedProcess[str]:
        return ns_run(ns, "ping", "-c", str(count), "-i", "0.2", "-W", "2", target, check=False)


@contextlib.contextmanager
def topology(tmp_path: Path) -> Iterator[Topo]:
    """Three namespaces and two veth pairs; always removed (namespaces take their links along)."""
    with netns("bng") as bng, netns("cli") as cli, netns("up") as up:
        for ns in (bng, cli, up):
            ns_sysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1")
            ns_sysctl(ns, "net.ipv6.conf.default.disable_ipv6", "1")
        trunk, cli_if = veth_pair(bng, cli, "tr")
        up_bng, up_if = veth_pair(bng, up, "up")
        ns_addr(bng, up_bng, f"{UPSTREAM_BNG}/24")
        ns_addr(up, up_if, f"{UPSTREAM_HOST}/24")
        ns_route(up, "100.64.0.0/16", "via", UPSTREAM_BNG)
        # a real wire never carries CHECKSUM_PARTIAL frames or TSO super-frames
        ns_run(cli, "ethtool", "-K", cli_if, "tx", "off", "tso", "off", "gso", "off", check=False)
        topo = Topo(bng, cli, up, trunk, cli_if, up_bng, up_if, tmp_path / "abngd")
        try:
            yield topo
        finally:
            topo.stop_abngd()
