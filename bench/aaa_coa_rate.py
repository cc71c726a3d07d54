"""CoA requests answered per second by CoaServer, with p99 latency (issue 6 target >= 1,000/s).

Our own load tool: one UDP socket per worker, pre-signed CoA-Requests, up to CONCURRENCY
outstanding, in a separate process.  The callbacks do nothing (this measures the CoA path, not the dataplane).

    .venv/bin/python bench/aaa_coa_rate.py [N] [CONCURRENCY]
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from abng.aaa import crypto, packet
from abng.aaa.coa import SessionQuery
from abng.aaa.coa_server import CoaServer
from abng.aaa.config import RadiusConfig, RadiusServerConfig
from abng.aaa.packet import Code
from abng.core.model import Session, SessionState, SessionType

SECRET = b"testing123"
SESSIONS = {
    f"abng-1764864000-{i}": Session(
        i, SessionType.PPPOE, f"u{i}", "02:00:00:00:00:01", f"eth1.1.{i}", 1764864000, SessionState.ACTIVE
    )
    for i in range(1, 1001)
}


def lookup(q: SessionQuery) -> list[Session]:
    s = SESSIONS.get(q.acct_session_id or "")
    return [s] if s else []


async def change_rate(s: Session, down: int | None, up: int | None, profile: str | None) -> None:
    s.rate_down, s.rate_up = down, up


async def disconnect(s: Session) -> None:
    return None


class Load(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiters: dict[int, tuple[asyncio.Future[bytes], float]] = {}

    def datagram_received(self, data: bytes, addr: object) -> None:
        w = self.waiters.pop(data[1], None)
        if w and not w[0].done():
            w[0].set_result(data)


def requests(n: int, base: int) -> list[bytes]:
    """Pre-signed CoA-Requests (built before the clock starts)."""
    out = []
    for k in range(n):
        sid = f"abng-1764864000-{(base + k) % 1000 + 1}"
        attrs = packet.make_all([("Acct-Session-Id", sid), ("Athena-Rate-Down", f"{k % 900 + 10}mbit")])
        out.append(crypto.build_signed_request(Code.COA_REQUEST, k & 0xFF, SECRET, attrs))
    return out


async def worker(port: int, reqs: list[bytes], lat: list[float]) -> None:
    loop = asyncio.get_running_loop()
    tr, proto = await loop.create_datagram_endpoint(
        Load, remote_addr=("127.0.0.1", port), family=socket.AF_INET
    )
    for data in reqs:
        fut: asyncio.Future[bytes] = loop.create_future()
        proto.waiters[data[1]] = (fut, 0.0)
        timer = loop.call_later(2, fut.cancel)
        t0 = time.perf_counter()
        tr.sendto(data)
        reply = await fut
        timer.cancel()
        lat.append(time.perf_counter() - t0)
        assert reply[0] == Code.COA_ACK
    tr.close()


def load(port: int, n: int, conc: int) -> tuple[list[float], float]:
    async def go() -> tuple[list[float], float]:
        lat: list[float] = []
        per = n // conc
        work = [requests(per, w * per) for w in range(conc)]
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(port, reqs, lat) for reqs in work))
        return sorted(lat), time.perf_counter() - t0

    return asyncio.run(go())


async def run(n: int, conc: int) -> None:
    cfg = RadiusConfig(
        servers=(RadiusServerConfig("127.0.0.1", "testing123"),), coa_port=0, coa_bind="127.0.0.1"
    )
    server = CoaServer(cfg, lookup, change_rate, disconnect)
    _, port = await server.start()
    # the load runs in another process so that it does not share the server's event loop
    cpu0 = time.process_time()
    with multiprocessing.get_context("fork").Pool(1) as pool:
        res = pool.apply_async(load, (port, n, conc))
        lat, dt = await asyncio.to_thread(res.get)
    cpu = time.process_time() - cpu0  # the server process only (the load is in the child)
    print(
        f"coa_requests={len(lat)} concurrency={conc} rate={len(lat) / dt:.0f}/s "
        f"p50={lat[len(lat) // 2] * 1e3:.2f}ms p99={lat[int(len(lat) * 0.99)] * 1e3:.2f}ms "
        f"server_cpu={cpu / len(lat) * 1e6:.0f}us/req (= {len(lat) / cpu:.0f}/s per core) "
        f"stats={server.stats}"
    )
    await server.close()


if __name__ == "__main__":
    asyncio.run(
        run(int(sys.argv[1]) if len(sys.argv) > 1 else 20000, int(sys.argv[2]) if len(sys.argv) > 2 else 16)
    )
