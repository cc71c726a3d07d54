"""Token buckets for discovery rate limits (STYLE §6: applied before anything is allocated).

The per-MAC table is bounded (least recently used entries are evicted) so that a flood of
random source MACs cannot grow memory; the global bucket caps the total in that case.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    rate: float  # tokens per second
    burst: float
    tokens: float
    last: float

    def take(self, now: float) -> bool:
        if now > self.last:
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class RateLimiter:
    """A global bucket plus one bucket per key (MAC).  ``rate <= 0`` disables that limit.

    A key's bucket is only kept while it is below its burst: a bucket that has refilled to the
    burst behaves exactly like the new bucket a first packet gets, so quiet keys are forgotten
    (the least recently used one or two are looked at whenever a key is added)."""

    def __init__(
        self, per_key_rate: float, per_key_burst: float, global_rate: float, global_burst: float, size: int
    ) -> None:
        self.per_key_rate = per_key_rate
        self.per_key_burst = per_key_burst
        self.size = size
        self.keys: OrderedDict[bytes, TokenBucket] = OrderedDict()
        self.global_bucket = (
            TokenBucket(global_rate, global_burst, global_burst, 0.0) if global_rate > 0 else None
        )

    def allow(self, key: bytes, now: float, count_global: bool = True) -> str | None:
        """None if allowed, else the drop reason.  ``count_global=False``: the key's bucket only
        (the global bucket neither checked nor charged)."""
        if self.per_key_rate > 0:
            keys = self.keys
            bucket = keys.get(key)
            if bucket is None:
                self._forget_full(now)
                bucket = TokenBucket(self.per_key_rate, self.per_key_burst, self.per_key_burst, now)
                keys[key] = bucket
                if len(keys) > self.size:
                    keys.popitem(last=False)
            else:
                keys.move_to_end(key)
            if not bucket.take(now):
                return "rate_limited_mac"
        if count_global and self.global_bucket is not None and not self.global_bucket.take(now):
            return "rate_limited_global"
        return None

    def _forget_full(self, now: float) -> None:
        """Drop the least recently used buckets (up to two) that have refilled to their burst."""
        keys = self.keys
        for _ in range(2):
            if not keys:
                return
            oldest = next(iter(keys))
            b = keys[oldest]
            if b.tokens + (now - b.last) * b.rate < b.burst:
                return
            del keys[oldest]
