"""``Queue`` on Redis Streams consumer groups (the scaled-out mode: several trainers as one group).

Each message is one stream entry with a single field, ``payload``, holding compact JSON. Message ids are Redis entry ids
(``<ms>-<seq>``). Stream keys are ``prefix + stream`` so several deployments (or test runs) can share one Redis.
A missing group raises ``LookupError`` (Redis answers NOGROUP), the same as the table adapter.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from dosewise.queue.base import Message

PAYLOAD_FIELD = "payload"
T = TypeVar("T")


async def _nogroup_as_lookup(call: Callable[[], Awaitable[T]]) -> T:
    try:
        return await call()
    except ResponseError as e:
        if str(e).startswith("NOGROUP"):
            raise LookupError(str(e)) from e
        raise


class RedisStreamsQueue:
    def __init__(self, url: str, prefix: str = "dosewise:") -> None:
        # decode_responses: ids and fields come back as str, the JSON payload is decoded once here.
        self._redis: Redis = Redis.from_url(url, decode_responses=True)
        self._prefix = prefix

    def key(self, stream: str) -> str:
        """The Redis key of ``stream`` (public so operators and tests can inspect or delete it)."""
        return self._prefix + stream

    def _message(self, stream: str, entry_id: str, fields: dict[str, str] | None, deliveries: int = 1) -> Message:
        payload = json.loads(fields[PAYLOAD_FIELD]) if fields and PAYLOAD_FIELD in fields else {}
        return Message(id=entry_id, stream=stream, payload=payload, deliveries=deliveries)

    async def ensure_group(self, stream: str, group: str) -> None:
        try:
            # Id 0: a new group starts at the beginning of the stream, so nothing published before it existed is lost.
            await self._redis.xgroup_create(self.key(stream), group, id="0", mkstream=True)
        except ResponseError as e:
            if not str(e).startswith("BUSYGROUP"):
                raise

    async def publish(self, stream: str, payload: dict[str, Any]) -> str:
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        return str(await self._redis.xadd(self.key(stream), {PAYLOAD_FIELD: body}))

    async def read(self, stream: str, group: str, consumer: str, count: int = 10, block_ms: int = 0) -> list[Message]:
        # Redis reads BLOCK 0 as "wait forever"; our 0 means "do not wait", so send no BLOCK at all then.
        block = block_ms if block_ms > 0 else None
        result = await _nogroup_as_lookup(
            lambda: self._redis.xreadgroup(group, consumer, {self.key(stream): ">"}, count=count, block=block)
        )
        if not result:
            return []
        entries = result[self.key(stream)][0] if isinstance(result, dict) else result[0][1]  # RESP3 | RESP2
        return [self._message(stream, entry_id, fields) for entry_id, fields in entries]

    async def ack(self, stream: str, group: str, ids: list[str]) -> int:
        if not ids:
            return 0
        return int(await self._redis.xack(self.key(stream), group, *ids))

    async def claim_stale(self, stream: str, group: str, consumer: str, min_idle_ms: int, count: int = 10) -> list[Message]:
        key = self.key(stream)
        claimed: list[tuple[str, dict[str, str] | None]] = []
        start = "0-0"
        # XAUTOCLAIM scans a bounded slice of the pending list per call; follow its cursor until enough or the end.
        while len(claimed) < count:
            cursor, entries, *_deleted = await _nogroup_as_lookup(
                lambda start=start: self._redis.xautoclaim(
                    key, group, consumer, min_idle_ms, start_id=start, count=count - len(claimed)
                )
            )
            claimed.extend((entry_id, fields) for entry_id, fields in entries if fields is not None)
            start = cursor
            if cursor == "0-0":
                break
        if not claimed:
            return []
        # XAUTOCLAIM increments each delivery count but does not return it; XPENDING does.
        async with self._redis.pipeline(transaction=False) as pipe:
            for entry_id, _ in claimed:
                pipe.xpending_range(key, group, min=entry_id, max=entry_id, count=1)
            details = await pipe.execute()
        deliveries = {d[0]["message_id"]: int(d[0]["times_delivered"]) for d in details if d}
        return [self._message(stream, entry_id, fields, deliveries.get(entry_id, 1)) for entry_id, fields in claimed]

    async def pending_count(self, stream: str, group: str) -> int:
        summary = await _nogroup_as_lookup(lambda: self._redis.xpending(self.key(stream), group))
        return int(summary["pending"])

    async def backlog(self, stream: str, group: str) -> tuple[int | None, int]:
        """From XINFO GROUPS, O(1) in Redis: its ``lag`` (Redis 7; None when Redis cannot tell, e.g. after XDEL) and
        ``pending``. A stream that does not exist has neither; a group not created yet has the whole stream ahead of it."""
        key = self.key(stream)
        try:
            groups = await self._redis.xinfo_groups(key)
        except ResponseError as e:
            if "no such key" in str(e).lower():
                return 0, 0
            raise
        info = next((g for g in groups if g.get("name") == group), None)
        if info is None:
            return int(await self._redis.xlen(key)), 0
        lag = info.get("lag")
        return (None if lag is None else int(lag)), int(info["pending"])

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()
