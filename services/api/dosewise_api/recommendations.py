"""The recommendation use case, one flow for one patient and for a batch: validated state (the route) → view, features and
masks → inference (HTTP) → final guardrail check → persist with the audit event → answer.

    requests ──plan──▶ Plan: replays found by idempotency key, new recommendations computed (one inference call per
                       therapy for every request planned together)
             ──commit──▶ each request's answers, the new ones committed first (one transaction for the whole plan)

A single (POST /v1/recommendations) is a request of one patient, answered with an explanation; concurrent singles are
planned and committed together (coalescer.py). A batch (POST …:batch) is one request of up to 1,000 patients, without
per-row explanations. Rows are committed before the answer is built from them, so every answer the caller sees is on record.
With an ``Idempotency-Key`` a retried request returns the stored recommendations instead of making new ones (batch item i
is stored under ``<key>:<i>``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise import decision, metrics
from dosewise.audit_chain import canonical_json, sha256_text
from dosewise.erasure import is_tombstone
from dosewise.inference_contract import RecommendRequest
from dosewise.privacy import pseudonymize
from dosewise.schemas import (
    Explanation,
    HyperScoreOut,
    PatientState,
    Recommendation,
    RecommendResponse,
    utc_now,
)
from dosewise.storage import models
from dosewise.storage.db import JsonText, run_transaction
from dosewise.storage.repositories import RecommendationRepository, append_audit_events
from dosewise.therapies.base import ClinicView
from dosewise.therapies.registry import get_pack
from dosewise_api import audit
from dosewise_api.audit import Action
from dosewise_api.auth import Caller
from dosewise_api.inference_client import InferenceClient, InferenceUnavailable

UNTRAINED_WARNING = ("The serving policy is UNTRAINED (a network of the right shape, not yet trained): its output is not "
                     "evidence of anything. Do not act on it.")


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


def _replay(keys: Sequence[str | None], beyond: str | None, by_key: dict[str, models.Recommendation],
            states: Sequence[PatientState], pseudonym_key: str) -> list[Answer] | None:
    """The stored answers of a request's idempotency keys (``by_key``: what a lookup found), or None when it has none
    stored. A key once used for another request (another patient, other data, a batch of another size) is refused, never
    answered with the other request's recommendation; an erased one is answered as erased."""
    if not keys or keys[0] is None:
        return None
    # A batch commits all its rows in one transaction, so a stored batch of m patients holds exactly <key>:0 … <key>:m-1.
    # The key one past this request's last (``beyond``) tells a larger stored batch from this one (it would otherwise
    # replay the first len(keys) answers of it); a smaller one misses some of this request's keys.
    found = [str(k) for k in keys if k in by_key]
    if not found and (beyond is None or beyond not in by_key):
        return None
    if len(found) != len(keys) or (beyond is not None and beyond in by_key):
        raise IdempotencyKeyReused("this Idempotency-Key was already used for a batch of another size")
    rows = [by_key[k] for k in found]
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
    (pseudonymized) as its canonical JSON, and that text's sha256 for the audit event (``audit_chain.sha256_json``). The
    column stores the canonical text itself: the same value, and no second serialization."""

    pseudonym: str
    json: JsonText
    input_hash: str

    @classmethod
    def of(cls, state: PatientState, pseudonym: str) -> StoredState:
        text = canonical_json(_stored_state(state, pseudonym))
        return cls(pseudonym, JsonText(text), sha256_text(text))


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
    unit = pack.dose_unit
    # The nested parts as dicts, validated in Recommendation's one (Rust) validation: a model constructed per part costs
    # a Python __init__ each.
    rec = Recommendation.model_validate({
        "recommendation_id": uuid.uuid4(),
        "therapy": state.therapy,
        "patient_ref": stored.pseudonym,
        "policy": answer.policy,
        "current_dose": {"value": state.current_dose.value, "unit": unit},
        "recommended_dose": {"value": d.given_dose, "unit": unit},
        "plan": {
            "hold_doses": d.hold_doses, "dose_per_day": {"value": d.regimen_dose, "unit": unit},
            "dose_per_week": {"value": round(7 * d.regimen_dose, 4), "unit": unit},
            "recheck_in_days": d.recheck_days,
            "recheck_on": (state.decision_time + timedelta(days=d.recheck_days)).astimezone(UTC).date(),
            "started": d.started, "cadences": list(pack.cadences)},
        "action": d.action_id,
        "action_label": d.action_label,
        "action_values": [{"action": a.id, "label": a.label, "q_value": q, "allowed": m}
                          for a, q, m in zip(pack.actions, item.q_values, mask, strict=True)],
        "guardrails": d.guardrails,
        "warnings": warnings,
        "score": hyperscore,
        "explanation": explanation,
        "created_at": datetime.now(UTC),
    })
    row = dict(
        id=rec.recommendation_id, idempotency_key=key, caller_id=caller_id, therapy=rec.therapy,
        patient_ref=rec.patient_ref, policy_id=answer.policy.id, policy_version=answer.policy.version,
        policy_status=answer.policy.status, action_index=d.action_index, action_id=d.action_id,
        current_dose=rec.current_dose.value, recommended_dose=d.given_dose, dose_unit=pack.dose_unit,
        # The logged behaviour probability is the serving policy's, unless the gateway overrode its choice (then 0).
        behaviour_probability=0.0 if overridden else item.behaviour_probability,
        features=features, state=stored.json, response=JsonText(rec.model_dump_json()), created_at=rec.created_at,
    )
    return Built(rec, row, stored.input_hash)


def _answer(built: Built) -> Answer:
    return Answer(built.recommendation, built.row["response"])


@dataclass(frozen=True)
class RecommendationRequest:
    """One caller's request: one patient (POST /v1/recommendations: explained, stored under the key itself) or a batch
    (POST …:batch: no per-row explanation, item i stored under ``<key>:<i>``)."""

    states: tuple[PatientState, ...]
    caller: Caller
    idempotency_key: str | None = None
    batch: bool = False
    # Per patient, what reading the request normalized (e.g. a FHIR bundle's deviations), added to its answer's warnings.
    read_warnings: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def single(cls, state: PatientState, caller: Caller, idempotency_key: str | None = None,
               read_warnings: tuple[str, ...] = ()) -> RecommendationRequest:
        return cls((state,), caller, idempotency_key, batch=False, read_warnings=(read_warnings,))

    def stored_keys(self) -> list[str | None]:
        return _item_keys(self.idempotency_key, len(self.states), self.batch, self.caller.id)

    def beyond_key(self, keys: Sequence[str | None]) -> str | None:
        """The stored key of a batch's item after its last (see ``_replay``); None for a single or without a key."""
        return _next_item_key(str(keys[-1])) if self.batch and keys and keys[-1] is not None else None


