"""The outcome use case: what happened after a recommendation — the dose actually given (a clinician may override it, with a
reason), the observations that followed, adverse events — recorded once, announced to the trainer through the outbox.

- **One transaction**: the outcome rows, their outbox events and their audit events commit together or not at all. The request
  never touches the queue, so outcomes are accepted while Redis is down; the relay (``dosewise.outbox``) catches up.
- **Idempotent**: every outcome carries an idempotency key (header ``Idempotency-Key``, or ``idempotency_key`` per batch item),
  scoped to the caller. The same key returns the stored result and writes nothing new; the same key with a different body is
  refused (422, as the IETF Idempotency-Key draft asks), never silently answered with the old result.
- **Only the recommendation's own caller answers it**: an outcome (and its feedback) is written only by the caller that made
  the recommendation: the same API key (``key:<id>``) or the same JWT subject (``jwt:<sub>``), the rule a read by id already
  follows (``RecommendationRepository.owned_by``, one query for both). Anyone else gets exactly what an unknown id gets: a
  404 saying ``recommendation <id> not found (unknown, or made by another caller)`` (in a batch, a 422 entry of type
  ``not_found`` at ``outcomes.<i>.recommendation_id``), with nothing written and nothing of the recommendation shown; being
  erased (410) or already answered (409) is only ever told to its owner. An idempotent replay is held to the same rule: a
  stored outcome is returned only if its recommendation is the caller's. There is no organisation rule: a colleague's key,
  or a rotated key of the same integration, is another caller (API keys carry no organisation yet).
- **One outcome per recommendation**: a second outcome for a recommendation under another key is a 409.
- **Validated like a PatientState**: observations go through ``schemas.Observation`` (known kind, unit of the kind's family,
  physiologically possible value, not in the future) and then the therapy's rules: the pack's observation kinds, doses in
  the pack's unit family, times after the decision they follow.
- **Feedback is evidence**: ``accepted`` means the recommended dose was given (anything else must be reported as
  ``overridden``, with a reason); the trainer learns from the dose actually given either way.

Batch-first like recommendations: ``POST /v1/outcomes:batch`` records up to 1,000 outcomes in one transaction (the fast path
for integrations that report a ward round at once); a single POST is a batch of one.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise import units
from dosewise.audit_chain import Action, sha256_json
from dosewise.erasure import is_tombstone
from dosewise.outbox import outcome_events
from dosewise.schemas import DoseQuantity, Measure, Observation, PastDatetime
from dosewise.storage import models
from dosewise.storage.db import transaction
from dosewise.storage.repositories import (
    OutboxRepository,
    OutcomeRepository,
    RecommendationRepository,
    lock_for_write,
)
from dosewise.text import CleanText
from dosewise.therapies.registry import get_pack
from dosewise_api import audit
from dosewise_api.auth import Caller

MAX_OUTCOME_BATCH = 1000
DOSE_MATCH_TOLERANCE = 1e-6  # "accepted" = the recommended dose, to rounding
LOCK_BUCKETS = 64  # one-outcome-per-recommendation locks, hashed into a bounded set (PostgreSQL's lock table is finite)
NOT_FOUND = "not found (unknown, or made by another caller)"  # one answer for both: the 404 tells them apart for no one
REASON_CODES = ("clinical_judgement", "patient_factors", "bleeding_risk", "thrombosis_risk", "hypoglycaemia_risk",
                "lab_error", "adherence", "guideline", "other")


class Feedback(BaseModel):
    """The clinician's decision on the recommendation. Overrides are evidence: say why."""

    model_config = ConfigDict(extra="forbid")
    decision: Literal["accepted", "overridden"]
    reason_code: Literal[REASON_CODES] | None = Field(None, description="Why it was overridden, coded.")  # type: ignore[valid-type]
    reason: Annotated[str, CleanText(min_length=3, max_length=500)] | None = Field(
        None, description="Why, in words (no patient identifiers); one line: control characters (newlines too) are refused, "
                          "invisible format characters removed (dosewise/text.py).")

    @model_validator(mode="after")
    def _override_has_reason(self) -> Feedback:
        if self.decision == "overridden" and not (self.reason or self.reason_code):
            raise ValueError("an override needs a reason or a reason_code")
        return self


