"""The recommendation use case: validate → features and masks → inference (HTTP) → final guardrail check → persist → answer.

Batch-first: one patient is a batch of one, and a batch of up to 1,000 patients of one therapy costs one inference call (one
onnxruntime run). Rows are committed before the answer is built from them, so every answer the caller sees is on record. With
an ``Idempotency-Key`` a retried request returns the stored recommendations instead of making new ones (batch item i is stored
under ``<key>:<i>``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise import decision, metrics
from dosewise.audit_chain import sha256_json
from dosewise.erasure import is_tombstone
from dosewise.privacy import pseudonymize
from dosewise.schemas import (
    DosePlan,
    DoseQuantity,
    Explanation,
    HyperScoreOut,
    PatientState,
    Recommendation,
    RecommendRequest,
    RecommendResponse,
    utc_now,
)
from dosewise.storage import models
from dosewise.storage.db import JsonText, run_transaction
from dosewise.storage.repositories import RecommendationRepository, append_audit_events
from dosewise_api.audit import Action, AuditEntry, event_fields
from dosewise_api.auth import Caller
from dosewise_api.inference_client import InferenceClient

UNTRAINED_WARNING = ("The serving policy is UNTRAINED (a network of the right shape, not yet trained): its output is not "
                     "evidence of anything. Do not act on it.")


SYSTEM_CALLER = Caller(id="system", roles=frozenset())  # in-process callers (benchmarks); routes always pass the caller
_INSERT_RECOMMENDATIONS = insert(models.Recommendation)  # built once (see repositories.append_audit_events)


class RecommendationErased(LookupError):
    """The recommendation's clinical content was erased on the patient's request (``dosewise patients erase``)."""


class IdempotencyKeyReused(ValueError):
    """The Idempotency-Key was already used for a different request (a batch of another size): neither can be replayed."""


@dataclass(frozen=True)
class Answer:
    """A recommendation as its caller receives it: the model, and its JSON made once (for a new recommendation, the very
    text stored in its ``response`` column), which the routes send as it is."""

    recommendation: Recommendation
    json: str

    @classmethod
    def of(cls, rec: Recommendation) -> Answer:
        return cls(rec, rec.model_dump_json())


def batch_json(answers: Sequence[Answer]) -> str:
    """The ``BatchRecommendationResponse`` of these answers, from their JSON (the model's bytes, without serializing every
    recommendation a second time)."""
    return f'{{"data":[{",".join(a.json for a in answers)}],"count":{len(answers)}}}'


def _item_keys(key: str | None, n: int, batch: bool, caller_id: str) -> list[str | None]:
    """Stored idempotency keys, scoped to the caller: another caller reusing a key never sees this caller's answer."""
    if not key:
        return [None] * n
    key = hashlib.sha256(f"{caller_id}\n{key}".encode()).hexdigest()
    return [f"{key}:{i}" for i in range(n)] if batch else [key]


def _next_item_key(item_key: str) -> str:
    """The stored key of the batch item after ``item_key`` (``<key>:<i>`` → ``<key>:<i+1>``)."""
    key, _, i = item_key.rpartition(":")
    return f"{key}:{int(i) + 1}"


def _public(row: models.Recommendation) -> Recommendation:
    if is_tombstone(row.response):
        raise RecommendationErased(str(row.id))
    return Recommendation.model_validate(row.response)


async def _stored(sessions: async_sessionmaker[AsyncSession], keys: Sequence[str | None]) -> dict[str, models.Recommendation]:
    """The stored rows of those idempotency keys that exist, by key."""
    wanted = [k for k in keys if k is not None]
    if not wanted:
        return {}
    async with sessions() as s:
        rows = (await s.execute(select(models.Recommendation).where(
            models.Recommendation.idempotency_key.in_(wanted)))).scalars()  # type: ignore[union-attr]
        return {str(r.idempotency_key): r for r in rows}


def _stored_state(state: PatientState, pseudonym: str) -> dict[str, Any]:
    """A state as a recommendation's row stores it: JSON values, the patient under their pseudonym."""
    return state.model_dump(mode="json") | {"patient_ref": pseudonym}


