"""Async engine and sessions (one engine per process, built from settings), and ``run_transaction`` for hot write paths.
SQLite gets WAL and a busy timeout so the three embedded processes can share one file."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from pydantic_core import to_json
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from dosewise.settings import Settings

SQLITE_BUSY_TIMEOUT_MS = 10_000
# Connections kept open per process. Each aiosqlite connection is a thread plus an open file; with SQLAlchemy's default of 5,
# every request beyond the fifth concurrent one opened (thread start, PRAGMAs) and closed an overflow connection: ~5 % of the
# gateway's main-thread samples at 16 concurrent callers (py-spy). SQLite connections are cheap to keep, so keep enough.
SQLITE_POOL_SIZE = 32
T = TypeVar("T")


class JsonText(str):
    """A JSON column's value given as its JSON text already (e.g. a model's ``model_dump_json()``): stored as it is. Dumping
    a model to a dict only for the column to serialize the dict costs both steps."""


def _json_text(value: Any) -> str:
    """JSON columns' text, by pydantic's Rust serializer: the stdlib's json.dumps of a batch's 1,000 stored recommendations
    (state, features and response, ~9 kB each) took ~50 ms (py-spy); with this the batch endpoint went 644 → 606 ms."""
    if isinstance(value, JsonText):
        return str(value)
    return to_json(value).decode()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(settings: Settings) -> AsyncEngine:
    url = settings.db_url
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                                     pool_size=SQLITE_POOL_SIZE, max_overflow=SQLITE_POOL_SIZE, json_serializer=_json_text)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, pool_timeout=5,
                               json_serializer=_json_text)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


# SQLite admits one writer at a time, and a writer that finds the file locked sleeps in the driver's busy handler (1, 2, 5 …
# 100 ms steps): under concurrent requests that sleep, not the work, set the latency (p99 of seconds at 8 concurrent callers,
# measured with bench/serving.py). Queuing this process's writers on an asyncio lock instead wakes each the moment the previous
# commits. Other processes sharing the file still meet the busy handler; PostgreSQL needs none of this.
_SQLITE_WRITERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.WeakKeyDictionary[object, asyncio.Lock]] = (
    weakref.WeakKeyDictionary())


def _writer_slot(sessions: async_sessionmaker[AsyncSession]) -> AbstractAsyncContextManager[object]:
    bind = sessions.kw.get("bind")
    if bind is None or bind.dialect.name != "sqlite":
        return nullcontext()
    locks = _SQLITE_WRITERS.setdefault(asyncio.get_running_loop(), weakref.WeakKeyDictionary())
    return locks.setdefault(bind.sync_engine, asyncio.Lock())


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits on success, rolls back on any error (so nothing half-written stays). On SQLite, this
    process's units of work take turns (see ``_writer_slot``)."""
    async with _writer_slot(sessions), sessions() as session, session.begin():
        yield session


# aiosqlite runs each call on the connection's thread and hands the result back through the event loop: a transaction of four
# statements is ~16 such round trips, and under load each waits behind whatever else the loop is running (a gateway commit
# took 14–22 ms at 200 requests/s, measured). ``run_transaction`` instead runs a whole unit of work on a plain sqlite3
# connection to the same file in one worker thread: ~3 ms. Same file, same pragmas, same locks.
_SQLITE_THREAD_ENGINES: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def _sqlite_thread_engine(engine: AsyncEngine) -> Engine | None:
    """The synchronous engine on ``engine``'s SQLite file (None for an in-memory database: another engine cannot see it)."""
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    twin = _SQLITE_THREAD_ENGINES.get(engine.sync_engine)
    if twin is None:
        twin = create_engine(engine.url.set(drivername="sqlite"), pool_size=SQLITE_POOL_SIZE, max_overflow=SQLITE_POOL_SIZE,
                             connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
                             json_serializer=_json_text)
        event.listen(twin, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "engine_disposed", lambda _engine: twin.dispose())
        _SQLITE_THREAD_ENGINES[engine.sync_engine] = twin
    return twin


def _in_transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    with engine.begin() as conn:
        return work(conn)


async def run_transaction(sessions: async_sessionmaker[AsyncSession], work: Callable[[Connection], T]) -> T:
    """Run ``work(conn)`` — synchronous Core statements — as one transaction: committed if it returns, rolled back if it
    raises. For the hot write paths: on SQLite in one worker thread (see above; this process's writers still take turns),
    on PostgreSQL on the async connection (asyncpg needs no thread)."""
    bind = sessions.kw.get("bind")
    if not isinstance(bind, AsyncEngine):
        raise TypeError("run_transaction needs a sessionmaker bound to an AsyncEngine (make_sessionmaker)")
    if bind.dialect.name == "sqlite" and (twin := _sqlite_thread_engine(bind)) is not None:
        async with _writer_slot(sessions):
            return await asyncio.to_thread(_in_transaction, twin, work)
    async with bind.begin() as conn:
        return await conn.run_sync(work)


async def ping(engine: AsyncEngine) -> None:
    """Raise if the database does not answer (readiness checks)."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
