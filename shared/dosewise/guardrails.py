"""Guardrail machinery: hard limits as pure functions over a batch ``ClinicView``, turned into an action mask.

A pack declares a tuple of ``Rule``s. Each rule says for which patients it fires and which actions it then forbids, with a
message a clinician reads. The same ``evaluate`` is applied three times — as the action mask in training, as the mask before
the argmax in inference, and in the gateway's final check — so what is unsafe is defined exactly once.

Action 0 of every pack is its safest action (hold / no drug) and no rule forbids it unless the pack says so explicitly; if a
rule set forbids everything for a patient, the gateway answers "hold and refer to the clinician".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dosewise.therapies.base import ClinicView, GuardrailResult, TherapyPack

Fires = Callable[[TherapyPack, ClinicView], np.ndarray]  # (n,) bool
Forbids = Callable[[TherapyPack, ClinicView], np.ndarray]  # (n, A) bool: True = forbidden when the rule fires
Message = Callable[[TherapyPack, ClinicView, int], str]  # the reason for patient i, in words a clinician reads


@dataclass(frozen=True)
class Rule:
    id: str
    fires: Fires
    forbids: Forbids
    message: Message
    source: str  # where the rule comes from (guideline, label, or "Dosewise product limit")


def new_regimens(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    """(n, A): the regimen each action would set, per patient."""
    n = view.n
    return np.stack([pack.apply_actions(view.current_dose, np.full(n, j, dtype=np.int64))[1] for j in range(pack.n_actions)],
                    axis=1)


def _unclipped_regimens(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    return pack.proposed_regimens(view.current_dose)


def is_hold(pack: TherapyPack) -> np.ndarray:
    """(A,) True for actions that give no drug over the next interval."""
    return np.array([a.kind == "hold" or (a.kind == "level" and a.delta == 0.0) for a in pack.actions])


# --- reusable "forbids" ----------------------------------------------------------------------------------------------------
def forbid_increase(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    return _unclipped_regimens(pack, view) > view.current_dose[:, None] + 1e-9


def forbid_all_but_hold(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    return np.broadcast_to(~is_hold(pack), (view.n, pack.n_actions)).copy()


def forbid_all_but_keep(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    """Only the regimen as it is: no change, no hold (for a pack whose holds are followed by a lower regimen)."""
    unchanged = np.abs(_unclipped_regimens(pack, view) - view.current_dose[:, None]) < 1e-9
    return ~(unchanged & ~is_hold(pack)[None, :])


def forbid_change(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    """Only keep the regimen (or hold)."""
    unchanged = np.abs(_unclipped_regimens(pack, view) - view.current_dose[:, None]) < 1e-9
    return ~(unchanged | is_hold(pack)[None, :])


def forbid_above(limit: float | Callable[[TherapyPack, ClinicView], np.ndarray]) -> Forbids:
    """Forbid actions whose new regimen exceeds a limit (a constant or a per-patient array)."""

    def f(pack: TherapyPack, view: ClinicView) -> np.ndarray:
        lim = limit(pack, view) if callable(limit) else np.full(view.n, limit)
        return _unclipped_regimens(pack, view) > lim[:, None] + 1e-9

    return f


def forbid_step_above(max_step: float) -> Forbids:
    """Forbid changing the regimen by more than ``max_step`` in one decision."""

    def f(pack: TherapyPack, view: ClinicView) -> np.ndarray:
        return np.abs(_unclipped_regimens(pack, view) - view.current_dose[:, None]) > max_step + 1e-9

    return f


def forbid_above_unless_lower(limit: Callable[[TherapyPack, ClinicView], np.ndarray]) -> Forbids:
    """Forbid regimens above a per-patient limit ``limit(pack, view) -> (n,)``, except those that lower the current one
    (a patient already above the limit is brought down, not left without an allowed action)."""

    def f(pack: TherapyPack, view: ClinicView) -> np.ndarray:
        proposed = _unclipped_regimens(pack, view)
        lim = np.asarray(limit(pack, view), dtype=float)
        return (proposed > lim[:, None] + 1e-9) & (proposed > view.current_dose[:, None] - 1e-9)

    return f


def forbid_not_lower(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    """Only actions that lower a positive regimen (a hold followed by a lower one counts); for a regimen of 0, nothing is
    forbidden (nothing can be lower)."""
    # Exact: every lowering action's regimen is strictly below the current one (round_regimen keeps its direction), and a
    # tolerance would forbid the decreases of a regimen smaller than itself.
    keeps_or_raises = _unclipped_regimens(pack, view) >= view.current_dose[:, None]
    return keeps_or_raises & (view.current_dose > 0.0)[:, None]


def forbid_below_zero(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    return _unclipped_regimens(pack, view) < -1e-9


def always(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    return np.ones(view.n, dtype=bool)


# --- reusable "fires" ------------------------------------------------------------------------------------------------------
def largest_recorded_day(view: ClinicView) -> np.ndarray:
    """(n,) the largest daily amount in the dose record's window (0 when nothing is recorded)."""
    return np.where(np.isnan(view.dose_history), 0.0, view.dose_history).max(axis=1, initial=0.0)


