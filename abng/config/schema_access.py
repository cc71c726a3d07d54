"""Schema of the access sections: ``interfaces``, ``demux``, ``pppoe``, ``dhcp`` and ``aaa``.

Reference §4.3-§4.6 and DECISIONS.md D3, D19.  Cross-section rules live in
:mod:`abng.config.schema`.
"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv4Network
from typing import Literal

from pydantic import field_validator, model_validator

from abng.config.types import (
    IfName,
    Mac,
    Name,
    Rate,
    Section,
    Text,
    VlanId,
    VlanRange,
    field,
    parse_vlan_range,
)


class Interfaces(Section):
    management: IfName = field(description="Management interface (SSH, REST API, SNMP)")
    subscriber_trunk: IfName = field(
        description="Subscriber-facing trunk carrying tagged PPPoE/IPoE traffic (may be a VLAN, eth1.6969)"
    )
    upstream: IfName = field(description="Upstream interface (BGP/OSPF peering, transit)")
    cgnat_handoff: IfName | None = field(None, description="Dedicated CGNAT handoff interface")


Service = Literal["pppoe", "dhcp"]


class DemuxProfile(Section):
    name: Name = field(description="Profile name, 1-64 characters [A-Za-z0-9_]")
    trunk_interface: IfName = field(
        description="Trunk this profile listens on (= interfaces.subscriber_trunk)"
    )
    outer_vlans: list[VlanId] = field(
        default_factory=list,
        description="Outermost VLAN IDs (third tag, name {trunk}.{outer}.{stag}.{ctag}); empty = none",
    )
    stag_range: VlanRange = field(description="S-Tags allowed for dynamic creation, 'start-end'")
    ctag_range: VlanRange | None = field(None, description="C-Tags allowed, 'start-end'; unset = single tag")
    stag_protocol: Literal["802.1ad", "802.1q"] = field(
        "802.1ad", description="TPID of the outermost tag: 802.1ad (0x88a8) or 802.1q (0x8100)"
    )
    services: list[Service] = field(
        default_factory=lambda: ["pppoe", "dhcp"], description="Services bound to created interfaces"
    )
    idle_timeout: int | None = field(
        None, ge=60, le=31_536_000, description="Seconds without sessions or traffic before removal"
    )
    max_interfaces: int | None = field(
        None, ge=1, le=1_000_000, description="Cap on dynamic interfaces (default: demux.max_interfaces)"
    )
    creation_rate_limit: int | None = field(
        None, ge=1, le=100_000, description="Interface creations per second (default: demux value)"
    )
    require_packets: int | None = field(
        None, ge=1, le=100, description="Matching packets needed before creating an interface"
    )
    require_window: int | None = field(
        None, ge=1, le=3600, description="Window in seconds for require_packets"
    )

    @field_validator("outer_vlans", "services")
    @classmethod
    def _unique(cls, value: list[object]) -> list[object]:
        if len(set(value)) != len(value):
            raise ValueError("duplicate entries")
        return value

    @property
    def stag_bounds(self) -> tuple[int, int]:
        return parse_vlan_range(self.stag_range)

    @property
    def ctag_bounds(self) -> tuple[int, int] | None:
        return parse_vlan_range(self.ctag_range) if self.ctag_range is not None else None


class Demux(Section):
    enabled: bool = field(False, description="Create subscriber VLAN interfaces on demand")
    untagged: bool = field(
        False,
        description="With the demux enabled, also serve untagged frames on the trunk itself "
        "(untagged and tagged subscribers on one trunk); otherwise they are dropped",
    )
    max_interfaces: int = field(50_000, ge=1, le=1_000_000, description="Default cap on dynamic interfaces")
    creation_rate_limit: int = field(100, ge=1, le=100_000, description="Default creations per second")
    idle_timeout: int = field(3600, ge=60, le=31_536_000, description="Default idle removal time, seconds")
    require_packets: int = field(2, ge=1, le=100, description="Default packets needed before creation")
    require_window: int = field(5, ge=1, le=3600, description="Default window for require_packets, seconds")
    profiles: list[DemuxProfile] = field(
        default_factory=list, description="Demux profiles (needed when enabled)"
    )

    def resolved(self, profile: DemuxProfile) -> DemuxProfile:
        """The profile with every limit filled in from the top level where the profile has none."""
        values = {
            key: getattr(self, key) if getattr(profile, key) is None else getattr(profile, key)
            for key in (
                "idle_timeout",
                "max_interfaces",
                "creation_rate_limit",
                "require_packets",
                "require_window",
            )
        }
        return profile.model_copy(update=values)


AuthProto = Literal["pap", "chap"]


class PPPoE(Section):
    enabled: bool = field(False, description="Run the PPPoE server on demux interfaces")
    ac_name: Text = field("AthenaBNG", min_length=1, max_length=64, description="AC-Name sent in PADO")
    service_name: str | None = field(
        None, max_length=64, description="Service-Name to offer; unset = empty (any service accepted)"
    )
    mtu: int = field(1492, ge=1280, le=1500, description="PPP MTU")
    mru: int = field(1492, ge=1280, le=1500, description="PPP MRU")
    lcp_echo_interval: int = field(30, ge=1, le=3600, description="Seconds between LCP Echo-Requests")
    lcp_echo_failure: int = field(3, ge=1, le=100, description="Missed echoes before disconnecting")
    auth: list[AuthProto] = field(
        default_factory=lambda: ["pap", "chap"],
        min_length=1,
        description="Authentication protocols, in the order they are offered (pap, chap = CHAP-MD5)",
    )
    max_sessions: int | None = field(
        None, ge=1, le=1_000_000, description="Cap on PPPoE sessions; unset = none"
    )
    padi_rate_limit: int = field(
        1000, ge=1, le=1_000_000, description="PADIs answered per second (whole server)"
    )
    pool: Name | None = field(
        None, description="aaa.pools entry used when RADIUS returns no Framed-IP-Address"
    )

    @field_validator("auth")
    @classmethod
    def _unique_auth(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("duplicate entries")
        return value


class DHCP(Section):
    enabled: bool = field(False, description="Run the built-in DHCP server (IPoE) on demux interfaces")
    lease_time: int = field(3600, ge=60, le=604_800, description="Lease time in seconds")
    offer_timeout: int = field(30, ge=1, le=600, description="Seconds an offered address is held")
    pool: Name | None = field(
        None, description="aaa.pools entry used when RADIUS returns no Framed-IP-Address"
    )
    gateway: IPv4Address | None = field(None, description="Router option; default: the pool's gateway")
    dns_servers: list[IPv4Address] = field(
        default_factory=list, max_length=8, description="DNS servers; default: the pool's dns"
    )
    server_identifier: IPv4Address | None = field(
        None, description="Server Identifier (option 54); default: the gateway"
    )
    option82: Literal["insert", "keep", "replace"] = field(
        "replace",
        description="Relay Agent Information: insert if absent, keep the client's, or replace it",
    )


class LocalSubscriber(Section):
    username: Text | None = field(None, min_length=1, max_length=253, description="PPP user name")
    password: str | None = field(None, min_length=1, max_length=128, secret=True, description="PPP password")
    mac: Mac | None = field(None, description="Subscriber MAC for DHCP (aa:bb:cc:dd:ee:ff)")
    ip: IPv4Address | None = field(None, description="Fixed IPv4 address")
    pool: Name | None = field(None, description="aaa.pools entry to address from (default aaa.default_pool)")
    rate_down: Rate | None = field(
        None, description="Download rate (bps or '100mbit'); default qos.default_down"
    )
    rate_up: Rate | None = field(None, description="Upload rate; default qos.default_up")
    overhead_profile: Name | None = field(None, description="qos.overhead_profiles entry")

    @model_validator(mode="after")
    def _identity(self) -> LocalSubscriber:
        if self.username is None and self.mac is None:
            raise ValueError("a local subscriber needs a username (PPP) or a mac (DHCP)")
        if self.username is not None and self.password is None:
            raise ValueError("a PPP subscriber (username) needs a password")
        if self.username is None and self.password is not None:
            raise ValueError("password given without username")
        return self


class Pool(Section):
    network: IPv4Network = field(description="Network of the pool, e.g. 100.64.0.0/24")
    range: str | None = field(
        None,
        description="Assignable addresses 'first-last' in network; default all hosts (never the gateway)",
    )
    gateway: IPv4Address | None = field(None, description="Gateway address; default the network's first host")
    dns: list[IPv4Address] = field(
        default_factory=list, max_length=8, description="DNS servers for this pool"
    )

    @model_validator(mode="after")
    def _check(self) -> Pool:
        net = self.network
        if net.prefixlen > 30:
            raise ValueError("pool network must be /30 or larger")
        if self.gateway is not None and self.gateway not in net:
            raise ValueError(f"gateway {self.gateway} is outside {net}")
        if self.range is not None:
            start, end = self.range_bounds
            if start not in net or end not in net:
                raise ValueError(f"range {self.range} is not inside {net}")
            if start > end:
                raise ValueError(f"range {self.range}: start is above end")
            if start == net.network_address or end == net.broadcast_address:
                raise ValueError(f"range {self.range} includes the network or broadcast address")
        return self

    @property
    def effective_gateway(self) -> IPv4Address:
        return self.gateway if self.gateway is not None else next(self.network.hosts())

    @property
    def range_bounds(self) -> tuple[IPv4Address, IPv4Address]:
        """First and last assignable address."""
        if self.range is None:
            hosts = list(self.network.hosts()) if self.network.prefixlen >= 24 else None
            if hosts is not None:
                return hosts[0], hosts[-1]
            return self.network.network_address + 1, self.network.broadcast_address - 1
        parts = self.range.split("-")
        if len(parts) != 2:
            raise ValueError(f"invalid range {self.range!r}: use 'start-end'")
        try:
            return ipaddress.IPv4Address(parts[0].strip()), ipaddress.IPv4Address(parts[1].strip())
        except ValueError:
            raise ValueError(f"invalid range {self.range!r}: use 'start-end' IPv4 addresses") from None


class AAA(Section):
    order: list[Literal["local", "radius"]] = field(
        default_factory=lambda: ["local", "radius"],
        min_length=1,
        description="Methods tried in order; a subscriber unknown locally falls through to RADIUS",
    )
    subscribers: list[LocalSubscriber] = field(default_factory=list, description="Local subscribers (D19)")
    pools: dict[Name, Pool] = field(default_factory=dict, description="Named IPv4 address pools")
    default_pool: Name | None = field(None, description="Pool for local subscribers without ip or pool")
    dhcp_default_pool: Name | None = field(
        None, description="Accept any DHCP client MAC not listed, addressed from this pool (catch-all)"
    )
    default_rate_down: Rate | None = field(None, description="Rate for catch-all DHCP clients")
    default_rate_up: Rate | None = field(None, description="Rate for catch-all DHCP clients")

    @field_validator("order")
    @classmethod
    def _unique_order(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("duplicate entries")
        return value

    def has_local(self) -> bool:
        return bool(self.subscribers) or self.dhcp_default_pool is not None


__all__ = [
    "AAA",
    "DHCP",
    "Demux",
    "DemuxProfile",
    "Interfaces",
    "LocalSubscriber",
    "PPPoE",
    "Pool",
]
