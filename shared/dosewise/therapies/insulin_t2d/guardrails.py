"""Basal-insulin hard limits (type 2 diabetes), for decisions at visits. Each rule cites where it comes from; product limits
say so. "Reduction" = an action whose regimen is below the current one; "increase" = above it.

Hypoglycaemia is answered by reducing the dose, never by skipping injections (Riddle 2003: −2 to −4 U; ADA Standards of Care
§9: lower the dose by 10–20 % after hypoglycaemia without a clear cause; clinical.md §2). A fasting glucose < 70 mg/dL is
*unanswered* while the regimen is not below the one the patient was on when it was measured (the last dose taken before the
reading, from the dose record; the current regimen if the record does not reach back): once the regimen has been lowered
since, that low asks for no further reduction, so one low is answered once (not once per visit while it stays in the
week's log), while a new low on the lowered dose asks for another.

- low_unanswered: an unanswered fasting glucose < 70 mg/dL (ADA level 1) in the last 7 days → a reduction is required (keep and
  increases forbidden).
- severe_low_unanswered: an unanswered one < 54 mg/dL (ADA level 2) → a reduction of at least 10 % (the lower end of the ADA
  10–20 %; −2 U of a 60 U dose is not an answer to a level-2 low).
- hypo_week: any fasting glucose < 72 mg/dL in the last 7 days → no increase (Treat-to-Target, Riddle 2003).
- below_target: any fasting glucose of the last 3 days < 80 mg/dL, the lower limit of the ADA fasting target 80–130 → no
  increase (a reading below the target is no reason to add insulin, whatever the mean; this is what blocks "+4 U at 73 and
  77 mg/dL").
- titration_step: an increase at most the Treat-to-Target step for the mean of the last 3 days' fasting readings (Riddle 2003:
  > 100 → +2, ≥ 120 → +4, ≥ 140 → +6, ≥ 180 → +8 U), so none at a mean ≤ 100 mg/dL, the target of both Treat-to-Target
  (≤ 100) and AT.LANTUS algorithm 2 (+2 U only while the 3-day mean > 100; Davies 2005). The mean, not one reading: one
  morning's value carries meter error and day-to-day variation, the guideline algorithms titrate on means.
- no_recent_glucose: no fasting glucose in the last 3 days → no increase (product limit: never titrate up blind).
- max_dose: no regimen above 100 U/day unless it lowers the current one (product limit, pack.max_dose).
- max_dose_per_kg: the same above 1.0 U/kg/day (product limit; > 0.5 U/kg/day already signals overbasalization, ADA 2024 §9
  [secondary]).
- renal_step: eGFR < 30 mL/min/1.73 m² → increases limited to 2 U per decision (insulin clearance falls with GFR: Snyder &
  Berns 2004 [secondary]; the step cap is a product limit).
- dose_record_above_max, child, pregnancy: no automatic change (product limits, see each rule's source), except the
  reduction an unanswered low requires: a reduction is never the harmful direction after hypoglycaemia.

Every state keeps an allowed action except where the rules cannot agree (a low to answer but every reduction blocked, e.g. a
regimen of 0 already, or a dose raised > 20 % since the low); the fallback then is action 0, −20 %, itself a reduction
(or 0 U/day where the regimen is 0).
"""

from __future__ import annotations

import numpy as np

from dosewise.guardrails import (
    Rule,
    always,
    child,
    child_message,
    dose_record_above_max,
    dose_record_message,
    forbid_above_unless_lower,
    regimen_at_reading,
)
from dosewise.therapies.base import ClinicView, TherapyPack

KIND = "glucose_fasting"
HYPO_L1_MG_DL = 70.0  # ADA level 1: a reduction is required
HYPO_L2_MG_DL = 54.0  # ADA level 2: a reduction of at least SEVERE_MIN_REDUCTION
SEVERE_MIN_REDUCTION = 0.10  # ADA Standards §9: lower the dose 10–20 % after hypoglycaemia; the lower end as a floor
NO_INCREASE_BELOW_MG_DL = 72.0  # Riddle 2003 Treat-to-Target: no increase if any plasma glucose < 72 mg/dL in the past week
TARGET_LOW_MG_DL = 80.0  # ADA fasting target 80–130 mg/dL: no increase after a reading below it
LOOKBACK_DAYS = 7.0  # "the preceding week" (Riddle 2003)
MEAN_DAYS = 3.0  # AT.LANTUS algorithm 2 titrates on the 3-day mean (Davies 2005)
# Riddle 2003 Treat-to-Target: (mean fasting glucose at or above, mg/dL → largest increase, U). The 100 row is "> 100".
TTT_STEPS_MG_DL: tuple[tuple[float, float], ...] = ((180.0, 8.0), (140.0, 6.0), (120.0, 4.0), (100.0, 2.0))
MAX_U_PER_KG = 1.0  # product limit
LOW_EGFR = 30.0  # mL/min/1.73 m², CKD stage 4–5
LOW_EGFR_MAX_STEP_U = 2.0  # product limit
STALE_GLUCOSE_DAYS = 3.0  # product limit
EPS = 1e-9


