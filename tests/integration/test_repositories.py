"""Repositories on SQLite and PostgreSQL. The PostgreSQL database is shared by the test session, so every test uses its own
therapy name, stream name or ids and never assumes a table is empty."""

from __future__ import annotations

import asyncio
import itertools
import uuid

import pytest
from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise.audit_chain import AuditEntry
from dosewise.storage.db import run_transaction, transaction
from dosewise.storage.models import AuditEvent, Outcome, Policy, Recommendation
from dosewise.storage.repositories import (
    GENESIS_HASH,
    AuditRepository,
    OutboxRepository,
    OutcomeRepository,
    PolicyRepository,
    RecommendationRepository,
    append_audit_events,
    audit_hash,
)

Sessions = async_sessionmaker[AsyncSession]


def _therapy() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def _policy(therapy: str, version: str, status: str = "candidate") -> Policy:
    return Policy(
        therapy=therapy,
        version=version,
        status=status,
        sha256="ab" * 32,
        artifact_path=f"{therapy}/{version}/policy.onnx",
        model_card={"algorithm": "cql", "held_out_ttr": 0.61},
    )


def _recommendation(therapy: str = "warfarin") -> Recommendation:
    return Recommendation(
        therapy=therapy,
        patient_ref="p-" + uuid.uuid4().hex,
        policy_id="guideline",
        policy_version="guideline-1",
        policy_status="active",
        action_index=3,
        action_id="keep",
        current_dose=35.0,
        recommended_dose=35.0,
        dose_unit="mg/week",
        behaviour_probability=0.8,
        features=[2.4, 0.5],
        state={"inr": 2.4},
        response={"recommended_dose": 35.0},
    )


