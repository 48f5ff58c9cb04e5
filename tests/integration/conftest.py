"""Integration fixtures on top of tests/conftest.py: sessions on a migrated database, an empty PostgreSQL database for the
migration tests, and each queue backend of the contract suite."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise.queue.base import Queue
from dosewise.settings import Settings
from dosewise.storage.db import make_engine, make_sessionmaker


@pytest.fixture()
async def sessions(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the migrated database of ``db_url`` (SQLite and PostgreSQL), built the way the services build them."""
    engine = make_engine(Settings(DATABASE_URL=db_url))
    yield make_sessionmaker(engine)
    await engine.dispose()


async def _admin(pg_url: str, sql: str) -> None:
    url = make_url(pg_url)
    conn = await asyncpg.connect(host=url.host, port=url.port, user=url.username, database=url.database)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture()
def empty_pg_url(pg_url: str) -> Iterator[str]:
    """A brand-new, never migrated PostgreSQL database (pg_url is already migrated), dropped afterwards."""
    name = f"dosewise_empty_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(pg_url, f'CREATE DATABASE "{name}"'))
    yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no tables at all, once per dialect."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'empty' / 'dosewise.db'}"
    return request.getfixturevalue("empty_pg_url")


@pytest.fixture(params=["redis", "sqlite-table", "postgres-table"])
def queue_backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(kind, url) of each queue backend. A sync fixture on purpose: the server fixtures it pulls in (``pg_url``) call
    ``asyncio.run`` and so must be set up outside the test's event loop."""
    fixture = {"redis": "redis_url", "sqlite-table": "sqlite_url", "postgres-table": "pg_url"}[request.param]
    return request.param, request.getfixturevalue(fixture)


@pytest.fixture()
async def queue(queue_backend: tuple[str, str], stream_prefix: str) -> AsyncIterator[Queue]:
    """Every Queue implementation, for one contract. Streams are named ``stream_prefix + …``; Redis keys are removed after."""
    kind, url = queue_backend
    if kind == "redis":
        from redis.asyncio import Redis

        from dosewise.queue.redis_streams import RedisStreamsQueue

        redis_queue = RedisStreamsQueue(url)
        yield redis_queue
        await redis_queue.close()
        cleaner = Redis.from_url(url)
        try:
            keys = [key async for key in cleaner.scan_iter(match=redis_queue.key(stream_prefix) + "*")]
            if keys:
                await cleaner.delete(*keys)
        finally:
            await cleaner.aclose()
        return

    from dosewise.queue.sql import SqlTableQueue

    engine = make_engine(Settings(DATABASE_URL=url))
    table_queue = SqlTableQueue(make_sessionmaker(engine))
    yield table_queue
    await table_queue.close()
    await engine.dispose()