def regimen_at_reading(view: ClinicView, kind: str) -> np.ndarray:
    """(n, K): the regimen the patient was on when each ``kind`` reading was measured: the latest dose taken before it (a
    dose of 0, a held or missed day, is skipped), the current regimen where the dose record does not reach back that far.
    A reading is *unanswered* while the current regimen is not below this one (the packs' "must lower" rules)."""
    doses = view.dose_history
    n, h = doses.shape
    age = view.obs_age_days[kind]
    taken = ~np.isnan(doses) & (doses > 0.0)
    # Doses bin by whole days before the decision, [:, 0] = yesterday; a reading a days old was measured after the doses
    # of index ≥ floor(a) (a morning reading precedes that day's dose; ClinicView, clinic.py).
    first = np.floor(np.nan_to_num(age, nan=float(h))).astype(np.int64)  # (n, K)
    idx = np.arange(h)[None, None, :]
    ok = taken[:, None, :] & (idx >= first[:, :, None])  # (n, K, H)
    j = np.argmax(ok, axis=2)
    found = ok.any(axis=2)
    at = np.nan_to_num(doses, nan=0.0)[np.arange(n)[:, None], j]
    return np.where(found, at, view.current_dose[:, None])


def dose_record_above_max(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    """A recorded day above the pack's maximum: outside every history the policy and its twins learned on (simulated
    regimens never exceed it), and more often a unit slip in the record (µg or a weekly total as mg) than a real dose."""
    return largest_recorded_day(view) > pack.max_dose + 1e-9


def dose_record_message(pack: TherapyPack, view: ClinicView, i: int) -> str:
    unit = pack.dose_unit
    return (f"The dose record has a day of {largest_recorded_day(view)[i]:g} {unit}, above the {pack.max_dose:g} {unit}/day "
            "this policy was built for: check the record's units; no automatic dose change.")


DOSE_RECORD_ABOVE_MAX = Rule("dose_record_above_max", dose_record_above_max, forbid_change, dose_record_message,
                             "Dosewise product limit (the policy's and the twins' dose range)")

ADULT_AGE_YEARS = 18.0  # every cohort the packs learn on is adult (warfarin: Ravvaz 2017 avatars truncated at 18 y)


def child(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    """Younger than every twin the policy learned on: its doses are an adult model's extrapolation."""
    return view.covariates["age_years"] < ADULT_AGE_YEARS


def child_message(pack: TherapyPack, view: ClinicView, i: int) -> str:
    return (f"Age {view.covariates['age_years'][i]:g} years: this policy and its twins are adult models; dose a child by a "
            "paediatric protocol. No automatic dose change.")


def child_rule(source: str) -> Rule:
    """Keep or hold only for a child; ``source``: the pack's reason (its label, its twins' ages)."""
    return Rule("child", child, forbid_change, child_message, source)


def evaluate(pack: TherapyPack, view: ClinicView, rules: Sequence[Rule]) -> GuardrailResult:
    """Apply every rule; a rule that fires adds its forbidden actions to the mask and its message to the firings. The
    always-on limits (max dose, no negative dose) only appear in the firings when they actually remove an action."""
    n = view.n
    mask = np.ones((n, pack.n_actions), dtype=bool)
    firings: list[list[tuple[str, str]]] = [[] for _ in range(n)]
    for rule in rules:
        fires = np.asarray(rule.fires(pack, view), dtype=bool)
        if not fires.any():
            continue
        forbidden = np.asarray(rule.forbids(pack, view), dtype=bool) & fires[:, None]
        removes = forbidden & mask
        mask &= ~forbidden
        report = fires if rule.fires is not always else removes.any(axis=1)
        for i in np.flatnonzero(report):
            firings[i].append((rule.id, rule.message(pack, view, int(i))))
    return GuardrailResult(mask=mask, firings=firings)


def violates(pack: TherapyPack, view: ClinicView, rules: Sequence[Rule], actions: np.ndarray) -> np.ndarray:
    """(n,) True where the chosen action breaks a rule: the independent check used by property tests."""
    mask = evaluate(pack, view, rules).mask
    return ~mask[np.arange(view.n), actions]
