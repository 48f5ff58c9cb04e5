"""The Alembic migrations build exactly the schema of ``dosewise.storage.models`` on SQLite and on PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import dosewise.storage.models  # noqa: F401  (the tables on SQLModel.metadata)
from dosewise.storage import migrate

MODEL_TABLES = {
    "policies",
    "recommendations",
    "outcomes",
    "outbox",
    "audit_events",
    "queue_messages",
    "queue_groups",
    "queue_pending",
    "leases",
}


async def _on(url: str, fn: Any) -> Any:
    """Run a sync inspection function on a connection to ``url``."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _diffs(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return compare_metadata(context, SQLModel.metadata)


def test_the_models_define_the_tables_this_suite_expects() -> None:
    assert set(SQLModel.metadata.tables) >= MODEL_TABLES


async def test_upgrade_on_an_empty_database_creates_every_table(
    empty_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no alembic.ini is looked up relative to the working directory
    assert migrate.current(empty_db_url) is None
    assert await _on(empty_db_url, _tables) == set()

    migrate.upgrade(empty_db_url)  # called from inside this test's running event loop, on purpose

    assert await _on(empty_db_url, _tables) == set(SQLModel.metadata.tables) | {"alembic_version"}
    assert migrate.current(empty_db_url) == migrate.head()


async def test_migrated_schema_matches_the_models_exactly(db_url: str) -> None:
    """alembic's autogenerate comparison (types, nullability, indexes, unique constraints, the FK) finds nothing to change."""
    assert await _on(db_url, _diffs) == []


async def test_one_active_policy_per_therapy_is_a_partial_unique_index(db_url: str) -> None:
    def index(conn: Connection) -> dict[str, Any]:
        return next(i for i in inspect(conn).get_indexes("policies") if i["name"] == migrate.ONE_ACTIVE_POLICY_INDEX)

    found = await _on(db_url, index)
    assert found["unique"] and found["column_names"] == ["therapy"]
    where = found.get("dialect_options", {})
    assert "active" in str(where.get("sqlite_where", where.get("postgresql_where")))


async def test_upgrading_twice_is_harmless_and_keeps_data(db_url: str) -> None:
    from sqlalchemy import text

    from dosewise.settings import Settings
    from dosewise.storage.db import make_engine, make_sessionmaker, transaction
    from dosewise.storage.repositories import OutboxRepository

    engine = make_engine(Settings(DATABASE_URL=db_url))
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            event = await OutboxRepository(session).add("upgrade-twice", {"kept": True})
        migrate.upgrade(db_url)
        async with engine.connect() as conn:
            row = (await conn.execute(text("SELECT payload FROM outbox WHERE id = :id"), {"id": event.id})).one()
    finally:
        await engine.dispose()
    assert migrate.current(db_url) == migrate.head()
    assert "kept" in str(row.payload)


async def test_downgrade_to_base_drops_every_table_and_upgrade_restores_them(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    migrate.downgrade(empty_db_url, "base")
    assert migrate.current(empty_db_url) is None
    assert await _on(empty_db_url, _tables) == {"alembic_version"}
    migrate.upgrade(empty_db_url)
    assert await _on(empty_db_url, _diffs) == []


def test_concurrent_upgrades_of_a_fresh_database_both_succeed(empty_db_url: str) -> None:
    """Several replicas may start at once: the migration lock makes the second wait and find the schema at head."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = [pool.submit(migrate.upgrade, empty_db_url) for _ in range(2)]
        for result in results:
            result.result(timeout=60)
    assert migrate.current(empty_db_url) == migrate.head()
