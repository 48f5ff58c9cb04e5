"""What an end-to-end test reads back from the stack's database: a stored recommendation, a table's row count."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from dosewise.settings import Settings
from dosewise.storage import models
from dosewise.storage.db import make_engine, make_sessionmaker


async def _count(db_url: str, table: type) -> int:
    engine = make_engine(Settings(DATABASE_URL=db_url))
    try:
        async with make_sessionmaker(engine)() as s:
            return int((await s.execute(select(func.count()).select_from(table))).scalar_one())
    finally:
        await engine.dispose()


async def _recommendation(db_url: str, rec_id: str) -> models.Recommendation | None:
    engine = make_engine(Settings(DATABASE_URL=db_url))
    try:
        async with make_sessionmaker(engine)() as s:
            return await s.get(models.Recommendation, uuid.UUID(rec_id))
    finally:
        await engine.dispose()


def count_rows(db_url: str, table: type = models.Recommendation) -> int:
    return asyncio.run(_count(db_url, table))


def stored_recommendation(db_url: str, rec_id: str) -> models.Recommendation | None:
    return asyncio.run(_recommendation(db_url, rec_id))