class TestPolicyRepository:
    async def test_add_get_and_lookups(self, sessions: Sessions) -> None:
        therapy = _therapy()
        async with transaction(sessions) as session:
            repo = PolicyRepository(session)
            first = await repo.add(_policy(therapy, "v1"))
            await repo.add(_policy(therapy, "v2"))
            await repo.add(_policy(_therapy(), "v1"))
        async with transaction(sessions) as session:
            repo = PolicyRepository(session)
            got = await repo.get(first.id)
            assert got is not None and got.model_card == {"algorithm": "cql", "held_out_ttr": 0.61}
            by_version = await repo.get_by_version(therapy, "v2")
            assert by_version is not None and by_version.version == "v2"
            assert await repo.get_by_version(therapy, "v9") is None
            assert {p.version for p in await repo.list(therapy)} == {"v1", "v2"}
            assert len(await repo.list()) >= 3
            assert await repo.active(therapy) is None

    async def test_same_version_twice_is_rejected(self, sessions: Sessions) -> None:
        therapy = _therapy()
        async with transaction(sessions) as session:
            await PolicyRepository(session).add(_policy(therapy, "v1"))
        with pytest.raises(IntegrityError):
            async with transaction(sessions) as session:
                await PolicyRepository(session).add(_policy(therapy, "v1"))

    async def test_activating_a_second_policy_retires_the_first(self, sessions: Sessions) -> None:
        therapy = _therapy()
        async with transaction(sessions) as session:
            repo = PolicyRepository(session)
            v1, v2 = await repo.add(_policy(therapy, "v1")), await repo.add(_policy(therapy, "v2"))
        async with transaction(sessions) as session:
            await PolicyRepository(session).activate(v1.id, by="alice")
        async with transaction(sessions) as session:
            await PolicyRepository(session).activate(v2.id, by="bob")
        async with transaction(sessions) as session:
            repo = PolicyRepository(session)
            active = await repo.active(therapy)
            assert active is not None and (active.id, active.activated_by) == (v2.id, "bob")
            old = await repo.get(v1.id)
            assert old is not None and old.status == "retired"
            previous = await repo.previous_active(therapy)
            assert previous is not None and previous.id == v1.id  # the rollback target

    async def test_rollback_reactivates_the_previous_policy(self, sessions: Sessions) -> None:
        therapy = _therapy()
        async with transaction(sessions) as session:
            repo = PolicyRepository(session)
            v1, v2 = await repo.add(_policy(therapy, "v1")), await repo.add(_policy(therapy, "v2"))
            await repo.activate(v1.id, by="alice")
            await repo.activate(v2.id, by="alice")
        async with transaction(sessions) as session:
            repo = PolicyRepository(session)
            previous = await repo.previous_active(therapy)
            assert previous is not None
            await repo.activate(previous.id, by="oncall")
        async with transaction(sessions) as session:
            repo = PolicyRepository(session)
            active, bad = await repo.active(therapy), await repo.get(v2.id)
            assert active is not None and active.id == v1.id
            assert bad is not None and bad.status == "retired"

    async def test_activating_the_active_policy_changes_nothing(self, sessions: Sessions) -> None:
        therapy = _therapy()
        async with transaction(sessions) as session:
            repo = PolicyRepository(session)
            v1 = await repo.add(_policy(therapy, "v1"))
            await repo.activate(v1.id, by="alice")
            again = await repo.activate(v1.id, by="bob")
            assert (again.status, again.activated_by) == ("active", "alice")

    async def test_unknown_and_rejected_policies_cannot_be_activated(self, sessions: Sessions) -> None:
        therapy = _therapy()
        async with transaction(sessions) as session:
            rejected = await PolicyRepository(session).add(_policy(therapy, "v1", status="rejected"))
        async with transaction(sessions) as session:
            repo = PolicyRepository(session)
            with pytest.raises(LookupError):
                await repo.activate("no-such-policy", by="alice")
            with pytest.raises(ValueError, match="rejected"):
                await repo.activate(rejected.id, by="alice")

    async def test_the_database_refuses_two_active_policies_for_one_therapy(self, sessions: Sessions) -> None:
        """The partial unique index, not just the repository, enforces the invariant (a direct insert is rejected)."""
        therapy = _therapy()
        async with transaction(sessions) as session:
            session.add(_policy(therapy, "v1", status="active"))
        with pytest.raises(IntegrityError):
            async with transaction(sessions) as session:
                session.add(_policy(therapy, "v2", status="active"))
        async with transaction(sessions) as session:  # other therapies and non-active rows are unaffected
            session.add(_policy(therapy, "v3", status="retired"))
            session.add(_policy(therapy, "v4", status="retired"))
            session.add(_policy(_therapy(), "v1", status="active"))

    async def test_concurrent_activations_leave_exactly_one_active(self, sessions: Sessions) -> None:
        therapy = _therapy()
        async with transaction(sessions) as session:
            repo = PolicyRepository(session)
            ids = [(await repo.add(_policy(therapy, f"v{i}"))).id for i in range(3)]

        async def activate(policy_id: str) -> None:
            async with transaction(sessions) as session:
                await PolicyRepository(session).activate(policy_id, by="race")

        await asyncio.gather(*(activate(i) for i in ids))
        async with transaction(sessions) as session:
            statuses = sorted(p.status for p in await PolicyRepository(session).list(therapy))
        assert statuses == ["active", "retired", "retired"]


class TestRecommendationAndOutcomeRepositories:
    async def test_recommendation_round_trip(self, sessions: Sessions) -> None:
        async with transaction(sessions) as session:
            added = await RecommendationRepository(session).add(_recommendation())
        async with transaction(sessions) as session:
            got = await RecommendationRepository(session).get(added.id)
            assert got is not None
            assert (got.features, got.state, got.recommended_dose) == ([2.4, 0.5], {"inr": 2.4}, 35.0)
            assert await RecommendationRepository(session).get(uuid.uuid4()) is None

    async def test_outcome_by_idempotency_key_and_duplicates(self, sessions: Sessions) -> None:
        key = "idem-" + uuid.uuid4().hex
        async with transaction(sessions) as session:
            rec = await RecommendationRepository(session).add(_recommendation())
            repo = OutcomeRepository(session)
            assert await repo.get_by_idempotency_key(key) is None
            await repo.add(
                Outcome(
                    idempotency_key=key,
                    recommendation_id=rec.id,
                    therapy="warfarin",
                    patient_ref=rec.patient_ref,
                    payload={"inr": 3.1},
                )
            )
        async with transaction(sessions) as session:
            found = await OutcomeRepository(session).get_by_idempotency_key(key)
            assert found is not None and found.payload == {"inr": 3.1} and found.recommendation_id == rec.id
        with pytest.raises(IntegrityError):
            async with transaction(sessions) as session:
                await OutcomeRepository(session).add(
                    Outcome(idempotency_key=key, recommendation_id=rec.id, therapy="warfarin", patient_ref=rec.patient_ref)
                )

    async def test_outcome_must_reference_a_stored_recommendation(self, sessions: Sessions) -> None:
        with pytest.raises(IntegrityError):
            async with transaction(sessions) as session:
                await OutcomeRepository(session).add(
                    Outcome(
                        idempotency_key="idem-" + uuid.uuid4().hex,
                        recommendation_id=uuid.uuid4(),
                        therapy="warfarin",
                        patient_ref="p-x",
                    )
                )


