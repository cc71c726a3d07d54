"""Plug-in points of the session manager and the daemon (docs/architecture.md, "Hooks").

The dataplane, accounting and access layers implement these protocols and register objects;
the manager never imports them.  Every method may raise: the manager contains the failure to the
one session concerned (it is torn down with ``nas_error``) and counts it.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from abng.core.model import Session, TerminateReason


@runtime_checkable
class SessionHook(Protocol):
    """Runs on the session lifecycle, in registration order (``session_down``: reverse order).

    ``session_up`` runs when a session becomes active (dataplane apply, accounting Start);
    ``session_down`` runs for sessions that were active when they end (dataplane remove,
    accounting Stop, with ``session.reason`` set); ``rate_changed`` after a rate change.
    Hooks must be idempotent: after a restart ``session_down`` may run for a session whose
    ``session_up`` ran in the previous process.
    """

    name: str

    async def session_up(self, session: Session) -> None: ...

    async def session_down(self, session: Session) -> None: ...

    async def rate_changed(self, session: Session, source: str) -> None: ...


class BaseSessionHook:
    """Convenience base: every callback does nothing.  Subclass and override what you need."""

    name = "hook"

    async def session_up(self, session: Session) -> None:
        return None

    async def session_down(self, session: Session) -> None:
        return None

    async def rate_changed(self, session: Session, source: str) -> None:
        return None


@runtime_checkable
class Disconnector(Protocol):
    """Per access type (pppoe, dhcp): tear the session down on the wire (PADT, LCP
    Terminate-Request, lease drop).  Called first on every termination not started by the peer
    itself; must not call back into ``SessionManager.terminate``."""

    async def disconnect(self, session: Session, reason: TerminateReason) -> None: ...


@runtime_checkable
class ConfigApplier(Protocol):
    """Applies a committed configuration change to a running subsystem.

    ``old`` and ``new`` are the running ``Config`` objects before and after the commit;
    ``changes`` the dotted paths that differ.  Apply only what changed; never drop sessions the
    change does not concern.
    """

    name: str

    async def apply_config(self, old: Any, new: Any, changes: list[str]) -> None: ...


@runtime_checkable
class DataplaneInfo(Protocol):
    """What ``show.system`` / ``system.health`` report about the dataplane."""

    def info(self) -> dict[str, Any]: ...


class NoDataplane:
    """Stand-in until the dataplane subsystem registers itself."""

    def info(self) -> dict[str, Any]:
        return {"backend": "none", "features": [], "status": "not yet implemented"}