def _same_request(state: PatientState, pseudonym: str, stored_state: dict[str, Any]) -> bool:
    """Whether ``state`` is the request whose stored state is ``stored_state``: the same patient (pseudonym) and the same
    data. ``as_of`` counts only when the request sets it (the gateway fills it in with the time of the first try)."""
    new = _stored_state(state, pseudonym)
    as_of, old = new.pop("as_of"), dict(stored_state)
    old_as_of = old.pop("as_of", None)
    return new == old and (as_of is None or as_of == old_as_of)


def _reused_for(rows: Sequence[models.Recommendation], states: Sequence[PatientState], pseudonym_key: str) -> list[int]:
    """Indices whose stored row answers a different request than ``states[i]`` (an erased row cannot tell: it is answered
    as erased)."""
    return [i for i, (row, state) in enumerate(zip(rows, states, strict=True))
            if not is_tombstone(row.state)
            and not _same_request(state, pseudonymize(state.patient_ref, pseudonym_key), row.state)]


async def _find(sessions: async_sessionmaker[AsyncSession], keys: Sequence[str | None], states: Sequence[PatientState],
                pseudonym_key: str, batch: bool) -> list[Answer] | None:
    """The stored recommendations for these idempotency keys, if all exist. A key once used for another request (another
    patient, other data, a batch of another size) is refused, never answered with the other request's recommendation."""
    if not keys or keys[0] is None:
        return None
    # A batch commits all its rows in one transaction, so a stored batch of m patients holds exactly <key>:0 … <key>:m-1.
    # Looking up one key past this request's last tells a larger stored batch from this one (it would otherwise replay
    # the first len(keys) answers of it); a smaller one misses some of this request's keys.
    beyond = [_next_item_key(str(keys[-1]))] if batch else []
    by_key = await _stored(sessions, [*keys, *beyond])
    if not by_key:
        return None
    if len(by_key) != len(keys) or any(k not in by_key for k in keys):
        raise IdempotencyKeyReused("this Idempotency-Key was already used for a batch of another size")
    rows = [by_key[str(k)] for k in keys]
    if reused := _reused_for(rows, states, pseudonym_key):
        where = f" (patients {', '.join(map(str, reused))})" if len(keys) > 1 else ""
        raise IdempotencyKeyReused(f"this Idempotency-Key was already used for a different request{where}")
    return [Answer.of(_public(row)) for row in rows]


async def get(
    sessions: async_sessionmaker[AsyncSession], rec_id: uuid.UUID, caller_id: str | None = None
) -> Recommendation | None:
    """The stored recommendation; with ``caller_id`` only if that caller made it (a clinician's own history; the same rule
    as outcomes: ``RecommendationRepository.owned_by``)."""
    async with sessions() as s:
        row = await RecommendationRepository(s).get(rec_id, caller_id=caller_id)
    if row is None:
        return None
    return _public(row)


@dataclass(frozen=True)
class StoredState:
    """What a new recommendation stores of its request, made while inference computes (``_compute``): the state as stored
    (pseudonymized) and the sha256 of its canonical JSON for the audit event."""

    state: dict[str, Any]
    input_hash: str

    @classmethod
    def of(cls, state: PatientState, pseudonym: str) -> StoredState:
        stored = _stored_state(state, pseudonym)
        return cls(stored, sha256_json(stored))


@dataclass(frozen=True)
class Built:
    """A new recommendation, not yet stored: the answer, its ``recommendations`` row (the column values: an ORM object
    costs 0.5 ms a row to build) and the audit hash of the row's state."""

    recommendation: Recommendation
    row: dict[str, Any]
    input_hash: str


