"""From a validated PatientState to a dosing decision, around the policy's Q-values (which come from inference over HTTP).

``prepare`` computes what the policy sees and the guardrail mask; ``decide`` applies the chosen action and re-checks the
guardrails one final time (the third application: training, inference, and here before a response leaves), so a wrong or
tampered answer from inference can never turn into an unsafe recommendation.
"""

from __future__ import annotations

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
    """Features and guardrail masks for a batch of states of one therapy."""
    therapies = {s.therapy for s in states}
    if len(therapies) != 1:
        raise ValueError("a batch must hold one therapy")
    pack = get_pack(therapies.pop())
    view = ClinicView.from_states(pack, states)
    return Prepared(pack=pack, view=view, features=pack.features(view), guard=pack.guardrails(view))


def decide(prep: Prepared, row: int, chosen: int) -> Decision:
    """Apply the action inference chose for ``row``; fall back to hold-and-refer when it is not allowed or none is."""
    pack = prep.pack
    mask = prep.guard.mask[row]
    firings = [GuardrailFiring(rule=r, message=m) for r, m in prep.guard.firings[row]]
    warnings: list[str] = []
    if chosen < 0 or not mask.any():
        warnings.append("No dose change is safe to recommend automatically: hold and refer to the clinician.")
        chosen = HOLD_INDEX
    elif not mask[chosen]:
        # Inference returned an action the guardrails forbid (should never happen): never pass it on.
        warnings.append("The policy's choice broke a guardrail and was replaced by hold; refer to the clinician.")
        firings.append(GuardrailFiring(rule="final_check", message="Policy output failed the gateway's final safety check."))
        chosen = HOLD_INDEX
    current = prep.view.current_dose[row : row + 1]
    given, regimen = pack.apply_actions(current, np.array([chosen]))
    action = pack.actions[chosen]
    if action.kind == "hold":
        warnings.append(f"Hold: give no dose for the next {pack.decision_interval_days:g} day(s); the regimen stays "
                        f"{float(regimen[0]):g} {pack.dose_unit}/day.")
    return Decision(
        action_index=chosen, action_id=action.id, action_label=action.label, given_dose=float(given[0]),
        regimen_dose=float(regimen[0]), guardrails=firings, warnings=warnings,
    )
