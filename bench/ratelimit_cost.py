"""Cost per rate-limit check: the gateway's token bucket (dosewise_api.ratelimit) against the ``limits`` library's strategies,
on its in-memory storage (sync and asyncio) and, with --redis or REDIS_URL, on Redis through its asyncio storage (redis-py,
as the gateway would use it from its event loop), for a single recommendation (cost 1) and a 1,000-patient batch (cost
1,000), on a few callers.

Each limiter is configured generously enough that every check is admitted (the common case on the request path), so the
figure is the price every request pays: CPU for the in-process ones, and for Redis the wall time of the await (a round
trip, during which the request waits). ``limits``' MemoryStorage also starts a threading.Timer for its expiry sweep when
none is alive (every ~10 ms under load): that thread's creation and its sweep of every key run inside the timed loop, as
they would beside the gateway's event loop.
Usage: .venv/bin/python bench/ratelimit_cost.py [--calls 200000] [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage as AsyncMemoryStorage
from limits.aio.storage import RedisStorage as AsyncRedisStorage
from limits.aio.strategies import MovingWindowRateLimiter as AsyncMovingWindow
from limits.aio.strategies import SlidingWindowCounterRateLimiter as AsyncSlidingWindowCounter
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


async def per_await_us(check: Callable[[str, int], Awaitable[object]], calls: int, cost: int) -> float:
    t = time.perf_counter()
    for i in range(calls):
        await check(CALLERS[i % len(CALLERS)], cost)
    return (time.perf_counter() - t) / calls * 1e6


def row(name: str, single: float, batch: float) -> None:
    print(f"  {name:58s} cost 1: {single:8.2f} µs   cost 1,000: {batch:8.2f} µs")


def in_process(calls: int) -> None:
    item = RateLimitItemPerMinute(PER_MINUTE)
    ours = TokenBucketLimiter(PER_MINUTE, PER_MINUTE)
    moving = MovingWindowRateLimiter(MemoryStorage())
    sliding = SlidingWindowCounterRateLimiter(MemoryStorage())
    candidates: dict[str, Callable[[str, int], object]] = {
        "dosewise_api.ratelimit.TokenBucketLimiter": lambda caller, cost: ours.acquire(caller, cost),
        "limits SlidingWindowCounter, MemoryStorage": lambda caller, cost: sliding.hit(item, caller, cost=cost),
        "limits MovingWindow, MemoryStorage": lambda caller, cost: moving.hit(item, caller, cost=cost),
    }
    for name, check in candidates.items():
        row(name, min(per_call_us(check, calls, 1) for _ in range(3)),
            min(per_call_us(check, calls // 100, 1000) for _ in range(3)))


async def awaited(calls: int, redis_url: str | None) -> None:
    item = RateLimitItemPerMinute(PER_MINUTE)
    storages: dict[str, object] = {"async MemoryStorage": AsyncMemoryStorage()}
    if redis_url:
        prefix = f"dosewise-bench-{uuid.uuid4().hex[:8]}"  # its own keys, expiring with the window
        storages["async RedisStorage (redis-py)"] = AsyncRedisStorage("async+" + redis_url, implementation="redispy",
                                                                      key_prefix=prefix)
    for storage_name, storage in storages.items():
        strategies = {"SlidingWindowCounter": AsyncSlidingWindowCounter(storage),  # type: ignore[arg-type]
                      "MovingWindow": AsyncMovingWindow(storage)}  # type: ignore[arg-type]
        n = calls if storage_name.endswith("MemoryStorage") else max(calls // 20, 100)  # a round trip is slower
        for strategy_name, limiter in strategies.items():
            async def check(caller: str, cost: int, limiter: object = limiter) -> object:
                return await limiter.hit(item, caller, cost=cost)  # type: ignore[attr-defined]

            single = min([await per_await_us(check, n, 1) for _ in range(3)])
            batch = min([await per_await_us(check, max(n // 100, 20), 1000) for _ in range(3)])
            row(f"limits {strategy_name}, {storage_name}", single, batch)


def retry_after_of_a_spent_burst() -> None:
    """What a caller is told once its burst is spent, at the integration test's settings (burst 3, 1 request/minute): the
    token bucket's next token against a moving window of the same burst and long-run rate (3 per 3 minutes)."""
    ours = TokenBucketLimiter(per_minute=1, burst=3)
    for _ in range(3):
        ours.acquire("caller")
    window = RateLimitItemPerMinute(3, 3)
    moving = MovingWindowRateLimiter(MemoryStorage())
    for _ in range(3):
        moving.hit(window, "caller")
    limits_wait = moving.get_window_stats(window, "caller").reset_time - time.time()
    print(f"Retry-After once a burst of 3 at 1/minute is spent: token bucket {ours.check('caller')} s, limits moving "
          f"window (3 per 3 minutes) {limits_wait:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=200_000, help="checks per measurement (batches: a hundredth of it)")
    ap.add_argument("--redis", default=os.environ.get("REDIS_URL"), help="redis://host:port/db (default: REDIS_URL)")
    args = ap.parse_args()
    print(f"µs per check, {len(CALLERS)} callers, best of 3 ({args.calls:,} singles / {args.calls // 100:,} batches "
          "in process; a twentieth of that on Redis):")
    in_process(args.calls)
    asyncio.run(awaited(args.calls, args.redis))
    retry_after_of_a_spent_burst()


if __name__ == "__main__":
    main()
