"""Suite-wide fixtures: real backends (SQLite file, PostgreSQL, Redis) — never mocks.

PostgreSQL and Redis are the machine's servers (127.0.0.1:5432 database ``test``; 127.0.0.1:6379). Each test session gets its
own PostgreSQL database and its own Redis key prefix, so parallel runs do not collide. When ``CI=true`` an unreachable server
fails the test; elsewhere it skips with the reason.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_HOST, PG_PORT, PG_ADMIN_DB = "127.0.0.1", 5432, "test"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
IN_CI = os.environ.get("CI", "").lower() == "true"

# Logs must not carry patient data; tests build their settings explicitly, never from the developer's shell.
for _var in ("DATABASE_URL", "REDIS_URL"):
    os.environ.pop(_var, None)
os.environ.setdefault("DOSEWISE_ENV", "test")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int) -> None:
    """Fail under CI, skip elsewhere, when a server the test needs does not answer."""
    if not _reachable(host, port):
        msg = f"{name} at {host}:{port} is unreachable"
        if IN_CI:
            pytest.fail(msg + " (CI=true: tests that need it fail instead of skipping)")
        pytest.skip(msg)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session (dropped afterwards)."""
    require_server("PostgreSQL", PG_HOST, PG_PORT)
    import asyncpg

    from dosewise.storage.migrate import upgrade

    name = f"dosewise_test_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database=PG_ADMIN_DB)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    upgrade(url)
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture()
def sqlite_url(tmp_path: Path) -> str:
    """A fresh, migrated SQLite file for one test."""
    from dosewise.storage.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'dosewise.db'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Runs a test once against SQLite and once against PostgreSQL."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture()
def redis_url() -> str:
    require_server("Redis", REDIS_HOST, REDIS_PORT)
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


@pytest.fixture()
def stream_prefix() -> str:
    """A unique stream-name prefix per test, so Redis keys never collide between tests or runs."""
    return f"test-{uuid.uuid4().hex[:8]}-"
