"""What the access protocols ask AAA, and what they get back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from abng.aaa.dictionary import Value

Service = Literal["pppoe", "dhcp"]


@dataclass(frozen=True, slots=True)
class AuthRequest:
    """One authentication.  PAP: ``password``; CHAP-MD5: ``chap_id``/``chap_challenge``/``chap_response``;
    DHCP: neither (the MAC is the identity, reference §6.2)."""

    username: str
    mac: str  # aa:bb:cc:dd:ee:ff
    nas_port_id: str  # the access interface name (D5)
    service: Service
    password: str | None = field(default=None, repr=False)
    chap_id: int | None = None
    chap_challenge: bytes | None = None
    chap_response: bytes | None = field(default=None, repr=False)
    circuit_id: bytes | None = None
    remote_id: bytes | None = None
    nas_port: int = 0


@dataclass(frozen=True, slots=True)
class AuthResult:
    accepted: bool
    reply_message: str | None = None
    framed_ip: str | None = None
    framed_netmask: str | None = None
    #: a named local pool to allocate from when no fixed ``framed_ip`` is given (D19, Framed-Pool)
    pool: str | None = None
    rate_down_bps: int | None = None
    rate_up_bps: int | None = None
    overhead_profile: str | None = None
    session_timeout: int | None = None
    idle_timeout: int | None = None
    interim_interval: int | None = None
    cgnat_bypass: bool = False
    vrf: str | None = None
    #: Class attributes to echo in accounting (RFC 2865 §5.25)
    class_attr: tuple[bytes, ...] = ()
    #: every reply attribute by name, for Session.radius_attributes and debugging
    attrs: dict[str, list[Value]] = field(default_factory=dict)

    @classmethod
    def reject(cls, message: str | None = None) -> AuthResult:
        return cls(accepted=False, reply_message=message)


class Authenticator(Protocol):
    async def authenticate(self, req: AuthRequest) -> AuthResult:
        """Accept or reject; raises :class:`abng.aaa.aio_client.RadiusTimeout` if nobody answered."""
        ...
