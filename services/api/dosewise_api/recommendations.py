"""The recommendation use case: validate → features and masks → inference (HTTP) → final guardrail check → persist → answer.

The row is committed before the answer is built from it, so every answer the caller sees is on record. With an
``Idempotency-Key`` a retried request returns the stored recommendation instead of making a second one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise import decision
from dosewise.privacy import pseudonymize
from dosewise.schemas import ActionValue, DoseQuantity, InferRequest, PatientState, Recommendation
from dosewise.storage import models
from dosewise.storage.db import transaction
from dosewise_api.inference_client import InferenceClient


async def find_by_idempotency_key(sessions: async_sessionmaker[AsyncSession], key: str) -> Recommendation | None:
    async with sessions() as s:
        row = (await s.execute(select(models.Recommendation).where(models.Recommendation.idempotency_key == key))).scalars().first()
    return None if row is None else Recommendation.model_validate(row.response)


async def get(sessions: async_sessionmaker[AsyncSession], rec_id: uuid.UUID) -> Recommendation | None:
    async with sessions() as s:
        row = await s.get(models.Recommendation, rec_id)
    return None if row is None else Recommendation.model_validate(row.response)


async def recommend(
    state: PatientState,
    client: InferenceClient,
    sessions: async_sessionmaker[AsyncSession],
    pseudonym_key: str,
    caller_id: str | None = None,
    idempotency_key: str | None = None,
) -> Recommendation:
    if idempotency_key:
        existing = await find_by_idempotency_key(sessions, idempotency_key)
        if existing is not None:
            return existing
    prep = decision.prepare([state])
    infer = await client.infer(InferRequest(therapy=state.therapy, features=prep.features.tolist(),
                                            action_mask=prep.guard.mask.tolist()))
    d = decision.decide(prep, 0, infer.actions[0])
    pack = prep.pack
    mask = prep.guard.mask[0]
    warnings = list(d.warnings)
    if infer.policy.status == "untrained":
        warnings.insert(0, "The serving policy is UNTRAINED (a network of the right shape, not yet trained): its output is "
                           "not evidence of anything. Do not act on it.")
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
                       for a, q, m in zip(pack.actions, infer.q_values[0], mask, strict=True)],
        guardrails=d.guardrails,
        warnings=warnings,
        created_at=datetime.now(UTC),
    )
    stored_state = state.model_dump(mode="json") | {"patient_ref": rec.patient_ref}
    row = models.Recommendation(
        id=rec.recommendation_id, idempotency_key=idempotency_key, caller_id=caller_id, therapy=rec.therapy,
        patient_ref=rec.patient_ref, policy_id=infer.policy.id, policy_version=infer.policy.version,
        policy_status=infer.policy.status, action_index=d.action_index, action_id=d.action_id,
        current_dose=rec.current_dose.value, recommended_dose=d.given_dose, dose_unit=pack.dose_unit,
        behaviour_probability=infer.behaviour_probability[0] if d.action_index == infer.actions[0] else 0.0,
        features=[float(x) for x in prep.features[0]], state=stored_state, response=rec.model_dump(mode="json"),
        created_at=rec.created_at,
    )
    try:
        async with transaction(sessions) as s:
            s.add(row)
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key won the race: answer with its recommendation.
        if idempotency_key and (existing := await find_by_idempotency_key(sessions, idempotency_key)) is not None:
            return existing
        raise
    return rec
