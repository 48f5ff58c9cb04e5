"""Every query of the system of record, grouped by table. Repositories take the caller's ``AsyncSession`` and never commit:
the caller's ``db.transaction`` commits once, so a recommendation and its audit event (or an outcome and its outbox event) are
written together or not at all. They flush where the database must check a constraint or assign an id before we go on.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, delete, false, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from dosewise import audit_chain
from dosewise.audit_chain import GENESIS_HASH, AuditEntry
from dosewise.storage.models import (
    ApiKey,
    AuditEvent,
    CdsCard,
    CdsTokenId,
    GateReport,
    Lease,
    OutboxEvent,
    Outcome,
    Policy,
    QueueGroup,
    Recommendation,
    Transition,
    utcnow,
)

ACTIVE, RETIRED, REJECTED = "active", "retired", "rejected"
__all__ = ["GENESIS_HASH", "audit_hash"]  # re-exported: the chain's definitions live in dosewise.audit_chain


# A write that changes nothing, as a plain statement (the ORM's bulk-update path cost 0.6 ms per request on the gateway).
_SQLITE_TAKE_WRITE_LOCK = update(QueueGroup.__table__).where(false()).values(last_id=QueueGroup.__table__.c.last_id)
_PG_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))")
# The audit append's statements, built once: building them (and their cache keys) on every append was a visible share of a
# recommendation's commit (py-spy on the gateway).
_AUDIT_HEAD = select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
_INSERT_AUDIT_EVENTS = insert(AuditEvent).returning(AuditEvent.id, sort_by_parameter_order=True)
_INSERT_RECOMMENDATIONS = insert(Recommendation)


def take_write_lock(conn: Connection, name: str) -> None:
    """Serialize writers of ``name`` until this transaction ends (read-then-write sequences that must not interleave).

    PostgreSQL: a transaction-scoped advisory lock keyed by ``name``. SQLite: its write lock is database-wide, so any write
    takes it; a no-op UPDATE takes it *now* (the sqlite3 driver otherwise opens the transaction at the first write, after
    our reads, and two writers could both read the same state). Other work waits up to the busy timeout.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(_PG_ADVISORY_LOCK, {"name": name})
    elif conn.dialect.name == "sqlite":
        conn.execute(_SQLITE_TAKE_WRITE_LOCK)


async def lock_for_write(session: AsyncSession, name: str) -> None:
    """``take_write_lock`` in the session's transaction."""
    await session.run_sync(lambda s: take_write_lock(s.connection(), name))


def append_audit_events(conn: Connection, entries: Sequence[AuditEntry], occurred_at: datetime | None = None
                        ) -> list[dict[str, Any]]:
    """The one audit writer: chain events in order, under one lock and one read of the head, in ``conn``'s transaction (plain
    Core: ``db.run_transaction`` runs it in one hop; ``AuditRepository`` in a session). Returns the stored rows (every
    column, ``id`` included) as dicts.

    The lock (PostgreSQL: a transaction advisory lock; SQLite: the database write lock) is taken before the head is read and
    held until the transaction ends, so the next appender reads this batch's last hash.
    """
    take_write_lock(conn, "audit_events")
    head = conn.execute(_AUDIT_HEAD).scalar()
    prev_hash = head if head is not None else GENESIS_HASH
    when = occurred_at or utcnow()
    rows = []
    # Plain dicts, not AuditEvent objects: building the SQLModel instances cost 0.15 ms an event on the gateway's hot path.
    for entry in entries:
        row = entry.values() | {"occurred_at": when, "prev_hash": prev_hash}
        row["hash"] = prev_hash = audit_chain.row_hash(row, prev_hash)
        rows.append(row)
    # One Core INSERT for the batch (the ORM unit of work cost ~1.5 ms per event); RETURNING sorted by parameter order gives
    # each event its id, so ids follow the chain.
    ids = conn.execute(_INSERT_AUDIT_EVENTS, rows).scalars().all()
    for row, event_id in zip(rows, ids, strict=True):
        row["id"] = event_id
    return rows