class TestOutboxRepository:
    async def test_unsent_in_id_order_then_marked_sent_once(self, sessions: Sessions) -> None:
        stream = f"test-{uuid.uuid4().hex[:8]}"
        async with transaction(sessions) as session:
            repo = OutboxRepository(session)
            ids = [(await repo.add(stream, {"n": n})).id for n in range(3)]
        assert ids == sorted(ids)
        async with transaction(sessions) as session:
            unsent = await OutboxRepository(session).unsent(limit=1000)
            mine = [e for e in unsent if e.id in ids]
            assert [e.payload["n"] for e in mine] == [0, 1, 2]
            assert [e.id for e in unsent] == sorted(e.id for e in unsent)
            assert await OutboxRepository(session).mark_sent(ids[:2]) == 2
        async with transaction(sessions) as session:
            repo = OutboxRepository(session)
            assert [e.id for e in await repo.unsent(limit=1000) if e.id in ids] == [ids[2]]
            assert await repo.mark_sent(ids[:2]) == 0  # a second relay marks nothing twice
            assert await repo.mark_sent([]) == 0

    async def test_unsent_respects_the_limit(self, sessions: Sessions) -> None:
        async with transaction(sessions) as session:
            for n in range(3):
                await OutboxRepository(session).add("limit-test", {"n": n})
        async with transaction(sessions) as session:
            assert len(await OutboxRepository(session).unsent(limit=2)) == 2


class TestAuditRepository:
    async def test_first_event_links_to_the_genesis_hash(self, sqlite_url: str) -> None:
        from dosewise.settings import Settings
        from dosewise.storage.db import make_engine, make_sessionmaker

        engine = make_engine(Settings(DATABASE_URL=sqlite_url))  # a fresh database: the chain starts here
        try:
            async with transaction(make_sessionmaker(engine)) as session:
                repo = AuditRepository(session)
                assert await repo.last() is None
                first = await repo.append(actor="alice", role="clinician", action="recommend")
        finally:
            await engine.dispose()
        assert first.prev_hash == GENESIS_HASH == "0" * 64
        assert first.hash == audit_hash(first, GENESIS_HASH) and len(first.hash) == 64

    async def test_each_event_chains_to_the_previous_and_rehashes_after_reading_back(self, sessions: Sessions) -> None:
        async with transaction(sessions) as session:
            repo = AuditRepository(session)
            a = await repo.append(
                actor="alice",
                role="clinician",
                action="recommend",
                patient_ref="p-1",
                policy_version="v1",
                subject_id="rec-1",
                input_hash="f" * 64,
            )
            b = await repo.append(actor="bob", role="admin", action="policy.activate", subject_id="v2")
            assert b.prev_hash == a.hash != b.hash
            assert (await repo.last()).id == b.id  # type: ignore[union-attr]
        async with sessions() as session:  # the hash must survive the database's own datetime round trip
            stored = [await session.get(AuditEvent, event.id) for event in (a, b)]
        for event in stored:
            assert event is not None and event.hash == audit_hash(event, event.prev_hash)

    async def test_changing_any_field_changes_the_hash(self, sessions: Sessions) -> None:
        async with transaction(sessions) as session:
            event = await AuditRepository(session).append(actor="alice", role="clinician", action="recommend")
        original = event.hash
        event.actor = "mallory"
        assert audit_hash(event, event.prev_hash) != original
        event.actor = "alice"
        assert audit_hash(event, "1" * 64) != original

    async def test_concurrent_appends_do_not_fork_the_chain(self, sessions: Sessions) -> None:
        async def append(n: int) -> None:
            async with transaction(sessions) as session:
                await AuditRepository(session).append(actor=f"race-{n}", role="service", action="test")

        await asyncio.gather(*(append(n) for n in range(5)))
        async with sessions() as session:
            repo = AuditRepository(session)
            assert await repo.last() is not None
            # Walk back the links: each event's prev_hash is the hash of the event right before it.
            rows = (await session.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(6))).scalars().all()
        for newer, older in itertools.pairwise(rows):
            assert newer.prev_hash == older.hash
        assert len({r.prev_hash for r in rows}) == len(rows)


