"""The audit trail end to end: every recommendation, outcome and key change leaves a chained event in the same transaction;
concurrent gateway requests never fork the chain; `dosewise audit verify` names the row edited directly in PostgreSQL; a
patient's erasure leaves the chain verifiable; GET /v1/audit filters for auditors.

Real parts only: the gateway app (in-process, two instances with their own connection pools acting as two replicas), a real
inference process, the database (a fresh SQLite file and a fresh PostgreSQL database per module), the `dosewise` CLI.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import typer
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from dosewise import apikeys
from dosewise.apikeys import Role
from dosewise.audit_chain import Verifier, sha256_json
from dosewise.cli import audit as cli_audit
from dosewise.cli import patients as cli_patients
from dosewise.devstack import LocalStack
from dosewise.privacy import pseudonymize
from dosewise.schemas import PATIENT_STATE_EXAMPLE
from dosewise.settings import DEV_PSEUDONYM_KEY, Settings, get_settings
from dosewise.storage.db import make_engine, make_sessionmaker
from dosewise.storage.migrate import upgrade
from dosewise.storage.models import AuditEvent, Outcome, Recommendation
from dosewise.storage.repositories import AuditRepository
from dosewise_api.app import create_app
from tests.conftest import PG_ADMIN_DB, PG_HOST, PG_PORT, require_server
from tests.e2e.conftest import free_port

CONCURRENT_REQUESTS = 12


@dataclass
class Db:
    url: str
    inference: str  # URL of a real inference process serving this database's registry


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def _cli(db_url: str, group: str, *args: str) -> CliResult:
    """`dosewise <group> <args>` in-process (the command's own typer app; the full CLI takes seconds to import its plugins).
    Synchronous: call it from a thread inside async tests, since the commands run their own event loop."""
    root = typer.Typer()
    cli_audit.register(root)
    cli_patients.register(root)
    get_settings.cache_clear()
    try:
        r = CliRunner().invoke(root, [group, *args], env={"DATABASE_URL": db_url, "DOSEWISE_PSEUDONYM_KEY": DEV_PSEUDONYM_KEY})
    finally:
        get_settings.cache_clear()
    return CliResult(r.exit_code, r.stdout, r.stderr)


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database=PG_ADMIN_DB)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Db]:
    """A fresh, migrated, bootstrapped database of its own (this module tampers with rows) and inference serving it."""
    tmp = tmp_path_factory.mktemp(f"audit-{request.param}")
    name = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'dosewise.db'}"
    else:
        require_server("PostgreSQL", PG_HOST, PG_PORT)
        name = f"dosewise_audit_{uuid.uuid4().hex[:10]}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        url = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    upgrade(url)
    port = free_port()
    env = os.environ | {"DATABASE_URL": url, "DOSEWISE_VAR_DIR": str(tmp), "DOSEWISE_INFERENCE_PORT": str(port),
                        "DOSEWISE_ENV": "test"}
    subprocess.run([sys.executable, "-m", "dosewise_trainer.bootstrap"], env=env, check=True, capture_output=True)
    inference = LocalStack(env=env, log_dir=tmp)
    inference.start("inference")
    try:
        inference.wait_ready(f"http://127.0.0.1:{port}/readyz")
        yield Db(url, f"http://127.0.0.1:{port}")
    finally:
        inference.stop_all()
        if name is not None:
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Gateway:
    clients: list[httpx.AsyncClient]  # one per replica
    headers: dict[str, dict[str, str]]
    key_ids: dict[str, str]


@asynccontextmanager
async def gateway(db: Db, replicas: int = 1) -> AsyncIterator[Gateway]:
    """``replicas`` gateway apps, each with its own engine and pool, on one database; a key per role."""
    settings = Settings(DATABASE_URL=db.url, DOSEWISE_INFERENCE_URL=db.inference, DOSEWISE_RATE_LIMIT_BURST=1000)
    engine = make_engine(settings)
    try:
        sessions = make_sessionmaker(engine)
        keys = {r.value: await apikeys.create(sessions, name=f"chain-{r.value}", role=r, actor="test", actor_role="admin")
                for r in Role}
    finally:
        await engine.dispose()
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(replicas):
            app = create_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            clients.append(await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway", timeout=60)))
        yield Gateway(clients, {r: {"Authorization": f"Bearer {k.token}"} for r, k in keys.items()},
                      {r: k.key.id for r, k in keys.items()})


async def _all(db_url: str, model: Any) -> list[Any]:
    engine = make_engine(Settings(DATABASE_URL=db_url))
    try:
        async with make_sessionmaker(engine)() as s:
            return list((await s.execute(select(model))).scalars().all())
    finally:
        await engine.dispose()


async def _verify(db_url: str) -> tuple[bool, int, int | None]:
    engine = make_engine(Settings(DATABASE_URL=db_url))
    verifier = Verifier()
    try:
        async with make_sessionmaker(engine)() as s:
            async for event in AuditRepository(s).chain():
                verifier.add(event)
    finally:
        await engine.dispose()
    result = verifier.result()
    return result.ok, result.checked, result.broken.event_id if result.broken else None


def patient(ref: str) -> dict[str, Any]:
    return PATIENT_STATE_EXAMPLE | {"patient_ref": ref}


class TestEveryChangeIsAudited:
    async def test_concurrent_requests_on_two_replicas_do_not_fork_the_chain(self, db: Db) -> None:
        """Appends serialize on the chain lock (PostgreSQL advisory lock / SQLite write lock): every event links to a
        distinct predecessor and the whole chain recomputes."""
        before = len(await _all(db.url, AuditEvent))
        async with gateway(db, replicas=2) as gw:
            roles = ["clinician", "integrator"]
            sends = [gw.clients[i % 2].post("/v1/recommendations", json=patient(f"race-{i:03d}"),
                                            headers=gw.headers[roles[i % 2]]) for i in range(CONCURRENT_REQUESTS)]
            answers = await asyncio.gather(*sends)
        assert [a.status_code for a in answers] == [200] * CONCURRENT_REQUESTS, [a.text[:200] for a in answers]
        events = await _all(db.url, AuditEvent)
        assert len(events) == before + 4 + CONCURRENT_REQUESTS  # 4 key.create events of the fixture keys, 12 recommendations
        assert len({e.prev_hash for e in events}) == len(events), "two events link to the same predecessor: a fork"
        ok, checked, broken = await _verify(db.url)
        assert ok and checked == len(events), broken

    async def test_a_recommendation_event_records_who_what_whom_which_policy_and_the_input_hash(self, db: Db) -> None:
        async with gateway(db) as gw:
            rec = (await gw.clients[0].post("/v1/recommendations", json=patient("who-what-1"),
                                            headers=gw.headers["clinician"])).json()
            key_id = gw.key_ids["clinician"]
        rows = {r.id: r for r in await _all(db.url, Recommendation)}
        row = rows[uuid.UUID(rec["recommendation_id"])]
        [event] = [e for e in await _all(db.url, AuditEvent) if e.subject_id == rec["recommendation_id"]]
        assert (event.actor, event.role, event.action) == (f"key:{key_id}", "clinician", "recommendation.create")
        assert event.patient_ref == row.patient_ref == pseudonymize("who-what-1", DEV_PSEUDONYM_KEY)
        assert event.policy_version == rec["policy"]["version"]
        assert event.input_hash == sha256_json(row.state), "the event pins the stored input: any later edit shows"
        assert row.caller_id == f"key:{key_id}"

    async def test_an_outcome_and_its_event_are_written_together(self, db: Db) -> None:
        async with gateway(db) as gw:
            c = gw.clients[0]
            rec = (await c.post("/v1/recommendations", json=patient("outcome-1"), headers=gw.headers["clinician"])).json()
            body = {"recommendation_id": rec["recommendation_id"], "dose_given": rec["recommended_dose"],
                    "regimen": rec["plan"]["dose_per_day"], "feedback": {"decision": "accepted"}}
            r = await c.post("/v1/outcomes", json=body, headers=gw.headers["clinician"] | {"Idempotency-Key": "o-1"})
            assert r.status_code == 201, r.text
        actions = [e.action for e in await _all(db.url, AuditEvent) if e.patient_ref == rec["patient_ref"]]
        assert actions[:1] == ["recommendation.create"] and len(actions) >= 2 and actions[1] in ("outcome.record",
                                                                                                  "feedback.record")


class TestErasure:
    async def test_erasing_a_patient_removes_clinical_data_and_keeps_the_chain_verifiable(self, db: Db) -> None:
        async with gateway(db) as gw:
            c, h = gw.clients[0], gw.headers["clinician"]
            erased = [(await c.post("/v1/recommendations", json=patient("erase-me-77"), headers=h)).json() for _ in range(2)]
            kept = (await c.post("/v1/recommendations", json=patient("keep-me-78"), headers=h)).json()
            outcome = {"recommendation_id": erased[0]["recommendation_id"], "dose_given": erased[0]["recommended_dose"],
                       "regimen": erased[0]["plan"]["dose_per_day"], "feedback": {"decision": "accepted"}}
            assert (await c.post("/v1/outcomes", json=outcome, headers=h | {"Idempotency-Key": "erase-o"})).status_code == 201

            done = await asyncio.to_thread(_cli, db.url, "patients", "erase", "erase-me-77", "--yes")
            assert done.returncode == 0, done.stderr
            assert "2 recommendation(s) tombstoned, 1 outcome(s) deleted" in done.stdout
            assert "erase-me-77" not in done.stdout + done.stderr, "the raw reference is never echoed"

            gone = await c.get(f"/v1/recommendations/{erased[0]['recommendation_id']}", headers=h)
            assert gone.status_code == 410 and gone.headers["content-type"] == "application/problem+json"
            assert (await c.get(f"/v1/recommendations/{kept['recommendation_id']}", headers=h)).json() == kept

        pseudonym = pseudonymize("erase-me-77", DEV_PSEUDONYM_KEY)
        recs = [r for r in await _all(db.url, Recommendation) if r.patient_ref == pseudonym]
        assert len(recs) == 2 and all(r.state.get("erased") and r.response.get("erased") and r.features == [] for r in recs)
        assert not [o for o in await _all(db.url, Outcome) if o.patient_ref == pseudonym]
        verify = await asyncio.to_thread(_cli, db.url, "audit", "verify")
        assert verify.returncode == 0 and "audit chain OK" in verify.stdout, verify.stderr
        last = (await _all(db.url, AuditEvent))[-1]
        assert (last.action, last.patient_ref) == ("patient.erase", pseudonym)


class TestAuditQuery:
    async def test_auditors_filter_by_patient_caller_time_and_action(self, db: Db) -> None:
        async with gateway(db) as gw:
            c = gw.clients[0]
            start = datetime.now(UTC) - timedelta(seconds=1)
            await c.post("/v1/recommendations", json=patient("query-a"), headers=gw.headers["clinician"])
            await c.post("/v1/recommendations", json=patient("query-b"), headers=gw.headers["integrator"])
            auditor = gw.headers["auditor"]

            async def q(**params: Any) -> list[dict[str, Any]]:
                r = await c.get("/v1/audit", params=params, headers=auditor)
                assert r.status_code == 200, r.text
                return r.json()["data"]

            by_ref = await q(patient_ref="query-a")
            assert [e["patient_ref"] for e in by_ref] == [pseudonymize("query-a", DEV_PSEUDONYM_KEY)]
            assert await q(pseudonym=by_ref[0]["patient_ref"]) == by_ref
            assert await q(patient_ref="query-a", pseudonym=pseudonymize("query-b", DEV_PSEUDONYM_KEY)) == []
            mine = await q(caller=f"key:{gw.key_ids['integrator']}", action="recommendation.create")
            assert {e["patient_ref"] for e in mine} == {pseudonymize("query-b", DEV_PSEUDONYM_KEY)}
            recent = await q(since=start.isoformat())
            assert {pseudonymize(p, DEV_PSEUDONYM_KEY) for p in ("query-a", "query-b")} <= {e["patient_ref"] for e in recent}
            assert await q(until=start.isoformat(), patient_ref="query-a") == []
            page = await q(limit=1)
            nxt = await c.get("/v1/audit", params={"limit": 1, "after_id": page[0]["id"]}, headers=auditor)
            assert nxt.json()["data"][0]["id"] > page[0]["id"]
            assert (await c.get("/v1/audit", params={"since": "1700000000"}, headers=auditor)).status_code == 422
            assert (await c.get("/v1/audit", headers=gw.headers["clinician"])).status_code == 403


@pytest.fixture()
def tamper_db(empty_pg_url: str) -> str:
    """A PostgreSQL database of its own: this test breaks its chain on purpose."""
    upgrade(empty_pg_url)
    return empty_pg_url


async def _pg(url: str, sql: str, *args: Any) -> Any:
    u = make_url(url)
    conn = await asyncpg.connect(host=u.host, port=u.port, user=u.username, database=u.database)
    try:
        return await conn.execute(sql, *args)
    finally:
        await conn.close()


class TestTamperEvidence:
    def test_verify_names_the_row_edited_directly_in_postgresql(self, tamper_db: str) -> None:
        async def six_key_changes() -> list[int]:
            engine = make_engine(Settings(DATABASE_URL=tamper_db))
            try:
                sessions = make_sessionmaker(engine)
                for n in range(6):  # six key changes, audited as they happen
                    await apikeys.create(sessions, name=f"tamper-{n}", role=Role.CLINICIAN, actor="key:admin0000001",
                                         actor_role="admin")
                async with sessions() as s:
                    return [int(e.id) for e in (await s.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars()]
            finally:
                await engine.dispose()

        def sql(statement: str, event_id: int) -> None:
            asyncio.run(_pg(tamper_db, statement, event_id))

        ids = asyncio.run(six_key_changes())
        intact = _cli(tamper_db, "audit", "verify")
        assert intact.returncode == 0 and "6 events" in intact.stdout, intact.stdout + intact.stderr
        head = _cli(tamper_db, "audit", "head").stdout.split()[1]

        victim = ids[3]  # an insider rewrites who did it, straight in the database
        sql("UPDATE audit_events SET actor = 'key:someone-else' WHERE id = $1", victim)
        broken = _cli(tamper_db, "audit", "verify")
        print(f"tamper test: verify after editing event {victim}: exit {broken.returncode}: {broken.stderr.strip()}")
        assert broken.returncode == 1
        assert f"BROKEN at event {victim}:" in broken.stderr and "altered" in broken.stderr
        assert f"({ids.index(victim)} events before it verified)" in broken.stderr

        # Put it back, then remove the newest event instead: only an anchored head shows that.
        sql("UPDATE audit_events SET actor = 'key:admin0000001' WHERE id = $1", victim)
        assert _cli(tamper_db, "audit", "verify").returncode == 0
        sql("DELETE FROM audit_events WHERE id = $1", ids[-1])
        assert _cli(tamper_db, "audit", "verify").returncode == 0
        cut = _cli(tamper_db, "audit", "verify", "--expect-head", head)
        assert cut.returncode == 1 and "expected head" in cut.stderr

        sql("DELETE FROM audit_events WHERE id = $1", ids[1])  # and one from the middle
        gap = _cli(tamper_db, "audit", "verify")
        assert gap.returncode == 1 and f"BROKEN at event {ids[2]}:" in gap.stderr and "deleted" in gap.stderr

    async def test_the_chain_lock_is_a_transaction_advisory_lock_on_postgresql(self, tamper_db: str) -> None:
        """While one transaction holds the chain, a second appender waits instead of reading the same head."""
        engine = make_engine(Settings(DATABASE_URL=tamper_db))
        try:
            sessions = make_sessionmaker(engine)
            async with sessions() as first, first.begin():
                await AuditRepository(first).append(actor="a", role="admin", action="key.create")
                second_done = asyncio.Event()

                async def second() -> None:
                    async with sessions() as s, s.begin():
                        await AuditRepository(s).append(actor="b", role="admin", action="key.create")
                    second_done.set()

                task = asyncio.create_task(second())
                await asyncio.sleep(0.5)
                assert not second_done.is_set(), "the second appender did not wait for the first to commit"
                locks = (await first.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"))).scalar()
                assert locks and locks >= 1
            await asyncio.wait_for(task, 10)
        finally:
            await engine.dispose()
        ok, checked, _ = await _verify(tamper_db)
        assert ok and checked == 2
