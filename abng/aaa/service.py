"""AAA inside abngd: the Authenticator and the accounting hook, built from the configuration.

* ``build_authenticator(cfg)``: ``aaa.order`` (``local``, ``radius``) as a chain. A subscriber
  the local table rejects falls through to RADIUS when RADIUS servers are configured (D19).
* :class:`AccountingHook` (a :class:`~abng.core.hooks.SessionHook`): Accounting Start at
  ``session_up``, Interims on the session's timer, Stop (spooled first, D23) at ``session_down``.
  Sessions restored after a restart get their Interim timer back (no second Start).
* ``request.radius.test`` RPC: one Access-Request with the given user name and password.

The authenticator object the access services hold is :class:`AaaService` itself: a commit that
changes ``aaa`` or ``radius`` swaps the chain inside it; sessions are not touched.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from abng.aaa.accounting import Accounting
from abng.aaa.aio_client import RadiusClient, RadiusTimeout
from abng.aaa.config import RadiusConfig, RadiusServerConfig
from abng.aaa.local import LocalAaaConfig, LocalAuthenticator, LocalPool, LocalSubscriber
from abng.aaa.radius_auth import RadiusAuthenticator
from abng.aaa.spool import AcctSpool
from abng.aaa.types import Authenticator, AuthRequest, AuthResult
from abng.core import errors as E
from abng.core import params as P
from abng.core.hooks import BaseSessionHook
from abng.core.model import Session
from abng.core.rpc import Connection

if TYPE_CHECKING:
    from abng.core.daemon import Daemon

log = logging.getLogger(__name__)

RefreshCounters = Callable[[Session], Awaitable[None]]


def radius_config(cfg: Any) -> RadiusConfig:
    """``radius`` section -> :class:`RadiusConfig`."""
    r = cfg.radius
    return RadiusConfig(
        servers=tuple(RadiusServerConfig(str(s.host), s.secret, s.port, s.acct_port) for s in r.servers),
        nas_identifier=r.nas_identifier,
        nas_ip_address=str(r.nas_ip_address) if r.nas_ip_address else None,
        timeout=float(r.timeout),
        retries=r.retries,
        interim_interval=r.interim_interval,
        coa_enabled=r.coa_enabled,
        coa_port=r.coa_port,
        coa_clients=tuple(str(c) for c in r.coa_clients),
        coa_secret=r.coa_secret,
        coa_bind=str(r.coa_listen),
    )


def local_config(cfg: Any) -> LocalAaaConfig:
    """``aaa`` section -> :class:`LocalAaaConfig` (pools by first..last address)."""
    a = cfg.aaa
    subs = tuple(
        LocalSubscriber(
            username=s.username,
            password=s.password,
            mac=s.mac,
            ip=str(s.ip) if s.ip else None,
            rate_down=s.rate_down,
            rate_up=s.rate_up,
            overhead_profile=s.overhead_profile,
            pool=s.pool or a.default_pool,
        )
        for s in a.subscribers
    )
    pools = {}
    for name, p in a.pools.items():
        first, last = p.range_bounds
        pools[name] = LocalPool(
            str(p.network), str(first), str(last), str(p.effective_gateway), tuple(str(d) for d in p.dns)
        )
    return LocalAaaConfig(subs, pools, a.dhcp_default_pool)


class ChainAuthenticator:
    """Try each authenticator in order; the first accept wins, else the last answer stands.
    A RADIUS timeout after a local reject is the final answer (raised)."""

    def __init__(self, chain: list[tuple[str, Authenticator]]) -> None:
        self.chain = chain

    async def authenticate(self, req: AuthRequest) -> AuthResult:
        if not self.chain:
            return AuthResult.reject("no AAA method configured")
        for _name, auth in self.chain:
            result = await auth.authenticate(req)
            if result.accepted:
                return result
        return result


class AccountingHook(BaseSessionHook):
    name = "accounting"

    def __init__(self, service: AaaService) -> None:
        self.service = service

    async def session_up(self, session: Session) -> None:
        acct = self.service.accounting
        if acct is not None:
            self.service.spawn(f"acct-start-{session.id}", acct.start(session))

    async def session_down(self, session: Session) -> None:
        acct = self.service.accounting
        if acct is not None:
            self.service.spawn(f"acct-stop-{session.id}", acct.stop(session, session.reason))


class AaaService:
    """Holds the current authenticator chain and the accounting; is itself an Authenticator."""

    name = "aaa"

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.stats: Counter[str] = Counter()
        self.client: RadiusClient | None = None
        self.accounting: Accounting | None = None
        self.auth: Authenticator = ChainAuthenticator([])
        #: set by the access layer: fills a session's counters from the data path
        self.refresh_counters: RefreshCounters | None = None
        self._radius_key: RadiusConfig | None = None

    # ---- Authenticator ----------------------------------------------------------------------
    async def authenticate(self, req: AuthRequest) -> AuthResult:
        auth = self.auth
        if auth.__class__ is ChainAuthenticator and len(chain := auth.chain) == 1:  # type: ignore[attr-defined]
            auth = chain[0][1]  # a chain of one answers what its one method answers: skip a layer
        try:
            result = await auth.authenticate(req)
        except RadiusTimeout:
            self.stats["timeout"] += 1
            raise
        self.stats["accept" if result.accepted else "reject"] += 1
        return result

    # ---- building -----------------------------------------------------------------------------
    async def configure(self, cfg: Any) -> None:
        rcfg = radius_config(cfg)
        if rcfg != self._radius_key:
            await self._close_radius()
            self._radius_key = rcfg
            if rcfg.servers:
                self.client = RadiusClient(rcfg)
                spool = AcctSpool(self.daemon.paths.state_dir / "acct-spool.sqlite")
                self.accounting = Accounting(self.client, spool, refresh_counters=self._refresh)
                self.accounting.start_background()
                for session in list(self.daemon.sessions.table):  # Interims go on (new servers)
                    if session.activated_at is not None:
                        self.resume_accounting(session)
        chain: list[tuple[str, Authenticator]] = []
        for method in cfg.aaa.order:
            if method == "local" and cfg.aaa.has_local():
                chain.append(("local", LocalAuthenticator(local_config(cfg))))
            elif method == "radius" and self.client is not None:
                chain.append(("radius", RadiusAuthenticator(self.client)))
        self.auth = ChainAuthenticator(chain)
        log.info("AAA chain: %s", ", ".join(n for n, _ in chain) or "(none)")

    async def _refresh(self, session: Session) -> None:
        if self.refresh_counters is not None:
            await self.refresh_counters(session)

    async def _close_radius(self) -> None:
        if self.accounting is not None:
            await self.accounting.close()
            self.accounting = None
        if self.client is not None:
            await self.client.close()
            self.client = None

    def resume_accounting(self, session: Session) -> None:
        """A session restored after a restart: Interims continue (its Start was sent before)."""
        if self.accounting is not None:
            self.accounting._schedule(session)

    def spawn(self, name: str, coro: Coroutine[Any, Any, Any]) -> None:
        self.daemon.tasks.spawn(name, coro)

    async def apply_config(self, old: Any, new: Any, changes: list[str]) -> None:
        if any(c.split(".", 1)[0] in ("aaa", "radius") for c in changes):
            await self.configure(new)

    # ---- RPC ----------------------------------------------------------------------------------
    async def rpc_test(self, params: dict[str, Any], conn: Connection) -> Any:
        username = P.req_str(params, "username")
        password = P.req_str(params, "password")
        if self.client is None:
            raise E.unavailable("aaa", "no RADIUS server is configured")
        req = AuthRequest(username, "00:00:00:00:00:00", "test", "pppoe", password=password)
        server = self.client.config.servers[0].host
        try:
            result = await RadiusAuthenticator(self.client).authenticate(req)
        except RadiusTimeout:
            return {"result": "timeout", "server": server, "attributes": {}}
        attrs = {k: [v.hex() if isinstance(v, bytes) else v for v in vs] for k, vs in result.attrs.items()}
        return {"result": "accept" if result.accepted else "reject", "server": server, "attributes": attrs}

    async def close(self) -> None:
        await self._close_radius()


async def setup(daemon: Daemon) -> AaaService:
    """Build AAA from ``daemon.applied``; register the accounting hook, RPC and applier."""
    svc = AaaService(daemon)
    await svc.configure(daemon.applied)
    daemon.sessions.register_hook(AccountingHook(svc))
    daemon.rpc.register("request.radius.test", svc.rpc_test)
    daemon.register_config_applier(svc)
    return svc
