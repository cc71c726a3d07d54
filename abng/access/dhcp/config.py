"""Settings of the built-in DHCP server (the daemon maps the `dhcp` configuration onto this)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal

Option82Policy = Literal["insert", "keep", "replace"]


def ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


@dataclass(frozen=True, slots=True)
class DhcpServerConfig:
    server_mac: bytes  # source MAC of replies (the trunk's MAC)
    gateway: int  # subscribers' router (option 3/121); also the server identifier by default
    hostname: str = "abng"  # Option 82 Remote-ID (reference §4.2: the BNG hostname)
    server_id: int | None = None  # option 54; defaults to ``gateway``
    dns: tuple[int, ...] = ()
    domain_name: str | None = None
    lease_time: int = 3600
    min_lease_time: int = 60
    max_lease_time: int = 7 * 86400
    t1_ratio: float = 0.5  # RFC 2131 §4.4.5 defaults
    t2_ratio: float = 0.875
    default_pool: str | None = None  # used when AAA gives neither an address nor a pool
    option82_policy: Option82Policy = "insert"
    echo_option82: bool = True  # echo a (valid) received option 82 in replies (RFC 3046 §2.2)
    classless_routes: bool = True  # send option 121 gateway/32 + default (RFC 3442) for /32 clients
    require_chaddr_match: bool = True  # drop when Ethernet source != chaddr (we are the first hop)
    offer_timeout: float = 60.0  # an OFFER not followed by REQUEST frees its address
    auth_timeout: float = 30.0  # AAA answer must come within this, else the pending entry goes
    decline_hold: float = 600.0  # a DECLINEd address stays out of use this long
    max_pending_auth: int = 4096  # bounded pending-AAA table
    discover_burst: int = 5  # per-MAC DISCOVER token bucket: burst ...
    discover_rate: float = 0.5  # ... refilled at this many per second
    max_rate_entries: int = 65536  # bound of the per-MAC rate table
    contain_errors: bool = True  # STYLE §5; tests set False so that bugs surface
    extra_options: tuple[tuple[int, bytes], ...] = field(default_factory=tuple)

    @property
    def identifier(self) -> int:
        return self.server_id if self.server_id is not None else self.gateway
