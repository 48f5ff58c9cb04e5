"""Pick the queue adapter from settings: Redis Streams when ``REDIS_URL`` is set, else the table queue in the database."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise.queue.base import Queue
from dosewise.settings import Settings


def make_queue(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Queue:
    """The embedded mode needs no server beyond the database; setting ``REDIS_URL`` scales consumers out."""
    if settings.redis_url:
        from dosewise.queue.redis_streams import RedisStreamsQueue

        return RedisStreamsQueue(settings.redis_url, prefix=settings.queue_prefix)
    from dosewise.queue.sql import SqlTableQueue

    return SqlTableQueue(sessions)
