"""The backlog a scrape reports (dosewise.metrics.BacklogCollector): the consumer group's lag and pending messages on each
queue backend (the table queue on SQLite and on PostgreSQL, Redis Streams), the outbox's unsent events, and what a scrape does
when the queue or the database is down (the failure is counted; the scrape still answers)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise import metrics
from dosewise.queue.base import OUTCOMES_STREAM, Queue
from dosewise.queue.redis_streams import RedisStreamsQueue
from dosewise.queue.sql import SqlTableQueue
from dosewise.settings import Settings
from dosewise.storage.db import make_engine, make_sessionmaker, transaction
from dosewise.storage.models import OutboxEvent, utcnow

GROUP = "trainer"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Backend:
    queue: Queue
    sessions: async_sessionmaker[AsyncSession]
    stream: str

    def collector(self, **kwargs: float) -> metrics.BacklogCollector:
        kwargs.setdefault("reuse_s", 0.0)
        return metrics.BacklogCollector(asyncio.get_running_loop(), self.queue, self.sessions, stream=self.stream,
                                        group=GROUP, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite-table", "postgres-table", "postgres-redis"])
def backend_urls(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """(database URL, Redis URL or None for the table queue). Sync: the server fixtures call asyncio.run."""
    db = request.getfixturevalue("sqlite_url" if request.param.startswith("sqlite") else "pg_url")
    return db, request.getfixturevalue("redis_url") if request.param.endswith("redis") else None


@pytest.fixture()
async def backend(backend_urls: tuple[str, str | None], stream_prefix: str) -> AsyncIterator[Backend]:
    db_url, redis_url = backend_urls
    engine = make_engine(Settings(DATABASE_URL=db_url))
    sessions = make_sessionmaker(engine)
    queue: Queue = RedisStreamsQueue(redis_url, prefix=stream_prefix) if redis_url else SqlTableQueue(sessions)
    # The table queue's streams live in a database the session's tests share: a stream of this test's own.
    yield Backend(queue, sessions, OUTCOMES_STREAM if redis_url else f"{stream_prefix}{OUTCOMES_STREAM}")
    await queue.close()
    if redis_url:
        cleaner = Redis.from_url(redis_url)
        keys = [k async for k in cleaner.scan_iter(match=f"{stream_prefix}*")]
        if keys:
            await cleaner.delete(*keys)
        await cleaner.aclose()
    await engine.dispose()


async def scrape(collector: metrics.BacklogCollector) -> Samples:
    """One scrape as Prometheus would see it, rendered off the event loop (as the services do)."""
    text = (await asyncio.to_thread(metrics.exposition, collector)).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def queue_gauges(samples: Samples, stream: str) -> tuple[float | None, float | None]:
    labels = (("group", GROUP), ("stream", stream))
    return samples.get(("dosewise_queue_lag_messages", labels)), samples.get(("dosewise_queue_pending_messages", labels))


def errors(samples: Samples, probe: str) -> float:
    return samples.get(("dosewise_backlog_probe_errors_total", (("probe", probe),)), 0.0)


async def test_lag_and_pending_follow_publish_read_and_ack(backend: Backend) -> None:
    q, stream = backend.queue, backend.stream
    collector = backend.collector()
    assert queue_gauges(await scrape(collector), stream) == (0, 0)  # no stream yet
    for i in range(2):
        await q.publish(stream, {"n": i})
    assert queue_gauges(await scrape(collector), stream) == (2, 0)  # no group yet: all of it lies ahead of the group
    await q.ensure_group(stream, GROUP)
    for i in range(3):
        await q.publish(stream, {"n": 2 + i})
    assert queue_gauges(await scrape(collector), stream) == (5, 0)
    delivered = await q.read(stream, GROUP, "c1", count=3)
    assert queue_gauges(await scrape(collector), stream) == (2, 3)
    await q.ack(stream, GROUP, [m.id for m in delivered[:2]])
    assert queue_gauges(await scrape(collector), stream) == (2, 1)
    await q.read(stream, GROUP, "c1", count=10)
    assert queue_gauges(await scrape(collector), stream) == (0, 3)


async def test_the_outbox_backlog_counts_unsent_events_and_the_oldest_ones_age(backend: Backend) -> None:
    collector = backend.collector()
    # Earlier tests may leave unsent rows in the shared database with lower ids and later times; the oldest unsent row is the
    # lowest id (ids follow time in service), so those are relayed first and the oldest unsent row is ours.
    async with transaction(backend.sessions) as s:
        await s.execute(update(OutboxEvent).where(OutboxEvent.sent_at.is_(None)).values(sent_at=utcnow()))  # type: ignore[union-attr]
    before = await scrape(collector)
    assert before[("dosewise_outbox_unsent_events", ())] == 0
    assert before[("dosewise_outbox_oldest_unsent_age_seconds", ())] == 0.0
    async with transaction(backend.sessions) as s:
        rows = [OutboxEvent(stream=backend.stream, payload={"n": i}, created_at=utcnow() - timedelta(seconds=90))
                for i in range(3)]
        s.add_all(rows)
    after = await scrape(collector)
    assert after[("dosewise_outbox_unsent_events", ())] - before[("dosewise_outbox_unsent_events", ())] == 3
    assert 89 <= after[("dosewise_outbox_oldest_unsent_age_seconds", ())] < 150
    async with transaction(backend.sessions) as s:
        await s.execute(update(OutboxEvent).where(OutboxEvent.id.in_([r.id for r in rows])).values(sent_at=utcnow()))  # type: ignore[union-attr]
    relayed = await scrape(collector)
    assert relayed[("dosewise_outbox_unsent_events", ())] == 0


async def test_scrapes_within_the_reuse_window_share_one_reading(backend: Backend) -> None:
    collector = backend.collector(reuse_s=60.0)
    await backend.queue.ensure_group(backend.stream, GROUP)
    assert queue_gauges(await scrape(collector), backend.stream) == (0, 0)
    await backend.queue.publish(backend.stream, {"n": 0})
    assert queue_gauges(await scrape(collector), backend.stream) == (0, 0)  # the same reading: no new queries
    assert queue_gauges(await scrape(backend.collector()), backend.stream) == (1, 0)


async def test_a_queue_or_database_that_is_down_is_counted_and_the_scrape_still_answers() -> None:
    engine = make_engine(Settings(DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:1/none"))
    sessions = make_sessionmaker(engine)
    queue = RedisStreamsQueue("redis://127.0.0.1:1/0")
    try:
        collector = metrics.BacklogCollector(asyncio.get_running_loop(), queue, sessions, reuse_s=0.0)
        first = await scrape(collector)
        second = await scrape(collector)
    finally:
        await queue.close()
        await engine.dispose()
    assert errors(second, "queue") - errors(first, "queue") == 1
    assert errors(second, "outbox") - errors(first, "outbox") == 1
    assert queue_gauges(second, OUTCOMES_STREAM) == (None, None)
    assert ("dosewise_outbox_unsent_events", ()) not in second
    assert any(name == "python_info" for name, _ in second)  # the rest of the scrape is there


async def test_collecting_on_the_services_own_event_loop_is_an_error_counted_not_a_hang(backend: Backend) -> None:
    def queue_errors() -> float:
        return REGISTRY.get_sample_value("dosewise_backlog_probe_errors_total", {"probe": "queue"}) or 0.0

    before = queue_errors()
    assert list(backend.collector().collect()) == []  # called on the loop the probes need: refused at once
    assert queue_errors() == before + 1
