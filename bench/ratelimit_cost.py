"""CPU per rate-limit check: the gateway's token bucket (dosewise_api.ratelimit) against the ``limits`` library's in-memory
strategies, for a single recommendation (cost 1) and a 1,000-patient batch (cost 1,000), on a few callers.

Each limiter is configured generously enough that every check is admitted (the common case on the request path), so the
figure is the price every request pays. ``limits``' MemoryStorage also starts a threading.Timer for its expiry sweep when none
is alive (every ~10 ms under load): that thread's creation and its sweep of every key run inside the timed loop, as they
would beside the gateway's event loop.
Usage: .venv/bin/python bench/ratelimit_cost.py [--calls 200000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

from dosewise_api.ratelimit import TokenBucketLimiter

CALLERS = [f"key:{i:012x}" for i in range(8)]
PER_MINUTE = 10_000_000  # high enough that nothing is refused during the run


def per_call_us(check: Callable[[str, int], object], calls: int, cost: int) -> float:
    t = time.perf_counter()
    for i in range(calls):
        check(CALLERS[i % len(CALLERS)], cost)
    return (time.perf_counter() - t) / calls * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=200_000, help="checks per measurement (batches: a hundredth of it)")
    args = ap.parse_args()
    item = RateLimitItemPerMinute(PER_MINUTE)
    ours = TokenBucketLimiter(PER_MINUTE, PER_MINUTE)
    moving = MovingWindowRateLimiter(MemoryStorage())
    sliding = SlidingWindowCounterRateLimiter(MemoryStorage())
    candidates: dict[str, Callable[[str, int], object]] = {
        "dosewise_api.ratelimit.TokenBucketLimiter": lambda caller, cost: ours.acquire(caller, cost),
        "limits SlidingWindowCounterRateLimiter": lambda caller, cost: sliding.hit(item, caller, cost=cost),
        "limits MovingWindowRateLimiter": lambda caller, cost: moving.hit(item, caller, cost=cost),
    }
    print(f"µs per check, {len(CALLERS)} callers, best of 3 ({args.calls:,} singles / {args.calls // 100:,} batches each):")
    for name, check in candidates.items():
        single = min(per_call_us(check, args.calls, 1) for _ in range(3))
        batch = min(per_call_us(check, args.calls // 100, 1000) for _ in range(3))
        print(f"  {name:42s} cost 1: {single:7.2f} µs   cost 1,000: {batch:8.2f} µs")


if __name__ == "__main__":
    main()
