"""Run the Alembic migrations from code: ``upgrade(url)`` and ``current(url)`` (``dosewise db upgrade|current``).

Alembic is configured here, not by an ``alembic.ini`` found relative to the working directory, so the same call works from a
checkout, from an installed wheel and from any directory. Both functions are synchronous: they are called at process start
(before a server's event loop exists), by the CLI and by test fixtures. Called from inside a running event loop they still
work — the migration then runs on a short-lived worker thread with its own loop and the caller's thread waits for it — but
that blocks the caller's loop, so async code should prefer ``await asyncio.to_thread(upgrade, url)``.

Concurrent upgrades are safe: PostgreSQL migrations hold a transaction-scoped advisory lock, SQLite ones a ``BEGIN IMMEDIATE``
write lock, so a second process waits and then finds the schema already at head (several gateway replicas may start at once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from dosewise.storage.db import SQLITE_BUSY_TIMEOUT_MS

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# At most one active policy per therapy: a partial unique index created by the initial revision (declared on models.Policy too).
ONE_ACTIVE_POLICY_INDEX = "uq_policies_one_active_per_therapy"

# Key of the PostgreSQL advisory lock that serializes concurrent migrations (any constant; "dosewise" in ASCII, truncated).
_PG_MIGRATION_LOCK_KEY = 0x646F736577697365

T = TypeVar("T")


def resolve_url(url: str | None) -> str:
    """The given URL, or the configured one (``DATABASE_URL``, else the embedded SQLite file)."""
    if url:
        return url
    from dosewise.settings import get_settings

    return get_settings().db_url


def alembic_config(url: str | None = None) -> Config:
    """An Alembic ``Config`` pointing at the packaged migrations; the URL travels in ``attributes`` (no ini interpolation)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["url"] = resolve_url(url)
    return cfg


def _engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return create_async_engine(url, poolclass=NullPool, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    return create_async_engine(url, poolclass=NullPool)


def _run(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, whether or not this thread already runs an event loop."""

    async def main() -> T:
        return await factory()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dosewise-migrate") as pool:
        return pool.submit(asyncio.run, main()).result()


def _lock(conn: Connection) -> None:
    """Serialize concurrent migrators for the rest of this transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK_KEY})
    elif conn.dialect.name == "sqlite":
        # The sqlite3 driver opens no transaction before DDL; take the database write lock up front instead (waits up to
        # the busy timeout for another migrator, which then has finished).
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _migrate(url: str | None, step: Callable[[Config, str], None], revision: str) -> None:
    """Run one Alembic command on a connection we own, under the migration lock, in one transaction."""
    cfg = alembic_config(url)

    def on(conn: Connection) -> None:
        _lock(conn)
        cfg.attributes["connection"] = conn
        step(cfg, revision)

    async def go() -> None:
        engine = _engine(cfg.attributes["url"])
        try:
            async with engine.begin() as conn:
                await conn.run_sync(on)
        finally:
            await engine.dispose()

    _run(go)


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the database at ``url`` (default: the configured one) to ``revision``. Harmless when already there."""
    _migrate(url, command.upgrade, revision)


def downgrade(url: str | None, revision: str) -> None:
    """Step the schema back to ``revision`` (``"base"``: drop every table — and its data). For operators and tests only."""
    _migrate(url, command.downgrade, revision)


def current(url: str | None = None) -> str | None:
    """The revision the database is at, or ``None`` if it was never migrated."""
    resolved = resolve_url(url)

    async def go() -> str | None:
        engine = _engine(resolved)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
        finally:
            await engine.dispose()

    return _run(go)


def head() -> str | None:
    """The newest revision shipped with this package."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def revision(message: str, url: str | None = None, autogenerate: bool = True) -> None:
    """Write a new revision file into the package's ``versions/`` (developers only; the database must be at head)."""
    cfg = alembic_config(url)

    def write(conn: Connection) -> None:
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=autogenerate)

    async def go() -> None:
        engine = _engine(cfg.attributes["url"])
        try:
            async with engine.connect() as conn:
                await conn.run_sync(write)
        finally:
            await engine.dispose()

    _run(go)
