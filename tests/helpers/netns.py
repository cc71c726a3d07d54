"""Network-namespace helpers for tests: namespaces, veth pairs, processes inside a namespace.

Everything here uses the `ip` command (fine in tests) and always cleans up, also on failure:

    with netns("cli") as ns_a, netns("bng") as ns_b:
        a, b = veth_pair(ns_a, ns_b)          # created and moved, both ends up
        ns_addr(ns_a, a, "10.0.0.1/24")
        ns_run(ns_a, "ping", "-c1", "10.0.0.2")
        with NsProcess(ns_b, ["dnsmasq", "-d", ...]) as proc:
            ...

Names are unique (random suffix); veth names stay within the 15-character kernel limit.
Deleting a namespace deletes the veth ends inside it; `netns()` also kills every process
still running inside the namespace (found through `ip netns pids`) before deleting it.

pytest fixtures: `netns_factory` (call it with a prefix, returns the name, cleaned up at the
end of the test) and `requires_root` (skip unless root with netns support). Import them into a
test module or conftest with `from tests.helpers.netns import netns_factory  # noqa: F401`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pytest

from abng.lab.topology import in_netns, kill_pid, ns_pids

IFNAMSIZ = 15


def unique_name(prefix: str, max_len: int = IFNAMSIZ) -> str:
    """`prefix` + '-' + random hex, cut so the whole name fits in `max_len` characters."""
    suffix = secrets.token_hex(3)
    head = prefix[: max(1, max_len - len(suffix) - 1)]
    return f"{head}-{suffix}"


def run(*args: str, check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run a command in the root namespace; raise with its stderr on failure when `check`."""
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def ns_run(
    ns: str, *args: str, check: bool = True, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """Run a command inside namespace `ns` (`ip netns exec`)."""
    return run("ip", "netns", "exec", ns, *args, check=check, timeout=timeout)


def has_netns_support() -> bool:
    if os.geteuid() != 0:
        return False
    name = unique_name("probe")
    if run("ip", "netns", "add", name, check=False).returncode != 0:
        return False
    run("ip", "netns", "del", name, check=False)
    return True


requires_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces (ip netns)")


@contextlib.contextmanager
def netns(prefix: str = "t") -> Iterator[str]:
    """Create a network namespace with loopback up; on exit kill its processes and delete it."""
    name = unique_name(prefix, max_len=32)
    run("ip", "netns", "add", name)
    try:
        ns_run(name, "ip", "link", "set", "lo", "up")
        yield name
    finally:
        delete_netns(name)


def delete_netns(name: str) -> None:
    for pid in ns_pids(name):
        kill_pid(pid, timeout=1.0)
    run("ip", "netns", "del", name, check=False)


def veth_pair(
    ns_a: str | None,
    ns_b: str | None,
    prefix: str = "v",
    up: bool = True,
) -> tuple[str, str]:
    """Create a veth pair with unique names, put end A in `ns_a` and end B in `ns_b`
    (None = stay in the root namespace), bring them up. The pair goes away with its namespace;
    ends left in the root namespace must be deleted with `del_link` (or use `veth()` below)."""
    base = unique_name(prefix, max_len=IFNAMSIZ - 2)
    if_a, if_b = f"{base}a", f"{base}b"
    run("ip", "link", "add", if_a, "type", "veth", "peer", "name", if_b)
    try:
        for ifname, ns in ((if_a, ns_a), (if_b, ns_b)):
            if ns is not None:
                run("ip", "link", "set", ifname, "netns", ns)
            if up:
                link_up(ns, ifname)
    except Exception:
        del_link(ns_a, if_a)
        raise
    return if_a, if_b


@contextlib.contextmanager
def veth(ns_a: str | None, ns_b: str | None, prefix: str = "v") -> Iterator[tuple[str, str]]:
    """`veth_pair` as a context manager that deletes the pair on exit."""
    if_a, if_b = veth_pair(ns_a, ns_b, prefix)
    try:
        yield if_a, if_b
    finally:
        del_link(ns_a, if_a)


def _ip(ns: str | None, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return ns_run(ns, "ip", *args, check=check) if ns else run("ip", *args, check=check)


def link_up(ns: str | None, ifname: str) -> None:
    _ip(ns, "link", "set", ifname, "up")


def del_link(ns: str | None, ifname: str) -> None:
    _ip(ns, "link", "del", ifname, check=False)


def move_link(ifname: str, src_ns: str | None, dst_ns: str) -> None:
    _ip(src_ns, "link", "set", ifname, "netns", dst_ns)


def ns_addr(ns: str | None, ifname: str, cidr: str) -> None:
    """Add an address (e.g. '10.0.0.1/24') to `ifname` inside `ns`."""
    _ip(ns, "addr", "add", cidr, "dev", ifname)


def ns_route(ns: str | None, *route: str) -> None:
    """`ip route replace <route...>` inside `ns`, e.g. ns_route(ns, 'default', 'via', '10.0.0.1')."""
    _ip(ns, "route", "replace", *route)


def ns_sysctl(ns: str, key: str, value: str) -> None:
    ns_run(ns, "sysctl", "-qw", f"{key}={value}")


def link_mac(ns: str | None, ifname: str) -> str:
    return read_ns_file(ns, f"/sys/class/net/{ifname}/address")


def read_ns_file(ns: str | None, path: str) -> str:
    """Read a file as seen from inside `ns` (/sys/class/net differs per namespace)."""
    proc = ns_run(ns, "cat", path) if ns else run("cat", path)
    return proc.stdout.strip()


def link_index(ns: str | None, ifname: str) -> int:
    return int(read_ns_file(ns, f"/sys/class/net/{ifname}/ifindex"))


class NsProcess:
    """A background process inside a namespace, killed by PID on exit (and its group).

    `NsProcess(ns, argv)` starts `ip netns exec ns argv...` in its own process group, stdout and
    stderr to files under `log_dir` (a temporary directory by default). `output()` returns what
    it printed so far.
    """

    def __init__(
        self,
        ns: str | None,
        argv: Sequence[str],
        log_dir: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        import tempfile

        self.ns = ns
        self.argv = list(argv)
        self._tmp = None if log_dir else tempfile.TemporaryDirectory(prefix="nsproc-")
        self.log_dir = log_dir or Path(self._tmp.name if self._tmp else ".")
        self.stdout_path = self.log_dir / f"{Path(self.argv[0]).name}-{secrets.token_hex(2)}.out"
        full = ["ip", "netns", "exec", ns, *self.argv] if ns else self.argv
        self._out = open(self.stdout_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            full,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        self._out.flush()
        return self.stdout_path.read_text(errors="replace")

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 10.0) -> bool:
        """Poll the output until `predicate(output)` holds (True) or timeout/exit (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.output()):
                return True
            if not self.alive():
                return predicate(self.output())
            time.sleep(0.05)
        return False

    def stop(self, timeout: float = 3.0) -> int | None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=timeout)
        self._out.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return self.proc.returncode

    def __enter__(self) -> NsProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@pytest.fixture
def netns_factory() -> Iterator[Callable[[str], str]]:
    """Fixture: `ns = netns_factory('bng')` creates a namespace deleted after the test."""
    created: list[str] = []

    def make(prefix: str = "t") -> str:
        name = unique_name(prefix, max_len=32)
        run("ip", "netns", "add", name)
        created.append(name)
        ns_run(name, "ip", "link", "set", "lo", "up")
        return name

    try:
        yield make
    finally:
        for name in reversed(created):
            delete_netns(name)


@dataclass(frozen=True)
class Link:
    """Two namespaces joined by a veth pair: `a` end in `ns_a`, `b` end in `ns_b`."""

    ns_a: str
    ns_b: str
    a: str
    b: str


@contextlib.contextmanager
def linked_pair(prefix_a: str = "a", prefix_b: str = "b", no_ipv6: bool = True) -> Iterator[Link]:
    """Two fresh namespaces and a veth between them (IPv6 off by default: no ND/MLD noise)."""
    with netns(prefix_a) as ns_a, netns(prefix_b) as ns_b:
        if no_ipv6:
            for ns in (ns_a, ns_b):
                ns_sysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1")
                ns_sysctl(ns, "net.ipv6.conf.default.disable_ipv6", "1")
        a, b = veth_pair(ns_a, ns_b)
        yield Link(ns_a, ns_b, a, b)


def raw_socket(ns: str, ifname: str, proto: int = 0x0003) -> socket.socket:
    """An AF_PACKET SOCK_RAW socket bound to `ifname` inside `ns` (for sending test frames)."""
    with in_netns(ns):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto))
        sock.bind((ifname, proto))
    return sock
