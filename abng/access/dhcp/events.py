"""What the DHCP server hands out: events for the session manager, and frames to transmit.

MAC addresses are ``aa:bb:cc:dd:ee:ff`` strings and IPv4 addresses dotted strings, the way the
session record (abng.core.model.Session) and RADIUS carry them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from abng.access.dhcp.options import MessageType, RelayAgentInfo
from abng.access.dhcp.wire import ethernet_head, ipv4_udp
from abng.access.frames import VlanTag

DHCP_SERVER_PORT = 67
DHCP_CLIENT_PORT = 68


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    """Do AAA for this client, then call ``DhcpServer.authorized(key, ...)`` (D3, reference §6.2)."""

    key: int
    xid: int
    mac: str
    access_interface: str
    circuit_id: str  # effective Option 82 after the policy (what goes to RADIUS as NAS-Port-Id)
    remote_id: str
    relay_agent: RelayAgentInfo  # effective Option 82, all sub-options
    hostname: str | None = None
    vendor_class: bytes | None = None
    client_id: bytes | None = None
    requested_ip: str | None = None
    tags: tuple[VlanTag, ...] = ()


@dataclass(frozen=True, slots=True)
class LeaseGranted:
    """DHCPACK for a new binding: the session starts here."""

    mac: str
    ip: str
    lease_time: int
    access_interface: str
    circuit_id: str
    remote_id: str
    hostname: str | None
    client_id: bytes | None
    pool: str | None  # None: the address came from RADIUS Framed-IP-Address
    expires_at: float
    tags: tuple[VlanTag, ...] = ()
    attrs: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LeaseRenewed:
    mac: str
    ip: str
    lease_time: int
    access_interface: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class LeaseReleased:
    mac: str
    ip: str
    access_interface: str
    reason: Literal["user_request"] = "user_request"


@dataclass(frozen=True, slots=True)
class LeaseExpired:
    mac: str
    ip: str
    access_interface: str
    reason: Literal["lease_expired"] = "lease_expired"


@dataclass(frozen=True, slots=True)
class Declined:
    """DHCPDECLINE: the address is held back for ``decline_hold`` seconds.  When ``had_lease``
    the session that started at ACK is over (end it with reason user_request)."""

    mac: str
    ip: str
    access_interface: str
    had_lease: bool


@dataclass(frozen=True, slots=True)
class LeaseAborted:
    """A bug while handling this client (STYLE §5): its binding is gone, nothing was sent.
    When ``had_lease`` end the session (reason nas_error); the error is counted too."""

    mac: str
    ip: str
    access_interface: str
    had_lease: bool
    error: str
    reason: Literal["nas_error"] = "nas_error"


@dataclass(frozen=True, slots=True)
class PoolExhausted:
    pool: str
    mac: str
    access_interface: str


@dataclass(frozen=True, slots=True)
class AddressConflict:
    """The address AAA chose is bound or offered to another MAC, or held after a DECLINE."""

    ip: str
    mac: str
    access_interface: str
    holder_mac: str | None


DhcpEvent = (
    AuthorizeRequest
    | LeaseGranted
    | LeaseRenewed
    | LeaseReleased
    | LeaseExpired
    | LeaseAborted
    | Declined
    | PoolExhausted
    | AddressConflict
)


@dataclass(frozen=True, slots=True)
class Transmit:
    """A reply to put on the wire, addressed per RFC 2131 §4.1, on the request's VLAN tag stack."""

    access_interface: str
    tags: tuple[VlanTag, ...]
    dst_mac: bytes
    src_mac: bytes
    dst_ip: int
    src_ip: int
    payload: bytes  # the DHCP message (UDP payload)
    message_type: MessageType
    dst_port: int = DHCP_CLIENT_PORT  # DHCP_SERVER_PORT for a reply to a relay agent (giaddr)

    def ip_packet(self) -> bytes:
        return ipv4_udp(self.src_ip, self.dst_ip, DHCP_SERVER_PORT, self.dst_port, self.payload)

    def frame(self) -> bytes:
        """The complete Ethernet frame, tags included: what the packet I/O writes on the trunk."""
        return ethernet_head(self.dst_mac, self.src_mac, self.tags) + ipv4_udp(
            self.src_ip, self.dst_ip, DHCP_SERVER_PORT, self.dst_port, self.payload
        )
