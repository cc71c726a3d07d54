"""Subscriber statistics in the style of BNG Blaster's session report.

Requested / established (now and peak), setup time of the first wave (first start to the moment
every requested session was up), setup rate min/avg/max over whole seconds, per-session setup
latency, flaps (an established session that went down without being asked to), timeouts per
protocol phase and other failures.  Pure bookkeeping: the engine feeds it ``now`` values.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

TIMEOUT_REASONS = frozenset(
    {
        "padi_timeout",
        "padr_timeout",
        "lcp_timeout",
        "auth_timeout",
        "ipcp_timeout",
        "discover_timeout",
        "request_timeout",
        "lost_carrier",
    }
)


@dataclass
class Stats:
    requested: dict[str, int] = field(default_factory=lambda: {"pppoe": 0, "dhcp": 0})
    established: dict[str, int] = field(default_factory=lambda: {"pppoe": 0, "dhcp": 0})
    established_max: int = 0
    setups: int = 0  # successful establishments, including re-establishments
    attempts: int = 0
    flaps: int = 0  # established sessions lost without our asking
    admin_downs: int = 0  # sessions we brought down (flap, remove)
    renewals: int = 0
    timeouts: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    first_start: float | None = None
    all_up_at: float | None = None
    _per_second: Counter[int] = field(default_factory=Counter)
    _latency_sum: float = 0.0
    _latency_min: float | None = None
    _latency_max: float = 0.0

    # --- feeding ---------------------------------------------------------------------------------
    def started(self, now: float) -> None:
        self.attempts += 1
        if self.first_start is None:
            self.first_start = now

    def up(self, kind: str, now: float, latency: float) -> None:
        self.established[kind] += 1
        self.setups += 1
        total = self.total_established
        if total > self.established_max:
            self.established_max = total
        if self.first_start is not None:
            self._per_second[int(now - self.first_start)] += 1
        self._latency_sum += latency
        if self._latency_min is None or latency < self._latency_min:
            self._latency_min = latency
        if latency > self._latency_max:
            self._latency_max = latency
        if self.all_up_at is None and total >= self.total_requested > 0:
            self.all_up_at = now

    def down(self, kind: str, reason: str, *, asked: bool) -> None:
        self.established[kind] -= 1
        if asked:
            self.admin_downs += 1
        else:
            self.flaps += 1
            self.failures[reason] += 1

    def failed(self, reason: str) -> None:
        if reason in TIMEOUT_REASONS:
            self.timeouts[reason] += 1
        else:
            self.failures[reason] += 1

    # --- reading ---------------------------------------------------------------------------------
    @property
    def total_requested(self) -> int:
        return sum(self.requested.values())

    @property
    def total_established(self) -> int:
        return sum(self.established.values())

    @property
    def setup_time(self) -> float | None:
        if self.first_start is None or self.all_up_at is None:
            return None
        return self.all_up_at - self.first_start

    def rate(self) -> dict[str, float]:
        """Setups per second over the whole seconds between the first setup and the last one
        (the last, partial second is left out once there is more than one)."""
        if not self._per_second:
            return {"min": 0.0, "avg": 0.0, "max": 0.0}
        last = max(self._per_second)
        span = range(max(last, 1))
        values = [self._per_second.get(s, 0) for s in span]
        return {"min": float(min(values)), "avg": sum(values) / len(values), "max": float(max(values))}

    def overall_rate(self) -> float:
        """BNG Blaster's figure: sessions requested / setup time (0 until all are up)."""
        t = self.setup_time
        return self.total_requested / t if t else 0.0

    def recent_rate(self, now: float) -> int:
        if self.first_start is None:
            return 0
        return self._per_second.get(int(now - self.first_start) - 1, 0)

    def report(self) -> dict[str, Any]:
        n = self.setups
        return {
            "requested": dict(self.requested),
            "established": dict(self.established),
            "requested_total": self.total_requested,
            "established_total": self.total_established,
            "established_max": self.established_max,
            "setups": self.setups,
            "attempts": self.attempts,
            "setup_time": self.setup_time,
            "setup_rate": {**self.rate(), "overall": self.overall_rate()},
            "latency": {
                "min": self._latency_min or 0.0,
                "avg": self._latency_sum / n if n else 0.0,
                "max": self._latency_max,
            },
            "flaps": self.flaps,
            "admin_downs": self.admin_downs,
            "renewals": self.renewals,
            "timeouts": dict(self.timeouts),
            "failures": dict(self.failures),
        }

    def line(self, now: float) -> str:
        e, r = self.established, self.requested
        return (
            f"sessions up {self.total_established}/{self.total_requested} "
            f"(pppoe {e['pppoe']}/{r['pppoe']}, dhcp {e['dhcp']}/{r['dhcp']}) | "
            f"setups/s {self.recent_rate(now)} (max {int(self.rate()['max'])}) | "
            f"failures {sum(self.failures.values())} | timeouts {sum(self.timeouts.values())} | "
            f"flaps {self.flaps}"
        )
