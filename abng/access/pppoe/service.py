"""PPPoE glue: discovery + one :class:`~abng.ppp.session.PPPSession` per subscriber, wired to AAA,
the session manager and the userspace data path (issue 5).

* PADR accepted (``NewSession``) -> ``SessionManager.open`` (type pppoe, state starting) and a
  PPPSession; its LCP/PAP/CHAP/IPCP frames go out as PPPoE session frames on the same tags.
* ``AuthRequest`` -> the Authenticator (PAP password or CHAP id/challenge/response) ->
  ``auth_result`` with the Framed-IP-Address or an address from the local pool.
* ``SessionUp`` (IPCP opened) -> the path in the data path and ``activate`` (ppp_interface
  ``ppp<session id>``, the PPP state export and the link MTU in ``access_data``; the policy hook
  installs the /32 route with that MTU).
* ``SessionDown`` -> ``terminate`` with ``user_request`` (peer Terminate/PADT), ``lost_carrier``
  (echo failure) or ``nas_error`` (authentication or negotiation failures); ``LinkFinished`` -> PADT.
* Admin disconnect (Disconnector): LCP Terminate-Request and PADT at once; Stop via the hooks.
* Restart: restored sessions are adopted (``claim``) and resumed (``PPPSession.resume``): they
  answer LCP echo at once with the same magic and session id; a vanished client ends as
  ``lost_carrier`` through the normal echo failure.
* A bug inside one session's machine tears down that session only (``nas_error``, counted).
"""

from __future__ import annotations

import logging
import os
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from abng.aaa.aio_client import RadiusTimeout
from abng.aaa.types import AuthRequest, AuthResult
from abng.access.arp import int_to_ip, ip_to_int
from abng.access.demux import AccessInterface
from abng.access.frames import (
    ETH_P_PPPOE_DISC,
    ETH_P_PPPOE_SESS,
    DecodeError,
    EthernetFrame,
    VlanTag,
    build_frame,
    format_mac,
    parse_mac,
)
from abng.access.ipoe import activate_fields, tags_from_json, tags_to_json
from abng.access.pppoe.codec import Code, PPPoEPacket, decode_session
from abng.access.pppoe.discovery import MAX_SESSION_ID, DiscoveryConfig, DiscoveryServer, NewSession
from abng.core.eager import start_eagerly
from abng.core.model import Session, SessionState, SessionType, TerminateReason
from abng.core.sessions import SessionError
from abng.dataplane.datapath import NOT_MINE, Kind, SubscriberPath, ToTun
from abng.ppp import events as ev
from abng.ppp.session import PPPConfig, PPPSession

if TYPE_CHECKING:
    from abng.access.service import TrunkService

log = logging.getLogger(__name__)

REASONS = {
    "user_request": TerminateReason.USER_REQUEST,
    "lost_carrier": TerminateReason.LOST_CARRIER,
    "admin_reset": TerminateReason.ADMIN_RESET,
    "session_timeout": TerminateReason.SESSION_TIMEOUT,
    "idle_timeout": TerminateReason.IDLE_TIMEOUT,
    "nas_reboot": TerminateReason.NAS_REBOOT,
}
UNKNOWN_PADT_PER_SECOND = 100
_TAG = struct.Struct("!HH").pack
_LEN = struct.Struct("!H").pack
_SESS_HEAD = struct.Struct("!HBBH")  # EtherType 0x8864, VER/TYPE 0x11, CODE 0, session id


def _sess_head(sid: int) -> bytes:
    return _SESS_HEAD.pack(ETH_P_PPPOE_SESS, 0x11, 0, sid)


#: the PPP state kept for a restart (``access_data.ppp``: LCP/IPCP identifiers, echo id, magic
#: numbers) is refreshed at most this often per session, only when it changed, through the
#: store's write-behind (no write per echo)
PPP_STATE_REFRESH = 10.0


