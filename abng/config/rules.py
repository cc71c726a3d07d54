"""Rules that involve more than one field of the configuration (checked at commit).

Each rule yields a :class:`ConfigIssue` with the dotted path of the field to fix; the table of
rules is in docs/configuration.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from abng.config.schema_access import DemuxProfile, LocalSubscriber
from abng.config.types import ConfigIssue

if TYPE_CHECKING:
    from abng.config.schema import Config


def cross_checks(c: Config) -> Iterator[ConfigIssue]:
    """Every rule that involves more than one field; yields issues, never raises."""
    yield from _check_interfaces(c)
    yield from _check_demux(c)
    yield from _check_aaa(c)
    yield from _check_services(c)


def _check_interfaces(c: Config) -> Iterator[ConfigIssue]:
    seen: dict[str, str] = {}
    for key in ("management", "subscriber_trunk", "upstream", "cgnat_handoff"):
        name = getattr(c.interfaces, key)
        if name is None:
            continue
        if name in seen:
            yield ConfigIssue(f"interfaces.{key}", f"{name!r} is already used as interfaces.{seen[name]}")
        seen.setdefault(name, key)


def _check_demux(c: Config) -> Iterator[ConfigIssue]:
    d = c.demux
    if d.enabled and not d.profiles:
        yield ConfigIssue("demux.profiles", "demux enabled needs at least one profile")
    names: set[str] = set()
    for i, p in enumerate(d.profiles):
        base = f"demux.profiles.{i}"
        if p.name in names:
            yield ConfigIssue(f"{base}.name", f"duplicate profile name {p.name!r}")
        names.add(p.name)
        if p.trunk_interface != c.interfaces.subscriber_trunk:
            yield ConfigIssue(
                f"{base}.trunk_interface",
                f"{p.trunk_interface!r} must match interfaces.subscriber_trunk "
                f"({c.interfaces.subscriber_trunk!r})",
            )
        for j in range(i):
            q = d.profiles[j]
            if _profiles_overlap(p, q):
                yield ConfigIssue(f"{base}.stag_range", f"overlaps profile {q.name!r} (same tags match both)")


def _profiles_overlap(a: DemuxProfile, b: DemuxProfile) -> bool:
    if bool(a.outer_vlans) != bool(b.outer_vlans) or (a.ctag_range is None) != (b.ctag_range is None):
        return False
    if a.outer_vlans and not set(a.outer_vlans) & set(b.outer_vlans):
        return False
    (s1, e1), (s2, e2) = a.stag_bounds, b.stag_bounds
    if e1 < s2 or e2 < s1:
        return False
    ca, cb = a.ctag_bounds, b.ctag_bounds
    return ca is None or cb is None or not (ca[1] < cb[0] or cb[1] < ca[0])


def _check_aaa(c: Config) -> Iterator[ConfigIssue]:
    a = c.aaa
    pools = a.pools
    refs = [
        ("pppoe.pool", c.pppoe.pool),
        ("dhcp.pool", c.dhcp.pool),
        ("aaa.default_pool", a.default_pool),
        ("aaa.dhcp_default_pool", a.dhcp_default_pool),
    ] + [(f"aaa.subscribers.{i}.pool", s.pool) for i, s in enumerate(a.subscribers)]
    for path, name in refs:
        if name is not None and name not in pools:
            yield ConfigIssue(path, f"unknown pool {name!r} (define it under aaa.pools)")
    names = list(pools)
    for i, n in enumerate(names):
        for m in names[:i]:
            if pools[n].network.overlaps(pools[m].network):
                yield ConfigIssue(f"aaa.pools.{n}.network", f"overlaps pool {m!r}")
    seen: dict[tuple[str, str], int] = {}
    for i, s in enumerate(a.subscribers):
        base = f"aaa.subscribers.{i}"
        for key in ("username", "mac", "ip"):
            value = getattr(s, key)
            if value is None:
                continue
            prev = seen.setdefault((key, str(value)), i)
            if prev != i:
                yield ConfigIssue(
                    f"{base}.{key}", f"duplicate {key} {str(value)!r} (also subscribers.{prev})"
                )
        if s.overhead_profile is not None and s.overhead_profile not in c.qos.overhead_profiles:
            yield ConfigIssue(f"{base}.overhead_profile", f"unknown overhead profile {s.overhead_profile!r}")
        if s.ip is None and s.pool is None and a.default_pool is None and not _service_pool(c, s):
            yield ConfigIssue(base, "no address: give ip, pool, aaa.default_pool or the service's pool")
    has_ppp = any(s.username is not None for s in a.subscribers)
    has_mac = any(s.mac is not None for s in a.subscribers) or a.dhcp_default_pool is not None
    if c.pppoe.enabled and not c.radius.servers and not has_ppp:
        yield ConfigIssue("pppoe.enabled", "PPPoE needs radius.servers or local PPP users in aaa.subscribers")
    if c.dhcp.enabled and not c.radius.servers and not has_mac:
        yield ConfigIssue(
            "dhcp.enabled",
            "DHCP needs radius.servers, local MACs in aaa.subscribers or aaa.dhcp_default_pool",
        )
    if "radius" not in a.order and (c.pppoe.enabled or c.dhcp.enabled) and c.radius.servers:
        yield ConfigIssue("aaa.order", "radius.servers are configured but 'radius' is not in aaa.order")


def _service_pool(c: Config, s: LocalSubscriber) -> bool:
    return (s.username is not None and c.pppoe.pool is not None) or (
        s.mac is not None and c.dhcp.pool is not None
    )


def _check_services(c: Config) -> Iterator[ConfigIssue]:
    q = c.qos
    if q.default_overhead_profile not in q.overhead_profiles:
        yield ConfigIssue(
            "qos.default_overhead_profile", f"unknown overhead profile {q.default_overhead_profile!r}"
        )
    r = c.radius
    hosts = [(s.host, s.port) for s in r.servers]
    for i, h in enumerate(hosts):
        if h in hosts[:i]:
            yield ConfigIssue(f"radius.servers.{i}.host", f"duplicate server {h[0]}:{h[1]}")
    if r.coa_enabled and not r.servers and not r.coa_clients:
        yield ConfigIssue("radius.coa_enabled", "CoA needs radius.servers or radius.coa_clients")
    if r.coa_enabled and r.coa_clients and not r.servers and r.coa_secret is None:
        yield ConfigIssue("radius.coa_secret", "coa_clients without servers need coa_secret")
    bgp = c.routing.bgp
    if bgp.enabled and bgp.asn is None:
        yield ConfigIssue("routing.bgp.asn", "BGP enabled needs an asn")
    if bgp.enabled and not bgp.neighbors:
        yield ConfigIssue("routing.bgp.neighbors", "BGP enabled needs at least one neighbor")
    g = c.cgnat
    if g.enabled and g.handoff_interface is None:
        yield ConfigIssue("cgnat.handoff_interface", "CGNAT enabled needs handoff_interface")
    if g.enabled and g.handoff_gateway is None:
        yield ConfigIssue("cgnat.handoff_gateway", "CGNAT enabled needs handoff_gateway")
    if (
        g.handoff_interface is not None
        and c.interfaces.cgnat_handoff is not None
        and g.handoff_interface != c.interfaces.cgnat_handoff
    ):
        yield ConfigIssue("cgnat.handoff_interface", "must match interfaces.cgnat_handoff")
    api = c.api
    if (api.tls_cert is None) != (api.tls_key is None):
        yield ConfigIssue(
            "api.tls_key" if api.tls_key is None else "api.tls_cert", "tls_cert and tls_key go together"
        )
    if api.enabled and not api.users:
        yield ConfigIssue("api.users", "API enabled needs at least one user")
    sl = c.monitoring.syslog
    if sl.enabled and sl.target is None:
        yield ConfigIssue("monitoring.syslog.target", "syslog enabled needs a target")