class PolicyRepository:
    """The policy registry. Invariant (a partial unique index): at most one ``active`` policy per therapy."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, policy: Policy) -> Policy:
        self.session.add(policy)
        await self.session.flush()
        return policy

    async def get(self, policy_id: str) -> Policy | None:
        return await self.session.get(Policy, policy_id)

    async def get_by_version(self, therapy: str, version: str) -> Policy | None:
        result = await self.session.execute(select(Policy).where(Policy.therapy == therapy, Policy.version == version))
        return result.scalar_one_or_none()

    async def list(self, therapy: str | None = None) -> Sequence[Policy]:
        """Newest first."""
        query = select(Policy).order_by(Policy.created_at.desc(), Policy.version.desc())
        if therapy is not None:
            query = query.where(Policy.therapy == therapy)
        return (await self.session.execute(query)).scalars().all()

    async def active(self, therapy: str) -> Policy | None:
        result = await self.session.execute(select(Policy).where(Policy.therapy == therapy, Policy.status == ACTIVE))
        return result.scalar_one_or_none()

    async def activate(self, policy_id: str, by: str) -> Policy:
        """Make ``policy_id`` the active policy of its therapy, retiring the current one in this same transaction.

        Two concurrent activations serialize on a per-therapy lock; if one slips past anyway the unique index rejects it.
        Raises ``LookupError`` for an unknown id and ``ValueError`` for a rejected policy (it failed its gate).
        """
        policy = await self.get(policy_id)
        if policy is None:
            raise LookupError(f"no policy {policy_id!r}")
        await lock_for_write(self.session, f"policies:{policy.therapy}")
        await self.session.refresh(policy)  # another activation may have changed it before we held the lock
        if policy.status == REJECTED:
            raise ValueError(f"policy {policy.therapy}/{policy.version} was rejected by its gate and cannot be activated")
        result = await self.session.execute(
            select(Policy)
            .where(Policy.therapy == policy.therapy, Policy.status == ACTIVE)
            .execution_options(populate_existing=True)
        )
        current = result.scalar_one_or_none()
        if current is not None and current.id == policy.id:
            return policy
        if current is not None:
            current.status = RETIRED
            # Flush the retirement first: the unit of work orders UPDATEs by primary key, not by our intent, and the unique
            # index must never see two active rows.
            await self.session.flush()
        policy.status = ACTIVE
        policy.activated_at = utcnow()
        policy.activated_by = by
        await self.session.flush()
        return policy

    async def previous_active(self, therapy: str) -> Policy | None:
        """The most recently activated policy that is no longer active: the target of a rollback."""
        result = await self.session.execute(
            select(Policy)
            .where(Policy.therapy == therapy, Policy.status == RETIRED, Policy.activated_at.is_not(None))
            .order_by(Policy.activated_at.desc())
            .limit(1)
        )
        return result.scalar_one_or_none()


class RecommendationRepository:
    """Recommendations as answered: written once (``insert_many``), then read by id, by idempotency key, by patient."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, recommendation: Recommendation) -> Recommendation:
        self.session.add(recommendation)
        await self.session.flush()
        return recommendation

    @staticmethod
    def insert_many(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """New recommendations given as their column values, in ``conn``'s transaction (``db.run_transaction``): one Core
        INSERT, where the ORM's unit of work cost ~1 ms a row. A taken idempotency key raises ``IntegrityError``."""
        conn.execute(_INSERT_RECOMMENDATIONS, list(rows))

    async def by_idempotency_keys(self, keys: Sequence[str]) -> dict[str, Recommendation]:
        """The stored recommendations of those of these (caller-scoped) idempotency keys that exist, by key."""
        if not keys:
            return {}
        query = select(Recommendation).where(Recommendation.idempotency_key.in_(list(keys)))  # type: ignore[union-attr]
        return {str(r.idempotency_key): r for r in (await self.session.execute(query)).scalars()}

    async def get(self, recommendation_id: uuid.UUID, caller_id: str | None = None) -> Recommendation | None:
        """The stored recommendation; with ``caller_id`` only if that caller made it (``owned_by``)."""
        if caller_id is None:
            return await self.session.get(Recommendation, recommendation_id)
        return (await self.owned_by(caller_id, [recommendation_id])).get(recommendation_id)

    async def owned_by(self, caller_id: str, recommendation_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Recommendation]:
        """Those of these recommendations that ``caller_id`` made, by id: the one ownership rule of a read by id and of every
        write against a recommendation (an outcome, its feedback). Another caller's recommendation is simply absent, exactly
        like an unknown id, so no answer built on this tells the two apart.

        A row without a ``caller_id`` belongs to nobody. An empty ``caller_id`` is refused rather than compared: ``== None``
        would render as ``IS NULL`` and hand every such row to whoever passed it.
        """
        if not caller_id:
            raise ValueError("ownership needs the caller's id")
        if not recommendation_ids:
            return {}
        query = select(Recommendation).where(Recommendation.id.in_(list(recommendation_ids)),  # type: ignore[attr-defined]
                                              Recommendation.caller_id == caller_id)
        return {r.id: r for r in (await self.session.execute(query)).scalars()}

    async def course(self, caller_id: str, patient_ref: str, limit: int = 200) -> list[tuple[Recommendation, Outcome | None]]:
        """A patient's recommendations made by ``caller_id`` (the ``owned_by`` rule), oldest first, each with its outcome
        (or None while pending): the clinician UI's patient course. ``patient_ref`` is the stored pseudonym. The newest
        ``limit`` only."""
        if not caller_id:
            raise ValueError("ownership needs the caller's id")
        query = (select(Recommendation, Outcome).outerjoin(Outcome, Outcome.recommendation_id == Recommendation.id)
                 .where(Recommendation.patient_ref == patient_ref, Recommendation.caller_id == caller_id)
                 .order_by(Recommendation.created_at.desc()).limit(limit))  # type: ignore[attr-defined]
        rows = [(r, o) for r, o in (await self.session.execute(query)).all()]
        return rows[::-1]


class OutcomeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_by_idempotency_key(self, key: str) -> Outcome | None:
        """The outcome already recorded under this key (a retried POST returns it instead of writing twice)."""
        result = await self.session.execute(select(Outcome).where(Outcome.idempotency_key == key))
        return result.scalar_one_or_none()

    async def add(self, outcome: Outcome) -> Outcome:
        """Flushes, so a duplicate key raises ``IntegrityError`` here, inside the caller's transaction."""
        self.session.add(outcome)
        await self.session.flush()
        return outcome

    async def get_many_by_keys(self, keys: Sequence[str]) -> dict[str, Outcome]:
        """Outcomes already recorded under any of these idempotency keys, by key (a retried batch replays them)."""
        if not keys:
            return {}
        rows = (await self.session.execute(select(Outcome).where(Outcome.idempotency_key.in_(list(keys))))).scalars()  # type: ignore[attr-defined]
        return {o.idempotency_key: o for o in rows}

    async def for_recommendation(self, recommendation_id: uuid.UUID) -> Outcome | None:
        """The outcome answering a recommendation (there is at most one), or None."""
        query = select(Outcome).where(Outcome.recommendation_id == recommendation_id)
        return (await self.session.execute(query)).scalars().first()

    async def recommendations_with_outcome(self, recommendation_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these recommendations already have an outcome (one outcome answers one recommendation)."""
        if not recommendation_ids:
            return set()
        query = select(Outcome.recommendation_id).where(Outcome.recommendation_id.in_(list(recommendation_ids)))  # type: ignore[attr-defined]
        return set((await self.session.execute(query)).scalars())

    async def add_many(self, outcomes: Sequence[Outcome]) -> None:
        """Flushes, so a duplicate idempotency key raises ``IntegrityError`` inside the caller's transaction."""
        self.session.add_all(list(outcomes))
        await self.session.flush()

    async def with_recommendations(self, outcome_ids: Sequence[uuid.UUID]) -> list[tuple[Outcome, Recommendation]]:
        """Each outcome with the recommendation it answers (one query; outcomes erased meanwhile are simply absent)."""
        if not outcome_ids:
            return []
        query = (select(Outcome, Recommendation).join(Recommendation, Recommendation.id == Outcome.recommendation_id)
                 .where(Outcome.id.in_(list(outcome_ids))))  # type: ignore[attr-defined]
        return [(o, r) for o, r in (await self.session.execute(query)).all()]


class OutboxRepository:
    """Transactional outbox: events written with the rows they announce, relayed to the queue later (at least once)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, stream: str, payload: dict[str, Any]) -> OutboxEvent:
        event = OutboxEvent(stream=stream, payload=payload)
        self.session.add(event)
        await self.session.flush()
        return event

    def add_many(self, events: Sequence[OutboxEvent]) -> None:
        """Events written with the rows they announce, flushed with the caller's transaction."""
        self.session.add_all(list(events))

    async def unsent(self, limit: int = 100) -> Sequence[OutboxEvent]:
        """Oldest first, so the relay publishes in the order events were written."""
        query = select(OutboxEvent).where(OutboxEvent.sent_at.is_(None)).order_by(OutboxEvent.id).limit(limit)
        return (await self.session.execute(query)).scalars().all()

    async def mark_sent(self, ids: Sequence[int]) -> int:
        """Returns how many were still unsent (a relay that lost a race marks nothing twice)."""
        if not ids:
            return 0
        result = await self.session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_(list(ids)), OutboxEvent.sent_at.is_(None))
            .values(sent_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def audit_hash(event: AuditEvent, prev_hash: str) -> str:
    """sha256 over the canonical JSON of the event's fields followed by the previous event's hash (``audit_chain``)."""
    return audit_chain.event_hash(event, prev_hash)


class AuditRepository:
    """Append-only, hash-chained audit trail: altering or deleting any event breaks every later hash."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def last(self) -> AuditEvent | None:
        result = await self.session.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
        return result.scalar_one_or_none()

    async def append(
        self,
        *,
        actor: str,
        role: str,
        action: str,
        patient_ref: str | None = None,
        policy_version: str | None = None,
        subject_id: str | None = None,
        input_hash: str | None = None,
        occurred_at: datetime | None = None,
    ) -> AuditEvent:
        """Chain a new event to the last one. Appenders serialize on a lock held until the caller commits, so two
        concurrent requests cannot both link to the same predecessor (which would fork the chain)."""
        entry = AuditEntry(actor=actor, role=role, action=action, patient_ref=patient_ref, policy_version=policy_version,
                           subject_id=subject_id, input_hash=input_hash)
        return (await self.append_many([entry], occurred_at=occurred_at))[0]

    async def append_many(self, entries: Sequence[AuditEntry], occurred_at: datetime | None = None) -> list[AuditEvent]:
        """``append_audit_events`` in the session's transaction; the events come back detached."""
        rows = await self.session.run_sync(lambda s: append_audit_events(s.connection(), entries, occurred_at))
        return [AuditEvent(**row) for row in rows]

    async def count(self) -> int:
        return int((await self.session.execute(select(func.count()).select_from(AuditEvent))).scalar_one())

    async def chain(self, batch_size: int = 1000) -> AsyncIterator[AuditEvent]:
        """Every event in chain (id) order, fetched in batches so verifying a long trail needs little memory."""
        after = 0
        while True:
            query = select(AuditEvent).where(AuditEvent.id > after).order_by(AuditEvent.id).limit(batch_size)
            rows = (await self.session.execute(query)).scalars().all()
            for row in rows:
                yield row
            if len(rows) < batch_size:
                return
            after = int(rows[-1].id)  # type: ignore[arg-type]
            self.session.expunge_all()  # keep the identity map small on long trails

    async def search(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        patient_ref: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> Sequence[AuditEvent]:
        """Events matching every given filter, oldest first, ``limit`` at a time after ``after_id`` (keyset pagination)."""
        query = select(AuditEvent).where(AuditEvent.id > after_id).order_by(AuditEvent.id).limit(limit)
        if since is not None:
            query = query.where(AuditEvent.occurred_at >= since)
        if until is not None:
            query = query.where(AuditEvent.occurred_at < until)
        if patient_ref is not None:
            query = query.where(AuditEvent.patient_ref == patient_ref)
        if actor is not None:
            query = query.where(AuditEvent.actor == actor)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return (await self.session.execute(query)).scalars().all()


class ApiKeyRepository:
    """API keys: rows are never deleted, only revoked, so the audit trail's key ids always resolve."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        await self.session.flush()
        return key

    async def get(self, key_id: str) -> ApiKey | None:
        return await self.session.get(ApiKey, key_id)

    async def list(self, include_revoked: bool = True) -> Sequence[ApiKey]:
        query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))  # type: ignore[union-attr]
        return (await self.session.execute(query)).scalars().all()

    async def count_active(self, role: str) -> int:
        query = select(func.count()).select_from(ApiKey).where(ApiKey.role == role, ApiKey.revoked_at.is_(None))  # type: ignore[union-attr]
        return int((await self.session.execute(query)).scalar_one())


class PatientDataRepository:
    """Erasure of one patient's clinical data (``dosewise patients erase``): outcomes go, recommendations become tombstones.

    A tombstone keeps the row's id, pseudonymous reference, policy and timestamps (what the audit trail points at) and drops
    the patient's state, features and the response body. Audit events are never touched: they hold only pseudonyms and
    hashes, so the chain stays verifiable.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def erase(self, patient_ref: str, tombstone: dict[str, Any]) -> tuple[int, int]:
        """Returns (recommendations tombstoned, outcomes deleted) for this pseudonymous reference. The learner's transitions
        built from those outcomes go too (explicitly, not only through ON DELETE CASCADE)."""
        await self.session.execute(
            delete(Transition).where(Transition.patient_ref == patient_ref).execution_options(synchronize_session=False))
        outcomes = await self.session.execute(
            delete(Outcome).where(Outcome.patient_ref == patient_ref).execution_options(synchronize_session=False))
        recs = await self.session.execute(
            update(Recommendation)
            .where(Recommendation.patient_ref == patient_ref)
            .values(state=tombstone, response=tombstone, features=[])
            .execution_options(synchronize_session=False)
        )
        return int(recs.rowcount), int(outcomes.rowcount)  # type: ignore[attr-defined]


class TransitionRepository:
    """The learner's logged data: one transition per outcome (unique ``outcome_id``), written idempotently."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def existing(self, outcome_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        if not outcome_ids:
            return set()
        query = select(Transition.outcome_id).where(Transition.outcome_id.in_(list(outcome_ids)))  # type: ignore[attr-defined]
        return set((await self.session.execute(query)).scalars())

    async def insert_ignoring_duplicates(self, rows: Sequence[dict[str, Any]], chunk: int = 200) -> int:
        """INSERT … ON CONFLICT (outcome_id) DO NOTHING: a redelivered outcome (or two trainers racing on one) adds nothing.
        Returns how many rows were new."""
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        dialect = self.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        added = 0
        for start in range(0, len(rows), chunk):
            part = [dict(r) for r in rows[start:start + chunk]]
            statement = (insert(Transition).values(part).on_conflict_do_nothing(index_elements=["outcome_id"])
                         .returning(Transition.id))  # type: ignore[arg-type]
            added += len((await self.session.execute(statement)).all())
        return added

    async def max_id(self, therapy: str) -> int:
        query = select(func.max(Transition.id)).where(Transition.therapy == therapy)
        return int((await self.session.execute(query)).scalar() or 0)

    async def count_after(self, therapy: str, after_id: int) -> int:
        query = select(func.count()).select_from(Transition).where(Transition.therapy == therapy, Transition.id > after_id)
        return int((await self.session.execute(query)).scalar_one())

    async def load(self, therapy: str, through_id: int) -> Sequence[Transition]:
        """Every transition of a therapy up to ``through_id``, in course order (patient, then decision time)."""
        query = (select(Transition).where(Transition.therapy == therapy, Transition.id <= through_id)
                 .order_by(Transition.patient_ref, Transition.decision_time, Transition.id))
        return (await self.session.execute(query)).scalars().all()

    async def outcomes_without_transition(self, created_before: datetime, limit: int) -> list[tuple[uuid.UUID, str]]:
        """(outcome id, therapy) of outcomes recorded before ``created_before`` that never produced a transition."""
        query = (select(Outcome.id, Outcome.therapy)
                 .outerjoin(Transition, Transition.outcome_id == Outcome.id)
                 .where(Transition.id.is_(None), Outcome.created_at < created_before)  # type: ignore[union-attr]
                 .order_by(Outcome.created_at).limit(limit))
        return [(r.id, r.therapy) for r in (await self.session.execute(query)).all()]


class GateReportRepository:
    """Every gate decision with its full report (published and rejected candidates alike)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, report: GateReport) -> GateReport:
        self.session.add(report)
        await self.session.flush()
        return report

    async def latest(self, therapy: str) -> GateReport | None:
        query = (select(GateReport).where(GateReport.therapy == therapy)
                 .order_by(GateReport.created_at.desc(), GateReport.id.desc()).limit(1))  # type: ignore[union-attr]
        return (await self.session.execute(query)).scalar_one_or_none()

    async def list(self, therapy: str | None = None, after_id: int = 0) -> Sequence[GateReport]:
        """Oldest first."""
        query = select(GateReport).where(GateReport.id > after_id).order_by(GateReport.id)  # type: ignore[operator]
        if therapy is not None:
            query = query.where(GateReport.therapy == therapy)
        return (await self.session.execute(query)).scalars().all()


class LeaseRepository:
    """Named leases: at most one holder per name at a time, until it releases the lease or stops renewing it for its TTL.

    Each operation is ONE conditional statement, never a read followed by a write, so two replicas cannot both win. Taking a
    lease is ``INSERT … ON CONFLICT (name) DO UPDATE … WHERE <the holder is me, or the lease has expired>``: on PostgreSQL a
    concurrent insert of the same name waits for the first and then takes the conflict path, and a concurrent update waits on
    the row lock and re-checks the condition on the committed row, so the second sees a live lease that is not its own and
    changes nothing; SQLite runs one writer at a time. ``RETURNING`` yields a row only when the lease is ours.

    Times come from the caller (the holder's clock, injectable in tests), aware and in UTC: ``expires_at`` written by one
    replica's clock is compared with another's, so the replicas' clocks must agree to well within the TTL (NTP does).
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def _utc(now: datetime) -> datetime:
        if now.tzinfo is None:  # SQLite stores the wall time as given: a naive local time would compare wrongly
            raise ValueError("lease times must be timezone-aware")
        return now.astimezone(UTC)

    async def acquire(self, name: str, holder: str, ttl_s: float, now: datetime) -> bool:
        """Take the lease ``name`` for ``ttl_s`` from ``now`` if it is free, expired or already ours (then it is extended
        and keeps its ``acquired_at``). True when ``holder`` holds it afterwards."""
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        now = self._utc(now)
        dialect = self.session.get_bind().dialect.name
        upsert = (pg_insert if dialect == "postgresql" else sqlite_insert)(Lease).values(
            name=name, holder=holder, acquired_at=now, expires_at=now + timedelta(seconds=ttl_s))
        lease, new = Lease.__table__.c, upsert.excluded  # type: ignore[attr-defined]
        statement = upsert.on_conflict_do_update(
            index_elements=[lease.name],
            set_={"holder": new.holder, "expires_at": new.expires_at,
                  "acquired_at": case((lease.holder == new.holder, lease.acquired_at), else_=new.acquired_at)},
            where=or_(lease.holder == new.holder, lease.expires_at <= now),
        ).returning(lease.holder)
        return (await self.session.execute(statement)).first() is not None

    async def renew(self, name: str, holder: str, ttl_s: float, now: datetime) -> bool:
        """Extend ``holder``'s lease to ``now + ttl_s``. False when the row is no longer ``holder``'s (another took it over
        after it expired, or it was released). A lease that expired but that nobody took is still this holder's: nobody
        else held it in between (taking it would have rewritten ``holder``), so renewing it is safe."""
        now = self._utc(now)
        result = await self.session.execute(
            update(Lease).where(Lease.name == name, Lease.holder == holder)
            .values(expires_at=now + timedelta(seconds=ttl_s)).execution_options(synchronize_session=False))
        return int(result.rowcount) == 1  # type: ignore[attr-defined]

    async def release(self, name: str, holder: str) -> bool:
        """Give the lease up (only ``holder``'s own: a holder that lost it cannot release its successor's)."""
        result = await self.session.execute(
            delete(Lease).where(Lease.name == name, Lease.holder == holder).execution_options(synchronize_session=False))
        return int(result.rowcount) == 1  # type: ignore[attr-defined]

    async def get(self, name: str) -> Lease | None:
        """The lease row, live or expired (its holder is who last took it)."""
        return (await self.session.execute(select(Lease).where(Lease.name == name))).scalar_one_or_none()


class CdsCardRepository:
    """The CDS Hooks cards shown (models.CdsCard): which hook carded an order first, and what a feedback answers."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, card_id: uuid.UUID, caller_id: str) -> CdsCard | None:
        """The caller's card; another caller's is answered as unknown."""
        card = await self.session.get(CdsCard, card_id)
        return card if card is not None and card.caller_id == caller_id else None

    async def first_shown(self, card: CdsCard) -> CdsCard:
        """The stored card of ``card.id`` (made from its recommendation and order, so a retry or the other order hook
        finds it) when there is one, naming the hook that showed it first; else ``card``, stored. Flushes, so a
        concurrent first showing raises ``IntegrityError``."""
        found = await self.session.get(CdsCard, card.id)
        if found is not None:
            return found
        self.session.add(card)
        await self.session.flush()
        return card


class CdsTokenIdRepository:
    """CDS client JWT ids seen, until their tokens expire (models.CdsTokenId)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def remember(self, token_id: str, expires_at: datetime) -> bool:
        """True the first time ``token_id`` is seen (expired ones are forgotten first); False for a replay. Flushes, so a
        concurrent first use raises ``IntegrityError``."""
        await self.session.execute(delete(CdsTokenId).where(CdsTokenId.expires_at < utcnow())
                                   .execution_options(synchronize_session=False))
        if await self.session.get(CdsTokenId, token_id) is not None:
            return False
        self.session.add(CdsTokenId(id=token_id, expires_at=expires_at))
        await self.session.flush()
        return True
