"""From a validated PatientState to a dosing decision, around the policy's Q-values (which come from inference over HTTP).

``prepare`` computes what the policy sees and the guardrail mask; ``decide`` applies the chosen action and re-checks the
guardrails one final time (the third application: training, inference, and here before a response leaves), so a wrong or
tampered answer from inference can never turn into an unsafe recommendation. The decision is a visit plan, the same one
training and evaluation use (``clinic.plan_from_actions``): a patient not yet on the drug gets the pack's start rule,
whatever policy serves; a hold says for how many doses; every answer says when to recheck.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import pairwise

import numpy as np

from dosewise.schemas import GuardrailFiring, PatientState
from dosewise.therapies.base import ClinicView, GuardrailResult, TherapyPack
from dosewise.therapies.clinic import SCHEDULES, plan_from_actions
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
    given_dose: float  # on the first day (0 during a hold), per day
    regimen_dose: float  # after any hold, until the next visit, per day
    guardrails: list[GuardrailFiring]
    warnings: list[str]
    hold_doses: int = 0  # doses to skip first
    recheck_days: float = 1.0  # days until the next measurement and decision
    started: bool = False  # the pack's start rule set the regimen (the patient was not on the drug)


def prepare(states: Sequence[PatientState], view: ClinicView | None = None) -> Prepared:
    """Features, guardrail masks and what to say about the co-medications, for a batch of states of one therapy
    (``view``: their ``ClinicView``, when it is built already)."""
    therapies = {s.therapy for s in states}
    if len(therapies) != 1:
        raise ValueError("a batch must hold one therapy")
    pack = get_pack(therapies.pop())
    prep = from_view(pack, ClinicView.from_states(pack, states) if view is None else view)
    return Prepared(pack=pack, view=prep.view, features=prep.features, guard=prep.guard,
                    comedication_warnings=tuple(tuple(pack.comedication_warnings(s.co_medications)) for s in states))


def from_view(pack: TherapyPack, view: ClinicView) -> Prepared:
    """Features and guardrail masks from a batch's view alone: what inference computes from the view the gateway sent
    (the co-medications' wording is the gateway's to add)."""
    return Prepared(pack=pack, view=view, features=pack.features(view), guard=pack.guardrails(view))


def decide(prep: Prepared, row: int, chosen: int) -> Decision:
    """Apply the action inference chose for ``row``; fall back to hold-and-refer when it is not allowed or none is."""
    return _decide(prep, np.array([row]), np.array([chosen]))[0]


def decide_all(prep: Prepared, chosen: Sequence[int] | np.ndarray) -> list[Decision]:
    """``decide`` for every row of ``prep`` at once (``chosen[i]`` for row i): one dose computation for a whole batch."""
    return _decide(prep, np.arange(len(prep.guard.mask)), np.asarray(chosen, dtype=int))


def longest_visit_gap_days(pack: TherapyPack) -> float | None:
    """The longest interval between visits in the schedules the pack's decisions are defined for (its ``cadences``),
    over a 90-day course; None for a daily-decision pack."""
    return _longest_gap_days(tuple(pack.cadences))


@cache
def _longest_gap_days(cadences: tuple[str, ...]) -> float | None:
    # A constant of the pack's, asked for every answered row: simulating the schedules each time dominated a batch's cost.
    gaps = []
    for name in cadences:
        days = SCHEDULES[name].visit_days(90)
        gaps.extend(b - a for a, b in pairwise(days))
    return float(max(gaps)) if gaps else None


LATE_VISIT_TOLERANCE_DAYS = 3.0  # the clinic protocol's late visits (1–3 days) are inside what the policies learned on


def cadence_warning(pack: TherapyPack, view: ClinicView, row: int) -> str | None:
    """What the answer says when the latest primary measurement is older than any visit interval the pack's policies were
    trained and evaluated at (plus a late visit's days): the decision is then outside what they have been tested for."""
    gap = longest_visit_gap_days(pack)
    if gap is None or getattr(pack, "self_monitored", False):
        return None
    kind = pack.observation_kinds[0]
    age = float(view.obs_age_days[kind][row, 0])
    if np.isnan(age) or age <= gap + LATE_VISIT_TOLERANCE_DAYS:
        return None
    return (f"The latest measurement is {age:.0f} days old; this therapy's policies are trained and evaluated at visits "
            f"at most {gap:g} days apart ({', '.join(pack.cadences)}): measure again before relying on this decision.")


def _decide(prep: Prepared, rows: np.ndarray, chosen: np.ndarray) -> list[Decision]:
    pack = prep.pack
    mask = prep.guard.mask[rows]
    none_safe = (chosen < 0) | ~mask.any(axis=1)
    # Inference returned an action the guardrails forbid, or no action at all (should never happen): never pass it on.
    n_actions = mask.shape[1]
    forbidden = ~none_safe & ((chosen >= n_actions) | ~mask[np.arange(len(rows)), np.clip(chosen, 0, n_actions - 1)])
    final = np.where(none_safe | forbidden, HOLD_INDEX, chosen)
    view = prep.view if len(rows) == prep.view.n and (rows == np.arange(len(rows))).all() else prep.view.take(rows)
    plan = plan_from_actions(pack, view, final)
    given = plan.given_on(0)
    out = []
    for j, row in enumerate(rows):
        firings = [GuardrailFiring(rule=r, message=m) for r, m in prep.guard.firings[row]]
        warnings: list[str] = []
        started = bool(plan.started[j])
        regimen = float(plan.regimen[j])
        if started:
            warnings.append(f"Not yet on the drug: start at {regimen:g} {pack.dose_unit}/day, the therapy's starting "
                            "rule; the policy decides from the next visit on.")
        elif none_safe[j]:
            warnings.append("No dose change is safe to recommend automatically: hold and refer to the clinician.")
        elif forbidden[j]:
            warnings.append("The policy's choice broke a guardrail and was replaced by hold; refer to the clinician.")
            firings.append(GuardrailFiring(rule="final_check", message="Policy output failed the gateway's final safety check."))
        action = pack.actions[int(final[j])]
        held = int(plan.hold_doses[j])
        if held:
            doses = "dose" if held == 1 else f"{held} doses"
            warnings.append(f"Hold: give no dose for the next {doses}, then {regimen:g} {pack.dose_unit}/day.")
        if (late := cadence_warning(pack, view, j)) is not None:
            warnings.append(late)
        if row < len(prep.comedication_warnings):
            warnings.extend(prep.comedication_warnings[row])
        out.append(Decision(
            action_index=int(final[j]), action_id="start" if started else action.id,
            action_label=f"Start at {regimen:g} {pack.dose_unit}/day" if started else action.label,
            given_dose=float(given[j]), regimen_dose=regimen, guardrails=firings, warnings=warnings, hold_doses=held,
            recheck_days=float(plan.recheck_days[j]), started=started,
        ))
    return out