class AdverseEvent(BaseModel):
    """A clinical adverse event observed after the dose (e.g. major_bleeding, thromboembolism, severe_hypoglycaemia)."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$", examples=["major_bleeding"])
    severity: Literal["mild", "moderate", "severe", "life_threatening"]
    time: PastDatetime


class OutcomeCreate(BaseModel):
    """What happened after one recommendation."""

    model_config = ConfigDict(extra="forbid")
    recommendation_id: uuid.UUID = Field(description="The recommendation this outcome answers.")
    dose_given: Measure = Field(description="Daily dose actually given over the decision interval (0 when held); warfarin mg, "
                                "insulin U.")
    regimen: Measure | None = Field(None, description="The daily regimen now in force, when it differs from the dose given "
                                    "(e.g. a held dose keeps the regimen). Default: the dose given.")
    given_at: PastDatetime | None = Field(None, description="When the dose was given. Default: the decision time.")
    feedback: Feedback
    observations: list[Observation] = Field(default_factory=list, max_length=100,
                                            description="Lab results that followed the dose (same rules as PatientState).")
    adverse_events: list[AdverseEvent] = Field(default_factory=list, max_length=20)
    course_ended: StrictBool = Field(False, description="Therapy stopped after this interval (the course ends here).")


class OutcomeBatchItem(OutcomeCreate):
    idempotency_key: Annotated[str, CleanText(min_length=1, max_length=100)] = Field(
        description="Retry-safe key of this outcome.")


class OutcomeBatchRequest(BaseModel):
    """Up to 1,000 outcomes recorded in one transaction."""

    model_config = ConfigDict(extra="forbid")
    outcomes: list[OutcomeBatchItem] = Field(min_length=1, max_length=MAX_OUTCOME_BATCH)


class OutcomeRecord(BaseModel):
    """A stored outcome, as recorded (canonical units)."""

    outcome_id: uuid.UUID
    recommendation_id: uuid.UUID
    therapy: str
    patient_ref: str = Field(description="The pseudonymized reference, as stored.")
    policy_version: str = Field(description="The policy that made the recommendation.")
    recommended_dose: DoseQuantity
    dose_given: DoseQuantity
    regimen: DoseQuantity
    given_at: datetime
    feedback: Feedback
    observations: list[Observation]
    adverse_events: list[AdverseEvent]
    course_ended: bool
    created_at: datetime


class OutcomeBatchResponse(BaseModel):
    data: list[OutcomeRecord]
    count: int


class OutcomeError(Exception):
    """A domain refusal with its HTTP status (404 unknown recommendation, 410 erased, 409 already answered, 422 key
    reuse)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class _ConcurrentReplay(Exception):
    """Rolls our transaction back when a concurrent request with the same key got there first."""


@dataclass(frozen=True)
class Recorded:
    record: OutcomeRecord
    replayed: bool


def scoped_key(caller_id: str, key: str) -> str:
    """Keys are scoped to the caller: two integrations that pick the same key never see each other's outcomes."""
    return "o1:" + hashlib.sha256(f"{caller_id}\n{key}".encode()).hexdigest()


def _fingerprint(item: OutcomeCreate) -> str:
    return sha256_json(item.model_dump(mode="json", exclude={"idempotency_key"}))


def _record(row: models.Outcome) -> OutcomeRecord:
    return OutcomeRecord.model_validate(row.payload["record"])


def _decision_time(rec: models.Recommendation) -> datetime:
    as_of = rec.state.get("as_of")
    return datetime.fromisoformat(as_of) if as_of else rec.created_at


