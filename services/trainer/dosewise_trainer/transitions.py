"""From a recorded outcome to the learner's transition (state, action, behaviour probability, reward, next state).

One transition per outcome, keyed by ``outcome_id`` (a unique index), so redelivered messages and racing trainers add nothing:
the handler inserts with ON CONFLICT DO NOTHING, commits, and only then is the message acknowledged (``worker.py``).

- **State**: the features the serving policy saw, exactly as the gateway stored them with the recommendation.
- **Action**: the dose actually given, mapped onto the pack's action set (``nearest_action``). When the clinician overrode the
  recommendation this is the clinician's action: overrides are evidence, and the learner trains on what was done.
- **Behaviour probability**: the serving policy's logged probability when the recommendation was accepted; unknown (None)
  for an override — the clinician's propensity was never logged, so weighted importance sampling leaves those out.
- **Reward**: the pack's HSDPO terms R = α·T − β·A − γ·H (source document 001) computed from the OBSERVED outcome rather than
  the simulator's hidden truth: T and the observation-based part of A from the latest primary observation of the outcome
  (``TherapyPack.reward_terms``, e.g. warfarin: INR in 2–3 and INR > 4 or < 1.5 after day 7), plus one A unit per adverse
  event the clinic reported; H from the regimen change (warfarin: |new regimen − previous regimen|). An outcome without a
  primary observation earns no T and no observation-based A (``reward_terms.observed = false``): we do not invent a lab
  value.
- **Next state**: the recommendation's patient state advanced by the outcome — the dose given added to the dose history,
  the outcome's observations added, the regimen updated, the decision time moved one decision interval on — and featurized
  by the same ``ClinicView.from_states`` + ``pack.features`` the gateway uses.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise.queue.base import Message
from dosewise.schemas import DoseEvent, Measure, Observation, PatientState
from dosewise.storage.db import transaction
from dosewise.storage.models import Outcome, Recommendation, utcnow
from dosewise.storage.repositories import OutcomeRepository, TransitionRepository
from dosewise.therapies.base import ClinicView, TherapyPack
from dosewise.therapies.registry import get_pack

log = logging.getLogger("dosewise.trainer.transitions")

def nearest_action(pack: TherapyPack, current_dose: np.ndarray, given: np.ndarray, regimen: np.ndarray) -> np.ndarray:
    """Per row, the action whose (dose given, new regimen) is closest to what was done (L1, in the pack's dose unit); ties go
    to the lower index, so an ambiguous zero dose maps to hold (index 0, every pack's safest action)."""
    n = len(current_dose)
    candidates = [pack.apply_actions(current_dose, np.full(n, a)) for a in range(pack.n_actions)]
    g = np.stack([c[0] for c in candidates], axis=1)
    r = np.stack([c[1] for c in candidates], axis=1)
    return np.argmin(np.abs(g - given[:, None]) + np.abs(r - regimen[:, None]), axis=1)


def _decision_time(rec: Recommendation) -> datetime:
    as_of = rec.state.get("as_of")
    return datetime.fromisoformat(as_of) if as_of else rec.created_at


def _state(rec: Recommendation) -> PatientState:
    """The stored state, re-validated (canonical units already), pinned to its decision time."""
    state = PatientState.model_validate(rec.state)
    return state if state.as_of is not None else state.model_copy(update={"as_of": _decision_time(rec)})


def advance(pack: TherapyPack, state: PatientState, record: dict[str, Any]) -> PatientState:
    """The patient state at the next decision: the outcome's dose(s) and observations added, the regimen updated.

    Built with ``model_copy`` (no re-validation): the next decision time may still lie in the future when the outcome is
    reported early, which a PatientState from a caller may not, but a learner's next state may."""
    decided = state.decision_time
    given_at = datetime.fromisoformat(record["given_at"])
    doses = list(state.doses)
    for day in range(max(1, round(pack.decision_interval_days))):
        doses.append(DoseEvent.model_construct(amount=float(record["dose_given"]["value"]), unit=pack.dose_unit,
                                               time=given_at + timedelta(days=day)))
    observations = list(state.observations) + [Observation.model_validate(o) for o in record["observations"]]
    next_time = decided + timedelta(days=pack.decision_interval_days)
    latest = max((o.time for o in observations), default=next_time)
    return state.model_copy(update={
        "as_of": max(next_time, latest), "doses": doses, "observations": observations,
        "current_dose": Measure(value=float(record["regimen"]["value"]), unit=pack.dose_unit),
    })


def _primary_value(pack: TherapyPack, record: dict[str, Any]) -> float:
    """The latest primary observation of the outcome (canonical unit), NaN when there is none."""
    kind = pack.observation_kinds[0]
    obs = sorted((o for o in record["observations"] if o["kind"] == kind), key=lambda o: o["time"])
    return float(obs[-1]["value"]) if obs else float("nan")


def build_rows(pack: TherapyPack, pairs: Sequence[tuple[Outcome, Recommendation]]) -> list[dict[str, Any]]:
    """Transition rows (column → value) for outcomes of one therapy, computed as one batch."""
    if not pairs:
        return []
    records = [o.payload["record"] for o, _ in pairs]
    states = [_state(r) for _, r in pairs]
    nexts = [advance(pack, s, rec) for s, rec in zip(states, records, strict=True)]
    view = ClinicView.from_states(pack, states)
    next_view = ClinicView.from_states(pack, nexts)
    mask = _allowed(pack.guardrails(view).mask)
    next_mask = _allowed(pack.guardrails(next_view).mask)
    next_features = pack.features(next_view)
    given = np.array([float(rec["dose_given"]["value"]) for rec in records])
    regimen = np.array([float(rec["regimen"]["value"]) for rec in records])
    actions = nearest_action(pack, view.current_dose, given, regimen)
    value = np.array([_primary_value(pack, rec) for rec in records])
    observed = ~np.isnan(value)
    day_end = view.day + pack.decision_interval_days
    t, a_obs, h = pack.reward_terms(np.where(observed, value, np.nan), day_end, regimen - view.current_dose)
    t, a_obs = np.where(observed, t, 0.0), np.where(observed, a_obs, 0.0)
    reported = np.array([float(len(rec["adverse_events"])) for rec in records])
    a = a_obs + reported
    reward = pack.reward_weights.combine(t, a, h)
    rows = []
    for i, ((outcome, rec), record) in enumerate(zip(pairs, records, strict=True)):
        accepted = record["feedback"]["decision"] == "accepted"
        rows.append({
            "outcome_id": outcome.id, "recommendation_id": rec.id, "therapy": rec.therapy, "patient_ref": rec.patient_ref,
            "policy_id": rec.policy_id, "policy_version": rec.policy_version, "decision_time": states[i].decision_time,
            "features": [float(x) for x in rec.features], "mask": [bool(x) for x in mask[i]],
            "action_index": int(actions[i]), "recommended_action_index": int(rec.action_index),
            "behaviour_probability": float(rec.behaviour_probability) if accepted else None,
            "feedback": record["feedback"]["decision"], "reward": float(reward[i]),
            "reward_terms": {"r_t": float(t[i]), "r_a": float(a[i]), "r_a_observed": float(a_obs[i]),
                             "r_a_reported": float(reported[i]), "r_h": float(h[i]), "observed": bool(observed[i]),
                             "primary_value": None if not observed[i] else float(value[i])},
            "next_features": [float(x) for x in next_features[i]], "next_mask": [bool(x) for x in next_mask[i]],
            "terminated": bool(record["course_ended"]), "created_at": utcnow(),
        })
    return rows


def _allowed(mask: np.ndarray) -> np.ndarray:
    """Hold (action 0) stays possible where the guardrails allow nothing, as when acting (``common.allowed_actions``)."""
    mask = np.asarray(mask, dtype=bool).copy()
    mask[~mask.any(axis=1), 0] = True
    return mask


def _rows_isolating_failures(pack: TherapyPack, pairs: list[tuple[Outcome, Recommendation]]) -> list[dict[str, Any]]:
    """The batch at once; if it fails, one at a time, so one outcome that cannot be learned from does not block the rest."""
    try:
        return build_rows(pack, pairs)
    except Exception:
        rows: list[dict[str, Any]] = []
        for pair in pairs:
            try:
                rows += build_rows(pack, [pair])
            except Exception as e:
                log.error("outcome skipped: no transition can be built from it",
                          extra={"outcome_id": str(pair[0].id), "error": f"{type(e).__name__}: {e}"})
        return rows


def outcome_ids(messages: Sequence[Message]) -> list[uuid.UUID]:
    """The outcome ids a batch of stream messages announces (malformed messages are logged and dropped)."""
    ids: list[uuid.UUID] = []
    for m in messages:
        try:
            ids.append(uuid.UUID(str(m.payload["outcome_id"])))
        except (KeyError, ValueError):
            log.error("malformed outcome message dropped", extra={"message_id": m.id})
    return list(dict.fromkeys(ids))


async def record_transitions(sessions: async_sessionmaker[AsyncSession], ids: Sequence[uuid.UUID]) -> int:
    """Build and insert the transitions of these outcomes in one transaction; returns how many were new. Outcomes that
    already have a transition are skipped; outcomes that no longer exist (erased) are ignored."""
    async with transaction(sessions) as s:
        repo = TransitionRepository(s)
        have = await repo.existing(ids)
        todo = [i for i in ids if i not in have]
        pairs = await OutcomeRepository(s).with_recommendations(todo)
        by_therapy: dict[str, list[tuple[Outcome, Recommendation]]] = {}
        for pair in pairs:
            by_therapy.setdefault(pair[1].therapy, []).append(pair)
        rows: list[dict[str, Any]] = []
        for therapy, group in by_therapy.items():
            try:
                pack = get_pack(therapy)
            except KeyError:
                log.error("outcomes of an unknown therapy skipped", extra={"therapy": therapy, "count": len(group)})
                continue
            rows += _rows_isolating_failures(pack, group)
        return await repo.insert_ignoring_duplicates(rows)