class TestRunTransaction:
    """``db.run_transaction``: synchronous Core work as one transaction (on SQLite in a worker thread, on PostgreSQL on the
    async connection), sharing the audit chain's lock with session-based writers."""

    async def test_what_the_work_writes_is_committed_and_its_result_returned(self, sessions: Sessions) -> None:
        row = _recommendation().model_dump()

        def work(conn: Connection) -> str:
            conn.execute(insert(Recommendation), [row])
            return "done"

        assert await run_transaction(sessions, work) == "done"
        async with sessions() as session:
            assert (await session.get(Recommendation, row["id"])) is not None

    async def test_nothing_is_kept_when_the_work_raises(self, sessions: Sessions) -> None:
        row = _recommendation().model_dump()

        def work(conn: Connection) -> None:
            conn.execute(insert(Recommendation), [row])
            append_audit_events(conn, [AuditEntry(actor="t", role="service", action="test", subject_id=str(row["id"]))])
            raise RuntimeError("after both writes")

        with pytest.raises(RuntimeError, match="after both writes"):
            await run_transaction(sessions, work)
        async with sessions() as session:
            assert (await session.get(Recommendation, row["id"])) is None
            events = (await session.execute(select(AuditEvent).where(AuditEvent.subject_id == str(row["id"])))).all()
            assert events == []

    async def test_a_duplicate_key_is_an_integrity_error_as_in_a_session(self, sessions: Sessions) -> None:
        row = _recommendation().model_dump() | {"idempotency_key": f"dup-{uuid.uuid4()}"}
        again = _recommendation().model_dump() | {"idempotency_key": row["idempotency_key"]}
        await run_transaction(sessions, lambda conn: conn.execute(insert(Recommendation), [row]))
        with pytest.raises(IntegrityError):
            await run_transaction(sessions, lambda conn: conn.execute(insert(Recommendation), [again]))

    async def test_writers_through_both_paths_at_once_do_not_fork_the_chain(self, sessions: Sessions) -> None:
        async def in_session(n: int) -> None:
            async with transaction(sessions) as session:
                await AuditRepository(session).append(actor=f"session-{n}", role="service", action="test")

        async def in_run_transaction(n: int) -> None:
            await run_transaction(sessions, lambda conn: append_audit_events(
                conn, [AuditEntry(actor=f"thread-{n}-{i}", role="service", action="test") for i in range(3)]))

        await asyncio.gather(*(f(n) for n in range(6) for f in (in_session, in_run_transaction)))
        async with sessions() as session:
            rows = (await session.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(24))).scalars().all()
        assert {r.actor.split("-")[0] for r in rows} == {"session", "thread"}
        for newer, older in itertools.pairwise(rows):
            assert newer.prev_hash == older.hash
            assert newer.hash == audit_hash(newer, newer.prev_hash)


async def test_a_patients_course_holds_only_the_callers_recommendations_oldest_first_with_their_outcomes(
        sessions: Sessions) -> None:
    mine_first, mine_then, theirs = _recommendation(), _recommendation(), _recommendation()
    ref = mine_first.patient_ref
    mine_then.patient_ref = theirs.patient_ref = ref
    mine_first.caller_id = mine_then.caller_id = "key:mine"
    theirs.caller_id = "key:theirs"
    from datetime import UTC, datetime, timedelta
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    mine_first.created_at, theirs.created_at, mine_then.created_at = t0, t0 + timedelta(days=1), t0 + timedelta(days=2)
    async with transaction(sessions) as s:
        for r in (mine_then, theirs, mine_first):
            await RecommendationRepository(s).add(r)
        await OutcomeRepository(s).add(Outcome(idempotency_key=f"k-{uuid.uuid4().hex}", recommendation_id=mine_first.id,
                                               therapy="warfarin", patient_ref=ref, payload={"record": {}}))
    async with sessions() as s:
        course = await RecommendationRepository(s).course("key:mine", ref)
        with pytest.raises(ValueError):
            await RecommendationRepository(s).course("", ref)
    assert [(r.id, o is not None) for r, o in course] == [(mine_first.id, True), (mine_then.id, False)]
