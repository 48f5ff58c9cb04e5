"""From a validated PatientState to a dosing decision, around the policy's Q-values (which come from inference over HTTP).

``prepare`` computes what the policy sees and the guardrail mask; ``decide`` applies the chosen action and re-checks the
guardrails one final time (the third application: training, inference, and here before a response leaves), so a wrong or
tampered answer from inference can never turn into an unsafe recommendation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dosewise.schemas import GuardrailFiring, PatientState
from dosewise.therapies.base import ClinicView, GuardrailResult, TherapyPack
from dosewise.therapies.registry import get_pack

HOLD_INDEX = 0  # every pack's action 0 is its safest action (hold / no drug)


@dataclass(frozen=True)
class Prepared:
    pack: TherapyPack
    view: ClinicView
    features: np.ndarray  # (n, F) float32
    guard: GuardrailResult
    # Per row: what the answer must say about the co-medications as recorded (entries whose interactions were not checked)
    comedication_warnings: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class Decision:
    action_index: int
    action_id: str
    action_label: str
    given_dose: float  # over the next decision interval, per day
    regimen_dose: float
    guardrails: list[GuardrailFiring]
    warnings: list[str]


def prepare(states: list[PatientState]) -> Prepared:
    """Features, guardrail masks and what to say about the co-medications, for a batch of states of one therapy."""
    therapies = {s.therapy for s in states}
    if len(therapies) != 1:
        raise ValueError("a batch must hold one therapy")
    pack = get_pack(therapies.pop())
    view = ClinicView.from_states(pack, states)
    return Prepared(pack=pack, view=view, features=pack.features(view), guard=pack.guardrails(view),
                    comedication_warnings=tuple(tuple(pack.comedication_warnings(s.co_medications)) for s in states))


def decide(prep: Prepared, row: int, chosen: int) -> Decision:
    """Apply the action inference chose for ``row``; fall back to hold-and-refer when it is not allowed or none is."""
    return _decide(prep, np.array([row]), np.array([chosen]))[0]


def decide_all(prep: Prepared, chosen: Sequence[int] | np.ndarray) -> list[Decision]:
    """``decide`` for every row of ``prep`` at once (``chosen[i]`` for row i): one dose computation for a whole batch."""
    return _decide(prep, np.arange(len(prep.guard.mask)), np.asarray(chosen, dtype=int))


def _decide(prep: Prepared, rows: np.ndarray, chosen: np.ndarray) -> list[Decision]:
    pack = prep.pack
    mask = prep.guard.mask[rows]
    none_safe = (chosen < 0) | ~mask.any(axis=1)
    # Inference returned an action the guardrails forbid, or no action at all (should never happen): never pass it on.
    n_actions = mask.shape[1]
    forbidden = ~none_safe & ((chosen >= n_actions) | ~mask[np.arange(len(rows)), np.clip(chosen, 0, n_actions - 1)])
    final = np.where(none_safe | forbidden, HOLD_INDEX, chosen)
    given, regimen = pack.apply_actions(prep.view.current_dose[rows], final)
    out = []
    for j, row in enumerate(rows):
        firings = [GuardrailFiring(rule=r, message=m) for r, m in prep.guard.firings[row]]
        warnings: list[str] = []
        if none_safe[j]:
            warnings.append("No dose change is safe to recommend automatically: hold and refer to the clinician.")
        elif forbidden[j]:
            warnings.append("The policy's choice broke a guardrail and was replaced by hold; refer to the clinician.")
            firings.append(GuardrailFiring(rule="final_check", message="Policy output failed the gateway's final safety check."))
        action = pack.actions[int(final[j])]
        if action.kind == "hold":
            days = pack.decision_interval_days
            span = "day" if days == 1 else f"{days:g} days"
            warnings.append(f"Hold: give no dose for the next {span}; the regimen stays {float(regimen[j]):g} "
                            f"{pack.dose_unit}/day.")
        if row < len(prep.comedication_warnings):
            warnings.extend(prep.comedication_warnings[row])
        out.append(Decision(
            action_index=int(final[j]), action_id=action.id, action_label=action.label, given_dose=float(given[j]),
            regimen_dose=float(regimen[j]), guardrails=firings, warnings=warnings,
        ))
    return out
