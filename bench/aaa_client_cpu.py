"""CPU cost of abngd's RADIUS client path per authenticated setup (abngd side only).

One round trip = what abngd does per DHCP lease through RADIUS:
``RadiusAuthenticator.authenticate(AuthRequest)`` (Access-Request out, Access-Accept in, verified,
decoded, parsed into an AuthResult) then ``Accounting.start(session)`` (Accounting-Request Start
out, Accounting-Response in).  ``--outstanding`` workers run concurrently, as under loadgen.

Modes:

- ``udp`` (default): real UDP on 127.0.0.1; the responder (builds valid signed replies with
  abng's own codec, like FreeRADIUS with ``Message-Authenticator := 0x00`` in post-auth) runs in a
  forked child process, so the parent's process CPU time is abngd's side only (syscalls included).
- ``inproc``: no sockets; a fake socket hands each datagram to the responder in the same thread;
  the responder's CPU time is measured afterwards by answering the same requests again, and
  subtracted (no clock reads inside the measured run).

    .venv/bin/python bench/aaa_client_cpu.py [--n 10000] [--outstanding 50] [--mode udp|inproc]
        [--rich] [--profile FILE]

``--rich``: the Access-Accept also carries Framed-IP-Address, Session-Timeout, Acct-Interim-
Interval, Class and two Athena rate VSAs (the lab's DHCP accept carries only Message-Authenticator).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from abng.aaa import crypto, packet
from abng.aaa.accounting import Accounting
from abng.aaa.aio_client import RadiusClient
from abng.aaa.config import RadiusConfig, RadiusServerConfig
from abng.aaa.packet import Code
from abng.aaa.radius_auth import RadiusAuthenticator
from abng.aaa.spool import AcctSpool
from abng.aaa.types import AuthRequest
from abng.core.model import Session, SessionType

SECRET = b"testing123"


class Responder:
    """Answers Access-Requests with an Access-Accept and Accounting-Requests with a Response."""

    def __init__(self, rich: bool) -> None:
        self.accept_attrs: list[packet.Attribute] = []
        if rich:
            self.accept_attrs = packet.make_all(
                [
                    ("Framed-IP-Address", "100.64.1.2"),
                    ("Session-Timeout", 86400),
                    ("Acct-Interim-Interval", 600),
                    ("Class", b"bench-class-0001"),
                    ("Athena-Rate-Down", "100mbit"),
                    ("Athena-Rate-Up", "20mbit"),
                ]
            )
        self.seen: list[bytes] = []  # requests answered (inproc mode), replayed to time the responder

    def replay_cpu(self) -> float:
        """CPU seconds this thread spends answering every request seen once more."""
        t0 = time.thread_time()
        for data in self.seen:
            self.answer(data)
        return time.thread_time() - t0

    def answer(self, data: bytes) -> bytes:
        req = packet.decode(data)
        if req.code == Code.ACCESS_REQUEST:
            if not crypto.verify_access_request(data, SECRET, require_ma=True):
                raise SystemExit("responder: bad Message-Authenticator in Access-Request")
            return crypto.build_reply(
                Code.ACCESS_ACCEPT, req.identifier, req.authenticator, SECRET, self.accept_attrs
            )
        if req.code == Code.ACCOUNTING_REQUEST:
            if not crypto.verify_signed_request(data, SECRET, require_ma=True):
                raise SystemExit("responder: bad Accounting-Request authenticator")
            # stock FreeRADIUS: no attributes, no Message-Authenticator in an Accounting-Response
            body = packet.encode(packet.Packet(Code.ACCOUNTING_RESPONSE, req.identifier, req.authenticator))
            return body[:4] + crypto._md5(body, SECRET) + body[20:]
        raise SystemExit(f"responder: unexpected code {req.code}")


def serve_udp(sock: socket.socket, rich: bool) -> None:
    r = Responder(rich)
    while True:
        data, addr = sock.recvfrom(4096)
        if data == b"quit":
            return
        sock.sendto(r.answer(data), addr)


class _FakeSocket:
    """Stands in for a client socket: a datagram sent is answered at once, in this thread."""

    def __init__(self, client: RadiusClient, responder: Responder, index: int) -> None:
        self.client, self.responder, self.index = client, responder, index
        self.loop = asyncio.get_running_loop()

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.responder.seen.append(data)
        self.loop.call_soon(self.client._on_datagram, self.index, self.responder.answer(data), addr)

    def fileno(self) -> int:
        return 100_000 + self.index  # never registered with the loop

    def close(self) -> None:
        pass


def _requests(n: int) -> tuple[list[AuthRequest], list[Session]]:
    reqs, sessions = [], []
    for i in range(n):
        mac = f"02:ab:02:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"
        iface = f"eth1.{100 + i % 50}.{1 + i % 4000}"
        reqs.append(AuthRequest(mac, mac, iface, "dhcp", circuit_id=iface.encode(), remote_id=b"rid-1"))
        s = Session(i + 1, SessionType.DHCP, mac, mac, iface, 1_780_000_000, ip_address="100.64.0.1")
        sessions.append(s)
    return reqs, sessions


async def run(args: argparse.Namespace, port: int, tmp: Path) -> dict[str, Any]:
    cfg = RadiusConfig(
        servers=(RadiusServerConfig("127.0.0.1", SECRET.decode(), port, port),),
        nas_identifier="bng-bench-1",
        nas_ip_address="10.255.0.1",
        timeout=5,
        retries=3,
    )
    client = RadiusClient(cfg)
    responder = Responder(args.rich)
    if args.mode == "inproc":
        fakes = [_FakeSocket(client, responder, i) for i in range(cfg.max_sockets)]
        if hasattr(client, "_transports"):  # the adapter before this benchmark's pass (A/B runs)
            client._transports = fakes
        else:
            client._sockets = fakes  # type: ignore[assignment]
    auth = RadiusAuthenticator(client)
    acct = Accounting(client, AcctSpool(tmp / "spool.sqlite"))
    reqs, sessions = _requests(args.n + args.warmup)

    async def worker(items: list[int]) -> None:
        for i in items:
            res = await auth.authenticate(reqs[i])
            if not res.accepted:
                raise SystemExit("not accepted")
            if not await acct.start(sessions[i]):
                raise SystemExit("accounting start not acknowledged")

    async def batch(lo: int, hi: int) -> None:
        k = args.outstanding
        await asyncio.gather(*(worker(list(range(lo + w, hi, k))) for w in range(k)))

    await batch(0, args.warmup)
    responder.seen.clear()
    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    t0, cpu0 = time.perf_counter(), time.process_time()
    await batch(args.warmup, args.warmup + args.n)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    if prof:
        prof.disable()
        prof.dump_stats(args.profile)
    stats = dict(client.machine.stats)
    await acct.close()
    await client.close()
    responder_cpu = responder.replay_cpu() if args.mode == "inproc" else 0.0
    client_cpu = cpu - responder_cpu
    return {
        "mode": args.mode,
        "n": args.n,
        "outstanding": args.outstanding,
        "rich": args.rich,
        "round_trips_per_s": round(args.n / wall),
        "client_cpu_us_per_round_trip": round(client_cpu / args.n * 1e6, 1),
        "responder_cpu_us_subtracted": round(responder_cpu / args.n * 1e6, 1),
        "retransmits": stats.get("retransmits", 0),
        "drops": {k: v for k, v in stats.items() if k.startswith("drop")},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000, help="measured round trips")
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--outstanding", type=int, default=50)
    ap.add_argument("--mode", choices=("udp", "inproc"), default="udp")
    ap.add_argument("--rich", action="store_true", help="Access-Accept with typical reply attributes")
    ap.add_argument("--repeat", type=int, default=3, help="runs; the lowest CPU figure is reported")
    ap.add_argument("--profile", help="write a cProfile of the measured part to this file")
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as d:
        for _ in range(args.repeat):
            child = None
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            if args.mode == "udp":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                child = multiprocessing.get_context("fork").Process(target=serve_udp, args=(sock, args.rich))
                child.start()
            try:
                results.append(asyncio.run(run(args, port, Path(d))))
            finally:
                if child is not None:
                    sock.sendto(b"quit", ("127.0.0.1", port))
                    child.join(5)
                    if child.is_alive():
                        child.kill()
                sock.close()
    for r in results:
        print(r)
    best = min(results, key=lambda r: r["client_cpu_us_per_round_trip"])
    print(f"best client CPU: {best['client_cpu_us_per_round_trip']} us per round trip ({args.mode})")


if __name__ == "__main__":
    main()