Result = list[Answer] | Exception  # a request's answers in patient order, or why it alone failed


@dataclass
class Plan:
    """Requests answered from their idempotency keys, or computed and not yet committed (``commit``)."""

    requests: Sequence[RecommendationRequest]
    keys: list[list[str | None]]  # stored idempotency keys per request, one per patient
    results: list[Result | None]  # answered already (a replay, or a refusal), else None
    repeats: dict[int, int] = field(default_factory=dict)  # request → the earlier one it repeats in this plan
    built: dict[int, list[Built]] = field(default_factory=dict)  # a new request → its new recommendations


@dataclass(frozen=True)
class _Item:
    """One patient of a request being computed."""

    state: PatientState
    caller: Caller
    key: str | None
    explain: bool
    read_warnings: tuple[str, ...]


async def plan(requests: Sequence[RecommendationRequest], client: InferenceClient,
               sessions: async_sessionmaker[AsyncSession], pseudonym_key: str) -> Plan:
    """Answer what the stored idempotency keys answer (one lookup for all the requests) and compute the rest (one
    inference call per therapy and kind of answer)."""
    keys = [r.stored_keys() for r in requests]
    beyond = [r.beyond_key(k) for r, k in zip(requests, keys, strict=True)]
    wanted = [k for ks, b in zip(keys, beyond, strict=True) for k in (*ks, b) if k is not None]
    if wanted:
        async with sessions() as s:
            stored = await RecommendationRepository(s).by_idempotency_keys(wanted)
    else:
        stored = {}
    out = Plan(requests, keys, [None] * len(requests))
    first: dict[tuple[str | None, ...], int] = {}
    for i, r in enumerate(requests):
        try:
            out.results[i] = _replay(keys[i], beyond[i], stored, r.states, pseudonym_key)
        except (IdempotencyKeyReused, RecommendationErased) as e:
            out.results[i] = e
        if out.results[i] is not None or keys[i][0] is None:
            continue
        earlier = first.setdefault(tuple(keys[i]), i)
        if earlier != i:  # the same caller's key twice among requests planned together: only for the same request
            if r.states == requests[earlier].states:
                out.repeats[i] = earlier
            else:
                out.results[i] = IdempotencyKeyReused("this Idempotency-Key was already used for a different request")
    new = [i for i, r in enumerate(out.results) if r is None and i not in out.repeats]
    items = [_Item(state, requests[i].caller, key, not requests[i].batch,
                   requests[i].read_warnings[j] if requests[i].read_warnings else ())
             for i in new for j, (state, key) in enumerate(zip(requests[i].states, keys[i], strict=True))]
    built = await _compute(items, client, pseudonym_key) if items else []
    at = 0
    for i in new:
        out.built[i], at = built[at:at + len(requests[i].states)], at + len(requests[i].states)
    return out