def _build(prep: decision.Prepared, i: int, d: decision.Decision, state: PatientState, stored: StoredState,
           answer: RecommendResponse, caller_id: str | None, key: str | None, features: list[float],
           mask: list[bool], read_warnings: Sequence[str] = ()) -> Built:
    """The answer and its row for row ``i``, which the gateway's final guardrail check decided as ``d`` (``features`` and
    ``mask``: row i of the prepared arrays as Python lists; ``read_warnings``: what reading the request normalized, e.g.
    a FHIR bundle's deviations, stored with the answer)."""
    pack = prep.pack
    item = answer.items[i]
    warnings = ([UNTRAINED_WARNING] if answer.policy.status == "untrained" else []) + d.warnings + list(read_warnings)
    score = item.score
    overridden = d.action_index != item.action
    hyperscore = None if overridden else HyperScoreOut.model_validate(score)
    if hyperscore is not None and hyperscore.needs_review:
        why = "; ".join(hyperscore.review_reasons) or f"HyperScore {hyperscore.hyperscore:.0f}"
        warnings.append(f"Review this recommendation with particular care: {why}.")
    explanation = (Explanation.model_validate(score) if not overridden and "rationale" in score else None)
    rec = Recommendation(
        recommendation_id=uuid.uuid4(),
        therapy=state.therapy,
        patient_ref=stored.state["patient_ref"],
        policy=answer.policy,
        current_dose=DoseQuantity(value=state.current_dose.value, unit=pack.dose_unit),
        recommended_dose=DoseQuantity(value=d.given_dose, unit=pack.dose_unit),
        plan=DosePlan(
            hold_doses=d.hold_doses, dose_per_day=DoseQuantity(value=d.regimen_dose, unit=pack.dose_unit),
            dose_per_week=DoseQuantity(value=round(7 * d.regimen_dose, 4), unit=pack.dose_unit),
            recheck_in_days=d.recheck_days,
            recheck_on=(state.decision_time + timedelta(days=d.recheck_days)).astimezone(UTC).date(),
            started=d.started, cadences=list(pack.cadences)),
        action=d.action_id,
        action_label=d.action_label,
        # As dicts, validated inside Recommendation's (Rust) validation: 7 ActionValue(...) calls cost 21 µs, this 14.
        action_values=[{"action": a.id, "label": a.label, "q_value": q, "allowed": m}
                       for a, q, m in zip(pack.actions, item.q_values, mask, strict=True)],
        guardrails=d.guardrails,
        warnings=warnings,
        score=hyperscore,
        explanation=explanation,
        created_at=datetime.now(UTC),
    )
    row = dict(
        id=rec.recommendation_id, idempotency_key=key, caller_id=caller_id, therapy=rec.therapy,
        patient_ref=rec.patient_ref, policy_id=answer.policy.id, policy_version=answer.policy.version,
        policy_status=answer.policy.status, action_index=d.action_index, action_id=d.action_id,
        current_dose=rec.current_dose.value, recommended_dose=d.given_dose, dose_unit=pack.dose_unit,
        # The logged behaviour probability is the serving policy's, unless the gateway overrode its choice (then 0).
        behaviour_probability=0.0 if overridden else item.behaviour_probability,
        features=features, state=stored.state, response=JsonText(rec.model_dump_json()), created_at=rec.created_at,
    )
    return Built(rec, row, stored.input_hash)


def _answer(built: Built) -> Answer:
    return Answer(built.recommendation, built.row["response"])


async def _compute(
    states: Sequence[PatientState],
    callers: Sequence[Caller],
    keys: Sequence[str | None],
    client: InferenceClient,
    pseudonym_key: str,
    explain: bool,
    read_warnings: Sequence[Sequence[str]] | None = None,
) -> list[Built]:
    """New recommendations for ``states`` (one inference call per therapy), in input order, not yet stored;
    ``read_warnings[i]`` goes into answer i's warnings."""
    out: list[Built | None] = [None] * len(states)
    now = utc_now()  # in the tzinfo parsed timestamps share: the checks compare and subtract without utcoffset() calls
    # Inference never sees the caller's patient reference, and decides at the same instant the gateway checks.
    pseudonyms = [pseudonymize(s.patient_ref, pseudonym_key) for s in states]
    states = [s if s.as_of else s.model_copy(update={"as_of": now}) for s in states]
    for therapy in dict.fromkeys(s.therapy for s in states):
        idx = [i for i, s in enumerate(states) if s.therapy == therapy]
        # model_construct: the states are validated already, and validating the request again re-ran every state's
        # therapy-rule validator (15 ms per 1,000). Inference validates what it receives anyway.
        answering = await client.send_recommend(RecommendRequest.model_construct(
            therapy=therapy, states=[states[i].model_copy(update={"patient_ref": pseudonyms[i]}) for i in idx],
            explain=explain))
        try:  # while inference computes: the gateway's own features and mask, and what each row stores
            prep = decision.prepare([states[i] for i in idx])
            stored = [StoredState.of(states[i], pseudonyms[i]) for i in idx]
        except BaseException:
            answering.cancel()
            raise
        answer = await answering
        # The final guardrail check, with the gateway's own mask.
        decided = decision.decide_all(prep, [item.action for item in answer.items])
        features, masks = prep.features.tolist(), prep.guard.mask.tolist()  # once: numpy row by row costs more
        for j, i in enumerate(idx):
            out[i] = _build(prep, j, decided[j], states[i], stored[j], answer, callers[i].id, keys[i], features[j],
                            masks[j], read_warnings[i] if read_warnings else ())
    return [o for o in out if o is not None]


