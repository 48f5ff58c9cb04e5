"""Guideline basal-insulin dosing: weight-based start reduced for low eGFR, then the Treat-to-Target titration (Riddle 2003).

Start (day 0, every policy): 0.1 U/kg/day — the low end of the ADA/EASD 0.1–0.2 U/kg/day range [secondary, clinical.md §2] —
times the renal fraction of Snyder & Berns 2004 (100 % for GFR > 50, 75 % for 10–50, 50 % below 10 mL/min; clinical.md §2
"Renal impairment" [secondary]; the same rule as the simulator's renal extension, model.renal_clearance_factor), rounded to
whole units, at least 4 U. Unknown eGFR → no reduction (the clinic has no reason to reduce).

Titration — Treat-to-Target trial, Riddle, Rosenstock & Gerich, Diabetes Care 2003;26:3080 (clinical.md §2 [checked]):

- Weekly (days 7, 14, …), on the mean of the fasting values of the preceding 2 days (mg/dL):
  ≥ 180 → +8 U; 140–179 → +6 U; 120–139 → +4 U; 100–119 → +2 U; < 100 (target ≤ 100) → no change.
- No increase if any glucose in the preceding week was < 72 mg/dL.
- "Small decreases (2–4 U/day per adjustment)" if plasma glucose < 56 mg/dL: we take the larger, −4 U, and apply it at the next
  daily decision after such a value (a reported hypoglycaemia is acted on at once rather than at the weekly visit) — our
  reading of the protocol; the trial left the size to the investigator.

The policy is stateless: it reads everything from the ClinicView, so it behaves identically in the simulator and the gateway.
"""

from __future__ import annotations

import numpy as np

from dosewise.therapies.base import ClinicView, FloatArray
from dosewise.therapies.insulin_t2d.model import renal_clearance_factor

START_U_PER_KG = 0.1  # ADA/EASD start 0.1–0.2 U/kg/day (clinical.md §2 [secondary]); the low end, as insulin-naive
MIN_START_U = 4.0  # assumption: smallest practical pen dose to start with
T2T_STEPS_MG_DL: tuple[tuple[float, float], ...] = ((180.0, 8.0), (140.0, 6.0), (120.0, 4.0), (100.0, 2.0))  # Riddle 2003
T2T_NO_INCREASE_BELOW_MG_DL = 72.0  # Riddle 2003: no increase if any PG < 72 mg/dL in the preceding week
T2T_DECREASE_BELOW_MG_DL = 56.0  # Riddle 2003: decrease 2–4 U if PG < 56 mg/dL
T2T_DECREASE_U = 4.0
T2T_INTERVAL_DAYS = 7  # weekly titration
T2T_MEAN_OF_DAYS = 2.0  # "mean of the preceding 2 days" of fasting values


def weight_based_start_dose_u(covariates: dict[str, FloatArray], max_dose_u: float) -> FloatArray:
    """The day-0 regimen (U/day) for every policy: 0.1 U/kg × renal fraction (Snyder & Berns 2004), whole units."""
    dose = START_U_PER_KG * covariates["weight_kg"] * renal_clearance_factor(covariates["egfr_ml_min_1_73m2"])
    return np.clip(np.round(dose), MIN_START_U, max_dose_u)


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
