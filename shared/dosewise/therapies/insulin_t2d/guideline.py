"""Guideline basal-insulin dosing: a weight-based start reduced for low eGFR, then titration by a published algorithm.

Start (every policy): 0.1 U/kg/day — the low end of the ADA/EASD 0.1–0.2 U/kg/day range [secondary, clinical.md §2] — times a
renal fraction: the Snyder & Berns 2004 fraction (100 % for GFR > 50, 75 % for 10–50, 50 % below 10 mL/min; clinical.md §2
"Renal impairment" [secondary]; model.renal_clearance_factor, which interpolates between those knots) and at most 75 % in
CKD stage 3 and below (eGFR < 60: clinical.md's "about −25 % in CKD 3" [secondary]; sources disagree, so the more
conservative of the two applies), rounded to whole units, at least 4 U. Unknown eGFR → no reduction (the clinic has no
reason to reduce). At a visit (``start_dose_u``) the start waits while the fasting log shows no need (a 3-day mean ≤ 100
mg/dL, the titration target below, or a reading < 72 mg/dL in the week): the algorithms would not add insulin either.

Daily titration (``TreatToTargetPolicy``, the daily simulator rollout) — Treat-to-Target trial, Riddle, Rosenstock & Gerich,
Diabetes Care 2003;26:3080 (clinical.md §2 [checked]):

- Weekly (days 7, 14, …), on the mean of the fasting values of the preceding 2 days (mg/dL):
  ≥ 180 → +8 U; 140–179 → +6 U; 120–139 → +4 U; 100–119 → +2 U; < 100 (target ≤ 100) → no change.
- No increase if any glucose in the preceding week was < 72 mg/dL.
- "Small decreases (2–4 U/day per adjustment)" if plasma glucose < 56 mg/dL: we take the larger, −4 U, and apply it at the next
  daily decision after such a value (a reported hypoglycaemia is acted on at once rather than at the weekly visit) — our
  reading of the protocol; the trial left the size to the investigator.

Visit titration (clinic.VisitPolicy, one decision per visit through the pack's action set and guardrails):

- ``TreatToTargetVisitPolicy`` (weekly visits): the Treat-to-Target steps above on the 2-day mean, at most one increase per
  ``TTT_MIN_DAYS_ON_REGIMEN`` days on the regimen in force (the trial titrated weekly; at visits 3 days apart the algorithm
  keeps that pace instead of stepping 2–3 times a week).
- ``AtLantusVisitPolicy`` (every 3 days): AT.LANTUS algorithm 2 (Davies et al., Diabetes Care 2005;28:1282; clinical.md §2):
  +2 U every 3 days while the 3-day mean fasting glucose > 100 mg/dL; no increase if any value < 72 mg/dL.
- Both answer an unanswered low (guardrails.py: a fasting glucose below the limit with the regimen not lowered since) with a
  reduction, never a skipped injection: −4 U below 56 mg/dL and −2 U below 70 mg/dL (Riddle 2003's "2–4 U"; AT.LANTUS's own
  decrease rule we could not check [unverified], so it uses the same), then the guardrails: where the algorithm's action is
  not allowed (e.g. −4 U is less than the 10 % a level-2 low requires), the allowed action whose regimen is nearest to it,
  the lower one on a tie.

The policies are stateless: they read everything from the ClinicView, so they behave identically in the simulator, the
clinic protocol and the gateway.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dosewise.guardrails import ADULT_AGE_YEARS
from dosewise.therapies.base import ClinicView, FloatArray, IntArray, TherapyPack
from dosewise.therapies.clinic import ActionGuideline, action_index, days_on_regimen
from dosewise.therapies.insulin_t2d import guardrails as rules
from dosewise.therapies.insulin_t2d.model import renal_clearance_factor

START_U_PER_KG = 0.1  # ADA/EASD start 0.1–0.2 U/kg/day (clinical.md §2 [secondary]); the low end, as insulin-naive
MIN_START_U = 4.0  # assumption: smallest practical pen dose to start with
T2T_STEPS_MG_DL: tuple[tuple[float, float], ...] = ((180.0, 8.0), (140.0, 6.0), (120.0, 4.0), (100.0, 2.0))  # Riddle 2003
T2T_NO_INCREASE_BELOW_MG_DL = 72.0  # Riddle 2003: no increase if any PG < 72 mg/dL in the preceding week
T2T_DECREASE_BELOW_MG_DL = 56.0  # Riddle 2003: decrease 2–4 U if PG < 56 mg/dL
T2T_DECREASE_U = 4.0
T2T_INTERVAL_DAYS = 7  # weekly titration
T2T_MEAN_OF_DAYS = 2.0  # "mean of the preceding 2 days" of fasting values
CKD3_EGFR = 60.0  # mL/min/1.73 m²: CKD stage 3 begins (KDIGO); clinical.md: about −25 % of the dose in CKD 3 [secondary]
CKD3_START_FRACTION = 0.75
TTT_MIN_DAYS_ON_REGIMEN = 6  # our reading of "titrated weekly" at any visit cadence: ≥ 6 days on a regimen before a step up
AT_LANTUS_STEP_U = 2.0  # Davies 2005 algorithm 2: +2 U every 3 days ...
AT_LANTUS_ABOVE_MG_DL = 100.0  # ... while the 3-day mean fasting glucose > 100 mg/dL
AT_LANTUS_MEAN_OF_DAYS = 3.0
AT_LANTUS_MIN_DAYS_ON_REGIMEN = 3
LOW_DECREASE_U = 2.0  # an unanswered fasting glucose < 70 mg/dL: −2 U (Riddle 2003's smaller decrease)


def start_renal_fraction(egfr_ml_min_1_73m2: FloatArray) -> FloatArray:
    """The start dose's renal fraction: Snyder & Berns 2004, at most 75 % below eGFR 60 (module docstring); 1 if unknown."""
    egfr = np.asarray(egfr_ml_min_1_73m2, dtype=float)
    ckd3 = ~np.isnan(egfr) & (egfr < CKD3_EGFR)
    return np.where(ckd3, np.minimum(renal_clearance_factor(egfr), CKD3_START_FRACTION), renal_clearance_factor(egfr))


