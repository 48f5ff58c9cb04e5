"""The embedded queue: Redis Streams consumer-group semantics (``queue.base``) on three tables of the database.

``queue_messages`` is the log, ``queue_groups`` each group's read position, ``queue_pending`` what was delivered and not yet
acknowledged. Works on SQLite (one machine, three processes sharing a file) and PostgreSQL.

Why it is safe:
- Two consumers of one group never get the same message: ``read`` locks the group row (``SELECT … FOR UPDATE`` on
  PostgreSQL; on SQLite a write to that row takes the database's write lock first), then moves ``last_id`` and records the
  pending rows in the same transaction.
- A reader never skips a message: on PostgreSQL ids come from a sequence and transactions commit in any order, so a reader
  could see id 6 before id 5 commits and move past 5 for good. ``publish`` therefore holds a per-stream lock from taking its
  id until it commits, making commit order equal id order within a stream. (SQLite commits one writer at a time anyway.)
- ``claim_stale`` re-checks the idle time in its UPDATE, so of two claimers racing for one message only one wins.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise.queue.base import BACKLOG_COUNT_CAP, Message
from dosewise.storage.db import transaction
from dosewise.storage.models import QueueGroup, QueueMessage, QueuePending, utcnow
from dosewise.storage.repositories import lock_for_write

# How often a blocked ``read`` looks again. Each look cost ~4 ms of CPU (a session and two queries): at 0.05 s an idle
# inference replica spent 7 % of a core polling (measured from /proc); 0.25 s is 1.5 % and still well under a noticeable delay.
POLL_INTERVAL_S = 0.25

_GROUPS, _MESSAGES = QueueGroup.__table__, QueueMessage.__table__  # type: ignore[attr-defined]
# The idle look, built once (py-spy: building the two queries' expressions was over half of an idle replica's polling CPU)
# and answered in one round trip: the group's row, if it exists, and whether a message lies beyond its position.
_LOOK = select(
    _GROUPS.c.last_id,
    exists().where(_MESSAGES.c.stream == _GROUPS.c.stream, _MESSAGES.c.id > _GROUPS.c.last_id).correlate(_GROUPS),
).where(_GROUPS.c.stream == bindparam("stream"), _GROUPS.c.group == bindparam("group"))


_PENDING = QueuePending.__table__  # type: ignore[attr-defined]
# The backlog in one round trip, each count stopped at BACKLOG_COUNT_CAP rows of an index range (ix_queue_messages_stream_id,
# the pending table's primary key). A group not created yet counts from the stream's start, as it would be read.
_GROUP_POSITION = select(_GROUPS.c.last_id).where(
    _GROUPS.c.stream == bindparam("stream"), _GROUPS.c.group == bindparam("group")).scalar_subquery()
_UNDELIVERED = select(_MESSAGES.c.id).where(
    _MESSAGES.c.stream == bindparam("stream"), _MESSAGES.c.id > func.coalesce(_GROUP_POSITION, 0)
).limit(BACKLOG_COUNT_CAP).subquery()
_UNACKED = select(_PENDING.c.message_id).where(
    _PENDING.c.stream == bindparam("stream"), _PENDING.c.group == bindparam("group")).limit(BACKLOG_COUNT_CAP).subquery()
_BACKLOG = select(select(func.count()).select_from(_UNDELIVERED).scalar_subquery(),
                  select(func.count()).select_from(_UNACKED).scalar_subquery())


def _no_group(stream: str, group: str) -> LookupError:
    return LookupError(f"NOGROUP: no consumer group {group!r} on stream {stream!r}; call ensure_group first")


def _int_ids(ids: list[str]) -> list[int]:
    """Our ids are decimal integers; anything else cannot be pending here, so it is ignored (like XACK of an unknown id)."""
    return [int(i) for i in ids if i.isdigit()]


class SqlTableQueue:
    """``Queue`` on the database behind ``sessions``. The engine belongs to the caller: ``close`` does not dispose it."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], poll_interval_s: float = POLL_INTERVAL_S) -> None:
        self._sessions = sessions
        self._poll_interval_s = poll_interval_s

    async def ensure_group(self, stream: str, group: str) -> None:
        async with transaction(self._sessions) as session:
            values = {"stream": stream, "group": group, "last_id": 0}
            dialect = session.get_bind().dialect.name
            if dialect == "postgresql":
                statement: Any = pg_insert(QueueGroup).values(**values).on_conflict_do_nothing()
            elif dialect == "sqlite":
                statement = sqlite_insert(QueueGroup).values(**values).on_conflict_do_nothing()
            else:  # pragma: no cover - only the two supported databases reach here
                raise NotImplementedError(dialect)
            await session.execute(statement)

    async def publish(self, stream: str, payload: dict[str, Any]) -> str:
        async with transaction(self._sessions) as session:
            await lock_for_write(session, f"queue:{stream}")  # commit order = id order (see module docstring)
            message = QueueMessage(stream=stream, payload=payload)
            session.add(message)
            await session.flush()
            return str(message.id)

    async def read(self, stream: str, group: str, consumer: str, count: int = 10, block_ms: int = 0) -> list[Message]:
        """Polls every ``poll_interval_s`` until messages arrive or ``block_ms`` has passed (0: look once)."""
        deadline = time.monotonic() + block_ms / 1000
        while True:
            if await self._has_new(stream, group):
                messages = await self._deliver(stream, group, consumer, count)
                if messages:
                    return messages
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            await asyncio.sleep(min(self._poll_interval_s, remaining))

    async def _has_new(self, stream: str, group: str) -> bool:
        """A lock-free look, so idle consumers never take the write lock."""
        async with self._sessions() as session:
            row = (await session.execute(_LOOK, {"stream": stream, "group": group})).first()
        if row is None:
            raise _no_group(stream, group)
        return bool(row[1])

    @staticmethod
    async def _last_id(session: AsyncSession, stream: str, group: str, for_update: bool = False) -> int:
        query = select(QueueGroup.last_id).where(QueueGroup.stream == stream, QueueGroup.group == group)
        if for_update:
            query = query.with_for_update()
        last_id = (await session.execute(query)).scalar_one_or_none()
        if last_id is None:
            raise _no_group(stream, group)
        return int(last_id)

    async def _deliver(self, stream: str, group: str, consumer: str, count: int) -> list[Message]:
        async with transaction(self._sessions) as session:
            if session.get_bind().dialect.name == "sqlite":
                # SQLite ignores FOR UPDATE; writing the group row first takes the write lock before we read last_id.
                await session.execute(
                    update(QueueGroup)
                    .where(QueueGroup.stream == stream, QueueGroup.group == group)
                    .values(last_id=QueueGroup.last_id)
                )
            last_id = await self._last_id(session, stream, group, for_update=True)
            rows = (
                await session.execute(
                    select(QueueMessage.id, QueueMessage.payload)
                    .where(QueueMessage.stream == stream, QueueMessage.id > last_id)
                    .order_by(QueueMessage.id)
                    .limit(count)
                )
            ).all()
            if not rows:
                return []
            now = utcnow()
            await session.execute(
                insert(QueuePending),
                [
                    {
                        "stream": stream,
                        "group": group,
                        "message_id": r.id,
                        "consumer": consumer,
                        "delivered_at": now,
                        "deliveries": 1,
                    }
                    for r in rows
                ],
            )
            await session.execute(
                update(QueueGroup).where(QueueGroup.stream == stream, QueueGroup.group == group).values(last_id=rows[-1].id)
            )
        return [Message(id=str(r.id), stream=stream, payload=r.payload, deliveries=1) for r in rows]

    async def ack(self, stream: str, group: str, ids: list[str]) -> int:
        message_ids = _int_ids(ids)
        if not message_ids:
            return 0
        async with transaction(self._sessions) as session:
            result = await session.execute(
                delete(QueuePending).where(
                    QueuePending.stream == stream, QueuePending.group == group, QueuePending.message_id.in_(message_ids)
                )
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def claim_stale(self, stream: str, group: str, consumer: str, min_idle_ms: int, count: int = 10) -> list[Message]:
        cutoff = utcnow() - timedelta(milliseconds=min_idle_ms)
        async with transaction(self._sessions) as session:
            await self._last_id(session, stream, group)  # NOGROUP like Redis
            stale = (
                QueuePending.stream == stream,
                QueuePending.group == group,
                QueuePending.delivered_at <= cutoff,
            )
            candidates = (
                (
                    await session.execute(
                        select(QueuePending.message_id).where(*stale).order_by(QueuePending.message_id).limit(count)
                    )
                )
                .scalars()
                .all()
            )
            if not candidates:
                return []
            # The idle condition is repeated in the UPDATE: a concurrent claimer that got there first has reset
            # delivered_at, so this row no longer matches and is not claimed twice.
            claimed = (
                await session.execute(
                    update(QueuePending)
                    .where(*stale, QueuePending.message_id.in_(candidates))
                    .values(consumer=consumer, delivered_at=utcnow(), deliveries=QueuePending.deliveries + 1)
                    .returning(QueuePending.message_id, QueuePending.deliveries)
                    .execution_options(synchronize_session=False)
                )
            ).all()
            deliveries = {row.message_id: row.deliveries for row in claimed}
            if not deliveries:
                return []
            rows = (
                await session.execute(
                    select(QueueMessage.id, QueueMessage.payload)
                    .where(QueueMessage.id.in_(list(deliveries)))
                    .order_by(QueueMessage.id)
                )
            ).all()
        return [Message(id=str(r.id), stream=stream, payload=r.payload, deliveries=deliveries[r.id]) for r in rows]

    async def pending_count(self, stream: str, group: str) -> int:
        async with self._sessions() as session:
            await self._last_id(session, stream, group)
            query = select(func.count()).where(QueuePending.stream == stream, QueuePending.group == group)
            return int((await session.execute(query)).scalar_one())

    async def backlog(self, stream: str, group: str) -> tuple[int | None, int]:
        async with self._sessions() as session:
            lag, pending = (await session.execute(_BACKLOG, {"stream": stream, "group": group})).one()
        return int(lag), int(pending)

    async def ping(self) -> None:
        async with self._sessions() as session:
            await session.execute(text("SELECT 1"))

    async def close(self) -> None:
        """Nothing to release: the sessionmaker's engine is owned (and disposed) by whoever created it."""
