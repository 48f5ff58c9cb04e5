"""Registry operations: activation retires the previous version, rollback brings it back, and both are audited in the same
transaction (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import typer
from typer.testing import CliRunner

from dosewise import registry
from dosewise.audit_chain import Action
from dosewise.cli import policies as cli_policies
from dosewise.queue.base import POLICIES_STREAM
from dosewise.queue.sql import SqlTableQueue
from dosewise.settings import Settings, get_settings
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


async def test_a_version_whose_card_records_unmet_held_out_aims_is_never_activated(db_url: str) -> None:
    """Issue #25, the guideline is the floor: the insulin DQN that missed its held-out aims ships as a candidate for the
    record, and no admin, CLI or rollback can make it serve; one whose card met them can."""
    engine = make_engine(Settings(DATABASE_URL=db_url))
    sessions = make_sessionmaker(engine)
    therapy = f"t-{uuid.uuid4().hex[:8]}"
    try:
        async with transaction(sessions) as s:
            failed = await PolicyRepository(s).add(Policy(
                therapy=therapy, version="dqn-failed", status="candidate", sha256="2" * 64, artifact_path="f",
                model_card={"clinic_evaluation": {"targets_met": False}}))
            passed = await PolicyRepository(s).add(Policy(
                therapy=therapy, version="dqn-passed", status="candidate", sha256="3" * 64, artifact_path="p",
                model_card={"clinic_evaluation": {"targets_met": True}}))
        with pytest.raises(registry.RegistryError) as e:
            await registry.activate(sessions, None, failed.id, by="key:admin1")
        assert e.value.status == 409 and "held-out clinic aims" in str(e.value)
        assert (await registry.activate(sessions, None, passed.id, by="key:admin1")).status == "active"
        async with sessions() as s:
            assert (await PolicyRepository(s).get(failed.id)).status == "candidate"  # type: ignore[union-attr]
    finally:
        await engine.dispose()


def test_the_cli_lists_activates_and_rolls_back_like_the_api(db_url: str) -> None:
    """`dosewise policies list|activate|rollback` from the shell: the same registry change, audit events and "policy
    activated" announcements as the admin routes (the queue here: the database's own table)."""
    therapy = f"t-{uuid.uuid4().hex[:8]}"

    async def add_two() -> list[str]:
        engine = make_engine(Settings(DATABASE_URL=db_url))
        try:
            async with transaction(make_sessionmaker(engine)) as s:
                added = [await PolicyRepository(s).add(Policy(therapy=therapy, version=v, status="candidate",
                                                              sha256=v * 64, artifact_path=v)) for v in "ab"]
            return [p.id for p in added]
        finally:
            await engine.dispose()

    async def afterwards(ids: list[str]) -> tuple[dict[str, str], list[tuple[str, str]], list[tuple[str, str]]]:
        engine = make_engine(Settings(DATABASE_URL=db_url))
        sessions = make_sessionmaker(engine)
        try:
            async with sessions() as s:
                statuses = {p.version: p.status for p in await PolicyRepository(s).list(therapy)}
                events = [(e.action, e.actor) async for e in AuditRepository(s).chain() if e.subject_id in ids]
            queue, group = SqlTableQueue(sessions), f"g-{uuid.uuid4().hex[:8]}"
            await queue.ensure_group(POLICIES_STREAM, group)  # a new group reads the stream from its start
            announced = [(m.payload["version"], m.payload["by"])
                         for m in await queue.read(POLICIES_STREAM, group, "test", count=100_000)
                         if m.payload.get("therapy") == therapy]
            return statuses, events, announced
        finally:
            await engine.dispose()

    root = typer.Typer()
    cli_policies.register(root)

    def cli(*args: str) -> str:
        get_settings.cache_clear()
        try:
            r = CliRunner().invoke(root, ["policies", *args],
                                   env={"DATABASE_URL": db_url, "REDIS_URL": None, "COLUMNS": "200"})
        finally:
            get_settings.cache_clear()
        assert r.exit_code == 0, r.output
        return r.stdout

    a, b = asyncio.run(add_two())
    assert cli("activate", a) == f"{therapy}: a is active\n"
    assert cli("activate", b, "--by", "dr-admin") == f"{therapy}: b is active\n"
    listed = cli("list", "--therapy", therapy)
    assert a in listed and b in listed and "(dr-admin)" in listed
    assert cli("rollback", "--therapy", therapy) == f"{therapy}: rolled back to a\n"
    statuses, events, announced = asyncio.run(afterwards([a, b]))
    assert statuses == {"a": "active", "b": "retired"}
    assert events == [(Action.POLICY_ACTIVATE, "cli"), (Action.POLICY_ACTIVATE, "dr-admin"), (Action.POLICY_ROLLBACK, "cli")]
    assert announced == [("a", "cli"), ("b", "dr-admin"), ("a", "cli")]