async def _persist(sessions: async_sessionmaker[AsyncSession], built: Sequence[Built], callers: Sequence[Caller]) -> None:
    """Commit recommendations with their audit events (``callers[i]`` made ``built[i]``) in ONE transaction: there is never
    a recommendation without its event or an event without its row. Raises IntegrityError (nothing stored) when an
    idempotency key is already taken."""
    rows = [b.row for b in built]
    events = event_fields(callers[0], [
        AuditEntry(Action.RECOMMENDATION_CREATE, patient_ref=row["patient_ref"], policy_version=row["policy_version"],
                   subject_id=str(row["id"]), input_hash=b.input_hash, caller=callers[i])
        for i, (row, b) in enumerate(zip(rows, built, strict=True))])

    def store(conn: Connection) -> None:
        # One Core INSERT (the ORM unit of work costs ~1 ms a row); a duplicate Idempotency-Key fails here, before the audit
        # chain is locked.
        conn.execute(_INSERT_RECOMMENDATIONS, rows)
        append_audit_events(conn, events)

    await run_transaction(sessions, store)
    metrics.record_recommendations(b.recommendation for b in built)  # committed: each counted once, replays never


async def _make(
    states: Sequence[PatientState],
    callers: Sequence[Caller],
    keys: Sequence[str | None],
    client: InferenceClient,
    sessions: async_sessionmaker[AsyncSession],
    pseudonym_key: str,
    explain: bool,
    read_warnings: Sequence[Sequence[str]] | None = None,
) -> list[Answer]:
    """New recommendations for ``states``, computed, then committed (``_persist``) before anyone sees them."""
    built = await _compute(states, callers, keys, client, pseudonym_key, explain, read_warnings)
    await _persist(sessions, built, callers)
    return [_answer(b) for b in built]


async def recommend_many(
    states: Sequence[PatientState],
    client: InferenceClient,
    sessions: async_sessionmaker[AsyncSession],
    pseudonym_key: str,
    caller: Caller | None = None,
    idempotency_key: str | None = None,
    batch: bool = True,
    read_warnings: Sequence[Sequence[str]] | None = None,
) -> list[Answer]:
    """Recommendations for patients of one or more therapies, in input order; one inference call per therapy. Each stored
    row gets its audit event (``recommendation.create``: caller, pseudonym, policy version, sha256 of the stored state) in
    the same transaction. A batch is scored without per-row attributions and rationale (``explain`` off)."""
    caller = caller or SYSTEM_CALLER
    keys = _item_keys(idempotency_key, len(states), batch, caller.id)
    if (existing := await _find(sessions, keys, states, pseudonym_key, batch)) is not None:
        return existing
    try:
        return await _make(states, [caller] * len(states), keys, client, sessions, pseudonym_key, explain=not batch,
                           read_warnings=read_warnings)
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key won the race: answer with what it stored.
        if (existing := await _find(sessions, keys, states, pseudonym_key, batch)) is not None:
            return existing
        raise IdempotencyKeyReused("this Idempotency-Key was already used for a different request") from None


