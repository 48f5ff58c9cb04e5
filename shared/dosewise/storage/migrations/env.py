"""Alembic environment: target metadata is ``SQLModel.metadata`` (the tables of ``dosewise.storage.models``).

Configured in code, not from an ini file, so it works from any working directory and from an installed package. The normal
entry point is ``dosewise.storage.migrate`` (``dosewise db upgrade``), which hands over an open connection in
``config.attributes["connection"]``; without one (a bare ``alembic`` call with ``-x url=…``) this file builds its own async
engine. SQLite gets ``render_as_batch`` because it cannot ALTER most things in place.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import dosewise.storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from dosewise.storage.migrate import resolve_url

config = context.config
target_metadata = SQLModel.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    """``--sql`` mode: print the DDL instead of running it."""
    context.configure(
        url=resolve_url(config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_with(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run_with)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _run_with(connection)
        return
    url = resolve_url(config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url"))
    asyncio.run(_run_async(url))


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
