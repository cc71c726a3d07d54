"""Events a PPP machine hands to its caller (frozen dataclasses, STYLE §3; the two made for
every session set-up are immutable named tuples, which cost a third as much to create)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class AuthRequest(NamedTuple):
    """The peer wants to be authenticated; answer with ``PPPSession.auth_result``.

    PAP fills ``password``; CHAP-MD5 fills ``chap_id``, ``challenge`` and ``response``
    (check with :func:`abng.ppp.auth.chap_md5_verify` or send as RADIUS CHAP-Password).
    Secrets are excluded from ``repr`` so that logging the event never leaks them.  (An
    immutable named tuple rather than a frozen dataclass: one is made per session set-up.)
    """

    method: str  # "pap" | "chap-md5"
    username: str
    password: str | None = None
    chap_id: int | None = None
    challenge: bytes | None = None
    response: bytes | None = None

    def __repr__(self) -> str:
        return f"AuthRequest(method={self.method!r}, username={self.username!r}, chap_id={self.chap_id!r})"


class SessionUp(NamedTuple):
    """LCP, authentication and IPCP are all open: the subscriber has ``ip``.

    ``peer_mru``: the largest PPP packet we may send (the peer's MRU capped by our ``mtu``);
    ``mru``: the largest the peer may send us (our negotiated MRU)."""

    ip: str
    peer_mru: int
    mru: int


@dataclass(frozen=True, slots=True)
class SessionDown:
    """The session is over (emitted once).  ``reason`` is one of: user_request (peer
    Terminate-Request or PADT), lost_carrier (LCP echo failure), auth_failed, auth_timeout,
    auth_refused (peer rejected every auth protocol), negotiation_failed (Max-Configure /
    Max-Failure exhausted), loopback (looped link), renegotiation (peer restarted LCP),
    protocol_rejected (peer rejected IPCP), or the reason given to ``terminate``."""

    reason: str
    message: str = ""


@dataclass(frozen=True, slots=True)
class LinkFinished:
    """LCP has finished (Terminate exchange done or timed out): send PADT and forget the session."""


@dataclass(frozen=True, slots=True)
class EchoTimeout:
    """``lcp_echo_failure`` echo requests went unanswered (followed by SessionDown lost_carrier)."""

    unanswered: int


@dataclass(frozen=True, slots=True)
class IPv4Packet:
    """An IPv4 datagram received on an open session (for the userspace dataplane)."""

    data: bytes = field(repr=False)


Event = AuthRequest | SessionUp | SessionDown | LinkFinished | EchoTimeout | IPv4Packet
