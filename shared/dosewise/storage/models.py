"""SQLModel tables: the system of record. Alembic migrations (``storage/migrations``) create them on SQLite and PostgreSQL.

Clinical payloads are JSON columns (portable across both databases); everything queried by is a real, indexed column.
Patient references stored here are already pseudonymized by the gateway: no table holds a name or a raw identifier.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Float, ForeignKey, Index, Integer, UniqueConstraint, Uuid, text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(**kw: Any) -> Any:
    return Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False, **kw))


def _ts_null() -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


def _json() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


# Autoincrement integer keys: BIGINT on PostgreSQL, INTEGER on SQLite (only INTEGER PRIMARY KEY autoincrements there).
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class Policy(SQLModel, table=True):
    """The registry: one row per policy version of a therapy. At most one ``active`` row per therapy."""

    __tablename__ = "policies"
    __table_args__ = (
        UniqueConstraint("therapy", "version"),
        # At most one active policy per therapy, enforced by the database itself (partial unique index on both dialects).
        Index("uq_policies_one_active_per_therapy", "therapy", unique=True, sqlite_where=text("status = 'active'"),
              postgresql_where=text("status = 'active'")),
    )

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, primary_key=True, max_length=32)
    therapy: str = Field(index=True, max_length=64)
    version: str = Field(max_length=64)
    status: str = Field(index=True, max_length=16)  # untrained | candidate | active | retired | rejected
    sha256: str = Field(max_length=64)
    artifact_path: str = Field(max_length=512)  # relative to settings.policy_dir
    model_card: dict[str, Any] = _json()
    created_at: datetime = _ts()
    activated_at: datetime | None = _ts_null()
    activated_by: str | None = Field(default=None, max_length=128)


class Recommendation(SQLModel, table=True):
    """A recommendation exactly as answered, with the inputs that produced it (for audit and off-policy evaluation)."""

    __tablename__ = "recommendations"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    idempotency_key: str | None = Field(default=None, max_length=128, unique=True)  # caller's Idempotency-Key, scoped
    caller_id: str | None = Field(default=None, max_length=128, index=True)  # who asked (API key id or JWT subject)
    therapy: str = Field(index=True, max_length=64)
    patient_ref: str = Field(index=True, max_length=128)  # pseudonymized
    policy_id: str = Field(max_length=32, index=True)
    policy_version: str = Field(max_length=64)
    policy_status: str = Field(max_length=16)
    action_index: int
    action_id: str = Field(max_length=32)
    current_dose: float
    recommended_dose: float
    dose_unit: str = Field(max_length=16)
    behaviour_probability: float
    features: list[float] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    state: dict[str, Any] = _json()  # the validated PatientState, canonical units, pseudonymized reference
    response: dict[str, Any] = _json()  # the Recommendation body as sent
    created_at: datetime = _ts(index=True)


class Outcome(SQLModel, table=True):
    """What happened after a recommendation: dose given, observations, adverse events, clinician feedback."""

    __tablename__ = "outcomes"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    idempotency_key: str = Field(max_length=128, unique=True)
    recommendation_id: uuid.UUID = Field(foreign_key="recommendations.id", index=True)
    therapy: str = Field(max_length=64, index=True)
    patient_ref: str = Field(max_length=128, index=True)
    payload: dict[str, Any] = _json()
    created_at: datetime = _ts()


class OutboxEvent(SQLModel, table=True):
    """Transactional outbox: written with the row it announces; a relay publishes it to the queue and marks it sent."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_unsent", "sent_at", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    stream: str = Field(max_length=64)
    payload: dict[str, Any] = _json()
    created_at: datetime = _ts()
    sent_at: datetime | None = _ts_null()


class AuditEvent(SQLModel, table=True):
    """Append-only audit trail; ``hash`` chains each event to the previous one (verified by ``dosewise audit verify``)."""

    __tablename__ = "audit_events"

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    occurred_at: datetime = _ts(index=True)
    actor: str = Field(max_length=128, index=True)
    role: str = Field(max_length=32)
    action: str = Field(max_length=64)
    patient_ref: str | None = Field(default=None, max_length=128, index=True)
    policy_version: str | None = Field(default=None, max_length=64)
    subject_id: str | None = Field(default=None, max_length=64)
    input_hash: str | None = Field(default=None, max_length=64)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class ApiKey(SQLModel, table=True):
    """An API key of one role. Only the sha256 of its secret is stored: a database dump does not let anyone call the API."""

    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=16)  # public key id: the middle part of dwk_<id>_<secret>
    name: str = Field(max_length=64)  # what the key is for ("epic-integration"); never a person's or patient's data
    role: str = Field(max_length=32, index=True)  # clinician | integrator | auditor | admin
    secret_sha256: str = Field(max_length=64)
    created_at: datetime = _ts()
    created_by: str = Field(max_length=128)
    expires_at: datetime | None = _ts_null()
    revoked_at: datetime | None = _ts_null()
    revoked_by: str | None = Field(default=None, max_length=128)


