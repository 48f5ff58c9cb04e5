"""The transactional outbox relay: publishes unsent ``outbox`` rows to their queue stream, then marks them sent.

Why an outbox: the gateway writes an outcome and its ``outcome_recorded`` event in ONE database transaction
(``dosewise_api.outcomes``), so an outcome is never recorded without its announcement, and the request never waits for — or
fails because of — the queue. PostgreSQL is the source of truth; while Redis is down outcomes are still accepted and the
relay catches up when it is back.

Where the relay runs: inside the trainer process (``DOSEWISE_OUTBOX_RELAY``, on by default), next to the consumer. The
gateway stays a stateless request handler with no background loop to scale or kill, and the one service that needs the
events is the one that keeps them flowing. Several relays (several trainer replicas) are safe: each may publish a row
another already published, which at-least-once delivery allows and the trainer's unique transition key absorbs.

Delivery is at least once, never at most once: a row is marked sent only after the queue accepted it, so a crash between the
two re-publishes it. One hole remains that marking cannot see: a queue that accepts a message and then loses it (Redis
restarted without persistence). ``redrive_lost`` closes it: outcomes that still have no transition long after they were
recorded, while the trainer is idle, get a fresh outbox row (see ``DOSEWISE_OUTBOX_REDRIVE_S``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise.queue.base import BACKLOG_COUNT_CAP, OUTCOMES_STREAM, Queue
from dosewise.queue.factory import make_queue
from dosewise.settings import Settings
from dosewise.storage.db import transaction
from dosewise.storage.models import OutboxEvent, utcnow
from dosewise.storage.repositories import OutboxRepository, TransitionRepository

log = logging.getLogger("dosewise.outbox")

OUTCOME_RECORDED = "outcome_recorded"
MAX_BACKOFF_S = 5.0  # a queue outage is retried at least this often
MAX_REDRIVES_PER_OUTCOME = 3  # per relay process: a lost message needs one; an outcome that cannot be learned from needs none


def outcome_event(outcome_id: uuid.UUID, therapy: str, redrive: int = 0) -> dict[str, Any]:
    """The payload announcing an outcome: ids only, never clinical content (the trainer reads the rest from the database)."""
    payload: dict[str, Any] = {"event": OUTCOME_RECORDED, "outcome_id": str(outcome_id), "therapy": therapy}
    if redrive:
        payload["redrive"] = redrive
    return payload


def outcome_events(outcomes: Iterable[tuple[uuid.UUID, str]]) -> list[OutboxEvent]:
    """Outbox rows for outcomes being written in the caller's transaction."""
    return [OutboxEvent(stream=OUTCOMES_STREAM, payload=outcome_event(oid, therapy)) for oid, therapy in outcomes]


_UNSENT = OutboxEvent.sent_at.is_(None)  # type: ignore[union-attr]
# One round trip on the ix_outbox_unsent index: the unsent rows (counted up to BACKLOG_COUNT_CAP) and the oldest one's time.
_BACKLOG = select(
    select(func.count()).select_from(select(OutboxEvent.id).where(_UNSENT).limit(BACKLOG_COUNT_CAP).subquery())
    .scalar_subquery(),
    select(OutboxEvent.created_at).where(_UNSENT).order_by(OutboxEvent.id).limit(1).scalar_subquery(),  # type: ignore[arg-type]
)


async def outbox_backlog(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, datetime | None]:
    """(unsent events, counted up to BACKLOG_COUNT_CAP; when the oldest of them was written, None when none waits)."""
    async with sessions() as s:
        unsent, oldest = (await s.execute(_BACKLOG)).one()
    return int(unsent), oldest


def make_stream_queue(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Queue:
    """The queue the outcomes stream travels on: Redis Streams under ``DOSEWISE_QUEUE_PREFIX`` when ``REDIS_URL`` is set,
    else the table queue in the database (the embedded mode)."""
    if settings.redis_url:
        from dosewise.queue.redis_streams import RedisStreamsQueue

        return RedisStreamsQueue(settings.redis_url, prefix=settings.queue_prefix)
    return make_queue(settings, sessions)


class OutboxRelay:
    """Publishes unsent outbox rows, oldest first, ``batch`` at a time; each message carries its ``outbox_id``."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], queue: Queue, batch: int = 500,
                 poll_s: float = 0.2) -> None:
        self.sessions, self.queue, self.batch, self.poll_s = sessions, queue, batch, poll_s
        self.published = 0
        self._redrives: dict[uuid.UUID, int] = {}

    async def relay_once(self) -> int:
        """One round; returns how many rows were published and marked sent. Raises if the queue or database is down (the
        rows published before the failure are still marked, the rest stay unsent for the next round)."""
        async with self.sessions() as s:  # read outside a write transaction: publishing must not hold a database lock
            rows = [(r.id, r.stream, r.payload) for r in await OutboxRepository(s).unsent(self.batch)]
        sent: list[int] = []
        try:
            for row_id, stream, payload in rows:
                await self.queue.publish(stream, {**payload, "outbox_id": row_id})
                sent.append(int(row_id))  # type: ignore[arg-type]
        finally:
            if sent:
                async with transaction(self.sessions) as s:
                    await OutboxRepository(s).mark_sent(sent)
                self.published += len(sent)
        return len(sent)

    async def has_unsent(self) -> bool:
        async with self.sessions() as s:
            return bool(await OutboxRepository(s).unsent(1))

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop``; a queue or database outage is logged and retried with backoff, never fatal."""
        backoff = self.poll_s
        while not stop.is_set():
            try:
                n = await self.relay_once()
                backoff = self.poll_s
            except Exception as e:  # the queue or the database is down: the rows wait in the outbox
                log.warning("outbox relay round failed; retrying", extra={"error": type(e).__name__, "retry_s": backoff})
                n = 0
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            if n == 0:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=backoff)
                except TimeoutError:
                    pass

    async def redrive_lost(self, older_than_s: float, limit: int = 1000) -> int:
        """Give outcomes recorded more than ``older_than_s`` ago that still have no transition a fresh outbox row.

        Call it only when the consumer is idle and the outbox is drained: then a missing transition means the queue lost
        the message, not that it is still on its way. Each outcome is re-driven at most MAX_REDRIVES_PER_OUTCOME times per
        process, so one the trainer cannot learn from (it logs why) does not circulate forever."""
        cutoff = utcnow() - timedelta(seconds=older_than_s)
        async with transaction(self.sessions) as s:
            missing = await TransitionRepository(s).outcomes_without_transition(cutoff, limit)
            fresh = [(oid, therapy) for oid, therapy in missing if self._redrives.get(oid, 0) < MAX_REDRIVES_PER_OUTCOME]
            repo = OutboxRepository(s)
            for oid, therapy in fresh:
                self._redrives[oid] = self._redrives.get(oid, 0) + 1
                await repo.add(OUTCOMES_STREAM, outcome_event(oid, therapy, redrive=self._redrives[oid]))
        if fresh:
            log.warning("outcomes re-announced (their messages were lost)", extra={"count": len(fresh)})
        return len(fresh)
