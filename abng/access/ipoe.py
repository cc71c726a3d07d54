"""IPoE glue: the built-in DHCP server (abng/access/dhcp) wired to AAA, sessions and the data path.

* ``AuthorizeRequest`` -> the Authenticator (local and/or RADIUS, User-Name = MAC, NAS-Port-Id =
  Circuit-ID = access interface) -> ``DhcpServer.authorized`` (Framed-IP-Address or a pool).
* ``LeaseGranted`` -> ``SessionManager.open`` + ``activate`` (type dhcp, username = MAC,
  gateway, lease_time, AAA attributes) and the subscriber's path in the data path (the /32
  route is the policy hook's, abng/dataplane/service.py).
* ``LeaseRenewed`` -> the session's ``access_data.expires_at`` moves on.
* ``LeaseReleased`` / ``Declined`` -> ``user_request``; ``LeaseExpired`` -> ``lease_expired``;
  ``LeaseAborted`` (a bug contained by the server) -> ``nas_error``.
* Admin disconnect (the :class:`~abng.core.hooks.Disconnector`): the lease is dropped silently
  (DHCP has no way to tell the client) and its path removed; the client's next renew is NAK'ed.
* Restart: leases of restored sessions are put back into the server (``restore_lease``); those
  that expired meanwhile end as ``lease_expired``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from abng.aaa.accounting import session_radius_attributes
from abng.aaa.aio_client import RadiusTimeout
from abng.aaa.types import AuthRequest, AuthResult
from abng.access.arp import int_to_ip
from abng.access.demux import AccessInterface
from abng.access.dhcp.config import DhcpServerConfig, ip
from abng.access.dhcp.events import (
    AuthorizeRequest,
    Declined,
    DhcpEvent,
    LeaseAborted,
    LeaseExpired,
    LeaseGranted,
    LeaseReleased,
    LeaseRenewed,
)
from abng.access.dhcp.server import DhcpServer
from abng.access.frames import ETH_P_IP, EthernetFrame, VlanTag, parse_mac
from abng.core.eager import start_eagerly
from abng.core.model import Session, SessionType, TerminateReason
from abng.core.sessions import SessionError
from abng.dataplane.datapath import Kind, SubscriberPath

if TYPE_CHECKING:
    from abng.access.service import TrunkService

log = logging.getLogger(__name__)

Client = tuple[str, str]  # (access interface, mac)
MAX_PENDING_RESULTS = 65536
#: the lease is capped from the authorization, a little before activation: its expiry that close
#: to the Session-Timeout deadline is that deadline (seconds)
SESSION_TIMEOUT_SLACK = 5.0


def tags_to_json(tags: tuple[VlanTag, ...]) -> list[list[int]]:
    return [[t.tpid, t.vid] for t in tags]


def tags_from_json(data: Any) -> tuple[VlanTag, ...]:
    return tuple(VlanTag(int(t[0]), int(t[1])) for t in data or ())


def dhcp_config(cfg: Any, trunk_mac: bytes) -> DhcpServerConfig:
    a, d = cfg.aaa, cfg.dhcp
    pool_name = d.pool or a.dhcp_default_pool or a.default_pool
    pool = a.pools.get(pool_name) if pool_name else None
    gateway = d.gateway or (pool.effective_gateway if pool is not None else None)
    if gateway is None:
        raise ValueError("dhcp needs dhcp.gateway or an aaa pool to take the gateway from")
    dns = d.dns_servers or (pool.dns if pool is not None else [])
    return DhcpServerConfig(
        server_mac=trunk_mac,
        gateway=ip(str(gateway)),
        hostname=str(cfg.system.hostname),
        server_id=ip(str(d.server_identifier)) if d.server_identifier else None,
        dns=tuple(ip(str(x)) for x in dns),
        lease_time=d.lease_time,
        offer_timeout=float(d.offer_timeout),
        default_pool=pool_name if pool is not None else None,
        option82_policy=d.option82,
    )


class IpoeService:
    def __init__(self, trunk: TrunkService) -> None:
        self.trunk = trunk
        self.mgr = trunk.daemon.sessions
        cfg = trunk.daemon.applied
        self.server = DhcpServer(dhcp_config(cfg, trunk.datapath.trunk_mac), trunk.pools.values())
        self.enabled: bool = cfg.dhcp.enabled
        self.sessions: dict[Client, int] = {}
        self._auth: dict[Client, AuthResult] = {}
        trunk.register((ETH_P_IP,), self.on_frame)
        self.mgr.register_disconnector(SessionType.DHCP, self)

    # ---- input ------------------------------------------------------------------------------
    def on_frame(self, eth: EthernetFrame, iface: AccessInterface, now: float) -> None:
        if not self.enabled:
            self.trunk.counters["dhcp_disabled"] += 1
            return
        if self.server.config.server_mac != self.trunk.datapath.trunk_mac:  # trunk opened late
            self.reconfigure(self.trunk.daemon.applied)
        self.server.handle_frame(eth, iface.name, now)
        self.flush()

    def on_timer(self, now: float) -> None:
        self.server.handle_timer(now)
        self.flush()

    def flush(self) -> None:
        for tx in self.server.transmits():
            self.trunk.send(tx.frame())
        for ev in self.server.events():
            self.handle_event(ev)
        self.trunk.timers.set("dhcp", self.server.get_timer(), self.on_timer)

    def handle_event(self, ev: DhcpEvent) -> None:
        spawn = self.trunk.daemon.tasks.spawn
        if isinstance(ev, AuthorizeRequest):  # local AAA answers at once: no task then
            start_eagerly(spawn, f"dhcp-auth-{ev.mac}", self._authorize(ev))
        elif isinstance(ev, LeaseGranted):  # a task only when activation waits (policy hooks)
            start_eagerly(spawn, f"dhcp-up-{ev.mac}", self._lease_up(ev))
        elif isinstance(ev, LeaseRenewed):
            sid = self.sessions.get((ev.access_interface, ev.mac))
            if sid is not None and (s := self.mgr.find(sid)) is not None:
                self.mgr.update(sid, access_data={**s.access_data, "expires_at": ev.expires_at})
        elif isinstance(ev, LeaseReleased | Declined):
            spawn(
                f"dhcp-down-{ev.mac}", self._end((ev.access_interface, ev.mac), TerminateReason.USER_REQUEST)
            )
        elif isinstance(ev, LeaseExpired):
            client = (ev.access_interface, ev.mac)
            spawn(f"dhcp-down-{ev.mac}", self._end(client, self._expiry_reason(client)))
        elif isinstance(ev, LeaseAborted):
            self.trunk.counters["dhcp_internal_error"] += 1
            spawn(f"dhcp-down-{ev.mac}", self._end((ev.access_interface, ev.mac), TerminateReason.NAS_ERROR))
        else:
            self.trunk.counters[f"dhcp_{type(ev).__name__}"] += 1

    # ---- AAA --------------------------------------------------------------------------------
    async def _authorize(self, ev: AuthorizeRequest) -> None:
        req = AuthRequest(
            username=ev.mac,
            mac=ev.mac,
            nas_port_id=ev.circuit_id or ev.access_interface,
            service="dhcp",
            circuit_id=ev.circuit_id.encode() or None,
            remote_id=ev.remote_id.encode() or None,
        )
        try:
            res = await self.trunk.aaa.authenticate(req)
        except RadiusTimeout:
            self.trunk.counters["dhcp_aaa_timeout"] += 1
            res = AuthResult.reject("no RADIUS server answered")
        pool = res.pool if res.pool in self.server.pools else None
        if res.accepted:
            self._auth[(ev.access_interface, ev.mac)] = res
            while len(self._auth) > MAX_PENDING_RESULTS:  # OFFERs never REQUESTed: oldest go
                del self._auth[next(iter(self._auth))]
        now = self.trunk.clock()
        self.server.authorized(ev.key, res.accepted, now, ip=res.framed_ip, pool=pool)
        if res.accepted and res.session_timeout:  # no lease past the Session-Timeout
            self.server.limit_lease(ev.mac, ev.access_interface, now + res.session_timeout)
        self.flush()

    # ---- sessions -----------------------------------------------------------------------------
    async def _lease_up(self, ev: LeaseGranted) -> None:
        client = (ev.access_interface, ev.mac)
        res = self._auth.pop(client, None) or AuthResult(accepted=True)
        data = {
            "expires_at": ev.expires_at,
            "pool": ev.pool,
            "tags": tags_to_json(ev.tags),
            "circuit_id": ev.circuit_id,
            "remote_id": ev.remote_id,
            "hostname": ev.hostname,
        }
        s = self.mgr.open(SessionType.DHCP, ev.mac, ev.mac, ev.access_interface, data)
        self.sessions[client] = s.id
        mac = bytes.fromhex(ev.mac.replace(":", ""))  # the server's format_mac: aa:bb:cc:dd:ee:ff
        path = SubscriberPath(ev.tags, mac, Kind.IPOE, 0, ev.access_interface)
        self.trunk.datapath.add_subscriber(ev.ip, path)
        try:  # the /32 route is installed by the policy hook (abng/dataplane/service.py)
            await self.mgr.activate(s.id, **activate_fields(res, ev.ip, self.gateway(), ev.lease_time))
        except (SessionError, OSError) as exc:
            log.warning("DHCP session for %s not activated: %s", ev.mac, exc, extra={"session_id": s.id})
            await self.mgr.terminate(s.id, TerminateReason.NAS_ERROR)

    def _expiry_reason(self, client: Client) -> TerminateReason:
        """A lease that ran out because it was capped at the Session-Timeout is a session_timeout."""
        sid = self.sessions.get(client)
        s = self.mgr.find(sid) if sid is not None else None
        if s is None or not s.session_timeout or s.activated_at is None:
            return TerminateReason.LEASE_EXPIRED
        deadline = s.activated_at + s.session_timeout - SESSION_TIMEOUT_SLACK
        return (
            TerminateReason.SESSION_TIMEOUT
            if self.trunk.clock() >= deadline
            else TerminateReason.LEASE_EXPIRED
        )

    def gateway(self) -> str:
        return int_to_ip(self.server.config.gateway)

    async def _end(self, client: Client, reason: TerminateReason) -> None:
        sid = self.sessions.get(client)
        if sid is None:
            return
        s = self.mgr.find(sid)
        if s is not None:
            await self._remove_path(s)
        self.sessions.pop(client, None)
        await self.mgr.terminate(sid, reason)

    async def _remove_path(self, s: Session) -> None:
        if not s.ip_address:
            return
        path = self.trunk.datapath.path(s.ip_address)
        if path is None or path.kind is not Kind.IPOE or path.access_interface != s.access_interface:
            return
        self.trunk.take_counters(s)
        self.trunk.datapath.remove_subscriber(s.ip_address)  # the route goes with the policy hook

    async def disconnect(self, session: Session, reason: TerminateReason) -> None:
        """Admin/CoA disconnect, lease expiry, errors: drop the lease and the path (idempotent)."""
        self.server.remove_lease(session.mac_address, session.access_interface)
        self.sessions.pop((session.access_interface, session.mac_address), None)
        await self._remove_path(session)
        self.trunk.timers.set("dhcp", self.server.get_timer(), self.on_timer)

    # ---- restart ------------------------------------------------------------------------------
    async def restore(self) -> None:
        now = self.trunk.clock()
        for s in self.mgr.claim(SessionType.DHCP):
            ad = s.access_data
            ok = s.ip_address is not None and self.server.restore_lease(
                s.mac_address,
                s.ip_address,
                s.access_interface,
                float(ad.get("expires_at") or 0),
                now,
                lease_time=s.lease_time,
                pool=ad.get("pool"),
                circuit_id=ad.get("circuit_id"),
                remote_id=ad.get("remote_id"),
                hostname=ad.get("hostname"),
                tags=tags_from_json(ad.get("tags")),
            )
            if not ok or s.ip_address is None:
                await self.mgr.terminate(s.id, TerminateReason.LEASE_EXPIRED)
                continue
            self.sessions[(s.access_interface, s.mac_address)] = s.id
            if s.session_timeout and s.activated_at is not None:
                self.server.limit_lease(s.mac_address, s.access_interface, s.activated_at + s.session_timeout)
            path = SubscriberPath(
                tags_from_json(ad.get("tags")), parse_mac(s.mac_address), Kind.IPOE, 0, s.access_interface
            )
            self.trunk.datapath.add_subscriber(s.ip_address, path)  # route: the policy service's restore
            self.trunk.aaa.resume_accounting(s)
        self.trunk.timers.set("dhcp", self.server.get_timer(), self.on_timer)

    def reconfigure(self, cfg: Any) -> None:
        """New ``dhcp`` settings for new and renewed leases; bindings and sessions stay."""
        self.enabled = cfg.dhcp.enabled
        self.server.config = dhcp_config(cfg, self.trunk.datapath.trunk_mac)
        for name, pool in self.trunk.pools.items():
            self.server.pools.setdefault(name, pool)


def activate_fields(res: AuthResult, ip_address: str, gateway: str, lease_time: int | None) -> dict[str, Any]:
    """What AAA said, as ``SessionManager.activate`` fields."""
    fields: dict[str, Any] = {
        "ip_address": ip_address,
        "gateway": gateway,
        "rate_down": res.rate_down_bps,
        "rate_up": res.rate_up_bps,
        "overhead_profile": res.overhead_profile,
        "session_timeout": res.session_timeout,
        "idle_timeout": res.idle_timeout,
        "interim_interval": res.interim_interval,
        "cgnat_bypass": res.cgnat_bypass,
        "vrf": res.vrf,
        "radius_attributes": session_radius_attributes(res),
    }
    if lease_time is not None:
        fields["lease_time"] = lease_time
    return fields