# --- what the rules read (also the pack's features) ---------------------------------------------------------------------
def recent_readings(view: ClinicView, days: float) -> tuple[np.ndarray, np.ndarray]:
    """(values, mask): the fasting readings measured less than ``days`` days before the decision."""
    g, age = view.obs[KIND], view.obs_age_days[KIND]
    return g, ~np.isnan(g) & (np.nan_to_num(age, nan=np.inf) < days)


def mean_fasting(view: ClinicView, days: float) -> np.ndarray:
    """(n,) mean of the fasting readings of the last ``days`` days; NaN where there is none."""
    g, recent = recent_readings(view, days)
    n = recent.sum(axis=1)
    return np.where(n > 0, np.where(recent, g, 0.0).sum(axis=1) / np.maximum(n, 1), np.nan)


def unanswered_low(view: ClinicView, below: float) -> np.ndarray:
    """(n,) a fasting glucose < ``below`` in the last 7 days with the regimen not lowered since it was measured."""
    g, recent = recent_readings(view, LOOKBACK_DAYS)
    low = recent & (g < below)
    not_lowered = view.current_dose[:, None] >= regimen_at_reading(view, KIND) - EPS
    return (low & not_lowered).any(axis=1)


def increase_cap_u(view: ClinicView) -> np.ndarray:
    """(n,) the largest increase Treat-to-Target allows for the 3-day mean (0 at ≤ 100 mg/dL or with no reading)."""
    mean = mean_fasting(view, MEAN_DAYS)
    cap = np.zeros(view.n)
    for threshold, step in reversed(TTT_STEPS_MG_DL):  # later (higher) thresholds overwrite
        above = (mean > threshold) if threshold == TTT_STEPS_MG_DL[-1][0] else (mean >= threshold)
        cap = np.where(above, step, cap)  # NaN mean → False → 0
    return cap


