"""The lab as a whole: recover from a previous run, build the topology, start the services,
bring up the emulated subscribers, tear everything down.

Files under the lab dir (default ``./.state/lab``)::

    etc/ run/ var/      abngd's config, run (abngd.sock) and state dirs
    lab.json            prefix, PIDs, URLs of the running lab
    lab.sock            control socket of the running lab (abng-lab status/add/flap/...)
    *.pid *.log         abngd, api, radius, iperf3 and the lab process itself

The API (abng-api) runs in the root namespace on 127.0.0.1:8443: it only needs abngd's Unix
socket, and the seed page's ``curl -sk https://localhost:8443/...`` commands then work verbatim.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from abng.access.packetio import PacketIO
from abng.lab import radius, topology
from abng.lab.config import lab_config, write_config
from abng.lab.engine import Engine
from abng.lab.procs import Procs, cmdline, tcp_connectable, unix_connectable, wait_until
from abng.lab.subscribers import layout
from abng.lab.topology import Topology, pid_alive

log = logging.getLogger(__name__)

DEFAULT_LAB_DIR = Path(os.environ.get("ABNG_LAB_DIR", ".state/lab"))
DEFAULT_USERS = {1: ("user1@lab", "pass1"), 2: ("user2@lab", "pass2"), 3: ("user3@lab", "pass3")}
MARKERS = {"abngd": "abng.core.daemon", "api": "abng.api.main", "radius": "freeradius", "iperf3": "iperf3"}


class LabRunning(RuntimeError):
    pass


@dataclass
class LabOptions:
    lab_dir: Path = DEFAULT_LAB_DIR
    prefix: str = "abl"
    pppoe: int = 4
    dhcp: int = 4
    vlan_mode: str = "mixed"
    per_vlan: int = 1
    auth: str = "pap"
    rate: float = 200.0
    outstanding: int = 50
    radius: bool = False
    api: bool = True
    api_port: int = 8443
    lcp_echo_interval: int | None = None
    lease_time: int | None = None
    user_headroom: int = 64
    log_level: str = "info"  # abngd's --log-level
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def pppoe_users(self) -> int:
        return self.pppoe + self.user_headroom


class Lab:
    def __init__(self, opts: LabOptions) -> None:
        self.opts = opts
        self.dir = opts.lab_dir.resolve()
        self.topo = Topology(opts.prefix)
        self.procs = Procs(self.dir)
        self.etc, self.run, self.var = self.dir / "etc", self.dir / "run", self.dir / "var"
        self.engine: Engine | None = None
        self._api: subprocess.Popen[bytes] | None = None

    # --- paths and facts ---------------------------------------------------------------------------
    @property
    def socket(self) -> Path:
        return self.run / "abngd.sock"

    @property
    def api_url(self) -> str:
        return f"https://localhost:{self.opts.api_port}"

    def facts(self) -> dict[str, Any]:
        return {
            "prefix": self.opts.prefix,
            "pid": os.getpid(),
            "lab_dir": str(self.dir),
            "socket": str(self.socket),
            "api_url": self.api_url if self.opts.api else None,
            "namespaces": list(self.topo.namespaces),
            "options": {k: v for k, v in asdict(self.opts).items() if k not in ("lab_dir", "extra_env")},
        }

    # --- recovery ----------------------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Remove what a previous lab in this dir (or with this prefix) left behind."""
        self.dir.mkdir(parents=True, exist_ok=True)
        pid = self.procs.pid("lab")
        if pid is not None and pid != os.getpid() and pid_alive(pid) and "abng" in cmdline(pid):
            raise LabRunning(f"a lab is already running (pid {pid}): run `abng-lab down` first")
        found: list[str] = []
        prefixes = {self.opts.prefix}
        try:
            prefixes.add(json.loads((self.dir / "lab.json").read_text())["prefix"])
        except (OSError, ValueError, KeyError):
            pass
        for name, marker in MARKERS.items():
            if self.procs.stop(name, marker):
                found.append(f"process {name}")
        for prefix in sorted(prefixes):
            found += [f"namespace {ns}" for ns in topology.teardown(Topology(prefix))]
        for d in (self.run, self.var, self.etc, self.dir / "radius"):
            shutil.rmtree(d, ignore_errors=True)
        for f in ("lab.json", "lab.sock", "lab.pid"):
            (self.dir / f).unlink(missing_ok=True)
        return found

    # --- start ---------------------------------------------------------------------------------------
    def start_services(self) -> None:
        opts = self.opts
        self.procs.pid_file("lab").write_text(f"{os.getpid()}\n")
        topology.build(self.topo)
        radius_ports = None
        if opts.radius:
            raddb = radius.prepare(self.dir / "radius", opts.pppoe_users)
            self.procs.start("radius", radius.command(raddb), netns=self.topo.bng)
            radius_ports = (radius.AUTH_PORT, radius.ACCT_PORT)
            wait_until(self._radius_listening, 20, "FreeRADIUS")
        cfg = lab_config(
            pppoe_users=opts.pppoe_users,
            vlan_mode=opts.vlan_mode,
            radius=radius_ports,
            lcp_echo_interval=opts.lcp_echo_interval,
            lease_time=opts.lease_time,
        )
        write_config(self.etc, cfg)
        for d in (self.run, self.var):
            d.mkdir(parents=True, exist_ok=True)
        py = sys.executable
        dirs = ["--config-dir", str(self.etc), "--run-dir", str(self.run)]
        # ABNG_LAB_PROFILE=1: abngd runs under cProfile, stats in <lab>/abngd.prof at teardown
        profile = (
            ["-m", "cProfile", "-o", str(self.dir / "abngd.prof")]
            if os.environ.get("ABNG_LAB_PROFILE")
            else []
        )
        argv = [py, *profile, "-m", "abng.core.daemon", *dirs, "--state-dir", str(self.var)]
        abngd = self.procs.start("abngd", [*argv, "--log-level", opts.log_level], netns=self.topo.bng)
        self.procs.start("iperf3", ["iperf3", "-s", "-B", topology.UPSTREAM_HOST], netns=self.topo.up)
        if opts.api:  # started at once: it waits for abngd's socket by itself (--wait)
            api_argv = [
                py,
                "-m",
                "abng.api.main",
                *dirs,
                "--listen",
                "127.0.0.1",
                "--port",
                str(opts.api_port),
            ]
            self._api = self.procs.start(
                "api", api_argv, env={"ABNG_API_SECRET": self._api_secret(), **opts.extra_env}
            )
        wait_until(lambda: unix_connectable(self.socket) or abngd.poll() is not None, 60, "abngd's socket")
        if abngd.poll() is not None:
            raise RuntimeError(f"abngd exited ({abngd.returncode}); see {self.procs.log_file('abngd')}")
        (self.dir / "lab.json").write_text(json.dumps(self.facts(), indent=2))

    def wait_api(self, timeout: float = 60.0) -> None:
        """Wait until abng-api accepts connections (started by :meth:`start_services`)."""
        api = self._api
        if api is None:
            return
        port = self.opts.api_port
        wait_until(lambda: tcp_connectable("127.0.0.1", port) or api.poll() is not None, timeout, "abng-api")
        if api.poll() is not None:
            raise RuntimeError(f"abng-api exited ({api.returncode}); see {self.procs.log_file('api')}")

    def _api_secret(self) -> str:
        path = self.dir / "api-secret"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()

    def _radius_listening(self) -> bool:
        out = topology.ns_sh(self.topo.bng, "ss", "-Hlun", check=False).stdout
        return f":{radius.AUTH_PORT} " in out

    def open_engine(self) -> Engine:
        """The engine with its AF_PACKET socket on ``sub0`` inside the subscriber namespace."""
        io = PacketIO(self.topo.sub_if, None, rcvbuf=32 * 1024 * 1024, batch=256)
        with topology.in_netns(self.topo.sub):
            io.open()
        self.engine = Engine([io], rate=self.opts.rate, outstanding=self.opts.outstanding, seed=os.getpid())
        return self.engine

    def add_subscribers(self, pppoe: int, dhcp: int, vlan_mode: str | None = None) -> list[int]:
        if self.engine is None:
            raise RuntimeError("engine not started")
        mode = vlan_mode or self.opts.vlan_mode
        if self.opts.vlan_mode == "untagged" and mode != "untagged":
            raise ValueError("this lab serves untagged subscribers only (started with --vlan-mode untagged)")
        if self.opts.vlan_mode != "untagged" and mode == "untagged":
            raise ValueError("abngd's demux drops untagged frames: start the lab with --vlan-mode untagged")
        used = {s.spec.index for s in self.engine.subs.values() if s.spec.kind == "pppoe"}
        first_p = max(used, default=0) + 1
        if first_p + pppoe - 1 > self.opts.pppoe_users:
            raise ValueError(f"at most {self.opts.pppoe_users} PPPoE users are configured in this lab")
        used_d = {s.spec.index for s in self.engine.subs.values() if s.spec.kind == "dhcp"}
        first_d = max(used_d, default=0) + 1
        specs = layout("pppoe", pppoe, mode, first=first_p, per_vlan=self.opts.per_vlan,
                       auth=self.opts.auth, credentials=DEFAULT_USERS)  # fmt: skip
        specs += layout("dhcp", dhcp, mode, first=first_d, per_vlan=self.opts.per_vlan)
        return self.engine.add(specs)

    # --- stop ----------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Tear everything down: engine, processes, namespaces, files (idempotent)."""
        if self.engine is not None:
            self.engine.close()
            for io in self.engine.ios:
                io.close()
            self.engine = None
        for name, marker in MARKERS.items():
            self.procs.stop(name, marker)
        topology.teardown(self.topo)
        for d in (self.run, self.var):
            shutil.rmtree(d, ignore_errors=True)
        for f in ("lab.json", "lab.sock", "lab.pid"):
            (self.dir / f).unlink(missing_ok=True)