@dataclass(slots=True)
class Sub:
    ns: NewSession
    tags: tuple[VlanTag, ...]
    iface: str
    ppp: PPPSession
    core_id: int
    auth: AuthResult | None = None
    username: str = ""
    pool: str | None = None
    ip: str | None = None
    reason: TerminateReason | None = None
    gone: bool = False
    saved: dict[str, Any] | None = None  # the PPP state last written to access_data.ppp
    saved_at: float = 0.0
    timer_key: tuple[str, int] = ("ppp", 0)  # set by PppoeService._adopt, with on_timer
    on_timer: Callable[[float], None] | None = None  # the Sub itself (``__call__``), set by _adopt
    #: Ethernet + VLAN + PPPoE header up to the session id of our session frames (see _send_ppp)
    head: bytes = b""
    head_src: bytes = b""  # the trunk MAC ``head`` was built with
    #: the peer's session frames start with this after the destination MAC (see fast_frame)
    fast_key: bytes = b""
    service: PppoeService | None = None  # set by _adopt: the timer callback's way back

    def __call__(self, now: float) -> None:
        """The session's timer (``Timers`` callback): one object per session, no closure."""
        svc = self.service
        if svc is not None:
            svc._run(self, now, self.ppp.handle_timer, now)


def discovery_config(cfg: Any, secret: bytes) -> DiscoveryConfig:
    p = cfg.pppoe
    return DiscoveryConfig(
        ac_name=p.ac_name,
        cookie_secret=secret,
        service_names=(p.service_name,) if p.service_name else (),
        max_sessions=min(p.max_sessions or MAX_SESSION_ID, MAX_SESSION_ID),
        padi_rate_global=float(p.padi_rate_limit),
        padi_burst_global=float(p.padi_rate_limit),
    )


def ppp_config(cfg: Any) -> tuple[PPPConfig, str | None, tuple[str, ...]]:
    """(PPPConfig, pool name, DNS servers) from the pppoe and aaa sections."""
    p, a = cfg.pppoe, cfg.aaa
    pool_name = p.pool or a.default_pool
    pool = a.pools.get(pool_name) if pool_name else None
    first = next(iter(a.pools.values()), None)
    gw = pool.effective_gateway if pool is not None else (first.effective_gateway if first else "100.64.0.1")
    dns = tuple(str(d) for d in (pool.dns if pool is not None else ()))
    pc = PPPConfig(
        gateway_ip=str(gw),
        mru=p.mru,
        mtu=p.mtu,
        auth_protocols=tuple(p.auth),
        name=p.ac_name,
        lcp_echo_interval=float(p.lcp_echo_interval),
        lcp_echo_failure=p.lcp_echo_failure,
    )
    return pc, (pool_name if pool is not None else None), dns


