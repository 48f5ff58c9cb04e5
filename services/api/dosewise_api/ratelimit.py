"""A token bucket per caller (API key or JWT subject): a burst may go through at once, then requests flow at the configured rate.

In-process on purpose: no extra server on the request path. With several gateway replicas each keeps its own buckets, so the
effective limit is the per-replica limit times the replicas a caller's requests reach (a load balancer spreads them). That is
a guard against a runaway client, not a quota; a shared quota would need Redis (REDIS_URL) and is not implemented.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

MAX_TRACKED_CALLERS = 10_000  # least recently seen buckets beyond this are dropped (they would be full again anyway)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    """``acquire(caller)`` takes one token; when none is left it returns the whole seconds until one is (Retry-After)."""

    def __init__(self, per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1 or burst < 1:
            raise ValueError("a rate limit needs per_minute ≥ 1 and burst ≥ 1")
        self.rate_per_s, self.capacity, self.clock = per_minute / 60.0, float(burst), clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def acquire(self, caller: str) -> int | None:
        """None when allowed (a token was taken), else seconds to wait. No await inside: atomic on one event loop."""
        now = self.clock()
        bucket = self._buckets.pop(caller, None) or _Bucket(tokens=self.capacity, updated=now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate_per_s)
        bucket.updated = now
        self._buckets[caller] = bucket  # most recently seen last
        if len(self._buckets) > MAX_TRACKED_CALLERS:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / self.rate_per_s))
