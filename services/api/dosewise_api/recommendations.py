"""The recommendation use case: validate → features and masks → inference (HTTP) → final guardrail check → persist → answer.

Batch-first: one patient is a batch of one, and a batch of up to 1,000 patients of one therapy costs one inference call (one
onnxruntime run). Rows are committed before the answer is built from them, so every answer the caller sees is on record. With
an ``Idempotency-Key`` a retried request returns the stored recommendations instead of making new ones (batch item i is stored
under ``<key>:<i>``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise import decision
from dosewise.privacy import pseudonymize
from dosewise.schemas import ActionValue, DoseQuantity, InferRequest, InferResponse, PatientState, Recommendation
from dosewise.storage import models
from dosewise.storage.db import transaction
from dosewise_api.inference_client import InferenceClient

UNTRAINED_WARNING = ("The serving policy is UNTRAINED (a network of the right shape, not yet trained): its output is not "
                     "evidence of anything. Do not act on it.")


def _item_keys(key: str | None, n: int, batch: bool) -> list[str | None]:
    if not key:
        return [None] * n
    return [f"{key}:{i}" for i in range(n)] if batch else [key]


async def _find(sessions: async_sessionmaker[AsyncSession], keys: Sequence[str | None]) -> list[Recommendation] | None:
    """The stored recommendations for these idempotency keys, if all exist."""
    if not keys or keys[0] is None:
        return None
    async with sessions() as s:
        rows = (await s.execute(select(models.Recommendation).where(models.Recommendation.idempotency_key.in_(keys)))).scalars()  # type: ignore[union-attr]
        by_key = {r.idempotency_key: r for r in rows}
    if len(by_key) != len(keys):
        return None
    return [Recommendation.model_validate(by_key[k].response) for k in keys]


async def get(sessions: async_sessionmaker[AsyncSession], rec_id: uuid.UUID) -> Recommendation | None:
    async with sessions() as s:
        row = await s.get(models.Recommendation, rec_id)
    return None if row is None else Recommendation.model_validate(row.response)


def _build(prep: decision.Prepared, i: int, state: PatientState, infer: InferResponse, pseudonym_key: str,
           caller_id: str | None, key: str | None) -> tuple[Recommendation, models.Recommendation]:
    pack = prep.pack
    d = decision.decide(prep, i, infer.actions[i])
    warnings = ([UNTRAINED_WARNING] if infer.policy.status == "untrained" else []) + d.warnings
    rec = Recommendation(
        recommendation_id=uuid.uuid4(),
        therapy=state.therapy,
        patient_ref=pseudonymize(state.patient_ref, pseudonym_key),
        policy=infer.policy,
        current_dose=DoseQuantity(value=state.current_dose.value, unit=pack.dose_unit),
        recommended_dose=DoseQuantity(value=d.given_dose, unit=pack.dose_unit),
        action=d.action_id,
        action_label=d.action_label,
        action_values=[ActionValue(action=a.id, label=a.label, q_value=float(q), allowed=bool(m))
                       for a, q, m in zip(pack.actions, infer.q_values[i], prep.guard.mask[i], strict=True)],
        guardrails=d.guardrails,
        warnings=warnings,
        created_at=datetime.now(UTC),
    )
    row = models.Recommendation(
        id=rec.recommendation_id, idempotency_key=key, caller_id=caller_id, therapy=rec.therapy,
        patient_ref=rec.patient_ref, policy_id=infer.policy.id, policy_version=infer.policy.version,
        policy_status=infer.policy.status, action_index=d.action_index, action_id=d.action_id,
        current_dose=rec.current_dose.value, recommended_dose=d.given_dose, dose_unit=pack.dose_unit,
        # The logged behaviour probability is the serving policy's, unless the gateway overrode its choice (then 0).
        behaviour_probability=infer.behaviour_probability[i] if d.action_index == infer.actions[i] else 0.0,
        features=[float(x) for x in prep.features[i]],
        state=state.model_dump(mode="json") | {"patient_ref": rec.patient_ref},
        response=rec.model_dump(mode="json"), created_at=rec.created_at,
    )
    return rec, row


async def recommend_many(
    states: Sequence[PatientState],
    client: InferenceClient,
    sessions: async_sessionmaker[AsyncSession],
    pseudonym_key: str,
    caller_id: str | None = None,
    idempotency_key: str | None = None,
    batch: bool = True,
) -> list[Recommendation]:
    """Recommendations for patients of one or more therapies, in input order; one inference call per therapy."""
    keys = _item_keys(idempotency_key, len(states), batch)
    if (existing := await _find(sessions, keys)) is not None:
        return existing
    out: list[tuple[Recommendation, models.Recommendation] | None] = [None] * len(states)
    for therapy in dict.fromkeys(s.therapy for s in states):
        idx = [i for i, s in enumerate(states) if s.therapy == therapy]
        prep = decision.prepare([states[i] for i in idx])
        infer = await client.infer(InferRequest(therapy=therapy, features=prep.features.tolist(),
                                                action_mask=prep.guard.mask.tolist()))
        for j, i in enumerate(idx):
            out[i] = _build(prep, j, states[i], infer, pseudonym_key, caller_id, keys[i])
    built = [o for o in out if o is not None]
    try:
        async with transaction(sessions) as s:
            s.add_all([row for _, row in built])
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key won the race: answer with what it stored.
        if (existing := await _find(sessions, keys)) is not None:
            return existing
        raise
    return [rec for rec, _ in built]


async def recommend(
    state: PatientState,
    client: InferenceClient,
    sessions: async_sessionmaker[AsyncSession],
    pseudonym_key: str,
    caller_id: str | None = None,
    idempotency_key: str | None = None,
) -> Recommendation:
    return (await recommend_many([state], client, sessions, pseudonym_key, caller_id, idempotency_key, batch=False))[0]
