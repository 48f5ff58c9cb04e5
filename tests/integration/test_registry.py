"""Registry operations: activation retires the previous version, rollback brings it back, and both are audited in the same
transaction (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid

import pytest

from dosewise import registry
from dosewise.audit_chain import Action
from dosewise.settings import Settings
from dosewise.storage.db import make_engine, make_sessionmaker, transaction
from dosewise.storage.models import Policy
from dosewise.storage.repositories import AuditRepository, PolicyRepository


async def test_activate_and_rollback_are_audited(db_url: str) -> None:
    engine = make_engine(Settings(DATABASE_URL=db_url))
    sessions = make_sessionmaker(engine)
    therapy = f"t-{uuid.uuid4().hex[:8]}"
    try:
        async with transaction(sessions) as s:
            a = await PolicyRepository(s).add(Policy(therapy=therapy, version="a", status="candidate", sha256="0" * 64,
                                                     artifact_path="x"))
            b = await PolicyRepository(s).add(Policy(therapy=therapy, version="b", status="candidate", sha256="1" * 64,
                                                     artifact_path="y"))
        await registry.activate(sessions, None, a.id, by="key:admin1")
        await registry.activate(sessions, None, b.id, by="key:admin1")
        async with sessions() as s:
            last = await AuditRepository(s).last()
        assert last is not None and last.action == Action.POLICY_ACTIVATE and last.subject_id == b.id
        assert last.actor == "key:admin1" and last.policy_version == "b"
        back = await registry.rollback(sessions, None, therapy, by="cli")
        assert back.id == a.id
        async with sessions() as s:
            assert (await PolicyRepository(s).active(therapy)).id == a.id  # type: ignore[union-attr]
            last = await AuditRepository(s).last()
        assert last is not None and last.action == Action.POLICY_ROLLBACK and last.subject_id == a.id
        with pytest.raises(registry.RegistryError) as e:
            await registry.activate(sessions, None, "no-such-policy", by="cli")
        assert e.value.status == 404
    finally:
        await engine.dispose()