# --- fires ------------------------------------------------------------------------------------------------------------------
def _low(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    return unanswered_low(view, HYPO_L1_MG_DL)


def _severe_low(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    return unanswered_low(view, HYPO_L2_MG_DL)


def _hypo_week(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    g, recent = recent_readings(view, LOOKBACK_DAYS)
    return (recent & (g < NO_INCREASE_BELOW_MG_DL)).any(axis=1)


def _below_target(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    g, recent = recent_readings(view, MEAN_DAYS)
    return (recent & (g < TARGET_LOW_MG_DL)).any(axis=1)


def _low_egfr(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    egfr = view.covariates["egfr_ml_min_1_73m2"]
    return ~np.isnan(egfr) & (egfr < LOW_EGFR)


def _pregnant(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    return view.covariates["pregnant"] > 0.5


def _no_recent_glucose(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    return ~recent_readings(view, STALE_GLUCOSE_DAYS)[1].any(axis=1)


# --- forbids (on the proposed regimens, so every action kind is judged alike) -----------------------------------------------
def _change(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    """(n, A) proposed regimen − current regimen."""
    return pack.proposed_regimens(view.current_dose) - view.current_dose[:, None]


def _forbid_not_lower(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    return _change(pack, view) > -EPS


def _forbid_less_than_severe_reduction(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    proposed = pack.proposed_regimens(view.current_dose)
    return proposed > (1.0 - SEVERE_MIN_REDUCTION) * view.current_dose[:, None] + EPS


def _forbid_increase(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    return _change(pack, view) > EPS


def _forbid_above_ttt_step(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    return _change(pack, view) > increase_cap_u(view)[:, None] + EPS


def _forbid_big_increase(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    return _change(pack, view) > LOW_EGFR_MAX_STEP_U + EPS


def _forbid_change_but_answer_lows(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    """Keep only, except the reductions an unanswered low requires (the low rules then forbid keep)."""
    change = _change(pack, view)
    reduction_due = _low(pack, view)[:, None] & (change < -EPS)
    return (np.abs(change) > EPS) & ~reduction_due


def _latest_low_message(view: ClinicView, i: int, below: float) -> str:
    g, recent = recent_readings(view, LOOKBACK_DAYS)
    lows = g[i][recent[i] & (g[i] < below)]
    return f"{lows.min():.0f} mg/dL" if lows.size else "a low value"


RULES: tuple[Rule, ...] = (
    Rule("low_unanswered", _low, _forbid_not_lower,
         lambda p, v, i: f"Fasting glucose {_latest_low_message(v, i, HYPO_L1_MG_DL)} in the last 7 days (below 70 mg/dL) "
                         "and the dose not lowered since: reduce the basal dose; do not skip injections.",
         "ADA hypoglycaemia level 1 (< 70 mg/dL); reduce, not skip: Riddle 2003 (−2 to −4 U), ADA Standards §9 (−10 to −20 %)"),
    Rule("severe_low_unanswered", _severe_low, _forbid_less_than_severe_reduction,
         lambda p, v, i: f"Fasting glucose {_latest_low_message(v, i, HYPO_L2_MG_DL)} is level-2 hypoglycaemia (< 54 mg/dL): "
                         f"reduce the basal dose by at least {SEVERE_MIN_REDUCTION:.0%} and review.",
         "ADA hypoglycaemia level 2 (< 54 mg/dL); ADA Standards §9 (reduce 10–20 %)"),
    Rule("hypo_week", _hypo_week, _forbid_increase,
         lambda p, v, i: f"A fasting glucose below {NO_INCREASE_BELOW_MG_DL:g} mg/dL in the last 7 days: no dose increase.",
         "Treat-to-Target (Riddle et al., Diabetes Care 2003;26:3080)"),
    Rule("below_target", _below_target, _forbid_increase,
         lambda p, v, i: f"A fasting glucose below the {TARGET_LOW_MG_DL:g}–130 mg/dL target in the last "
                         f"{MEAN_DAYS:g} days: no dose increase.",
         "ADA Standards of Care §6 fasting target 80–130 mg/dL"),
    Rule("titration_step", always, _forbid_above_ttt_step,
         lambda p, v, i: f"Increases are limited to the Treat-to-Target step for the {MEAN_DAYS:g}-day mean fasting glucose "
                         f"({increase_cap_u(v)[i]:g} U now; none at a mean ≤ 100 mg/dL).",
         "Treat-to-Target (Riddle 2003) steps; AT.LANTUS algorithm 2 (Davies 2005) titrates only above a 3-day mean of 100"),
    Rule("no_recent_glucose", _no_recent_glucose, _forbid_increase,
         lambda p, v, i: f"No fasting glucose in the last {STALE_GLUCOSE_DAYS:g} days: measure before increasing the dose.",
         "Dosewise product limit"),
    Rule("max_dose", always, forbid_above_unless_lower(lambda p, v: np.full(v.n, p.max_dose)),
         lambda p, v, i: f"Basal doses above {p.max_dose:g} U/day need the clinician's explicit decision.",
         "Dosewise product limit"),
    Rule("max_dose_per_kg", always,
         forbid_above_unless_lower(lambda p, v: MAX_U_PER_KG * v.covariates["weight_kg"]),
         lambda p, v, i: f"Basal doses above {MAX_U_PER_KG:g} U/kg/day ({MAX_U_PER_KG * v.covariates['weight_kg'][i]:.0f} U) "
                         "suggest overbasalization: review the regimen.",
         "ADA Standards of Care 2024 §9 (overbasalization > 0.5 U/kg) [secondary]; cap is a Dosewise product limit"),
    Rule("renal_step", _low_egfr, _forbid_big_increase,
         lambda p, v, i: f"eGFR {v.covariates['egfr_ml_min_1_73m2'][i]:.0f} mL/min/1.73 m²: insulin clearance is reduced; "
                         f"increases limited to {LOW_EGFR_MAX_STEP_U:g} U per step.",
         "Snyder & Berns 2004 [secondary]; step cap is a Dosewise product limit"),
    Rule("child", child, _forbid_change_but_answer_lows, child_message,
         "Dosewise product limit: adult twins (30–85 y; Treat-to-Target, Riddle 2003, enrolled adults)"),
    Rule("dose_record_above_max", dose_record_above_max, _forbid_change_but_answer_lows, dose_record_message,
         "Dosewise product limit (the policy's and the twins' dose range)"),
    Rule("pregnancy", _pregnant, _forbid_change_but_answer_lows,
         lambda p, v, i: "Pregnant: fasting targets (< 95 mg/dL) and insulin needs differ in pregnancy and this policy "
                         "learned neither; no automatic dose change (a reduction after a low only), refer to the "
                         "diabetes-in-pregnancy team.",
         "ADA Standards of Care 2024 §15 [unverified, recalled]; Dosewise product limit"),
)