async def recommend(
    state: PatientState,
    client: InferenceClient,
    sessions: async_sessionmaker[AsyncSession],
    pseudonym_key: str,
    caller: Caller | None = None,
    idempotency_key: str | None = None,
    read_warnings: Sequence[str] = (),
) -> Answer:
    return (await recommend_many([state], client, sessions, pseudonym_key, caller, idempotency_key, batch=False,
                                 read_warnings=[read_warnings]))[0]


@dataclass(frozen=True)
class SingleRequest:
    """One caller's request for one recommendation (POST /v1/recommendations)."""

    state: PatientState
    caller: Caller
    idempotency_key: str | None = None
    read_warnings: tuple[str, ...] = ()  # what reading the request normalized (a FHIR bundle's), added to the answer's


@dataclass
class PlannedSingles:
    """Single requests answered (from their idempotency keys) or computed, but not yet committed (``commit_singles``)."""

    requests: Sequence[SingleRequest]
    keys: list[str | None]  # stored idempotency keys
    results: list[Answer | Exception | None]  # answered already, else None
    first: dict[str, int]  # a key's first request in this batch
    todo: list[int]  # requests whose new recommendation is ``built[j]``
    built: list[Built]


async def plan_singles(
    requests: Sequence[SingleRequest],
    client: InferenceClient,
    sessions: async_sessionmaker[AsyncSession],
    pseudonym_key: str,
) -> PlannedSingles:
    """Answer what the stored idempotency keys answer (one lookup) and compute the rest (one inference call per therapy)."""
    keys = [_item_keys(r.idempotency_key, 1, False, r.caller.id)[0] for r in requests]
    results: list[Answer | Exception | None] = [None] * len(requests)
    stored = await _stored(sessions, keys)
    for i, k in enumerate(keys):
        if k is not None and k in stored:
            if _reused_for([stored[k]], [requests[i].state], pseudonym_key):
                results[i] = IdempotencyKeyReused("this Idempotency-Key was already used for a different request")
                continue
            try:
                results[i] = Answer.of(_public(stored[k]))
            except RecommendationErased as e:
                results[i] = e
    first = {k: i for i, k in reversed(list(enumerate(keys))) if k is not None}
    for i, k in enumerate(keys):  # the same caller's key twice among concurrent requests: only for the same request
        if k is not None and results[i] is None and first[k] != i and requests[i].state != requests[first[k]].state:
            results[i] = IdempotencyKeyReused("this Idempotency-Key was already used for a different request")
    todo = [i for i, r in enumerate(results) if r is None and (keys[i] is None or first[keys[i]] == i)]
    built = (await _compute([requests[i].state for i in todo], [requests[i].caller for i in todo], [keys[i] for i in todo],
                            client, pseudonym_key, explain=True, read_warnings=[requests[i].read_warnings for i in todo])
             if todo else [])
    return PlannedSingles(requests, keys, results, first, todo, built)


async def commit_singles(
    plans: Sequence[PlannedSingles],
    client: InferenceClient,
    sessions: async_sessionmaker[AsyncSession],
    pseudonym_key: str,
) -> list[list[Answer | Exception]]:
    """Commit the new recommendations of several plans in ONE transaction (group commit) and return each plan's answers
    in request order. A result is the caller's exception where only that request failed (an erased or reused key);
    database failures are raised for all. If a key was taken meanwhile, nothing is stored and each new request is redone
    alone, so only the duplicate is affected."""
    built = [b for p in plans for b in p.built]
    callers = [p.requests[i].caller for p in plans for i in p.todo]
    try:
        if built:
            await _persist(sessions, built, callers)
        for p in plans:
            for i, b in zip(p.todo, p.built, strict=True):
                p.results[i] = _answer(b)
    except IntegrityError:
        for p in plans:
            for i in p.todo:
                r = p.requests[i]
                try:
                    p.results[i] = await recommend(r.state, client, sessions, pseudonym_key, r.caller, r.idempotency_key,
                                                   r.read_warnings)
                except (IdempotencyKeyReused, RecommendationErased) as e:
                    p.results[i] = e
    answers = []
    for p in plans:
        for i, r in enumerate(p.results):  # the same caller sent the same key twice in one batch: the second gets the first's
            if r is None:
                p.results[i] = p.results[p.first[str(p.keys[i])]]
        answers.append([r for r in p.results if r is not None])
    return answers