class PppoeService:
    def __init__(self, trunk: TrunkService) -> None:
        self.trunk = trunk
        self.mgr = trunk.daemon.sessions
        cfg = trunk.daemon.applied
        self.enabled: bool = cfg.pppoe.enabled
        self.discovery = DiscoveryServer(discovery_config(cfg, secrets.token_bytes(32)))
        self.ppp_cfg, self.pool, self.dns = ppp_config(cfg)
        self.subs: dict[int, Sub] = {}
        self.by_core: dict[int, int] = {}
        self._padt_window = (0, 0)
        #: ``Sub.fast_key`` -> session, and how many keys there are of each length + 6 (the
        #: offset of the PPPoE length field in the frame): the index of ``fast_frame``
        self.fast: dict[bytes, Sub] = {}
        self._fast_ends: dict[int, int] = {}
        self._ends: tuple[int, ...] = ()
        trunk.register((ETH_P_PPPOE_DISC, ETH_P_PPPOE_SESS), self.on_frame)
        trunk.fast = self.fast_frame
        self.mgr.register_disconnector(SessionType.PPPOE, self)

    @property
    def counters(self) -> Any:
        return self.trunk.counters

    # ---- frames -------------------------------------------------------------------------------
    def on_frame(self, eth: EthernetFrame, iface: AccessInterface, now: float) -> None:
        if eth.ethertype == ETH_P_PPPOE_SESS:
            self._session_frame(eth, now)
            return
        if not self.enabled and eth.payload[1:2] in (b"\x09", b"\x19"):  # PADI, PADR: no service
            self.counters["pppoe_disabled"] += 1
            return
        res = self.discovery.handle(eth.payload, eth.src, eth.vids, now)
        if res.drop_reason:
            self.trunk.drop(f"pppoe_drop_{res.drop_reason}")
        if res.new_session is not None and not self.enabled:
            self.discovery.release(res.new_session.session_id, eth.src)
            self.counters["pppoe_disabled"] += 1
            return
        if res.reply is not None:
            self._send_disc(eth.src, eth.tags, res.reply)
        if res.new_session is not None:
            self._new(res.new_session, eth.tags, iface.name, now)
        if res.terminated is not None and (sub := self.subs.get(res.terminated)) is not None:
            self._run(sub, now, sub.ppp.lower_down, "user_request", now)

    def fast_frame(self, frame: bytes) -> bool:
        """A PPPoE session frame of a known session, handled without the general path's
        objects; False, with nothing done, for any other frame.

        Known means: the bytes after the destination MAC are a session's ``fast_key`` (its peer
        MAC, the tag stack of its PADR, 0x8864, VER/TYPE 0x11, CODE 0 and its session id), so
        the frame is a session frame whose source MAC and VLANs match the session, which is what
        ``_session_frame`` checks. What the general path would do with such a frame is then,
        step by step: the data path and the PPPoE codec accept its header (the length checks
        below: ``pppoe_session_decap``, ``decode_session``), the data path leaves a non-IPv4
        payload to us (``NOT_MINE``), the demux finds its access interface (``Demux.seen``:
        its frame count and last-seen time move on; an unknown one takes the general path,
        which creates or drops), the interface must offer PPPoE, and the payload goes to the
        session's machine. PPP IPv4 goes to the data path first (``Datapath.pppoe_ipv4``, what
        ``handle_frame`` does with it): to TUN once the session is up, a counted drop if bad;
        only what it leaves (``NOT_MINE``) goes on to the machine as above. Any frame that fails
        a check takes the general path untouched."""
        if type(frame) is not bytes:  # a bytearray slice is no dict key: the general path
            return False
        keys = self.fast
        for end in self._ends:
            sub = keys.get(frame[6:end])
            if sub is not None:
                break
        else:
            return False
        n = len(frame)
        if n < end + 4:
            return False
        length = frame[end] << 8 | frame[end + 1]
        if length < 2 or length > n - end - 2:
            return False  # bad lengths: the data path's counted drops, on the general path
        trunk = self.trunk
        if frame[end + 2] == 0 and frame[end + 3] == 0x21:  # PPP IPv4: the data path's first
            verdict = trunk.datapath.pppoe_ipv4(
                sub.ns.peer_mac, sub.ns.vlans, sub.ns.session_id, frame[end + 4 : end + 2 + length]
            )
            if verdict is not NOT_MINE:
                trunk.apply(verdict)
                return True
        now = trunk.clock()
        iface = trunk.demux.seen(sub.ns.vlans, now)
        if iface is None:
            return False
        if "pppoe" not in iface.services:
            trunk.drop(f"no_service_{ETH_P_PPPOE_SESS:04x}")
            return True
        try:
            self._receive(sub, frame[end + 2 : end + 2 + length], now)
        except Exception:  # as TrunkService.control_frame counts a failing handler
            trunk.handler_failed(iface.name)
        return True

    def _add_fast(self, sub: Sub) -> None:
        ns = sub.ns
        key = ns.peer_mac + b"".join([_TAG(t.tpid, t.tci) for t in sub.tags]) + _sess_head(ns.session_id)
        old = self.fast.get(key)
        if old is not None:
            self._drop_fast(old)
        sub.fast_key = key
        self.fast[key] = sub
        end = 6 + len(key)
        self._fast_ends[end] = self._fast_ends.get(end, 0) + 1
        if self._fast_ends[end] == 1:
            self._ends = tuple(sorted(self._fast_ends))

    def _drop_fast(self, sub: Sub) -> None:
        key = sub.fast_key
        if not key or self.fast.get(key) is not sub:
            return
        del self.fast[key]
        end = 6 + len(key)
        self._fast_ends[end] -= 1
        if not self._fast_ends[end]:
            del self._fast_ends[end]
            self._ends = tuple(sorted(self._fast_ends))

    def _session_frame(self, eth: EthernetFrame, now: float) -> None:
        try:
            sid, payload = decode_session(eth.payload)
        except DecodeError as exc:
            self.trunk.drop(f"pppoe_drop_{exc.reason}")
            return
        sub = self.subs.get(sid)
        if sub is None or sub.ns.peer_mac != eth.src or sub.ns.vlans != eth.vids:
            self.trunk.drop("pppoe_unknown_session")
            second, sent = self._padt_window
            if int(now) != second:
                second, sent = int(now), 0
            if sent < UNKNOWN_PADT_PER_SECOND:  # RFC 2516 §7: answer with PADT, but never a reflector
                self._send_disc(eth.src, eth.tags, PPPoEPacket(Code.PADT, sid, ()).encode())
                sent += 1
            self._padt_window = (second, sent)
            return
        self._receive(sub, payload, now)

    def _send_disc(self, dst: bytes, tags: tuple[VlanTag, ...], payload: bytes) -> None:
        self.trunk.send(build_frame(dst, self.trunk.datapath.trunk_mac, tags, ETH_P_PPPOE_DISC, payload))

    def _new(self, ns: NewSession, tags: tuple[VlanTag, ...], iface: str, now: float) -> None:
        mac = format_mac(ns.peer_mac)
        data = {
            "pppoe_session_id": ns.session_id,
            "peer_mac": mac,
            "tags": tags_to_json(tags),
            "service_name": ns.service_name,
        }
        core = self.mgr.open(SessionType.PPPOE, "", mac, iface, data)
        ppp = PPPSession(self.ppp_cfg.with_max_payload(ns.max_payload), os.urandom, now)
        sub = self._adopt(Sub(ns, tags, iface, ppp, core.id))
        self._run(sub, now, self._start, sub, now)

    def _start(self, sub: Sub, now: float) -> None:
        self._send_ppp(sub, sub.ppp.start(now))

    def _adopt(self, sub: Sub) -> Sub:
        """Register ``sub`` and make its timer key and callback (once, not per frame)."""
        sid = sub.ns.session_id
        self.subs[sid], self.by_core[sub.core_id] = sub, sid
        sub.timer_key = ("ppp", sid)
        sub.service = self
        sub.on_timer = sub
        self._add_fast(sub)
        return sub

    # ---- the machine, contained -----------------------------------------------------------------
    def _receive(self, sub: Sub, payload: bytes, now: float) -> None:
        """``_run(sub, now, sub.ppp.receive, payload, now)`` without the argument packing."""
        try:
            sub.ppp.receive(payload, now)
            self._process(sub, now)
        except Exception as exc:
            self._failed(sub, exc)

    def _run(self, sub: Sub, now: float, fn: Callable[..., Any], *args: Any) -> None:
        """Call into one session's machine; a bug ends that session only (STYLE §5)."""
        try:
            fn(*args)
            self._process(sub, now)
        except Exception as exc:
            self._failed(sub, exc)

    def _failed(self, sub: Sub, exc: Exception) -> None:
        """A bug in ``sub``'s machine: counted, logged, PADT, and that session ends."""
        self.counters["pppoe_internal_error"] += 1
        log.exception("PPP session %d failed: %r", sub.ns.session_id, exc, extra={"session_id": sub.core_id})
        self._send_disc(sub.ns.peer_mac, sub.tags, self.discovery.padt(sub.ns.session_id, sub.ns.peer_mac))
        self._end(sub, TerminateReason.NAS_ERROR)

    def _send_ppp(self, sub: Sub, payloads: list[bytes]) -> None:
        if not payloads:
            return
        mac = self.trunk.datapath.trunk_mac
        if sub.head_src != mac:
            # build_frame(dst, src, tags, type, b"") + session_frame(sid, p) == the whole frame;
            # session_frame(sid, p) == VER/TYPE, CODE, session id, then len(p) and p
            head = build_frame(sub.ns.peer_mac, mac, sub.tags, ETH_P_PPPOE_SESS, b"")
            sub.head = head + _sess_head(sub.ns.session_id)[2:]
            sub.head_src = mac
        head, send = sub.head, self.trunk.send
        for p in payloads:
            send(head + _LEN(len(p)) + p)

    def _process(self, sub: Sub, now: float) -> None:
        ppp = sub.ppp
        out = ppp.take_output()
        if out:
            self._send_ppp(sub, out)
        events = ppp.take_events()
        if events:
            self._events(sub, events)
        if sub.saved is not None and not sub.gone and now - sub.saved_at >= PPP_STATE_REFRESH:
            self._save_ppp(sub, now)
        if sub.gone:
            self.trunk.timers.cancel(sub.timer_key)
        else:
            self.trunk.timers.set(sub.timer_key, ppp.next_deadline(), sub)

    def _events(self, sub: Sub, events: list[ev.Event]) -> None:
        spawn = self.trunk.daemon.tasks.spawn
        for e in events:
            if isinstance(e, ev.AuthRequest):
                # local AAA answers without suspending: no task then (a RADIUS round trip gets one)
                start_eagerly(spawn, f"ppp-auth-{sub.core_id}", self._authenticate(sub, e))
            elif isinstance(e, ev.SessionUp):
                start_eagerly(spawn, f"ppp-up-{sub.core_id}", self._up(sub, e))
            elif isinstance(e, ev.IPv4Packet):
                if sub.ip is not None and self.trunk.tun is not None:
                    verdict = self.trunk.datapath.from_pppoe(sub.ip, e.data)
                    if isinstance(verdict, ToTun):
                        self.trunk.tun.write(verdict.packet)
            elif isinstance(e, ev.SessionDown | ev.LinkFinished):
                if isinstance(e, ev.SessionDown):
                    sub.reason = sub.reason or REASONS.get(e.reason, TerminateReason.NAS_ERROR)
                    self.counters[f"ppp_down_{e.reason}"] += 1
                if self.discovery.lookup(sub.ns.session_id, sub.ns.peer_mac) is not None:
                    self._send_disc(
                        sub.ns.peer_mac, sub.tags, self.discovery.padt(sub.ns.session_id, sub.ns.peer_mac)
                    )
                self._end(sub, sub.reason or TerminateReason.NAS_ERROR)
            elif isinstance(e, ev.EchoTimeout):
                self.counters["ppp_echo_timeout"] += 1

    def _save_ppp(self, sub: Sub, now: float) -> None:
        """Refresh ``access_data.ppp`` if the PPP state moved on since it was last written."""
        sub.saved_at = now
        if not sub.ppp.is_up:
            return
        state = sub.ppp.export()
        s = self.mgr.find(sub.core_id)
        if state == sub.saved or s is None or s.state is not SessionState.ACTIVE:
            return
        sub.saved = state
        self.mgr.update(sub.core_id, access_data={**s.access_data, "ppp": state})
        self.counters["ppp_state_saved"] += 1

    # ---- AAA and activation -----------------------------------------------------------------------
    async def _authenticate(self, sub: Sub, e: ev.AuthRequest) -> None:
        req = AuthRequest(
            username=e.username,
            mac=format_mac(sub.ns.peer_mac),
            nas_port_id=sub.iface,
            service="pppoe",
            password=e.password,
            chap_id=e.chap_id,
            chap_challenge=e.challenge,
            chap_response=e.response,
        )
        try:
            res = await self.trunk.aaa.authenticate(req)
        except RadiusTimeout:
            self.counters["pppoe_aaa_timeout"] += 1
            res = AuthResult.reject("AAA not reachable")
        if sub.gone:
            return
        ip = self._address(sub, res) if res.accepted else None
        ok = ip is not None
        if ok:
            sub.auth, sub.username, sub.ip = res, e.username, ip  # ip set now: released by _forget
            self.mgr.update(sub.core_id, username=e.username)
        message = "welcome" if ok else (res.reply_message or "authentication failed")
        now = self.trunk.clock()
        self._run(sub, now, sub.ppp.auth_result, ok, ip, self.dns, message, now)

    def _address(self, sub: Sub, res: AuthResult) -> str | None:
        pools = self.trunk.pools
        if res.framed_ip:
            addr = ip_to_int(res.framed_ip)
            owner = self.mgr.by_ip(res.framed_ip)
            if owner is not None and owner.id != sub.core_id:
                self.counters["pppoe_address_conflict"] += 1
                return None
            pool = next((p for p in pools.values() if addr in p), None)
            if pool is not None and pool.reserve(addr, sub.ns.peer_mac):
                sub.pool = pool.name
            return res.framed_ip
        name = res.pool if res.pool in pools else self.pool
        got = pools[name].allocate(sub.ns.peer_mac) if name is not None else None
        if got is None:
            self.counters["pppoe_no_address"] += 1
            return None
        sub.pool = name
        return int_to_ip(got)

    async def _up(self, sub: Sub, e: ev.SessionUp) -> None:
        if sub.gone:
            return
        sub.ip = e.ip
        path = SubscriberPath(sub.tags, sub.ns.peer_mac, Kind.PPPOE, sub.ns.session_id, sub.iface)
        self.trunk.datapath.add_subscriber(e.ip, path)
        mtu = min(e.peer_mru, self.ppp_cfg.mtu)  # the /32 route's MTU (installed by the policy hook)
        data = {
            **self.mgr.get(sub.core_id).access_data,
            "ppp": sub.ppp.export(),
            "pool": sub.pool,
            "mtu": mtu,
        }
        fields = activate_fields(sub.auth or AuthResult(True), e.ip, self.ppp_cfg.gateway_ip, None)
        try:
            await self.mgr.activate(
                sub.core_id,
                username=sub.username,
                ppp_interface=f"ppp{sub.ns.session_id}",
                access_data=data,
                **fields,
            )
            sub.saved, sub.saved_at = data["ppp"], self.trunk.clock()
        except (SessionError, OSError) as exc:
            log.warning("PPPoE session not activated: %s", exc, extra={"session_id": sub.core_id})
            if not sub.gone:
                self._run(sub, self.trunk.clock(), sub.ppp.terminate, "nas_error", self.trunk.clock())
                self._end(sub, TerminateReason.NAS_ERROR)

    # ---- teardown -----------------------------------------------------------------------------
    def _forget(self, sub: Sub) -> None:
        """Drop our state for ``sub`` (idempotent); counters are copied into the session first."""
        if sub.gone:
            return
        sub.gone = True
        self.subs.pop(sub.ns.session_id, None)
        self._drop_fast(sub)
        self.by_core.pop(sub.core_id, None)
        self.discovery.release(sub.ns.session_id, sub.ns.peer_mac)
        self.trunk.timers.cancel(("ppp", sub.ns.session_id))
        if sub.pool is not None and sub.ip is not None and sub.pool in self.trunk.pools:
            self.trunk.pools[sub.pool].release(ip_to_int(sub.ip))
        if sub.ip is not None:
            path = self.trunk.datapath.path(sub.ip)
            if path is not None and path.kind is Kind.PPPOE and path.session_id == sub.ns.session_id:
                s = self.mgr.find(sub.core_id)
                if s is not None:
                    self.trunk.take_counters(s)
                self.trunk.datapath.remove_subscriber(sub.ip)  # the route goes with the policy hook

    def _end(self, sub: Sub, reason: TerminateReason) -> None:
        if sub.gone:
            return
        self._forget(sub)
        self.trunk.daemon.tasks.spawn(f"ppp-end-{sub.core_id}", self.mgr.terminate(sub.core_id, reason))

    async def disconnect(self, session: Session, reason: TerminateReason) -> None:
        """Admin/CoA/timeout disconnect: LCP Terminate-Request then PADT, state dropped at once."""
        sid = self.by_core.get(session.id)
        sub = self.subs.get(sid) if sid is not None else None
        if sub is None or sub.gone:
            return
        sub.reason = reason
        now = self.trunk.clock()
        try:
            sub.ppp.terminate(str(reason), now)
            self._send_ppp(sub, sub.ppp.take_output())
        except Exception:
            self.counters["pppoe_internal_error"] += 1
            log.exception("PPP terminate failed", extra={"session_id": session.id})
        self._send_disc(sub.ns.peer_mac, sub.tags, self.discovery.padt(sub.ns.session_id, sub.ns.peer_mac))
        self._forget(sub)

    # ---- restart and config -------------------------------------------------------------------
    async def restore(self) -> None:
        now = self.trunk.clock()
        for s in self.mgr.claim(SessionType.PPPOE):
            ad = s.access_data
            if "ppp" not in ad or "pppoe_session_id" not in ad or s.ip_address is None:
                log.warning("PPPoE session has no resumable state; left as it is", extra={"session_id": s.id})
                continue
            mac, tags = parse_mac(ad["peer_mac"]), tags_from_json(ad.get("tags"))
            ns = NewSession(
                int(ad["pppoe_session_id"]), mac, tuple(t.vid for t in tags), ad.get("service_name", "")
            )
            try:
                self.discovery.restore(ns)
                ppp = PPPSession.resume(self.ppp_cfg, os.urandom, ad["ppp"], now)
            except (ValueError, KeyError, TypeError) as exc:
                log.error("cannot resume PPPoE session: %s", exc, extra={"session_id": s.id})
                self.discovery.release(ns.session_id, mac)
                await self.mgr.terminate(s.id, TerminateReason.NAS_ERROR)
                continue
            sub = self._adopt(
                Sub(
                    ns,
                    tags,
                    s.access_interface,
                    ppp,
                    s.id,
                    username=s.username,
                    pool=ad.get("pool"),
                    ip=s.ip_address,
                    saved=ad["ppp"],
                    saved_at=now,
                )
            )
            if sub.pool in self.trunk.pools:
                self.trunk.pools[sub.pool].reserve(ip_to_int(s.ip_address), mac)
            path = SubscriberPath(tags, mac, Kind.PPPOE, ns.session_id, s.access_interface)
            self.trunk.datapath.add_subscriber(s.ip_address, path)  # route: the policy service's restore
            self.trunk.aaa.resume_accounting(s)
            self._process(sub, now)
        if self.subs:
            log.info("resumed %d PPPoE sessions", len(self.subs))

    def reconfigure(self, cfg: Any) -> None:
        """New pppoe settings apply to new sessions; running sessions keep theirs."""
        self.enabled = cfg.pppoe.enabled
        self.discovery.config = discovery_config(cfg, self.discovery.config.cookie_secret)
        self.ppp_cfg, self.pool, self.dns = ppp_config(cfg)