def weight_based_start_dose_u(covariates: Mapping[str, FloatArray], max_dose_u: float) -> FloatArray:
    """The starting regimen (U/day) for every policy: 0.1 U/kg × the renal fraction, whole units, at least 4 U."""
    dose = START_U_PER_KG * covariates["weight_kg"] * start_renal_fraction(covariates["egfr_ml_min_1_73m2"])
    return np.clip(np.round(dose), MIN_START_U, max_dose_u)


def start_dose_u(view: ClinicView, max_dose_u: float) -> FloatArray:
    """The start at a visit (U/day): ``weight_based_start_dose_u``, or 0 (no automatic start) where the guardrails would
    forbid the increase from 0 it is: no fasting reading in the last 3 days, a 3-day mean ≤ 100 mg/dL or a reading < 72
    mg/dL in the week (the log shows no need), a child or a pregnancy (outside the policy's population; guardrails.py)."""
    mean = rules.mean_fasting(view, rules.MEAN_DAYS)  # NaN (no reading in 3 days) → not > 100
    g, week = rules.recent_readings(view, rules.LOOKBACK_DAYS)
    low = (week & (g < T2T_NO_INCREASE_BELOW_MG_DL)).any(axis=1)
    c = view.covariates
    outside = (c["age_years"] < ADULT_AGE_YEARS) | (c["pregnant"] > 0.5)
    need = (mean > T2T_STEPS_MG_DL[-1][0]) & ~low & ~outside
    return np.where(need, weight_based_start_dose_u(c, max_dose_u), 0.0)


def _answer_lows(pack: TherapyPack, view: ClinicView, otherwise: IntArray) -> IntArray:
    """−4 U after an unanswered fasting glucose < 56 mg/dL, −2 U after one < 70 (Riddle 2003: decreases of 2–4 U), else
    ``otherwise``."""
    severe = rules.unanswered_low(view, T2T_DECREASE_BELOW_MG_DL)
    mild = rules.unanswered_low(view, rules.HYPO_L1_MG_DL)
    return np.where(severe, action_index(pack, f"-{T2T_DECREASE_U:g}U"),
                    np.where(mild, action_index(pack, f"-{LOW_DECREASE_U:g}U"), otherwise)).astype(np.int64)


