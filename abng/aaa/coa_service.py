"""RADIUS Dynamic Authorization inside abngd (RFC 5176, DECISIONS.md D22).

When ``radius.coa_enabled``, a :class:`~abng.aaa.coa_server.CoaServer` listens on
``radius.coa_listen:radius.coa_port`` with the servers' secrets (or ``radius.coa_secret``) and the
allow-list (``radius.coa_clients``, default the RADIUS servers' addresses).  The machine decides
every NAK and every silent drop; this module only supplies:

* the session lookup: ``Acct-Session-Id``, ``User-Name``, ``Framed-IP-Address``, ``NAS-Port-Id``
  (the access interface, D5; the PPP interface is accepted too) through the SessionManager's
  indexes; every identifier given must match;
* CoA-Request with Athena rate attributes -> ``SessionManager.change_rate(source="radius_coa")``
  (shaping changes in place through the policy hook; the ``rate_change`` event becomes the
  API's rate-change webhook); ``Athena-Overhead-Profile`` must name a configured profile;
* Disconnect-Request -> ``terminate(admin_reset)``: the access layer's disconnector sends the
  PADT / drops the lease, the accounting hook sends the Stop (Admin-Reset).

A refusal (session gone or no longer active meanwhile, bad profile, hook failure) is a NAK 506.
A commit changing ``radius.*`` restarts the listener only when its own settings changed.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from typing import TYPE_CHECKING, Any

from abng.aaa.coa import SessionQuery
from abng.aaa.coa_server import CoaRefused, CoaServer
from abng.aaa.config import RadiusConfig
from abng.aaa.service import radius_config
from abng.config.rates import RateError
from abng.core.model import Session, TerminateReason
from abng.core.sessions import SessionError

if TYPE_CHECKING:
    from abng.core.daemon import Daemon

log = logging.getLogger(__name__)
BIND_ATTEMPTS = 20


def _coa_key(cfg: RadiusConfig) -> tuple[Any, ...]:
    return (cfg.coa_enabled, cfg.coa_bind, cfg.coa_port, tuple(sorted(cfg.coa_secrets().items())),
            cfg.nas_ip_address)  # fmt: skip


class CoaService:
    name = "coa"

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.mgr = daemon.sessions
        self.server: CoaServer | None = None
        self.address: tuple[str, int] | None = None
        self.error: str | None = None
        self._key: tuple[Any, ...] | None = None

    # ---- callbacks for the CoA machine ------------------------------------------------------
    def lookup(self, q: SessionQuery) -> list[Session]:
        mgr = self.mgr
        if q.acct_session_id is not None:
            s = mgr.by_acct_session_id(q.acct_session_id)
            found = [s] if s is not None else []
        elif q.framed_ip is not None:
            s = mgr.by_ip(q.framed_ip)
            found = [s] if s is not None else []
        elif q.nas_port_id is not None:
            found = mgr.by_interface(q.nas_port_id)
        elif q.user_name is not None:
            found = mgr.by_username(q.user_name)
        else:
            return []
        return [s for s in found if _matches(s, q)]

    async def change_rate(
        self, s: Session, rate_down: int | None, rate_up: int | None, overhead_profile: str | None
    ) -> None:
        try:
            if overhead_profile is not None:
                if overhead_profile not in self.daemon.applied.qos.overhead_profiles:
                    raise CoaRefused(f"unknown overhead profile {overhead_profile!r}")
                self.mgr.update(s.id, overhead_profile=overhead_profile)
            await self.mgr.change_rate(s.id, rate_down, rate_up, "radius_coa")
        except (SessionError, RateError) as exc:
            log.info("CoA for session %s refused: %s", s.id, exc, extra={"session_id": s.id})
            raise CoaRefused(str(exc)) from exc

    async def disconnect(self, s: Session) -> None:
        if self.mgr.find(s.id) is None:
            raise CoaRefused(f"session {s.id} already ended")
        log.info("Disconnect-Request: ending session %s", s.id, extra={"session_id": s.id})
        await self.mgr.terminate(s.id, TerminateReason.ADMIN_RESET)

    # ---- lifecycle ----------------------------------------------------------------------------
    async def configure(self, cfg: Any) -> None:
        rcfg = radius_config(cfg)
        key = _coa_key(rcfg)
        if key == self._key:
            return
        await self.close()
        self._key = key
        if not rcfg.coa_enabled:
            return
        if not rcfg.coa_secrets():
            log.warning("radius.coa_enabled but no RADIUS server or coa_clients: every CoA is dropped")
        server = CoaServer(rcfg, self.lookup, self.change_rate, self.disconnect)
        for attempt in range(BIND_ATTEMPTS):
            try:
                self.address = await server.start()
                break
            except OSError as exc:
                # the previous listener's socket closes on the next loop turns (a commit
                # re-binding the same port): retry briefly before giving up
                if exc.errno == errno.EADDRINUSE and attempt + 1 < BIND_ATTEMPTS:
                    await asyncio.sleep(0.05)
                    continue
                self.error = f"cannot listen on {rcfg.coa_bind}:{rcfg.coa_port}: {exc.strerror}"
                log.error("CoA listener: %s", self.error)
                return
        self.server, self.error = server, None
        host, port = self.address or ("?", 0)
        log.info(
            "CoA/Disconnect listener on %s:%d (%d allowed clients)", host, port, len(server.machine.clients)
        )

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()
        self.server, self.address = None, None

    async def apply_config(self, old: Any, new: Any, changes: list[str]) -> None:
        if any(c.split(".", 1)[0] == "radius" for c in changes):
            await self.configure(new)

    def info(self) -> dict[str, Any]:
        return {
            "enabled": self.server is not None,
            "listen": f"{self.address[0]}:{self.address[1]}" if self.address else None,
            "error": self.error,
            "stats": self.server.stats if self.server is not None else {},
        }


def _matches(s: Session, q: SessionQuery) -> bool:
    if q.acct_session_id is not None and s.acct_session_id != q.acct_session_id:
        return False
    if q.user_name is not None and s.username != q.user_name:
        return False
    if q.framed_ip is not None and s.ip_address != q.framed_ip:
        return False
    return q.nas_port_id is None or q.nas_port_id in (s.access_interface, s.ppp_interface)


async def setup(daemon: Daemon) -> CoaService | None:
    if daemon.applied is None:
        return None
    svc = CoaService(daemon)
    await svc.configure(daemon.applied)
    daemon.register_config_applier(svc)
    daemon.rpc.register("show.coa", _show(svc))
    return svc


def _show(svc: CoaService) -> Any:
    async def show_coa(params: dict[str, Any], conn: Any) -> Any:
        return svc.info()

    return show_coa
