"""Access-Requests per second through RadiusClient against a local FreeRADIUS.

.venv/bin/python bench/aaa_access_rate.py [N] [CONCURRENCY]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from abng.aaa.aio_client import RadiusClient
from abng.aaa.config import RadiusConfig, RadiusServerConfig
from tests.helpers.freeradius import freeradius_server

USERS = 'alice Cleartext-Password := "secret1"\n    Framed-IP-Address = 100.64.0.5\n'


async def run(port: int, n: int, conc: int) -> None:
    cfg = RadiusConfig(
        servers=(RadiusServerConfig("127.0.0.1", "testing123", port, port + 1),), timeout=5, retries=3
    )
    client = RadiusClient(cfg)
    sem = asyncio.Semaphore(conc)
    lat: list[float] = []

    async def one() -> None:
        async with sem:
            t0 = time.perf_counter()
            r = await client.access_request(
                [("User-Name", "alice"), ("NAS-Port-Id", "eth1.1.1")], password="secret1"
            )
            lat.append(time.perf_counter() - t0)
            assert r.accepted

    t0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one() for _ in range(n)))
    dt, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    lat.sort()
    print(
        f"access_requests={n} concurrency={conc} rate={n / dt:.0f}/s "
        f"p50={lat[len(lat) // 2] * 1e3:.2f}ms p99={lat[int(len(lat) * 0.99)] * 1e3:.2f}ms "
        f"client_cpu={cpu / n * 1e6:.0f}us/req sockets={client.socket_count} "
        f"stats={dict(client.machine.stats)}"
    )
    await client.close()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    conc = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    with tempfile.TemporaryDirectory() as d, freeradius_server(Path(d), USERS) as srv:
        asyncio.run(run(srv.auth_port, n, conc))


if __name__ == "__main__":
    main()
