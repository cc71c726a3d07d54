"""The session record shared by every part of abng (reference §5.2, DECISIONS.md D6-D11).

One :class:`Session` per subscriber.  The access protocols fill it through the session
manager's internal interface; the views below render it for JSON-RPC, REST and webhooks, so
that the field names of each published shape live in exactly one place.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from dataclasses import dataclass, field
from typing import Any

from abng.config.rates import format_rate


class SessionType(enum.StrEnum):
    PPPOE = "pppoe"
    DHCP = "dhcp"

    @property
    def rest(self) -> str:
        """REST and webhook spelling (D8)."""
        return "PPPoE" if self is SessionType.PPPOE else "DHCP"


class SessionState(enum.StrEnum):
    STARTING = "starting"
    ACTIVE = "active"
    TERMINATING = "terminating"


class TerminateReason(enum.StrEnum):
    """Why a session ended (D11); the value is the webhook ``reason``."""

    USER_REQUEST = "user_request"
    LOST_CARRIER = "lost_carrier"
    IDLE_TIMEOUT = "idle_timeout"
    SESSION_TIMEOUT = "session_timeout"
    LEASE_EXPIRED = "lease_expired"
    ADMIN_RESET = "admin_reset"
    NAS_REBOOT = "nas_reboot"
    NAS_ERROR = "nas_error"

    @property
    def acct_terminate_cause(self) -> int:
        """RFC 2866 §5.10 Acct-Terminate-Cause value."""
        return _ACCT_TERMINATE_CAUSE[self]


_ACCT_TERMINATE_CAUSE = {
    TerminateReason.USER_REQUEST: 1,  # User-Request
    TerminateReason.LOST_CARRIER: 2,  # Lost-Carrier
    TerminateReason.IDLE_TIMEOUT: 4,  # Idle-Timeout
    TerminateReason.SESSION_TIMEOUT: 5,  # Session-Timeout
    TerminateReason.LEASE_EXPIRED: 5,  # Session-Timeout (the lease was the session's time)
    TerminateReason.ADMIN_RESET: 6,  # Admin-Reset
    TerminateReason.NAS_REBOOT: 11,  # NAS-Reboot
    TerminateReason.NAS_ERROR: 9,  # NAS-Error
}


def acct_session_id(started_at: int, session_id: int) -> str:
    """``abng-<start epoch seconds>-<id>`` (D6)."""
    return f"abng-{started_at}-{session_id}"


@dataclass(slots=True)
class Session:
    """A subscriber session.  Mutable: the session manager owns every instance."""

    id: int
    type: SessionType
    username: str
    mac_address: str
    access_interface: str
    started_at: int
    state: SessionState = SessionState.STARTING
    ip_address: str | None = None
    gateway: str | None = None
    ppp_interface: str | None = None
    rate_down: int | None = None  # bps
    rate_up: int | None = None  # bps
    overhead_profile: str | None = None
    vrf_steered: bool = False
    cgnat_bypass: bool = False
    vrf: str | None = None
    session_timeout: int | None = None  # seconds, from RADIUS
    idle_timeout: int | None = None  # seconds, from RADIUS
    lease_time: int | None = None  # DHCP only, seconds
    interim_interval: int | None = None  # seconds, RADIUS Acct-Interim-Interval
    bytes_in: int = 0  # from the subscriber (Acct-Input-Octets)
    bytes_out: int = 0  # to the subscriber (Acct-Output-Octets)
    packets_in: int = 0
    packets_out: int = 0
    ended_at: int | None = None
    #: when the session became active (hooks ran); None if it never did
    activated_at: int | None = None
    reason: TerminateReason | None = None
    #: PPPoE session id, the access protocol's private state needed to survive a restart, etc.
    access_data: dict[str, Any] = field(default_factory=dict)
    #: RADIUS reply attributes kept for accounting (e.g. Class), as name -> list of str values.
    radius_attributes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def acct_session_id(self) -> str:
        return acct_session_id(self.started_at, self.id)

    def uptime(self, now: float | None = None) -> int:
        end = self.ended_at if self.ended_at is not None else (now if now is not None else time.time())
        return max(0, int(end) - self.started_at)

    # ---- persistence -------------------------------------------------------------------------
    def to_record(self) -> dict[str, Any]:
        """Plain JSON-able dict for the session store."""
        rec = dataclasses.asdict(self)
        rec["type"] = self.type.value
        rec["state"] = self.state.value
        rec["reason"] = self.reason.value if self.reason else None
        return rec

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Session:
        data = dict(rec)
        data["type"] = SessionType(data["type"])
        data["state"] = SessionState(data["state"])
        data["reason"] = TerminateReason(data["reason"]) if data.get("reason") else None
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    # ---- published views ---------------------------------------------------------------------
    def to_rpc(self) -> dict[str, Any]:
        """JSON-RPC ``show.subscribers`` item (reference §2.3, D8, D10)."""
        return {
            "id": self.id,
            "type": str(self.type),  # StrEnum: str() is the value, cheaper than .value on 3.11
            "state": str(self.state),
            "username": self.username,
            "mac_address": self.mac_address,
            "ip_address": self.ip_address,
            "interface": self.access_interface,
            "ppp_interface": self.ppp_interface,
            "speed_down": format_rate(self.rate_down),
            "speed_up": format_rate(self.rate_up),
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "packets_in": self.packets_in,
            "packets_out": self.packets_out,
            "acct_session_id": self.acct_session_id,
            "started_at": self.started_at,
            "overhead_profile": self.overhead_profile,
            "vrf_steered": self.vrf_steered,
            "gateway": self.gateway,
        }

    def to_rest(self) -> dict[str, Any]:
        """REST list item (reference §3.2 #4, D9)."""
        return {
            "id": self.id,
            "type": self.type.rest,
            "username": self.username,
            "ip_address": self.ip_address,
            "interface": self.ppp_interface or self.access_interface,
            "rate_down": self.rate_down,
            "rate_up": self.rate_up,
            "state": self.state.value,
            "started_at": self.started_at,
        }

    def to_rest_detail(self) -> dict[str, Any]:
        """REST detail object (reference §5.2)."""
        out = self.to_rest()
        out.update(
            {
                "session_type": self.type.rest,
                "mac_address": self.mac_address,
                "gateway": self.gateway,
                "access_interface": self.access_interface,
                "ppp_interface": self.ppp_interface,
                "rate_down_bps": self.rate_down,
                "rate_up_bps": self.rate_up,
                "overhead_profile": self.overhead_profile,
                "vrf_steered": self.vrf_steered,
                "acct_session_id": self.acct_session_id,
                "bytes_in": self.bytes_in,
                "bytes_out": self.bytes_out,
                "packets_in": self.packets_in,
                "packets_out": self.packets_out,
                "session_timeout": self.session_timeout,
                "idle_timeout": self.idle_timeout,
                "lease_time": self.lease_time,
                "uptime": self.uptime(),
            }
        )
        return out

    def webhook_up(self) -> dict[str, Any]:
        """``session.up`` data (reference §3.4): interface is the access interface (D9)."""
        return {
            "id": self.id,
            "type": self.type.rest,
            "username": self.username,
            "ip_address": self.ip_address,
            "interface": self.access_interface,
        }

    def webhook_down(self) -> dict[str, Any]:
        """``session.down`` data (reference §3.4)."""
        return {
            "id": self.id,
            "username": self.username,
            "reason": self.reason.value if self.reason else None,
        }