def _canonical(item: OutcomeCreate, rec: models.Recommendation, errors: list[InitErrorDetails],
               prefix: tuple[str | int, ...]) -> dict | None:
    """The therapy's rules on one outcome; appends field errors and returns the canonical payload when it is valid."""
    def bad(loc: tuple[str | int, ...], msg: str, value: object) -> None:
        errors.append(InitErrorDetails(type=PydanticCustomError("outcome_rule", msg), loc=(*prefix, *loc), input=value))

    pack = get_pack(rec.therapy)
    n_errors = len(errors)
    doses: dict[str, float] = {}
    for name in ("dose_given", "regimen"):
        m: Measure | None = getattr(item, name)
        if m is None:
            continue
        try:
            value = units.to_canonical(m.value, m.unit, pack.dose_quantity)
        except units.UnitError as e:
            bad((name, "unit"), str(e), m.unit)
            continue
        if (problem := pack.dose_problem(value)) is not None:
            bad((name, "value"), problem, m.value)
        doses[name] = value
    decided = _decision_time(rec)
    for j, o in enumerate(item.observations):
        if o.kind not in pack.observation_kinds:
            bad(("observations", j, "kind"), f"{rec.therapy} uses observation kinds {', '.join(pack.observation_kinds)}",
                o.kind)
        if o.time <= decided:
            bad(("observations", j, "time"), "an outcome's observations follow the recommendation's decision time "
                f"({decided.isoformat()})", o.time.isoformat())
    for j, a in enumerate(item.adverse_events):
        if a.time < decided:
            bad(("adverse_events", j, "time"), "an adverse event of this outcome follows the decision time", a.time.isoformat())
    if item.given_at is not None and item.given_at < decided:
        bad(("given_at",), "the dose follows the decision it answers", item.given_at.isoformat())
    if len(errors) > n_errors or "dose_given" not in doses:
        return None
    given = doses["dose_given"]
    regimen = doses.get("regimen", given)
    _, rec_regimen = pack.apply_actions(np.array([rec.current_dose]), np.array([rec.action_index]))
    if item.feedback.decision == "accepted" and (abs(given - rec.recommended_dose) > DOSE_MATCH_TOLERANCE
                                                 or abs(regimen - float(rec_regimen[0])) > DOSE_MATCH_TOLERANCE):
        bad(("feedback", "decision"), f"accepted means the recommended {rec.recommended_dose:g} {pack.dose_unit}/day "
            f"(regimen {float(rec_regimen[0]):g}) was given; report a different dose as overridden, with a reason",
            item.feedback.decision)
        return None
    unit = pack.dose_unit
    return {
        "outcome_id": str(uuid.uuid4()), "recommendation_id": str(rec.id), "therapy": rec.therapy,
        "patient_ref": rec.patient_ref, "policy_version": rec.policy_version,
        "recommended_dose": {"value": rec.recommended_dose, "unit": unit}, "dose_given": {"value": given, "unit": unit},
        "regimen": {"value": regimen, "unit": unit}, "given_at": (item.given_at or decided).isoformat(),
        "feedback": item.feedback.model_dump(mode="json"),
        "observations": [o.model_dump(mode="json") for o in item.observations],
        "adverse_events": [a.model_dump(mode="json") for a in item.adverse_events],
        "course_ended": item.course_ended,
    }


def _lock_names(recommendation_ids: Sequence[uuid.UUID]) -> list[str]:
    """Sorted, so two transactions always take their locks in the same order (no deadlock)."""
    return sorted({f"outcomes:{rid.int % LOCK_BUCKETS}" for rid in recommendation_ids})


@dataclass(frozen=True)
class _Stored:
    """What a batch's keys already hold: the caller's stored outcomes by key, the indices whose key was used for a
    different request, and the indices whose stored outcome answers a recommendation the caller did not make."""

    by_key: dict[str, models.Outcome]
    mismatched: list[int]
    foreign: list[int]


async def _replay(sessions: async_sessionmaker[AsyncSession], keys: list[str], prints: list[str], caller_id: str) -> _Stored:
    """The stored outcomes of these (caller-scoped) keys. A replay shows a recommendation's pseudonym, policy and dose, so it
    obeys the write's ownership rule too: an outcome stored under this caller's key for someone else's recommendation (one
    recorded before outcomes were bound to their caller) is never returned."""
    async with sessions() as s:
        stored = await OutcomeRepository(s).get_many_by_keys(keys)
        owned = await RecommendationRepository(s).owned_by(caller_id, list({o.recommendation_id for o in stored.values()}))
    mismatched = [i for i, (k, p) in enumerate(zip(keys, prints, strict=True))
                  if k in stored and stored[k].payload.get("fingerprint") != p]
    foreign = [i for i, k in enumerate(keys) if k in stored and stored[k].recommendation_id not in owned]
    return _Stored(stored, mismatched, foreign)


def _invalid(errors: list[InitErrorDetails], batch: bool) -> ValidationError:
    """The 422 of these field errors; a batch's in item order (a replay's entries were found before the new outcomes')."""
    if batch:
        errors.sort(key=lambda e: e["loc"][1])  # ("outcomes", i, ...); stable, so an item's own order stays
    return ValidationError.from_exception_data("OutcomeCreate", errors)


def _not_found(rec_id: uuid.UUID) -> OutcomeError:
    return OutcomeError(404, f"recommendation {rec_id} {NOT_FOUND}")


def _not_found_entry(loc: tuple[str | int, ...], rec_id: uuid.UUID) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("not_found", f"recommendation {NOT_FOUND}"), loc=(*loc, "recommendation_id"),
                            input=str(rec_id))


