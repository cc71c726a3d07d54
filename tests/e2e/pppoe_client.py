"""The project's own PPPoE client (abng.access.pppoe.client + abng.ppp.client) on a raw socket in
the client namespace, driven by a background thread (tests only).

``PppoeClient(ns, ifname, username, password, auth=("pap",))``: ``start()`` runs discovery and
PPP; ``wait_up()``; ``ping(dst)`` sends ICMP echo through the session and waits for the reply;
``answer_echo = False`` makes it ignore LCP Echo-Requests (keepalive failure);
``padt()`` ends the session from the client side; ``stop()`` ends the thread (no PADT).
Events and counters are kept for assertions: ``down_reason``, ``echo_replies_sent``, ``terminated``.
"""

from __future__ import annotations

import os
import secrets
import select
import socket
import struct
import threading
import time
from typing import Any

from abng.access.frames import ETH_P_PPPOE_DISC, ETH_P_PPPOE_SESS, VlanTag, build_frame, parse_frame
from abng.access.packetio import PacketIO
from abng.access.pppoe.client import DiscoveryClient, DiscoveryFailed, DiscoveryTerminated, DiscoveryUp
from abng.access.pppoe.codec import decode_session, session_frame
from abng.ppp.client import ClientConfig, ClientUp, PPPClient
from abng.ppp.events import IPv4Packet, LinkFinished, SessionDown
from tests.helpers.netns import in_netns

PROTO_LCP = 0xC021
ECHO_REQUEST = 9
ECHO_REPLY = 10


def icmp_echo(src: str, dst: str, ident: int, seq: int) -> bytes:
    from abng.access.frames import build_ipv4, internet_checksum

    body = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"abng-e2e" * 4
    csum = internet_checksum(body)
    body = body[:2] + struct.pack("!H", csum) + body[4:]
    return build_ipv4(
        int.from_bytes(socket.inet_aton(src), "big"), int.from_bytes(socket.inet_aton(dst), "big"), 1, body
    )


