"""The DHCPv4 server machine (RFC 2131 §4.3), sans-I/O.

Frames and ``now`` in; :class:`Transmit` replies, events and the next deadline out:

    server.handle_frame(frame, "eth1.111.500.100", now)
    for tx in server.transmits(): send(tx.frame())
    for ev in server.events(): ...           # AuthorizeRequest -> server.authorized(ev.key, ...)
    deadline = server.get_timer(); ... server.handle_timer(now)

No state is kept for a DISCOVER before AAA has answered, except the bounded pending entry that
stops retransmits from starting a second authorisation.  Garbage is dropped and counted in
``counters``; protocol violations get a DHCPNAK; misuse by the caller raises.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from abng.access.arp import int_to_ip, ip_to_int
from abng.access.dhcp.builders import frozen_builder
from abng.access.dhcp.codec import BOOTREQUEST, DhcpMessage, parse_message
from abng.access.dhcp.config import DhcpServerConfig
from abng.access.dhcp.events import (
    DHCP_SERVER_PORT,
    AddressConflict,
    AuthorizeRequest,
    DhcpEvent,
    LeaseAborted,
    PoolExhausted,
    Transmit,
)
from abng.access.dhcp.leases import (
    Binding,
    BindingState,
    BindingTable,
    ClientKey,
    Deadlines,
    MacRateLimiter,
    PendingAuth,
    TimerKind,
)
from abng.access.dhcp.lifecycle import LifecycleMixin
from abng.access.dhcp.options import MessageType, Opt, RelayAgentInfo
from abng.access.dhcp.pool import Ipv4Pool
from abng.access.dhcp.replies import RequestContext, make_reply
from abng.access.dhcp.wire import udp_in_frame
from abng.access.frames import DecodeError, EthernetFrame, VlanTag, format_mac

_new_authorize_request = frozen_builder(AuthorizeRequest)
_RX_COUNTER = {t: f"rx_{t.name.lower()}" for t in MessageType}


class DhcpServer(LifecycleMixin):
    def __init__(self, config: DhcpServerConfig, pools: Iterable[Ipv4Pool] = ()) -> None:
        self.config = config
        self.pools: dict[str, Ipv4Pool] = {p.name: p for p in pools}
        if config.default_pool is not None and config.default_pool not in self.pools:
            raise ValueError(f"default pool {config.default_pool!r} is not defined")
        self.bindings = BindingTable()
        self.counters: Counter[str] = Counter()
        self._pending: dict[int, PendingAuth] = {}
        self._pending_by_client: dict[ClientKey, int] = {}
        self._holds: dict[int, float] = {}  # DECLINEd address -> end of hold
        self._deadlines = Deadlines()
        self._rate = MacRateLimiter(config.discover_burst, config.discover_rate, config.max_rate_entries)
        self._nak_rate = MacRateLimiter(config.discover_burst, config.discover_rate, config.max_rate_entries)
        self._keys = itertools.count(1)
        self._events: list[DhcpEvent] = []
        self._tx: list[Transmit] = []

    # ------------------------------------------------------------------ outputs

    def events(self) -> list[DhcpEvent]:
        out, self._events = self._events, []
        return out

    def transmits(self) -> list[Transmit]:
        out, self._tx = self._tx, []
        return out

    @property
    def pending_auth_count(self) -> int:
        return len(self._pending)

    # ------------------------------------------------------------------ input

    def handle_frame(
        self, frame: bytes | memoryview | EthernetFrame, access_interface: str, now: float
    ) -> None:
        """One frame received on ``access_interface`` (tags included, outer tag re-inserted)."""
        try:
            eth, ip_dst, dst_port, payload = udp_in_frame(frame)
            if dst_port != DHCP_SERVER_PORT:
                raise DecodeError("not_dhcp_port")
            msg = parse_message(payload)
        except DecodeError as exc:
            self.counters[f"drop_{exc.reason}"] += 1
            return
        n_tx, n_ev = len(self._tx), len(self._events)
        try:  # _contained, inlined: every received frame passes here
            self._dispatch(msg, access_interface, eth.tags, eth.src, ip_dst, now)
        except Exception as exc:
            self._contain((access_interface, msg.chaddr), exc, n_tx, n_ev)

    def handle_message(
        self,
        msg: DhcpMessage,
        access_interface: str,
        tags: tuple[VlanTag, ...],
        src_mac: bytes,
        dst_ip: int,
        now: float,
    ) -> None:
        """A decoded message (for callers that parsed the frame themselves)."""
        client: ClientKey = (access_interface, msg.chaddr)
        self._contained(client, self._dispatch, msg, access_interface, tags, src_mac, dst_ip, now)

    def _contained(self, client: ClientKey, fn: Callable[..., object], *args: Any) -> None:
        """STYLE §5: a bug while handling one client drops that client (LeaseAborted), discards
        whatever it was about to send, is counted, and everyone else carries on."""
        n_tx, n_ev = len(self._tx), len(self._events)
        try:
            fn(*args)
        except Exception as exc:
            self._contain(client, exc, n_tx, n_ev)

    def _contain(self, client: ClientKey, exc: Exception, n_tx: int, n_ev: int) -> None:
        """Called from an ``except`` block: drop what the client's handling produced, count,
        abort the client, and re-raise when errors are not contained."""
        del self._tx[n_tx:]
        del self._events[n_ev:]
        self.counters["internal_error"] += 1
        self._abort_client(client, f"{type(exc).__name__}: {exc}")
        if not self.config.contain_errors:
            raise exc

    def _abort_client(self, client: ClientKey, error: str) -> None:
        pending_key = self._pending_by_client.pop(client, None)
        if pending_key is not None:
            self._pending.pop(pending_key, None)
        binding = self.bindings.get(client)
        if binding is None:
            return
        self.bindings.remove(binding)
        binding.generation += 1
        if binding.pool is not None:
            try:
                self.pools[binding.pool].release(binding.ip)
            except Exception:
                self.counters["internal_error_release"] += 1
        self._events.append(
            LeaseAborted(
                format_mac(binding.mac),
                int_to_ip(binding.ip),
                binding.access_interface,
                binding.state is BindingState.BOUND,
                error,
            )
        )

    def _dispatch(
        self,
        msg: DhcpMessage,
        access_interface: str,
        tags: tuple[VlanTag, ...],
        src_mac: bytes,
        dst_ip: int,
        now: float,
    ) -> None:
        c = self.counters
        if msg.op != BOOTREQUEST:
            c["drop_not_request"] += 1
            return
        if msg.htype != 1 or msg.hlen != 6:
            c["drop_htype"] += 1
            return
        if self.config.require_chaddr_match and msg.giaddr == 0 and src_mac != msg.chaddr:
            c["drop_chaddr_mismatch"] += 1
            return
        mtype = msg.message_type
        if mtype is None:
            c["drop_no_message_type"] += 1
            return
        if msg.invalid:
            if Opt.RELAY_AGENT in msg.invalid:
                c["option82_malformed"] += 1
            c["options_invalid"] += 1
        raw_ra = msg.options.get(82)  # Opt.RELAY_AGENT
        ctx = RequestContext(
            access_interface, tags if type(tags) is tuple else tuple(tags), src_mac, dst_ip, raw_ra
        )
        client: ClientKey = (access_interface, msg.chaddr)
        c[_RX_COUNTER[mtype]] += 1
        if mtype is MessageType.DISCOVER:
            self._discover(msg, ctx, client, now)
        elif mtype is MessageType.REQUEST:
            self._request(msg, ctx, client, now)
        elif mtype is MessageType.DECLINE:
            self._decline(msg, client, now)
        elif mtype is MessageType.RELEASE:
            self._release(msg, client)
        elif mtype is MessageType.INFORM:
            self._inform(msg, ctx)
        else:
            c["drop_server_message_type"] += 1

    # ------------------------------------------------------------------ Option 82

    def effective_relay_agent(self, msg: DhcpMessage, access_interface: str) -> RelayAgentInfo:
        """Circuit-ID = access interface name, Remote-ID = hostname, per ``option82_policy``."""
        ours = RelayAgentInfo.make(access_interface.encode(), self.config.hostname.encode())
        received = msg.relay_agent  # None when absent or malformed (never trusted then)
        policy = self.config.option82_policy
        if received is None:
            return ours
        if policy == "keep":
            return received
        if policy == "replace":
            others = [s for s in received.suboptions if s[0] not in (1, 2)]
            return RelayAgentInfo.make(ours.circuit_id, ours.remote_id, *others)
        self.counters["option82_from_client_ignored"] += 1
        return ours

    # ------------------------------------------------------------------ DISCOVER

    def _discover(self, msg: DhcpMessage, ctx: RequestContext, client: ClientKey, now: float) -> None:
        if not self._rate.allow(msg.chaddr, now):  # before anything, re-offers included
            self.counters["drop_discover_rate"] += 1
            return
        binding = self.bindings.get(client)
        if binding is not None:  # retransmit, or a client restarting: offer what it has
            if binding.state is BindingState.OFFERED:
                self._arm_binding(binding, now + self.config.offer_timeout)
            self._send_offer(msg, ctx, binding)
            return
        pending_key = self._pending_by_client.get(client)
        if pending_key is not None:  # AAA still running: answer the latest xid, no second auth
            pending = self._pending[pending_key]
            pending.request, pending.ctx = msg, ctx
            self.counters["discover_auth_pending"] += 1
            return
        if len(self._pending) >= self.config.max_pending_auth:
            self.counters["drop_pending_full"] += 1
            return
        ra = self.effective_relay_agent(msg, ctx.access_interface)
        key = next(self._keys)
        deadline = now + self.config.auth_timeout
        self._pending[key] = PendingAuth(key, client, msg, ctx, ra, deadline)
        self._pending_by_client[client] = key
        self._deadlines.push(deadline, TimerKind.AUTH, key)
        requested = msg.ip_option(Opt.REQUESTED_IP)
        opts = msg.options
        self._events.append(
            _new_authorize_request(  # AuthorizeRequest, every field in order
                key,
                msg.xid,
                format_mac(msg.chaddr),
                ctx.access_interface,
                (ra.circuit_id or b"").decode("utf-8", "replace"),
                (ra.remote_id or b"").decode("utf-8", "replace"),
                ra,
                msg.text_option(Opt.HOSTNAME),
                opts.get(Opt.VENDOR_CLASS),
                opts.get(Opt.CLIENT_ID),
                int_to_ip(requested) if requested is not None else None,
                ctx.tags,
            )
        )
        self.counters["auth_requested"] += 1

    def authorized(
        self,
        key: int,
        ok: bool,
        now: float,
        *,
        ip: str | int | None = None,
        pool: str | None = None,
        lease_time: int | None = None,
        attrs: Mapping[str, object] | None = None,
    ) -> bool:
        """The AAA answer for ``AuthorizeRequest.key``.  ``ip`` is RADIUS Framed-IP-Address;
        else an address is taken from ``pool`` (or the default pool).  Returns True when an
        OFFER went out.  An unknown/expired key is ignored (the client will retransmit)."""
        pending = self._pending.get(key)
        if pending is None:
            self.counters["auth_answer_stale"] += 1
            return False
        if pool is not None and pool not in self.pools:
            raise ValueError(f"unknown pool {pool!r}")  # the caller maps AAA pool names
        n_tx = len(self._tx)
        self._contained(pending.client, self._authorized, pending, ok, now, ip, pool, lease_time, attrs)
        return len(self._tx) > n_tx

    def _authorized(
        self,
        pending: PendingAuth,
        ok: bool,
        now: float,
        ip: str | int | None,
        pool: str | None,
        lease_time: int | None,
        attrs: Mapping[str, object] | None,
    ) -> None:
        del self._pending[pending.key]
        del self._pending_by_client[pending.client]
        if not ok:
            self.counters["auth_rejected"] += 1
            return
        existing = self.bindings.get(pending.client)
        if existing is not None:  # restored meanwhile: keep what the client has
            self._send_offer(pending.request, pending.ctx, existing)
            return
        address = self._choose_address(pending, ip, pool)
        if address is None:
            return
        addr, pool_name = address
        lt = self._clamp_lease(lease_time)
        binding = Binding(
            key=pending.client,
            ip=addr,
            state=BindingState.OFFERED,
            lease_time=lt,
            expires_at=now + self.config.offer_timeout,
            pool=pool_name,
            relay_agent=pending.relay_agent,
            hostname=pending.request.text_option(Opt.HOSTNAME),
            client_id=pending.request.options.get(Opt.CLIENT_ID),
            tags=pending.ctx.tags,
            attrs=dict(attrs or {}),
        )
        self.bindings.add(binding)
        self._arm_binding(binding, binding.expires_at)
        self._send_offer(pending.request, pending.ctx, binding)

    def _choose_address(
        self, pending: PendingAuth, ip: str | int | None, pool: str | None
    ) -> tuple[int, str | None] | None:
        iface, mac = pending.client
        if ip is not None:
            addr = ip if isinstance(ip, int) else ip_to_int(ip)
            holder = self.bindings.by_ip(addr)
            if (holder is not None and holder.key != pending.client) or addr in self._holds:
                self.counters["address_conflict"] += 1
                self._events.append(
                    AddressConflict(
                        int_to_ip(addr), format_mac(mac), iface, format_mac(holder.mac) if holder else None
                    )
                )
                return None
            owner = next((p for p in self.pools.values() if addr in p), None)
            if owner is not None and holder is None and not owner.reserve(addr, mac):
                self.counters["address_conflict"] += 1
                self._events.append(AddressConflict(int_to_ip(addr), format_mac(mac), iface, None))
                return None
            return addr, owner.name if owner is not None else None
        name = pool or self.config.default_pool
        if name is None:
            self.counters["no_pool"] += 1
            return None
        got = self.pools[name].allocate(mac)
        if got is None:
            self.counters["pool_exhausted"] += 1
            self._events.append(PoolExhausted(name, format_mac(mac), iface))
            return None
        return got, name

    def _clamp_lease(self, lease_time: int | None) -> int:
        lt = self.config.lease_time if lease_time is None else lease_time
        return max(self.config.min_lease_time, min(self.config.max_lease_time, lt))

    def _send_offer(self, msg: DhcpMessage, ctx: RequestContext, binding: Binding) -> None:
        self._tx.append(make_reply(self.config, msg, ctx, MessageType.OFFER, binding.ip, binding.lease_time))
        self.counters["tx_offer"] += 1