async def commit(plans: Sequence[Plan], sessions: async_sessionmaker[AsyncSession], pseudonym_key: str
                 ) -> list[list[Result]]:
    """Commit the new recommendations of several plans in ONE transaction (group commit) and return each plan's results
    in request order. Database failures are raised for all. If an idempotency key was taken meanwhile (a concurrent
    request with the same key won the race), nothing is stored, and each new request is then committed alone, after
    looking its keys up again: only the duplicate is answered with what the other stored (or refused)."""
    new = [(p, i) for p in plans for i in p.built]
    try:
        await _persist(sessions, [b for p, i in new for b in p.built[i]], [p.requests[i].caller for p, i in new
                                                                             for _ in p.built[i]])
        for p, i in new:
            p.results[i] = [_answer(b) for b in p.built[i]]
    except IntegrityError:
        for p, i in new:
            p.results[i] = await _commit_alone(p, i, sessions, pseudonym_key)
    answers = []
    for p in plans:
        for i, earlier in p.repeats.items():
            p.results[i] = p.results[earlier]
        answers.append([r for r in p.results if r is not None])
    return answers


async def _commit_alone(p: Plan, i: int, sessions: async_sessionmaker[AsyncSession], pseudonym_key: str) -> Result:
    """Request ``i`` of ``p`` after its group's commit met a taken key: what is stored under its keys, else its own new
    recommendations, committed now."""
    r, keys = p.requests[i], p.keys[i]
    beyond = r.beyond_key(keys)

    async def stored() -> list[Answer] | None:
        async with sessions() as s:
            found = await RecommendationRepository(s).by_idempotency_keys(
                [k for k in (*keys, beyond) if k is not None])
        return _replay(keys, beyond, found, r.states, pseudonym_key)

    try:
        if (replayed := await stored()) is not None:
            return replayed
        try:
            await _persist(sessions, p.built[i], [r.caller] * len(p.built[i]))
        except IntegrityError:
            if (replayed := await stored()) is not None:
                return replayed
            raise IdempotencyKeyReused("this Idempotency-Key was already used for a different request") from None
        return [_answer(b) for b in p.built[i]]
    except (IdempotencyKeyReused, RecommendationErased) as e:
        return e


