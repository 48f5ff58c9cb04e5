"""A CDS client JWT's ``jti`` is accepted once until its ``exp`` (dosewise_api/cds_auth.py): in Redis when it is
configured, in the ``cds_token_ids`` table otherwise (SQLite and PostgreSQL); an expired id is forgotten."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from types import SimpleNamespace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise.settings import Settings
from dosewise.storage import models
from dosewise.storage.db import transaction
from dosewise.storage.repositories import CdsTokenIdRepository
from dosewise_api.cds_auth import CdsJwtVerifier

ISS = "https://ehr.test.invalid"


def request(sessions: async_sessionmaker[AsyncSession] | None) -> object:
    return SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(sessions=sessions)))


async def test_a_jti_is_accepted_once_in_redis(redis_url: str) -> None:
    verifier = CdsJwtVerifier(Settings(REDIS_URL=redis_url))
    jti, exp = str(uuid.uuid4()), int(time.time()) + 60
    assert await verifier._first_use(request(None), ISS, jti, exp)  # type: ignore[arg-type]
    assert not await verifier._first_use(request(None), ISS, jti, exp), "the replay"  # type: ignore[arg-type]
    assert await verifier._first_use(request(None), "https://other-ehr.test.invalid", jti, exp), "another issuer's"  # type: ignore[arg-type]
    await verifier.aclose()


async def test_a_jti_is_accepted_once_in_the_database(sessions: async_sessionmaker[AsyncSession]) -> None:
    verifier = CdsJwtVerifier(Settings())
    jti, exp = str(uuid.uuid4()), int(time.time()) + 60
    assert await verifier._first_use(request(sessions), ISS, jti, exp)  # type: ignore[arg-type]
    assert not await verifier._first_use(request(sessions), ISS, jti, exp), "the replay"  # type: ignore[arg-type]


async def test_an_expired_id_is_forgotten_when_the_next_one_is_remembered(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    tag = uuid.uuid4().hex[:8]
    async with transaction(sessions) as s:
        assert await CdsTokenIdRepository(s).remember(f"old-{tag}", models.utcnow() - timedelta(seconds=1))
    async with transaction(sessions) as s:
        assert await CdsTokenIdRepository(s).remember(f"new-{tag}", models.utcnow() + timedelta(minutes=5))
    async with sessions() as s:
        ids = set((await s.execute(select(models.CdsTokenId.id))).scalars())
    assert f"new-{tag}" in ids and f"old-{tag}" not in ids  # (the database is the session's: other tests' live ids stay)
