"""The lab's network: three namespaces joined by two veth pairs, built and removed as a whole.

```
 {prefix}-sub                 {prefix}-bng                      {prefix}-up
 engine (AF_PACKET)  sub0 ==== trunk0  abngd  up0 ==== host0   198.51.100.2, iperf3 -s
 untagged/802.1Q/QinQ        (demux)   TUN abng0  198.51.100.1
```

Interface names are fixed because each end is created directly inside its namespace (nothing
appears in the root namespace, so nothing can be left there).  Namespace names carry the lab's
prefix; ``teardown(prefix)`` kills every process inside them and deletes them, which removes
the links, addresses, routes, qdiscs and nftables tables that lived there.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

UPSTREAM_BNG = "198.51.100.1"
UPSTREAM_HOST = "198.51.100.2"
SUBSCRIBER_NET = "100.64.0.0/10"
LINK_MTU = "1600"  # room for QinQ tags around a 1500-byte payload
_CLONE_NEWNET = 0x40000000


@dataclass(frozen=True, slots=True)
class Topology:
    prefix: str

    @property
    def bng(self) -> str:
        return f"{self.prefix}-bng"

    @property
    def sub(self) -> str:
        return f"{self.prefix}-sub"

    @property
    def up(self) -> str:
        return f"{self.prefix}-up"

    @property
    def namespaces(self) -> tuple[str, str, str]:
        return (self.sub, self.bng, self.up)

    trunk = "trunk0"
    sub_if = "sub0"
    upstream = "up0"
    host_if = "host0"


def sh(*args: str, check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def ns_sh(ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh("ip", "netns", "exec", ns, *args, check=check)


def existing_namespaces() -> list[str]:
    out = sh("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def build(topo: Topology) -> None:
    """Create the namespaces and links (call :func:`teardown` first for a clean slate)."""
    for ns in topo.namespaces:
        sh("ip", "netns", "add", ns)
        ns_sh(ns, "ip", "link", "set", "lo", "up")
        ns_sh(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        ns_sh(ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
    sh("ip", "link", "add", "name", topo.trunk, "netns", topo.bng, "mtu", LINK_MTU, "type", "veth",
       "peer", "name", topo.sub_if, "netns", topo.sub, "mtu", LINK_MTU)  # fmt: skip
    sh("ip", "link", "add", "name", topo.upstream, "netns", topo.bng, "type", "veth",
       "peer", "name", topo.host_if, "netns", topo.up)  # fmt: skip
    ns_sh(topo.sub, "ip", "link", "set", topo.sub_if, "promisc", "on", "up")
    ns_sh(topo.bng, "ip", "link", "set", topo.trunk, "up")
    ns_sh(topo.bng, "ip", "addr", "add", f"{UPSTREAM_BNG}/24", "dev", topo.upstream)
    ns_sh(topo.bng, "ip", "link", "set", topo.upstream, "up")
    ns_sh(topo.up, "ip", "addr", "add", f"{UPSTREAM_HOST}/24", "dev", topo.host_if)
    ns_sh(topo.up, "ip", "link", "set", topo.host_if, "up")
    ns_sh(topo.up, "ip", "route", "add", SUBSCRIBER_NET, "via", UPSTREAM_BNG)


def ns_pids(ns: str) -> list[int]:
    out = sh("ip", "netns", "pids", ns, check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def kill_pid(pid: int, timeout: float = 5.0) -> None:
    """SIGTERM, wait, then SIGKILL.  Silent when the process is gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def teardown(topo: Topology) -> list[str]:
    """Kill what runs inside the lab's namespaces and delete them; returns what was removed."""
    removed = []
    present = set(existing_namespaces())
    for ns in topo.namespaces:
        if ns not in present:
            continue
        for pid in ns_pids(ns):
            kill_pid(pid)
        sh("ip", "netns", "del", ns, check=False)
        removed.append(ns)
    return removed


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextlib.contextmanager
def in_netns(ns: str) -> Iterator[None]:
    """Run the block with the calling thread inside namespace ``ns``; sockets opened there stay
    bound to it after the block (how the engine gets its AF_PACKET sockets on ``sub0``)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            _setns(target)
            try:
                yield
            finally:
                _setns(own)
        finally:
            os.close(target)
    finally:
        os.close(own)
