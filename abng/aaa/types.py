"""What the access protocols ask AAA, and what they get back."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, make_dataclass
from typing import Any, Literal, Protocol

from abng.aaa.dictionary import Value

Service = Literal["pppoe", "dhcp"]


@dataclass(frozen=True, slots=True, init=False)
class AuthRequest:
    """One authentication.  PAP: ``password``; CHAP-MD5: ``chap_id``/``chap_challenge``/``chap_response``;
    DHCP: neither (the MAC is the identity, reference §6.2).

    One is built per login: instead of the frozen ``__init__`` (one ``object.__setattr__`` per
    field, ~5x the cost), ``__new__`` fills a plain slotted twin with the same slots in the same
    order and makes it an AuthRequest (``__class__``): the same frozen instance, equal, hashed,
    printed and pickled as before."""

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

    def __new__(
        cls,
        username: str,
        mac: str,
        nas_port_id: str,
        service: Service,
        password: str | None = None,
        chap_id: int | None = None,
        chap_challenge: bytes | None = None,
        chap_response: bytes | None = None,
        circuit_id: bytes | None = None,
        remote_id: bytes | None = None,
        nas_port: int = 0,
    ) -> AuthRequest:
        obj = _new(_RequestTwin)
        obj.username, obj.mac, obj.nas_port_id, obj.service = username, mac, nas_port_id, service
        obj.password = password
        obj.chap_id, obj.chap_challenge, obj.chap_response = chap_id, chap_challenge, chap_response
        obj.circuit_id, obj.remote_id, obj.nas_port = circuit_id, remote_id, nas_port
        obj.__class__ = cls
        return obj  # type: ignore[no-any-return]

    def __getnewargs__(self) -> tuple[str, str, str, Service]:
        """Pickling and copying rebuild through ``__new__`` (the state is set after it)."""
        return (self.username, self.mac, self.nas_port_id, self.service)


_new = object.__new__
#: AuthRequest's slots as a plain (unfrozen) class: same names, same order, same memory layout
_RequestTwin: Any = make_dataclass(
    "_RequestTwin", [f.name for f in fields(AuthRequest)], slots=True, eq=False, repr=False, match_args=False
)
assert _RequestTwin.__slots__ == AuthRequest.__slots__  # type: ignore[attr-defined]


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
