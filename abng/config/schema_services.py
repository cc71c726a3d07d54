"""Schema of the service sections: ``radius``, ``qos``, ``cgnat``, ``routing``, ``api``, ``snmp``,
``monitoring`` (reference §4.7-§4.12, DECISIONS.md D14, D20-D23)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Literal

from pydantic import field_validator, model_validator

from abng.config.types import (
    BcryptHash,
    Duration,
    FwMark,
    Host,
    IfName,
    Name,
    Port,
    Rate,
    Section,
    Text,
    field,
)

# --- radius -------------------------------------------------------------------------------------


class RadiusServer(Section):
    host: Host = field(description="RADIUS server IPv4 address or host name")
    port: Port = field(1812, description="Authentication port")
    acct_port: Port = field(1813, description="Accounting port")
    secret: str = field(min_length=1, max_length=128, secret=True, description="Shared secret")


class Radius(Section):
    servers: list[RadiusServer] = field(
        default_factory=list, description="Servers, tried in order (failover); needed by pppoe/dhcp"
    )
    nas_identifier: Text = field(
        "AthenaBNG", min_length=1, max_length=64, description="NAS-Identifier sent in every request"
    )
    nas_ip_address: IPv4Address | None = field(None, description="NAS-IP-Address sent in every request")
    coa_enabled: bool = field(False, description="Listen for CoA/Disconnect requests (RFC 5176)")
    coa_port: Port = field(3799, description="UDP port of the CoA listener")
    coa_listen: IPv4Address = field(IPv4Address("0.0.0.0"), description="Address of the CoA listener")
    coa_clients: list[IPv4Address] = field(
        default_factory=list, description="Extra addresses allowed to send CoA (besides the servers)"
    )
    coa_secret: str | None = field(
        None,
        min_length=1,
        max_length=128,
        secret=True,
        description="Secret for CoA clients not in servers; default the first server's secret",
    )
    timeout: int = field(5, ge=1, le=60, description="Seconds to wait for a reply before retrying")
    retries: int = field(3, ge=0, le=10, description="Retransmissions per server before failing over")
    interim_interval: int = field(
        300, ge=0, le=86_400, description="Seconds between Interim-Updates (0 = off, else >= 60)"
    )

    @field_validator("interim_interval")
    @classmethod
    def _interim(cls, value: int) -> int:
        if 0 < value < 60:
            raise ValueError("interim_interval is 0 (off) or at least 60 seconds")
        return value


# --- qos ----------------------------------------------------------------------------------------


class OverheadProfile(Section):
    overhead: int = field(ge=0, le=256, description="Per-packet overhead in bytes (CAKE overhead)")
    mpu: int = field(64, ge=0, le=256, description="Minimum packet unit in bytes")
    rtt: Duration = field("20ms", description="CAKE rtt, e.g. '20ms'")


BUILTIN_OVERHEAD_PROFILES: dict[str, dict[str, int]] = {
    "pppoe_ethernet": {"overhead": 34, "mpu": 64},
    "ipoe_ethernet": {"overhead": 22, "mpu": 64},
    "pppoe_qinq": {"overhead": 38, "mpu": 64},
}


def _builtin_profiles() -> dict[str, OverheadProfile]:
    return {
        name: OverheadProfile.model_validate(values) for name, values in BUILTIN_OVERHEAD_PROFILES.items()
    }


class QoS(Section):
    enabled: bool = field(False, description="Shape every subscriber")
    default_down: Rate | None = field(None, description="Download rate when AAA gives none ('100mbit')")
    default_up: Rate | None = field(None, description="Upload rate when AAA gives none ('40mbit')")
    default_overhead_profile: Name = field(
        "pppoe_ethernet", description="Overhead profile when AAA gives none (key of overhead_profiles)"
    )
    overhead_profiles: dict[Name, OverheadProfile] = field(
        default_factory=_builtin_profiles,
        description="Named overhead profiles; the built-ins are always present",
    )

    @model_validator(mode="after")
    def _builtins(self) -> QoS:
        for name, values in BUILTIN_OVERHEAD_PROFILES.items():
            if name not in self.overhead_profiles:
                self.overhead_profiles[name] = OverheadProfile.model_validate(values)
        return self


# --- cgnat --------------------------------------------------------------------------------------


class CGNAT(Section):
    enabled: bool = field(False, description="Steer CGNAT-range subscribers into the CGNAT VRF")
    vrf_name: str = field(
        "cgnat", pattern=r"^[A-Za-z0-9_]{1,15}$", description="VRF device name, 1-15 [A-Za-z0-9_]"
    )
    vrf_table: int = field(100, ge=1, le=252, description="Routing table of the VRF")
    handoff_interface: IfName | None = field(None, description="Interface towards the CGNAT appliance")
    handoff_gateway: IPv4Address | None = field(None, description="Next hop of the CGNAT appliance")
    source_range: IPv4Network = field(
        IPv4Network("100.64.0.0/10"), description="Subscriber sources that are steered (RFC 6598)"
    )
    fwmark: FwMark = field("0x64", description="Firewall mark for steered packets (hex)")


# --- routing ------------------------------------------------------------------------------------


class BgpNeighbor(Section):
    address: IPv4Address = field(description="Neighbor IPv4 address")
    remote_as: int = field(ge=1, le=4_294_967_295, description="Neighbor AS number")
    description: str | None = field(None, max_length=80, description="Free text")


class Bgp(Section):
    enabled: bool = field(False, description="Run BGP (FRR)")
    asn: int | None = field(None, ge=1, le=4_294_967_295, description="Local AS number (needed when enabled)")
    router_id: IPv4Address | None = field(None, description="BGP router ID; default system.router_id")
    neighbors: list[BgpNeighbor] = field(default_factory=list, description="BGP neighbors")
    announce_subscriber_routes: bool = field(False, description="Advertise each subscriber /32")

    @field_validator("neighbors")
    @classmethod
    def _unique(cls, value: list[BgpNeighbor]) -> list[BgpNeighbor]:
        seen = [n.address for n in value]
        if len(set(seen)) != len(seen):
            raise ValueError("duplicate neighbor address")
        return value


class Ospf(Section):
    enabled: bool = field(False, description="Run OSPF (FRR)")


class Routing(Section):
    bgp: Bgp = field(default_factory=Bgp, description="BGP")
    ospf: Ospf = field(default_factory=Ospf, description="OSPF")


# --- api ----------------------------------------------------------------------------------------


class ApiUser(Section):
    username: str = field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$", description="User name")
    password_hash: BcryptHash = field(secret=True, description="bcrypt hash of the password ($2b$12$...)")
    role: Literal["admin", "operator"] = field(description="admin: full access; operator: read-only")


class Api(Section):
    enabled: bool = field(False, description="Run the REST API")
    listen: Host = field("0.0.0.0", description="Listen address")
    port: Port = field(8443, description="HTTPS port")
    tls_cert: str | None = field(None, description="TLS certificate path; unset = self-signed, generated")
    tls_key: str | None = field(None, description="TLS key path; unset = generated")
    users: list[ApiUser] = field(default_factory=list, description="API users")
    token_expiry: int = field(3600, ge=60, le=86_400, description="Token lifetime in seconds")

    @field_validator("users")
    @classmethod
    def _unique(cls, value: list[ApiUser]) -> list[ApiUser]:
        names = [u.username for u in value]
        if len(set(names)) != len(names):
            raise ValueError("duplicate username")
        return value


# --- snmp / monitoring --------------------------------------------------------------------------


class Snmp(Section):
    enabled: bool = field(False, description="Run the SNMP AgentX sub-agent (ATHENA-BNG-MIB)")
    agentx_socket: str = field(
        "/var/agentx/master", description="AgentX master socket (path or tcp:host:port)"
    )
    community: str | None = field(
        None, min_length=1, max_length=64, secret=True, description="Read community for the master agent"
    )
    listen: Host = field("0.0.0.0", description="Address the master agent listens on")
    port: Port = field(161, description="UDP port the master agent listens on")
    location: str | None = field(None, max_length=255, description="sysLocation")
    contact: str | None = field(None, max_length=255, description="sysContact")


class Prometheus(Section):
    enabled: bool = field(False, description="Serve /metrics on a dedicated listener too")
    listen: Host = field("0.0.0.0", description="Listen address of the dedicated listener")
    port: Port = field(9273, description="Port of the dedicated listener")


class Syslog(Section):
    enabled: bool = field(False, description="Forward logs to a syslog server")
    target: Host | None = field(None, description="Syslog server address or name")
    port: Port = field(514, description="Syslog server port")
    protocol: Literal["udp", "tcp"] = field("udp", description="Transport")
    facility: Literal[
        "daemon", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"
    ] = field("daemon", description="Syslog facility")


class Monitoring(Section):
    prometheus: Prometheus = field(default_factory=Prometheus, description="Prometheus metrics")
    syslog: Syslog = field(default_factory=Syslog, description="Remote syslog")