class PppoeClient:
    def __init__(
        self,
        ns: str,
        ifname: str,
        username: str,
        password: str,
        auth: tuple[str, ...] = ("pap", "chap"),
        echo_interval: float = 0.0,
        echo_failure: int = 10,
        tags: tuple[VlanTag, ...] = (),
    ) -> None:
        with in_netns(ns):
            self.io = PacketIO(ifname)  # no filter; PACKET_AUXDATA gives back the stripped outer tag
            self.io.open()
        self.mac = self.io.mac
        self.tags = tags
        self.vids = tuple(t.vid for t in tags)
        self.disc = DiscoveryClient(timeout=0.5, max_tries=6, host_uniq=secrets.token_bytes(4))
        self.cfg = ClientConfig(username, password, auth_protocols=auth, lcp_echo_interval=echo_interval,
                                lcp_echo_failure=echo_failure, restart_interval=1.0)  # fmt: skip
        self.ppp: PPPClient | None = None
        self.session_id = 0
        self.ac_mac = b""
        self.up: ClientUp | None = None
        self.down_reason: str | None = None
        self.terminated = False  # PADT received
        self.failed: str | None = None
        self.answer_echo = True
        self.echo_requests_seen = 0
        self.echo_replies_sent = 0
        self.echo_replies_received = 0
        self.packets: list[bytes] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    # ---- control ------------------------------------------------------------------------------
    def start(self) -> PppoeClient:
        with self._lock:
            self.disc.start(time.time())
            self._flush_disc()
        self._thread.start()
        return self

    def wait_up(self, timeout: float = 20.0) -> ClientUp:
        deadline = time.monotonic() + timeout
        while self.up is None:
            if self.failed or self.down_reason or time.monotonic() > deadline:
                raise AssertionError(f"PPPoE client not up: failed={self.failed} down={self.down_reason}")
            time.sleep(0.02)
        return self.up

    def wait(self, predicate: Any, timeout: float = 10.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.02)

    def ping(self, dst: str, tries: int = 3, timeout: float = 2.0) -> bool:
        assert self.up is not None and self.ppp is not None
        ident = os.getpid() & 0xFFFF
        for seq in range(tries):
            with self._lock:
                self.packets.clear()
                self._send_ppp([self.ppp.send_ip(icmp_echo(self.up.ip, dst, ident, seq))])
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                with self._lock:
                    for p in self.packets:
                        if len(p) >= 28 and p[9] == 1 and p[20] == 0 and socket.inet_ntoa(p[12:16]) == dst:
                            return True
                time.sleep(0.02)
        return False

    def padt(self) -> None:
        with self._lock:
            dst, payload = self.disc.padt()
            self._send(dst, ETH_P_PPPOE_DISC, payload)
            if self.ppp is not None:
                self.ppp.lower_down("user_request", time.time())

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)
        self.io.close()

    def __enter__(self) -> PppoeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- I/O loop -----------------------------------------------------------------------------
    def _send(self, dst: bytes, ethertype: int, payload: bytes) -> None:
        self.io.send(build_frame(dst, self.mac, self.tags, ethertype, payload))

    def _flush_disc(self) -> None:
        for dst, payload in self.disc.take_output():
            self._send(dst, ETH_P_PPPOE_DISC, payload)
        for e in self.disc.take_events():
            if isinstance(e, DiscoveryUp):
                self.session_id, self.ac_mac = e.session_id, e.ac_mac
                now = time.time()
                self.ppp = PPPClient(self.cfg, secrets.token_bytes, now)
                self._send_ppp(self.ppp.start(now))
            elif isinstance(e, DiscoveryFailed):
                self.failed = e.reason
            elif isinstance(e, DiscoveryTerminated):
                self.terminated = True
                if self.ppp is not None:
                    self.ppp.lower_down("padt", time.time())
                    self._flush_ppp()

    def _send_ppp(self, payloads: list[bytes]) -> None:
        for p in payloads:
            self._send(self.ac_mac, ETH_P_PPPOE_SESS, session_frame(self.session_id, p))

    def _flush_ppp(self) -> None:
        if self.ppp is None:
            return
        self._send_ppp(self.ppp.take_output())
        for e in self.ppp.take_events():
            if isinstance(e, ClientUp):
                self.up = e
            elif isinstance(e, SessionDown):
                self.down_reason = e.reason
            elif isinstance(e, IPv4Packet):
                self.packets.append(e.data)
            elif isinstance(e, LinkFinished):
                pass

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                select.select([self.io.fileno()], [], [], 0.05)
                frames = self.io.recv_batch()
            except (OSError, RuntimeError, ValueError):
                return
            now = time.time()
            with self._lock:
                for frame in frames:
                    self._frame(frame, now)
                self.disc.handle_timer(now)
                self._flush_disc()
                if self.ppp is not None:
                    self.ppp.handle_timer(now)
                    self._flush_ppp()

    def _frame(self, frame: bytes, now: float) -> None:
        try:
            eth = parse_frame(frame)
        except ValueError:
            return
        if eth.dst != self.mac or eth.vids != self.vids:
            return
        if eth.ethertype == ETH_P_PPPOE_DISC:
            self.disc.receive(eth.payload, eth.src, now)
        elif eth.ethertype == ETH_P_PPPOE_SESS and self.ppp is not None:
            try:
                sid, payload = decode_session(eth.payload)
            except ValueError:
                return
            if sid != self.session_id:
                return
            if payload[:2] == b"\xc0\x21" and len(payload) > 2 and payload[2] == ECHO_REQUEST:
                self.echo_requests_seen += 1
                if not self.answer_echo:
                    return
                self.echo_replies_sent += 1
            elif payload[:2] == b"\xc0\x21" and len(payload) > 2 and payload[2] == ECHO_REPLY:
                self.echo_replies_received += 1
            self.ppp.receive(payload, now)
