"""Bound-lease half of the DHCP server: REQUEST, DECLINE, RELEASE, INFORM, timers, restore.

REQUEST decisions come from :data:`abng.access.dhcp.table.REQUEST_TABLE` (RFC 2131 §4.3.2).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import cast

from abng.access.arp import int_to_ip, ip_to_int
from abng.access.dhcp.builders import frozen_builder
from abng.access.dhcp.codec import DhcpMessage
from abng.access.dhcp.config import DhcpServerConfig
from abng.access.dhcp.events import (
    Declined,
    DhcpEvent,
    LeaseExpired,
    LeaseGranted,
    LeaseReleased,
    LeaseRenewed,
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
from abng.access.dhcp.options import MessageType, Opt, RelayAgentInfo
from abng.access.dhcp.pool import Ipv4Pool
from abng.access.dhcp.replies import RequestContext, make_reply
from abng.access.dhcp.table import REQUEST_TABLE, Action, Held, ReqState
from abng.access.frames import VlanTag, format_mac, parse_mac

_new_lease_granted = frozen_builder(LeaseGranted)
_REQUEST_COUNTER = {s: f"request_{s.name.lower()}" for s in ReqState}


class LifecycleMixin:
    config: DhcpServerConfig
    pools: dict[str, Ipv4Pool]
    bindings: BindingTable
    counters: Counter[str]
    _holds: dict[int, float]
    _deadlines: Deadlines
    _events: list[DhcpEvent]
    _tx: list[Transmit]
    _pending: dict[int, PendingAuth]
    _pending_by_client: dict[ClientKey, int]
    _nak_rate: MacRateLimiter
    _now: float = 0.0

    # ------------------------------------------------------------------ REQUEST

    def _request(self, msg: DhcpMessage, ctx: RequestContext, client: ClientKey, now: float) -> None:
        self._now = now
        binding = self.bindings.get(client)
        server_id = msg.ip_option(Opt.SERVER_ID)
        requested = msg.ip_option(Opt.REQUESTED_IP)
        if server_id is not None:
            state = ReqState.SELECTING if server_id == self.config.identifier else ReqState.SELECTING_OTHER
            wanted = requested if requested is not None else msg.ciaddr
        elif msg.ciaddr == 0:
            if requested is None:
                self.counters["drop_request_no_address"] += 1
                return
            state, wanted = ReqState.INIT_REBOOT, requested
        else:
            state = ReqState.REBINDING if ctx.dst_ip == 0xFFFFFFFF else ReqState.RENEWING
            wanted = msg.ciaddr
        if binding is None:
            held = Held.NONE
        elif binding.state is BindingState.OFFERED:
            held = Held.OFFERED if binding.ip == wanted else Held.OFFERED_OTHER
        else:
            held = Held.BOUND if binding.ip == wanted else Held.BOUND_OTHER
        action = REQUEST_TABLE[state, held]
        self.counters[_REQUEST_COUNTER[state]] += 1
        if action is Action.ACK:
            assert binding is not None
            self._ack(msg, ctx, binding, now)
        elif action is Action.NAK:
            self._nak(msg, ctx, "no offer for this client" if binding is None else "address not assigned")
        elif action is Action.WITHDRAW:
            assert binding is not None
            self._drop_binding(binding)
        elif held is Held.NONE:
            self.counters["request_unknown_client"] += 1

    def _nak(self, msg: DhcpMessage, ctx: RequestContext, why: str) -> None:
        if not self._nak_rate.allow(msg.chaddr, self._now):
            self.counters["drop_nak_rate"] += 1
            return
        self._tx.append(make_reply(self.config, msg, ctx, MessageType.NAK, message=why))
        self.counters["tx_nak"] += 1

    def _ack(self, msg: DhcpMessage, ctx: RequestContext, binding: Binding, now: float) -> None:
        lease_time = binding.lease_time
        if binding.not_after is not None:  # the session ends then: the lease must not outlive it
            lease_time = max(1, min(lease_time, int(binding.not_after - now)))
        binding.expires_at = now + lease_time
        binding.tags = ctx.tags
        self._arm_binding(binding, binding.expires_at)
        mac, ip, iface = format_mac(binding.mac), int_to_ip(binding.ip), binding.access_interface
        if binding.state is BindingState.OFFERED:
            binding.state = BindingState.BOUND
            hostname = msg.text_option(Opt.HOSTNAME)
            if hostname:
                binding.hostname = hostname
            ra = binding.relay_agent
            self._events.append(
                _new_lease_granted(  # LeaseGranted, every field in order
                    mac,
                    ip,
                    lease_time,
                    iface,
                    (ra.circuit_id or b"").decode("utf-8", "replace"),
                    (ra.remote_id or b"").decode("utf-8", "replace"),
                    binding.hostname,
                    binding.client_id,
                    binding.pool,
                    binding.expires_at,
                    binding.tags,
                    binding.attrs,
                )
            )
            self.counters["lease_granted"] += 1
        else:
            self._events.append(LeaseRenewed(mac, ip, lease_time, iface, binding.expires_at))
            self.counters["lease_renewed"] += 1
        self._tx.append(make_reply(self.config, msg, ctx, MessageType.ACK, binding.ip, lease_time))
        self.counters["tx_ack"] += 1

    # ------------------------------------------------------------------ DECLINE / RELEASE / INFORM

    def _decline(self, msg: DhcpMessage, client: ClientKey, now: float) -> None:
        binding = self.bindings.get(client)
        server_id = msg.ip_option(Opt.SERVER_ID)
        declined = msg.ip_option(Opt.REQUESTED_IP)
        if binding is None or declined != binding.ip or server_id not in (None, self.config.identifier):
            self.counters["drop_decline_unknown"] += 1
            return
        had_lease = binding.state is BindingState.BOUND
        self.bindings.remove(binding)
        binding.generation += 1
        until = now + self.config.decline_hold
        self._holds[binding.ip] = until  # the pool keeps it reserved until the hold ends
        self._deadlines.push(until, TimerKind.HOLD, binding.ip)
        self._events.append(
            Declined(format_mac(binding.mac), int_to_ip(binding.ip), binding.access_interface, had_lease)
        )
        self.counters["declined"] += 1

    def _release(self, msg: DhcpMessage, client: ClientKey) -> None:
        binding = self.bindings.get(client)
        server_id = msg.ip_option(Opt.SERVER_ID)
        if binding is None or binding.ip != msg.ciaddr or server_id not in (None, self.config.identifier):
            self.counters["drop_release_unknown"] += 1
            return
        was_bound = binding.state is BindingState.BOUND
        self._drop_binding(binding)
        if was_bound:
            self._events.append(
                LeaseReleased(format_mac(binding.mac), int_to_ip(binding.ip), binding.access_interface)
            )
            self.counters["lease_released"] += 1

    def _inform(self, msg: DhcpMessage, ctx: RequestContext) -> None:
        if msg.ciaddr == 0:
            self.counters["drop_inform_no_ciaddr"] += 1
            return
        self._tx.append(make_reply(self.config, msg, ctx, MessageType.ACK))  # no yiaddr, no lease
        self.counters["tx_ack_inform"] += 1

    # ------------------------------------------------------------------ bindings and timers

    def _arm_binding(self, binding: Binding, deadline: float) -> None:
        binding.generation += 1
        binding.expires_at = deadline
        self._deadlines.push(deadline, TimerKind.BINDING, binding.key, binding.generation)

    def _drop_binding(self, binding: Binding) -> None:
        if binding.pool is not None:
            self.pools[binding.pool].release(binding.ip)
        self.bindings.remove(binding)
        binding.generation += 1

    def _live(self, kind: TimerKind, ref: object, generation: int, deadline: float) -> bool:
        if kind is TimerKind.BINDING:
            b = self.bindings.get(cast(ClientKey, ref))
            return b is not None and b.generation == generation
        if kind is TimerKind.AUTH:
            return ref in self._pending
        return isinstance(ref, int) and self._holds.get(ref) == deadline

    def get_timer(self) -> float | None:
        """The next deadline at which :meth:`handle_timer` has work, or None."""
        while (entry := self._deadlines.peek()) is not None:
            if self._live(entry.kind, entry.ref, entry.generation, entry.deadline):
                return entry.deadline
            self._deadlines.pop()
        return None

    def handle_timer(self, now: float) -> None:
        while (entry := self._deadlines.peek()) is not None and entry.deadline <= now:
            self._deadlines.pop()
            if not self._live(entry.kind, entry.ref, entry.generation, entry.deadline):
                continue
            if entry.kind is TimerKind.BINDING:
                binding = self.bindings.get(cast(ClientKey, entry.ref))
                assert binding is not None
                bound = binding.state is BindingState.BOUND
                self._drop_binding(binding)
                if bound:
                    self._events.append(
                        LeaseExpired(format_mac(binding.mac), int_to_ip(binding.ip), binding.access_interface)
                    )
                    self.counters["lease_expired"] += 1
                else:
                    self.counters["offer_expired"] += 1
            elif entry.kind is TimerKind.AUTH:
                pending = self._pending.pop(cast(int, entry.ref))
                del self._pending_by_client[pending.client]
                self.counters["auth_timeout"] += 1
            else:
                ip = cast(int, entry.ref)
                del self._holds[ip]
                for pool in self.pools.values():
                    if ip in pool:
                        pool.release(ip)
                self.counters["decline_hold_ended"] += 1

    # ------------------------------------------------------------------ caller operations

    def restore_lease(
        self,
        mac: str | bytes,
        ip: str | int,
        access_interface: str,
        expires_at: float,
        now: float,
        *,
        lease_time: int | None = None,
        pool: str | None = None,
        circuit_id: str | None = None,
        remote_id: str | None = None,
        hostname: str | None = None,
        tags: tuple[VlanTag, ...] = (),
        attrs: Mapping[str, object] | None = None,
    ) -> bool:
        """Re-add a lease kept across a restart (no event).  False when it has already expired
        or the address is taken by another client."""
        chaddr = mac if isinstance(mac, bytes) else parse_mac(mac)
        addr = ip if isinstance(ip, int) else ip_to_int(ip)
        key: ClientKey = (access_interface, chaddr)
        existing = self.bindings.get(key)
        if existing is not None and existing.ip != addr:
            self._drop_binding(existing)
        holder = self.bindings.by_ip(addr)
        if expires_at <= now or (holder is not None and holder.key != key) or addr in self._holds:
            return False
        if pool is None:
            pool = next((p.name for p in self.pools.values() if addr in p), None)
        if pool is not None:
            if addr not in self.pools[pool]:
                return False
            if holder is None and not self.pools[pool].reserve(addr, chaddr):
                return False
        ra = RelayAgentInfo.make(
            (circuit_id or access_interface).encode(), (remote_id or self.config.hostname).encode()
        )
        lt = lease_time if lease_time is not None else max(1, int(expires_at - now))
        binding = Binding(
            key, addr, BindingState.BOUND, lt, expires_at, pool, ra, hostname, None, tags, dict(attrs or {})
        )
        self.bindings.add(binding)
        self._arm_binding(binding, expires_at)
        return True

    def limit_lease(self, mac: str | bytes, access_interface: str, not_after: float | None) -> bool:
        """Grant the client no lease past ``not_after`` (its Session-Timeout); False if unknown."""
        chaddr = mac if isinstance(mac, bytes) else parse_mac(mac)
        binding = self.bindings.get((access_interface, chaddr))
        if binding is None:
            return False
        binding.not_after = not_after
        return True

    def remove_lease(self, mac: str | bytes, access_interface: str) -> bool:
        """Drop a binding on the caller's behalf (admin/CoA disconnect); no event, no packet."""
        chaddr = mac if isinstance(mac, bytes) else parse_mac(mac)
        binding = self.bindings.get((access_interface, chaddr))
        if binding is None:
            return False
        self._drop_binding(binding)
        return True

    def leases(self) -> list[Binding]:
        return [b for b in self.bindings if b.state is BindingState.BOUND]
