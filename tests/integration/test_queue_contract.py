"""One contract, three backends: Redis Streams (real Redis), the table queue on SQLite and on PostgreSQL.

The contract is Redis Streams consumer-group semantics (``dosewise.queue.base``): every group sees every message once; within
a group each message goes to one consumer and stays pending until acked; stale pending messages can be claimed by another
consumer, with the delivery count incremented.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from dosewise.queue.base import Message, Queue

GROUP = "trainers"


@pytest.fixture()
def stream(stream_prefix: str) -> str:
    return f"{stream_prefix}outcomes"


async def _publish(queue: Queue, stream: str, n: int) -> list[str]:
    return [await queue.publish(stream, {"n": i}) for i in range(n)]


def _ns(messages: list[Message]) -> list[int]:
    return [m.payload["n"] for m in messages]


async def test_read_returns_published_messages_in_order_with_their_payloads(queue: Queue, stream: str) -> None:
    await queue.ensure_group(stream, GROUP)
    payload = {"idempotency_key": "k-1", "inr": 2.7, "events": ["bleeding"], "note": "µg → mg", "nested": {"ok": True}}
    first = await queue.publish(stream, payload)
    rest = await _publish(queue, stream, 4)

    got = await queue.read(stream, GROUP, "c1", count=10)

    assert [m.id for m in got] == [first, *rest]
    assert got[0].payload == payload and _ns(got[1:]) == [0, 1, 2, 3]
    assert all(m.stream == stream and m.deliveries == 1 for m in got)


async def test_read_honours_count(queue: Queue, stream: str) -> None:
    await queue.ensure_group(stream, GROUP)
    await _publish(queue, stream, 5)
    assert _ns(await queue.read(stream, GROUP, "c1", count=2)) == [0, 1]
    assert _ns(await queue.read(stream, GROUP, "c1", count=10)) == [2, 3, 4]


async def test_ensure_group_is_idempotent_and_a_late_group_starts_at_the_beginning(queue: Queue, stream: str) -> None:
    await _publish(queue, stream, 3)  # published before any group exists
    await queue.ensure_group(stream, GROUP)
    await queue.ensure_group(stream, GROUP)
    assert _ns(await queue.read(stream, GROUP, "c1")) == [0, 1, 2]


async def test_each_group_sees_every_message(queue: Queue, stream: str) -> None:
    await queue.ensure_group(stream, "trainers")
    await queue.ensure_group(stream, "inference")
    await _publish(queue, stream, 3)
    assert _ns(await queue.read(stream, "trainers", "t1")) == [0, 1, 2]
    assert _ns(await queue.read(stream, "inference", "i1")) == [0, 1, 2]


async def test_two_concurrent_consumers_in_one_group_split_messages_without_duplicates(queue: Queue, stream: str) -> None:
    await queue.ensure_group(stream, GROUP)
    await _publish(queue, stream, 40)

    async def consume(name: str) -> list[int]:
        seen: list[int] = []
        while batch := await queue.read(stream, GROUP, name, count=3):
            seen.extend(_ns(batch))
            await asyncio.sleep(0)  # let the other consumer in between batches
        return seen

    a, b = await asyncio.gather(consume("a"), consume("b"))

    assert sorted(a + b) == list(range(40))  # nothing lost, nothing delivered twice
    assert not set(a) & set(b)
    assert await queue.pending_count(stream, GROUP) == 40


async def test_a_live_reader_loses_nothing_while_publishers_race(queue: Queue, stream: str) -> None:
    """Ids may be assigned in one order and committed in another; the reader must never move past an uncommitted one."""
    await queue.ensure_group(stream, GROUP)
    publishers, per_publisher = 4, 15
    done = asyncio.Event()

    async def publish(p: int) -> None:
        for i in range(per_publisher):
            await queue.publish(stream, {"n": p * per_publisher + i})

    async def read_until_done() -> list[int]:
        seen: list[int] = []
        while not done.is_set():
            seen.extend(_ns(await queue.read(stream, GROUP, "live", count=50, block_ms=20)))
        while batch := await queue.read(stream, GROUP, "live", count=50):  # what was committed after the last look
            seen.extend(_ns(batch))
        return seen

    reader = asyncio.create_task(read_until_done())
    await asyncio.gather(*(publish(p) for p in range(publishers)))
    done.set()
    seen = await asyncio.wait_for(reader, timeout=30)

    assert sorted(seen) == list(range(publishers * per_publisher))


async def test_unacked_messages_stay_pending_and_are_not_read_again(queue: Queue, stream: str) -> None:
    await queue.ensure_group(stream, GROUP)
    ids = await _publish(queue, stream, 3)
    assert len(await queue.read(stream, GROUP, "c1")) == 3

    assert await queue.read(stream, GROUP, "c1") == []
    assert await queue.read(stream, GROUP, "c2") == []
    assert await queue.pending_count(stream, GROUP) == 3
    assert await queue.ack(stream, GROUP, ids[:2]) == 2
    assert await queue.pending_count(stream, GROUP) == 1


async def test_ack_is_idempotent(queue: Queue, stream: str) -> None:
    await queue.ensure_group(stream, GROUP)
    [message_id] = await _publish(queue, stream, 1)
    await queue.read(stream, GROUP, "c1")
    assert await queue.ack(stream, GROUP, [message_id]) == 1
    assert await queue.ack(stream, GROUP, [message_id]) == 0
    assert await queue.ack(stream, GROUP, []) == 0
    assert await queue.pending_count(stream, GROUP) == 0


async def test_stale_messages_are_claimed_by_another_consumer_with_deliveries_incremented(queue: Queue, stream: str) -> None:
    await queue.ensure_group(stream, GROUP)
    await _publish(queue, stream, 3)
    delivered = await queue.read(stream, GROUP, "dies", count=2)  # this consumer crashes before acking
    min_idle_ms = 200

    assert await queue.claim_stale(stream, GROUP, "rescuer", min_idle_ms=min_idle_ms) == []  # not idle long enough yet
    await asyncio.sleep(2 * min_idle_ms / 1000)
    claimed = await queue.claim_stale(stream, GROUP, "rescuer", min_idle_ms=min_idle_ms)

    assert [(m.id, m.payload) for m in claimed] == [(m.id, m.payload) for m in delivered]
    assert [m.deliveries for m in claimed] == [2, 2]
    assert await queue.claim_stale(stream, GROUP, "another", min_idle_ms=min_idle_ms) == []  # claiming reset the idle time
    assert await queue.pending_count(stream, GROUP) == 2
    assert await queue.ack(stream, GROUP, [m.id for m in claimed]) == 2
    assert _ns(await queue.read(stream, GROUP, "rescuer")) == [2]  # the unread message was never pending


async def test_claim_stale_respects_count(queue: Queue, stream: str) -> None:
    await queue.ensure_group(stream, GROUP)
    await _publish(queue, stream, 3)
    await queue.read(stream, GROUP, "dies")
    await asyncio.sleep(0.1)
    assert _ns(await queue.claim_stale(stream, GROUP, "rescuer", min_idle_ms=50, count=2)) == [0, 1]


async def test_read_with_block_returns_empty_when_nothing_arrives(queue: Queue, stream: str) -> None:
    await queue.ensure_group(stream, GROUP)
    started = time.monotonic()
    assert await queue.read(stream, GROUP, "c1", block_ms=300) == []
    assert time.monotonic() - started >= 0.2  # it did wait (loosely: timers are not exact)


async def test_read_without_block_does_not_wait(queue: Queue, stream: str) -> None:
    """block_ms=0 means "look once" (Redis's own BLOCK 0 would mean "forever")."""
    await queue.ensure_group(stream, GROUP)
    assert await asyncio.wait_for(queue.read(stream, GROUP, "c1", block_ms=0), timeout=5) == []


async def test_a_message_published_while_a_reader_blocks_is_received(queue: Queue, stream: str) -> None:
    await queue.ensure_group(stream, GROUP)
    reader = asyncio.create_task(queue.read(stream, GROUP, "c1", block_ms=5000))
    await asyncio.sleep(0.2)
    assert not reader.done()
    started = time.monotonic()
    await queue.publish(stream, {"n": 7})

    got = await asyncio.wait_for(reader, timeout=10)

    assert _ns(got) == [7]
    assert time.monotonic() - started < 4  # woke on arrival, not at the end of the block


async def test_a_missing_group_is_an_error(queue: Queue, stream: str) -> None:
    await queue.publish(stream, {"n": 0})
    with pytest.raises(LookupError):
        await queue.read(stream, "nobody", "c1")
    with pytest.raises(LookupError):
        await queue.pending_count(stream, "nobody")
    with pytest.raises(LookupError):
        await queue.claim_stale(stream, "nobody", "c1", min_idle_ms=0)


async def test_ping(queue: Queue) -> None:
    await queue.ping()


def test_make_queue_uses_redis_when_configured_else_the_table() -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from dosewise.queue.factory import make_queue
    from dosewise.queue.redis_streams import RedisStreamsQueue
    from dosewise.queue.sql import SqlTableQueue
    from dosewise.settings import Settings

    sessions = async_sessionmaker()
    assert isinstance(make_queue(Settings(REDIS_URL="redis://127.0.0.1:6379/0"), sessions), RedisStreamsQueue)
    assert isinstance(make_queue(Settings(REDIS_URL=None), sessions), SqlTableQueue)