async def recommend(request: RecommendationRequest, client: InferenceClient, sessions: async_sessionmaker[AsyncSession],
                    pseudonym_key: str) -> list[Answer]:
    """One request planned and committed on its own (a batch; concurrent singles go through the coalescer), its answers
    in patient order. Raises ``IdempotencyKeyReused`` or ``RecommendationErased`` when it cannot be answered."""
    [[result]] = await commit([await plan([request], client, sessions, pseudonym_key)], sessions, pseudonym_key)
    if isinstance(result, Exception):
        raise result
    return result


async def _compute(items: Sequence[_Item], client: InferenceClient, pseudonym_key: str) -> list[Built]:
    """New recommendations for ``items``, in order, not yet stored: one inference call per therapy and kind of answer
    (explained or not), sent the patients' view (inference_contract.py) built here from the states validated once."""
    out: list[Built | None] = [None] * len(items)
    now = utc_now()  # in the tzinfo parsed timestamps share: the checks compare and subtract without utcoffset() calls
    pseudonyms = [pseudonymize(it.state.patient_ref, pseudonym_key) for it in items]
    # Inference decides at the instant the gateway checks: the same ``as_of`` for both, and for the stored state.
    states = [it.state if it.state.as_of else it.state.model_copy(update={"as_of": now}) for it in items]
    groups: dict[tuple[str, bool], list[int]] = {}
    for i, (it, state) in enumerate(zip(items, states, strict=True)):
        groups.setdefault((state.therapy, it.explain), []).append(i)
    for (therapy, explain), idx in groups.items():
        pack = get_pack(therapy)
        group = [states[i] for i in idx]
        view = ClinicView.from_states(pack, group)
        answering = await client.send_recommend(RecommendRequest.of(pack, view, explain))
        try:  # while inference computes: the gateway's own features and mask, and what each row stores
            prep = decision.prepare(group, view)
            stored = [StoredState.of(states[i], pseudonyms[i]) for i in idx]
        except BaseException:
            answering.cancel()
            raise
        answer = await answering
        if len(answer.items) != len(idx):
            raise InferenceUnavailable(f"inference answered for {len(answer.items)} patients of {len(idx)}")
        # The final guardrail check, with the gateway's own mask.
        decided = decision.decide_all(prep, [item.action for item in answer.items])
        features, masks = prep.features.tolist(), prep.guard.mask.tolist()  # once: numpy row by row costs more
        for j, i in enumerate(idx):
            it = items[i]
            out[i] = _build(prep, j, decided[j], states[i], stored[j], answer, it.caller.id, it.key, features[j],
                            masks[j], it.read_warnings)
    return [o for o in out if o is not None]


async def _persist(sessions: async_sessionmaker[AsyncSession], built: Sequence[Built], callers: Sequence[Caller]) -> None:
    """Commit recommendations with their audit events (``callers[i]`` made ``built[i]``) in ONE transaction: there is never
    a recommendation without its event or an event without its row. Raises IntegrityError (nothing stored) when an
    idempotency key is already taken."""
    if not built:
        return
    rows = [b.row for b in built]
    entries = [audit.entry(caller, Action.RECOMMENDATION_CREATE, patient_ref=row["patient_ref"],
                           policy_version=row["policy_version"], subject_id=str(row["id"]), input_hash=b.input_hash)
               for row, b, caller in zip(rows, built, callers, strict=True)]

    def store(conn: Connection) -> None:
        # A duplicate Idempotency-Key fails the first statement, before the audit chain is locked.
        RecommendationRepository.insert_many(conn, rows)
        append_audit_events(conn, entries)

    await run_transaction(sessions, store)
    metrics.record_recommendations(b.recommendation for b in built)  # committed: each counted once, replays never
