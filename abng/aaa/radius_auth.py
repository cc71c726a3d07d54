"""RADIUS authentication: AuthRequest -> Access-Request (reference §6.3/§6.4) -> AuthResult."""

from __future__ import annotations

import logging

from abng.aaa.aio_client import RadiusClient
from abng.aaa.dictionary import Value
from abng.aaa.packet import Packet
from abng.aaa.types import AuthRequest, AuthResult
from abng.config.rates import RateError, parse_rate

log = logging.getLogger(__name__)


def build_access_attrs(req: AuthRequest, nas_identifier: str, nas_ip: str | None) -> list[tuple[str, Value]]:
    """The Access-Request attributes (User-Password is added, hidden, by the client)."""
    username = req.mac.lower() if req.service == "dhcp" else req.username
    attrs: list[tuple[str, Value]] = [("User-Name", username)]
    if req.chap_response is not None:
        if req.chap_id is None or req.chap_challenge is None:
            raise ValueError("CHAP needs chap_id, chap_challenge and chap_response")
        attrs.append(("CHAP-Password", bytes([req.chap_id]) + req.chap_response))
        attrs.append(("CHAP-Challenge", req.chap_challenge))
    attrs += [
        ("Calling-Station-Id", req.mac),
        ("NAS-Port-Id", req.nas_port_id),
        ("NAS-Port", req.nas_port),
        ("NAS-Identifier", nas_identifier),
        ("Service-Type", "Framed-User"),
    ]
    if nas_ip:
        attrs.append(("NAS-IP-Address", nas_ip))
    if req.service == "pppoe":
        attrs.append(("Framed-Protocol", "PPP"))
    if req.circuit_id:
        attrs.append(("ADSL-Agent-Circuit-Id", req.circuit_id[:247]))
    if req.remote_id:
        attrs.append(("ADSL-Agent-Remote-Id", req.remote_id[:247]))
    return attrs


Named = dict[str, list[Value]]


def _first(attrs: Named, name: str) -> Value | None:
    values = attrs.get(name)
    return values[0] if values else None


def _rate(attrs: Named, name: str) -> int | None:
    value = _first(attrs, name)
    if not isinstance(value, str | int):
        return None
    try:
        return parse_rate(value.strip() if isinstance(value, str) else value)
    except RateError as exc:
        log.warning("ignoring %s from RADIUS: %s", name, exc)
        return None


def _int(attrs: Named, name: str) -> int | None:
    value = _first(attrs, name)
    return value if isinstance(value, int) else None


def _str(attrs: Named, name: str) -> str | None:
    value = _first(attrs, name)
    return value if isinstance(value, str) else None


#: the attributes :func:`parse_accept` interprets
_ACCEPT_NAMES = frozenset(
    {
        "Reply-Message",
        "Framed-IP-Address",
        "Framed-IP-Netmask",
        "Framed-Pool",
        "Athena-Rate-Down",
        "Athena-Rate-Up",
        "Athena-Overhead-Profile",
        "Athena-Session-Timeout",
        "Session-Timeout",
        "Idle-Timeout",
        "Acct-Interim-Interval",
        "Athena-CGNAT-Bypass",
        "Athena-VRF",
    }
)


def parse_accept(pkt: Packet) -> AuthResult:
    """Access-Accept attributes -> AuthResult (Athena-Session-Timeout overrides Session-Timeout).

    Values of the wrong length are kept raw in ``attrs`` and ignored here."""
    a = pkt.named()
    if a.keys().isdisjoint(_ACCEPT_NAMES):  # often nothing but Message-Authenticator (and Class)
        return AuthResult(accepted=True, class_attr=tuple(pkt.raw(0, 25)), attrs=a)
    session_timeout = _int(a, "Athena-Session-Timeout")
    if session_timeout is None:
        session_timeout = _int(a, "Session-Timeout")
    return AuthResult(
        accepted=True,
        reply_message=_str(a, "Reply-Message"),
        framed_ip=_str(a, "Framed-IP-Address"),
        framed_netmask=_str(a, "Framed-IP-Netmask"),
        pool=_str(a, "Framed-Pool"),
        rate_down_bps=_rate(a, "Athena-Rate-Down"),
        rate_up_bps=_rate(a, "Athena-Rate-Up"),
        overhead_profile=_str(a, "Athena-Overhead-Profile"),
        session_timeout=session_timeout,
        idle_timeout=_int(a, "Idle-Timeout"),
        interim_interval=_int(a, "Acct-Interim-Interval"),
        cgnat_bypass=_int(a, "Athena-CGNAT-Bypass") == 1,
        vrf=_str(a, "Athena-VRF"),
        class_attr=tuple(pkt.raw(0, 25)),
        attrs=a,
    )


class RadiusAuthenticator:
    """:class:`abng.aaa.types.Authenticator` backed by a :class:`RadiusClient`."""

    def __init__(self, client: RadiusClient) -> None:
        self.client = client

    async def authenticate(self, req: AuthRequest) -> AuthResult:
        cfg = self.client.config
        attrs = build_access_attrs(req, cfg.nas_identifier, cfg.nas_ip_address)
        password = req.password if req.chap_response is None else None
        if req.service == "dhcp" and password is None and req.chap_response is None:
            password = req.mac.lower()  # RFC 2865 §4.1 needs a password; MAC auth uses the MAC
        reply = await self.client.access_request(attrs, password=password)
        if reply.accepted:
            return parse_accept(reply.packet)
        named = reply.packet.named()
        return AuthResult(accepted=False, reply_message=_str(named, "Reply-Message"), attrs=named)