async def record_outcomes(items: Sequence[OutcomeCreate], keys: Sequence[str], caller: Caller,
                          sessions: async_sessionmaker[AsyncSession], batch: bool = True) -> list[Recorded]:
    """Record outcomes (new ones in one transaction), in input order; replays stored ones. ``keys``: the caller's raw keys."""
    prefix_of = (lambda i: ("outcomes", i)) if batch else (lambda i: ())
    scoped = [scoped_key(caller.id, k) for k in keys]
    if len(set(scoped)) != len(scoped):
        raise OutcomeError(422, "two outcomes in one batch share an idempotency key")
    prints = [_fingerprint(it) for it in items]
    replay = await _replay(sessions, scoped, prints, caller.id)
    stored = replay.by_key
    if replay.mismatched:
        raise OutcomeError(422, "Idempotency-Key reused with a different request (item "
                           f"{', '.join(map(str, replay.mismatched))}); use a new key for a new outcome")
    if replay.foreign and not batch:
        raise _not_found(items[0].recommendation_id)
    errors: list[InitErrorDetails] = [_not_found_entry(prefix_of(i), items[i].recommendation_id) for i in replay.foreign]
    new = [i for i, k in enumerate(scoped) if k not in stored]
    fresh = set(new)
    rec_ids = [items[i].recommendation_id for i in new]
    if len(set(rec_ids)) != len(rec_ids):
        raise OutcomeError(409, "two outcomes in one batch answer the same recommendation")
    if new:
        async with sessions() as s:
            recs = await RecommendationRepository(s).owned_by(caller.id, rec_ids)  # another caller's: absent, as unknown
        rows: list[models.Outcome] = []
        entries: list[audit.AuditEntry] = []
        for i in new:
            item, rec = items[i], recs.get(items[i].recommendation_id)
            if rec is None:
                if not batch:
                    raise _not_found(item.recommendation_id)
                errors.append(_not_found_entry(prefix_of(i), item.recommendation_id))
                continue
            if is_tombstone(rec.state):  # erased: only its owner ever learns it (a stranger got the 404 above)
                if not batch:
                    raise OutcomeError(410, f"recommendation {item.recommendation_id}: its patient's data was erased")
                errors.append(InitErrorDetails(type=PydanticCustomError("outcome_rule", "its patient's data was erased"),
                                               loc=(*prefix_of(i), "recommendation_id"), input=str(item.recommendation_id)))
                continue
            payload = _canonical(item, rec, errors, prefix_of(i))
            if payload is None:
                continue
            record = OutcomeRecord.model_validate({**payload, "created_at": models.utcnow()})
            rows.append(models.Outcome(id=record.outcome_id, idempotency_key=scoped[i], recommendation_id=rec.id,
                                       therapy=rec.therapy, patient_ref=rec.patient_ref, created_at=record.created_at,
                                       payload={"record": record.model_dump(mode="json"), "fingerprint": prints[i]}))
            entries.append(audit.entry(caller, Action.OUTCOME_RECORD, patient_ref=rec.patient_ref,
                                       policy_version=rec.policy_version, subject_id=str(record.outcome_id),
                                       payload=record.model_dump(mode="json")))
        if errors:
            raise _invalid(errors, batch)
        try:
            async with transaction(sessions) as s:
                for name in _lock_names(rec_ids):
                    await lock_for_write(s, name)
                repo = OutcomeRepository(s)
                if await repo.get_many_by_keys([scoped[i] for i in new]):
                    raise _ConcurrentReplay  # a retry of this request committed while we validated: answer with it
                answered = await repo.recommendations_with_outcome(rec_ids)
                if answered:
                    raise OutcomeError(409, "already answered by another outcome: recommendation(s) "
                                       + ", ".join(sorted(str(r) for r in answered)))
                await repo.add_many(rows)
                OutboxRepository(s).add_many(outcome_events((r.id, r.therapy) for r in rows))
                await audit.record(s, entries)
        except (IntegrityError, _ConcurrentReplay):
            # A concurrent request with the same key won the race: answer with what it stored (or refuse a mismatch).
            replay = await _replay(sessions, scoped, prints, caller.id)
            if replay.mismatched or replay.foreign or any(k not in replay.by_key for k in scoped):
                raise
            return [Recorded(_record(replay.by_key[k]), True) for k in scoped]
        for row in rows:
            stored[row.idempotency_key] = row
    if errors:  # a batch made only of replays, one of them of someone else's recommendation
        raise _invalid(errors, batch)
    return [Recorded(_record(stored[k]), i not in fresh) for i, k in enumerate(scoped)]
