"""CPU cost of one complete PPPoE PAP session setup, server side and client side, in memory.

    .venv/bin/python bench/ppp_setup_cpu.py [--n 3000] [--repeat 3] [--profile server|client]
    .venv/bin/python bench/ppp_setup_cpu.py --objects 2000

Each setup: PADI -> PADO -> PADR -> PADS, LCP both ways, PAP, IPCP both ways (with the Nak
round for address and DNS), then one LCP echo from the server answered by the client.  The
server side is what abngd's PppoeService does per frame (DiscoveryServer.handle, decode_session,
session lookup, PPPSession.receive/take_output/take_events/next_deadline, session_frame, the AAA
verdict through auth_result); the client side is the load generator's
:class:`abng.lab.pppoe_client.PppoeSubscriber` (DiscoveryClient + PPPClient).  No sockets, no
Ethernet framing (frames.py is not part of this measurement), no asyncio.

``--objects N`` instead sets up N sessions and keeps the server side of each (as abngd does
with sessions up), then prints the GC-tracked objects kept per established server session, by
type (the bench's own bookkeeping excluded).

Every call into either side is timed (thread_time_ns, the timer's own cost subtracted); the
sum of both is checked against the process CPU time of the whole run.  Reported: CPU
microseconds per setup, server and client, best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import gc
import os
import pstats
import random
import secrets
import time
from collections.abc import Callable
from typing import Any

from abng.access.pppoe.codec import decode_session, session_frame
from abng.access.pppoe.discovery import DiscoveryConfig, DiscoveryServer
from abng.lab.pppoe_client import PppoeSubscriber, PppoeUp
from abng.ppp import events as ev
from abng.ppp.client import ClientConfig
from abng.ppp.session import PPPConfig, PPPSession

DISC, SESS = 0x8863, 0x8864
VLANS = (100, 7)
AC_MAC = b"\x02\xac\x00\x00\x00\x01"


class Server:
    """The per-frame work of PppoeService, without the daemon around it."""

    def __init__(self) -> None:
        cfg = DiscoveryConfig(
            ac_name="bench",
            cookie_secret=secrets.token_bytes(32),
            padi_rate_global=1e9,
            padi_burst_global=1e9,
            padi_rate_per_mac=1e9,
            padi_burst_per_mac=1e9,
        )
        self.discovery = DiscoveryServer(cfg)
        self.ppp_cfg = PPPConfig(gateway_ip="100.64.0.1", auth_protocols=("pap", "chap"))
        self.dns = ("192.0.2.53", "192.0.2.54")
        self.subs: dict[int, tuple[bytes, PPPSession]] = {}
        self.deadlines: dict[int, float | None] = {}
        self.out: list[tuple[bytes, int, bytes]] = []
        self.ips = 0

    def on_frame(self, ethertype: int, payload: bytes, src: bytes, now: float) -> None:
        if ethertype == SESS:
            sid, ppp_payload = decode_session(payload)
            entry = self.subs.get(sid)
            if entry is None or entry[0] != src:
                raise AssertionError("unknown session")
            entry[1].receive(ppp_payload, now)
            self._process(sid, src, entry[1], now)
            return
        res = self.discovery.handle(payload, src, VLANS, now, AC_MAC)
        if res.drop_reason:
            raise AssertionError(res.drop_reason)
        if res.reply is not None:
            self.out.append((src, DISC, res.reply))
        ns = res.new_session
        if ns is not None:
            ppp = PPPSession(self.ppp_cfg.with_max_payload(ns.max_payload), secrets.token_bytes, now)
            self.subs[ns.session_id] = (src, ppp)
            self._send(ns.session_id, src, ppp.start(now))
            self._process(ns.session_id, src, ppp, now)

    def _send(self, sid: int, mac: bytes, payloads: list[bytes]) -> None:
        for p in payloads:
            self.out.append((mac, SESS, session_frame(sid, p)))

    def _process(self, sid: int, mac: bytes, ppp: PPPSession, now: float) -> None:
        self._send(sid, mac, ppp.take_output())
        for e in ppp.take_events():
            if isinstance(e, ev.AuthRequest):
                # Local AAA answers at once (abngd: a task, then auth_result from the loop).
                ok = e.username.startswith("user") and e.password == "test"
                self.ips += 1
                ip = f"100.64.{self.ips >> 8 & 0xFF}.{self.ips & 0xFF}"
                ppp.auth_result(ok, ip, self.dns, "welcome", now)
                self._send(sid, mac, ppp.take_output())
            elif isinstance(e, ev.SessionUp):
                ppp.export()  # abngd stores the export in access_data when activating
        self.deadlines[sid] = ppp.next_deadline()

    def echo(self, sid: int, now: float) -> None:
        mac, ppp = self.subs[sid]
        ppp.handle_timer(now)
        self._process(sid, mac, ppp, now)

    def take(self) -> list[tuple[bytes, int, bytes]]:
        out, self.out = self.out, []
        return out


def timer_overhead() -> int:
    pc = time.thread_time_ns
    t0 = pc()
    for _ in range(100_000):
        pc()
    return (pc() - t0) // 100_000


def run(n: int, prof: str | None = None) -> tuple[float, float, float]:
    """(server us, client us, process-CPU us) per setup."""
    server = Server()
    rng = random.Random(7)
    client_cfg = ClientConfig("user1@example.net", "test", auth_protocols=("pap",))
    pc = time.thread_time_ns
    over = timer_overhead()
    s_ns = c_ns = calls = 0
    profiler = cProfile.Profile() if prof else None

    def timed(side: str, fn: Callable[..., Any], *args: Any) -> None:
        nonlocal s_ns, c_ns, calls
        if profiler is not None and prof == side:
            profiler.enable()
        t0 = pc()
        fn(*args)
        dt = pc() - t0
        if profiler is not None and prof == side:
            profiler.disable()
        calls += 1
        if side == "server":
            s_ns += dt
        else:
            c_ns += dt

    now = 1000.0
    cpu0 = time.process_time()
    for i in range(n):
        mac = bytes([2, 0, 0, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF])
        sub = PppoeSubscriber(client_cfg, rng.randbytes, i.to_bytes(4, "big"))
        timed("client", sub.start, now)
        for _ in range(100):
            c_out = sub.take_output()
            s_out = server.take()
            if not c_out and not s_out:
                break
            for _dst, etype, payload in c_out:
                timed("server", server.on_frame, etype, payload, mac, now)
            for _dst, etype, payload in s_out:
                if etype == DISC:
                    timed("client", sub.receive_discovery, payload, AC_MAC, now)
                else:
                    _sid, ppp_payload = decode_session(payload)
                    timed("client", sub.receive_session, ppp_payload, now)
        events = sub.take_events()
        if not events or not isinstance(events[0], PppoeUp):
            raise AssertionError(f"setup {i} failed: {events}")
        # one LCP echo: the server's keepalive timer fires, the client answers
        sid = sub.session_id
        timed("server", server.echo, sid, now + server.ppp_cfg.lcp_echo_interval)
        for _dst, _etype, payload in server.take():
            timed("client", sub.receive_session, decode_session(payload)[1], now)
        for _dst, etype, payload in sub.take_output():
            timed("server", server.on_frame, etype, payload, mac, now)
        if server.take() or sub.take_output():
            raise AssertionError("echo exchange did not settle")
        ppp = server.subs[sid][1]
        if ppp.lcp.echo_outstanding != 0 or not ppp.is_up:
            raise AssertionError("echo not answered")
        # forget the session (abngd keeps it; the bench must not run out of session ids)
        server.discovery.release(sid, mac)
        del server.subs[sid]
        now += 0.0005
    cpu = time.process_time() - cpu0
    s_ns -= calls // 2 * over
    c_ns -= calls // 2 * over
    if profiler is not None:
        st = pstats.Stats(profiler)
        st.sort_stats(os.environ.get("SORT", "tottime")).print_stats(int(os.environ.get("TOP", "35")))
    return s_ns / n / 1000, c_ns / n / 1000, cpu * 1e6 / n


def objects_kept(n: int) -> None:
    """Print the GC-tracked objects kept per established server session (N sessions kept)."""
    server = Server()
    rng = random.Random(7)
    client_cfg = ClientConfig("user1@example.net", "test", auth_protocols=("pap",))

    def setup(i: int, now: float) -> None:
        mac = bytes([2, 0, 0, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF])
        sub = PppoeSubscriber(client_cfg, rng.randbytes, i.to_bytes(4, "big"))
        sub.start(now)
        for _ in range(100):
            c_out, s_out = sub.take_output(), server.take()
            if not c_out and not s_out:
                break
            for _dst, etype, payload in c_out:
                server.on_frame(etype, payload, mac, now)
            for _dst, etype, payload in s_out:
                if etype == DISC:
                    sub.receive_discovery(payload, AC_MAC, now)
                else:
                    sub.receive_session(decode_session(payload)[1], now)
        if not isinstance(sub.take_events()[0], PppoeUp):
            raise AssertionError(f"setup {i} failed")
        server.echo(sub.session_id, now + server.ppp_cfg.lcp_echo_interval)  # one keepalive round
        for _dst, _etype, payload in server.take():
            sub.receive_session(decode_session(payload)[1], now)
        for _dst, etype, payload in sub.take_output():
            server.on_frame(etype, payload, mac, now)
        server.take()

    def census() -> collections.Counter[str]:
        return collections.Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())

    setup(0, 1000.0)  # module-level caches filled
    gc.collect()
    before = census()
    for i in range(1, n + 1):
        setup(i, 1000.0 + i * 0.0005)
    kept = [ppp for _mac, ppp in server.subs.values()]  # the sessions abngd would hold
    server.subs.clear()  # the bench's (mac, session) tuples and dicts are not abngd's
    server.deadlines.clear()
    gc.collect()
    diff = census() - before
    del kept
    print(f"GC-tracked objects kept per established server session ({n} kept): {sum(diff.values()) / n:.2f}")
    for name, count in diff.most_common():
        if count >= n // 2:
            print(f"  {count / n:5.2f} {name}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", choices=("server", "client"))
    ap.add_argument("--objects", type=int, metavar="N", help="count objects kept per server session")
    args = ap.parse_args()
    if args.objects:
        objects_kept(args.objects)
        return
    if args.profile:
        run(args.n, args.profile)
        return
    run(300)  # warm-up
    best: tuple[float, float, float] | None = None
    for _ in range(args.repeat):
        r = run(args.n)
        if best is None or r[0] + r[1] < best[0] + best[1]:
            best = r
    assert best is not None
    s, c, cpu = best
    print(
        f"PPPoE PAP setup + 1 echo, n={args.n}, best of {args.repeat} (pid {os.getpid()}): "
        f"server {s:.1f} us, client {c:.1f} us, both {s + c:.1f} us; "
        f"whole run incl. driver {cpu:.1f} us CPU/setup"
    )


if __name__ == "__main__":
    main()