class TreatToTargetVisitPolicy(ActionGuideline):
    """Riddle 2003 Treat-to-Target at visits (module docstring): the weekly steps on the 2-day mean."""

    name = "guideline-treat-to-target"

    def preferred(self, view: ClinicView) -> IntArray:
        pack = self.pack
        mean2 = rules.mean_fasting(view, T2T_MEAN_OF_DAYS)
        step = np.zeros(view.n)
        for threshold, up in reversed(T2T_STEPS_MG_DL):  # later (higher) thresholds overwrite; NaN mean → 0
            step = np.where(mean2 >= threshold, up, step)
        g, week = rules.recent_readings(view, T2T_INTERVAL_DAYS)
        any_low = (week & (g < T2T_NO_INCREASE_BELOW_MG_DL)).any(axis=1)
        step = np.where(any_low | (days_on_regimen(view) < TTT_MIN_DAYS_ON_REGIMEN), 0.0, step)
        by_step = {up: action_index(pack, f"+{up:g}U") for _, up in T2T_STEPS_MG_DL}
        up_action = np.full(view.n, action_index(pack, "keep"), dtype=np.int64)
        for up, idx in by_step.items():
            up_action = np.where(step == up, idx, up_action)
        return _answer_lows(pack, view, up_action)


class AtLantusVisitPolicy(ActionGuideline):
    """Davies 2005 AT.LANTUS algorithm 2 at visits (module docstring): +2 U every 3 days while the 3-day mean > 100."""

    name = "guideline-at-lantus"

    def preferred(self, view: ClinicView) -> IntArray:
        pack = self.pack
        mean3 = rules.mean_fasting(view, AT_LANTUS_MEAN_OF_DAYS)
        g, week = rules.recent_readings(view, T2T_INTERVAL_DAYS)
        any_low = (week & (g < T2T_NO_INCREASE_BELOW_MG_DL)).any(axis=1)
        up = (mean3 > AT_LANTUS_ABOVE_MG_DL) & ~any_low & (days_on_regimen(view) >= AT_LANTUS_MIN_DAYS_ON_REGIMEN)
        titrate = np.where(up, action_index(pack, f"+{AT_LANTUS_STEP_U:g}U"), action_index(pack, "keep"))
        return _answer_lows(pack, view, titrate.astype(np.int64))


class TreatToTargetPolicy:
    """Riddle 2003 Treat-to-Target titration on the weight/renal start dose. Never holds a dose."""

    name = "guideline"

    def __init__(self, max_dose_u: float) -> None:
        self.max_dose_u = max_dose_u

    def reset(self, n: int) -> None:
        """Stateless: nothing to reset."""

    def act(self, view: ClinicView) -> tuple[FloatArray, FloatArray]:
        g = view.obs["glucose_fasting"]
        age = view.obs_age_days["glucose_fasting"]
        week = ~np.isnan(g) & (age < T2T_INTERVAL_DAYS)  # "the preceding week"
        recent = ~np.isnan(g) & (age < T2T_MEAN_OF_DAYS)  # "the preceding 2 days"
        n_recent = recent.sum(axis=1)
        mean2 = np.where(n_recent > 0, np.where(recent, g, 0.0).sum(axis=1) / np.maximum(n_recent, 1), np.nan)
        any_low = (week & (g < T2T_NO_INCREASE_BELOW_MG_DL)).any(axis=1)

        increase = np.zeros(view.n)
        for threshold, step in reversed(T2T_STEPS_MG_DL):  # later (higher) thresholds overwrite
            increase = np.where(mean2 >= threshold, step, increase)  # NaN mean → comparisons False → 0
        day = np.rint(view.day).astype(int)
        titration_day = (day > 0) & (day % T2T_INTERVAL_DAYS == 0)
        increase = np.where(titration_day & ~any_low, increase, 0.0)

        latest_very_low = ~np.isnan(g[:, 0]) & (age[:, 0] < 1.0 + 1e-9) & (g[:, 0] < T2T_DECREASE_BELOW_MG_DL)
        change = np.where(latest_very_low, -T2T_DECREASE_U, increase)
        regimen = np.clip(view.current_dose + change, 0.0, self.max_dose_u)
        return regimen.copy(), regimen
