"""Real clients (busybox udhcpc, ISC dhclient) against DhcpServer over a veth pair.

The server side is a test loop over an AF_PACKET socket (the production adapter belongs to the
packet I/O): frames in -> DhcpServer -> frames out.  The client scripts only record what they
are given; the test then installs the /32 address and the routes the way the stock scripts do
(option 121 first) and pings the gateway through that default route.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from abng.access.dhcp.config import DhcpServerConfig, ip
from abng.access.dhcp.events import AuthorizeRequest, LeaseGranted
from abng.access.dhcp.pool import Ipv4Pool
from abng.access.dhcp.server import DhcpServer
from abng.access.frames import parse_mac
from tests.helpers.netns import Link, NsProcess, link_mac, linked_pair, ns_run, raw_socket

GW = "10.99.0.1"
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2"
)


class ServerLoop:
    """Drive DhcpServer from a raw socket in a thread (approves every client from the pool)."""

    def __init__(self, link: Link) -> None:
        mac = parse_mac(link_mac(link.ns_b, link.b))
        cfg = DhcpServerConfig(
            server_mac=mac, gateway=ip(GW), hostname="bng-test", dns=(ip("10.99.0.53"),), default_pool="p"
        )
        self.server = DhcpServer(cfg, [Ipv4Pool.from_range("p", "10.99.0.100", "10.99.0.150")])
        self.iface = link.b
        self.sock = raw_socket(link.ns_b, link.b)
        self.sock.settimeout(0.05)
        self.granted: list[LeaseGranted] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dhcp-test-loop", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                frame, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                frame = b""
                addr = ("", 0, 0)
            if frame and addr[2] != socket.PACKET_OUTGOING:
                self.server.handle_frame(frame, self.iface, now)
            for ev in self.server.events():
                if isinstance(ev, AuthorizeRequest):
                    self.server.authorized(ev.key, True, now)
                elif isinstance(ev, LeaseGranted):
                    self.granted.append(ev)
            for tx in self.server.transmits():
                self.sock.send(tx.frame())
            deadline = self.server.get_timer()
            if deadline is not None and deadline <= now:
                self.server.handle_timer(now)

    def __enter__(self) -> ServerLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def link() -> Iterator[Link]:
    with linked_pair("dc", "db") as pair:
        yield pair


def recording_script(tmp_path: Path) -> Path:
    script = tmp_path / "dhcp-script.sh"
    script.write_text(f'#!/bin/sh\nenv > "{tmp_path}/${{1:-$reason}}.env"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def read_env(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        out[key] = value
    return out


def wait_file(path: Path, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            return True
        time.sleep(0.05)
    return False


def install_and_ping(link: Link, address: str, routes: list[tuple[str, str]]) -> None:
    """Configure like the stock scripts: address/32, then option 121 routes in order."""
    ns_run(link.ns_a, "ip", "addr", "add", f"{address}/32", "dev", link.a)
    for dest, via in routes:
        if via == "0.0.0.0":
            ns_run(link.ns_a, "ip", "route", "add", dest, "dev", link.a)
        else:
            ns_run(link.ns_a, "ip", "route", "add", dest, "via", via, "dev", link.a)
    ns_run(link.ns_b, "ip", "addr", "add", f"{GW}/32", "dev", link.b)
    ns_run(link.ns_b, "ip", "route", "add", f"{address}/32", "dev", link.b)
    route = ns_run(link.ns_a, "ip", "route", "get", "192.0.2.1").stdout
    assert f"via {GW}" in route
    ns_run(link.ns_a, "ping", "-c", "1", "-W", "3", GW)


@pytest.mark.skipif(shutil.which("busybox") is None, reason="busybox not installed")
def test_udhcpc_gets_32_and_default_route(link: Link, tmp_path: Path) -> None:
    script = recording_script(tmp_path)
    with ServerLoop(link) as loop:
        res = ns_run(
            link.ns_a,
            *("busybox", "udhcpc", "-i", link.a, "-f", "-q", "-n", "-t", "5", "-T", "1"),
            *("-s", str(script), "-x", "hostname:cpe1"),
            check=False,
            timeout=30,
        )
        assert res.returncode == 0, res.stdout + res.stderr
    env = read_env(tmp_path / "bound.env")
    assert env["ip"] == "10.99.0.100" and env["subnet"] == "255.255.255.255"
    assert env["router"] == GW and env["dns"] == "10.99.0.53" and env["lease"] == "3600"
    assert env["staticroutes"] == f"{GW}/32 0.0.0.0 0.0.0.0/0 {GW}"
    granted = loop.granted
    assert len(granted) == 1 and granted[0].hostname == "cpe1" and granted[0].circuit_id == link.b
    words = env["staticroutes"].split()
    install_and_ping(
        link,
        env["ip"],
        [("default" if d == "0.0.0.0/0" else d, v) for d, v in zip(words[::2], words[1::2], strict=True)],
    )


@pytest.mark.skipif(shutil.which("dhclient") is None, reason="isc-dhcp-client not installed")
def test_dhclient_gets_32_and_classless_routes(link: Link, tmp_path: Path) -> None:
    script = recording_script(tmp_path)
    argv = [
        *("dhclient", "-4", "-1", "-d", "-v", "-sf", str(script)),
        *("-lf", str(tmp_path / "leases"), "-pf", str(tmp_path / "pid"), link.a),
    ]
    with ServerLoop(link) as loop, NsProcess(link.ns_a, argv):
        assert wait_file(tmp_path / "BOUND.env"), "dhclient did not reach BOUND"
        time.sleep(0.2)  # the script may still be writing
    env = read_env(tmp_path / "BOUND.env")
    assert env["new_ip_address"] == "10.99.0.100"
    assert env["new_subnet_mask"] == "255.255.255.255"
    assert env["new_routers"] == GW and env["new_dhcp_lease_time"] == "3600"
    assert env["new_rfc3442_classless_static_routes"] == "32 10 99 0 1 0 0 0 0 0 10 99 0 1"
    assert len(loop.granted) == 1
    install_and_ping(link, env["new_ip_address"], [(f"{GW}/32", "0.0.0.0"), ("default", GW)])
