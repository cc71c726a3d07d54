"""IPv4 pool allocator: exclusions, stickiness, exhaustion, scale, uniqueness."""

from __future__ import annotations

import random

from abng.access.arp import ip_to_int
from abng.access.dhcp.pool import Ipv4Pool


def mac(i: int) -> bytes:
    return i.to_bytes(6, "big")


def test_network_excludes_network_broadcast_gateway() -> None:
    pool = Ipv4Pool.from_network("p", "10.0.0.0/29", gateway="10.0.0.1", exclude=["10.0.0.5"])
    assert pool.size == 4
    got = {pool.allocate(mac(i)) for i in range(4)}
    assert got == {ip_to_int(a) for a in ("10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.6")}
    assert pool.allocate(mac(99)) is None
    assert ip_to_int("10.0.0.1") not in pool and ip_to_int("10.0.0.7") not in pool


def test_range_and_sticky() -> None:
    pool = Ipv4Pool.from_range("p", "10.99.0.100", "10.99.0.150")
    a = pool.allocate(mac(1))
    b = pool.allocate(mac(2))
    assert a is not None and b is not None and a != b
    pool.release(a)
    pool.release(b)
    assert pool.allocate(mac(3)) not in (a, b)  # never-used addresses first
    assert pool.allocate(mac(2)) == b  # same MAC, same address
    assert pool.allocate(mac(1)) == a
    pool.release(a)
    c = pool.allocate(mac(4))
    assert c is not None
    # mac(1)'s old address may now belong to someone else; it must still get a free one
    assert pool.allocate(mac(1)) not in (b, c)


def test_reserve_and_release_idempotent() -> None:
    pool = Ipv4Pool.from_range("p", "10.0.0.10", "10.0.0.12")
    assert pool.reserve(ip_to_int("10.0.0.12"), mac(7))
    assert not pool.reserve(ip_to_int("10.0.0.12"), mac(8))
    assert not pool.reserve(ip_to_int("10.0.0.13"))
    got = {pool.allocate(mac(i)) for i in range(2)}
    assert got == {ip_to_int("10.0.0.10"), ip_to_int("10.0.0.11")}
    assert pool.allocate(mac(5)) is None
    pool.release(ip_to_int("10.0.0.11"))
    pool.release(ip_to_int("10.0.0.11"))
    assert pool.in_use == 2
    assert pool.allocate(mac(6)) == ip_to_int("10.0.0.11")
    assert pool.allocate(mac(6)) is None


def test_large_pool_unique_under_churn() -> None:
    pool = Ipv4Pool.from_network("big", "100.64.0.0/10", gateway="100.64.0.1")
    held: dict[int, int] = {}
    for i in range(20000):
        ip = pool.allocate(mac(i))
        assert ip is not None and ip not in held.values()
        held[i] = ip
    rng = random.Random(7)
    for _ in range(20000):
        i = rng.randrange(30000)
        if i in held:
            pool.release(held.pop(i))
        else:
            ip = pool.allocate(mac(i))
            assert ip is not None
            held[i] = ip
    assert len(set(held.values())) == len(held) == pool.in_use
    assert ip_to_int("100.64.0.1") not in held.values()


def test_exhaust_small_pool_then_free_all() -> None:
    pool = Ipv4Pool.from_range("p", "10.0.0.1", "10.0.39.16")  # 10,000 addresses
    assert pool.size == 10000
    ips = [pool.allocate(mac(i)) for i in range(10000)]
    assert None not in ips and len(set(ips)) == 10000
    assert pool.allocate(mac(10001)) is None
    for ip in ips:
        assert ip is not None
        pool.release(ip)
    assert pool.in_use == 0
    assert pool.allocate(mac(5)) == ips[5]