class QueueMessage(SQLModel, table=True):
    """The embedded queue's log of messages (the table adapter); ids grow monotonically per database."""

    __tablename__ = "queue_messages"
    __table_args__ = (Index("ix_queue_messages_stream_id", "stream", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    stream: str = Field(max_length=64)
    payload: dict[str, Any] = _json()
    created_at: datetime = _ts()


class QueueGroup(SQLModel, table=True):
    """A consumer group's read position in a stream (table adapter)."""

    __tablename__ = "queue_groups"

    stream: str = Field(primary_key=True, max_length=64)
    group: str = Field(primary_key=True, max_length=64)
    last_id: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class QueuePending(SQLModel, table=True):
    """Delivered but not yet acknowledged messages, per group (table adapter); claimable when their consumer dies."""

    __tablename__ = "queue_pending"

    stream: str = Field(primary_key=True, max_length=64)
    group: str = Field(primary_key=True, max_length=64)
    message_id: int = Field(sa_column=Column(BigInteger, primary_key=True))
    consumer: str = Field(max_length=128)
    delivered_at: datetime = _ts()
    deliveries: int = 1


class Transition(SQLModel, table=True):
    """One logged decision as the learner sees it (issue 6): state features, the action actually taken, the behaviour
    probability, the reward computed from the observed outcome, the next state. Built once per outcome by the trainer:
    ``outcome_id`` is the unique key that makes at-least-once delivery produce exactly one row. Erasing the outcome (a
    patient's erasure request) deletes its transition with it (ON DELETE CASCADE)."""

    __tablename__ = "transitions"

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    outcome_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("outcomes.id", ondelete="CASCADE"), nullable=False, unique=True)
    )
    recommendation_id: uuid.UUID = Field(index=True)
    therapy: str = Field(max_length=64, index=True)
    patient_ref: str = Field(max_length=128, index=True)  # pseudonymized, as on the outcome
    policy_id: str = Field(max_length=32)  # the serving (behaviour) policy of the recommendation
    policy_version: str = Field(max_length=64)
    decision_time: datetime = _ts(index=True)  # orders a patient's transitions into a course
    features: list[float] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    mask: list[bool] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # guardrails in the state
    action_index: int  # the action actually taken (the clinician's dose mapped onto the pack's action set)
    recommended_action_index: int
    behaviour_probability: float | None = Field(default=None, sa_column=Column(Float, nullable=True))  # None: override
    feedback: str = Field(max_length=16)  # accepted | overridden
    reward: float
    reward_terms: dict[str, Any] = _json()
    next_features: list[float] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    next_mask: list[bool] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    terminated: bool = False
    created_at: datetime = _ts()


class GateReport(SQLModel, table=True):
    """Why a retrained candidate was published or rejected: the gate's full decision report, kept for every candidate."""

    __tablename__ = "gate_reports"

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    policy_id: str = Field(foreign_key="policies.id", max_length=32, index=True)
    therapy: str = Field(max_length=64, index=True)
    version: str = Field(max_length=64)
    decision: str = Field(max_length=16)  # published | rejected
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    report: dict[str, Any] = _json()
    transitions_through_id: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    created_at: datetime = _ts(index=True)


class Lease(SQLModel, table=True):
    """A named lease (issue 27): at most one holder per name until ``expires_at``. The trainer's replicas take turns at
    retraining under the lease ``retrain`` (services/trainer/dosewise_trainer/lease.py). Taken, renewed and released by
    single conditional statements (``LeaseRepository``); a holder that dies stops renewing and the lease lapses."""

    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=128)  # hostname:pid of the process (in Kubernetes the hostname is the pod's name)
    acquired_at: datetime = _ts()  # when this holder took it (kept across renewals)
    expires_at: datetime = _ts()  # free for anyone from this instant unless the holder renews first


class CdsCard(SQLModel, table=True):
    """A CDS Hooks card as shown to one caller (issue 26): its recommendation, the hook that showed it and, for an order
    card, the draft order it answers (hashed: an EHR's order id stays out of the store). The first hook that cards an order
    for a recommendation owns it; the other order hook is answered without that card (the spec's clients call order-select
    and then order-sign for the same order). Feedback on the card finds its recommendation here, for its caller only."""

    __tablename__ = "cds_cards"
    __table_args__ = (UniqueConstraint("caller_id", "order_key", "recommendation_id",
                                       name="uq_cds_cards_caller_order_recommendation"),)

    id: uuid.UUID = Field(primary_key=True)  # the card's uuid
    caller_id: str = Field(max_length=128, index=True)
    recommendation_id: uuid.UUID = Field(foreign_key="recommendations.id", index=True)
    hook: str = Field(max_length=32)
    order_key: str | None = Field(default=None, max_length=64)  # sha256 of the draft order's id; None for patient-view
    suggestion_id: uuid.UUID | None = None
    drafted_dose: float | None = None  # the draft's daily dose (pack unit): what an override keeps
    created_at: datetime = _ts()


class CdsTokenId(SQLModel, table=True):
    """A CDS client JWT's ``jti`` (hashed with its issuer), kept until the token's ``exp`` so a replay is refused
    (CDS Hooks 2.0 §Trusting CDS Clients). Used when Redis is not configured."""

    __tablename__ = "cds_token_ids"

    id: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = _ts(index=True)
