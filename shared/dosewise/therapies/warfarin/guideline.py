"""Guideline warfarin dosing: the IWPC pharmacogenetic start, then the Aurora maintenance nomogram.

- Start (every policy, simulator.py): the IWPC 2009 pharmacogenetic dose (NEJM 360:753; iwpc.py), rounded to 0.5 mg
  (half a 1-mg tablet) and kept within [0.5 mg, max dose].
- Maintenance: the Aurora anticoagulation-clinic nomogram as simulated by Ravvaz et al. 2017 and coded in GitHub
  ``anzabizadeh/ReiL`` ``dosing_protocols/warfarin/aurora.py`` (../shared/clinical.md §1): on each new INR (rounded to two
  decimals) multiply the dose by <1.5 ×1.15 · 1.5–1.79 ×1.10 · 1.8–1.99 ×1.075 · 2.0–3.0 ×1 · 3.01–3.39 ×0.925 ·
  3.4–3.99 ×0.90 · 4.0–5.0 hold 2 doses then ×0.875 · >5 hold then ×0.85.

Adaptations to our fixed INR schedule (the same for every policy, simulator.py), documented because they differ from Aurora:

- Aurora's maintenance table starts on day 5 (days 1–2 initiation, 3–4 adjustment in ReiL's code). Before day 5 we keep the
  IWPC dose and only apply the table's reduce/hold arms (INR > 3): an IWPC dose is a maintenance-size dose, and raising it on
  the still-low INRs of days 1–4 (the INR needs about a week to respond) would overshoot.
- Aurora retests 7 days after an out-of-range INR, so a dose increase is judged a week later. Our schedule tests more
  often early on (days 7, 10, 14), so we raise the dose only when the last change is ≥ 7 days old; reductions and holds
  (INR > 3) act on every INR, as a clinician would on a high value.
- INR > 5: Aurora holds and rechecks in 2 days; our schedule has no extra test, so we hold 2 doses and resume at ×0.85
  (the next scheduled INR corrects further).
- Doses are not rounded to tablets and need not be in the pack's action set.
"""

from __future__ import annotations

import numpy as np

from dosewise.therapies.base import ClinicView, FloatArray
from dosewise.therapies.warfarin.iwpc import iwpc_pharmacogenetic_dose_mg_per_day

START_DOSE_STEP_MG = 0.5  # half of a 1-mg tablet
MIN_START_DOSE_MG = 0.5
MAINTENANCE_FROM_DAY = 5.0  # Aurora (Ravvaz 2017, as coded in ReiL): maintenance table from day 5
RETEST_AFTER_CHANGE_DAYS = 7.0  # Aurora retests 7 days after an out-of-range INR: a change is judged a week later
# Aurora nomogram bands on the INR rounded to 2 decimals: inclusive upper bound, dose multiplier, doses held first
_UPPER = np.array([1.4999, 1.7999, 1.9999, 3.0, 3.3999, 3.9999, 5.0, np.inf])
_FACTOR = np.array([1.15, 1.10, 1.075, 1.0, 0.925, 0.90, 0.875, 0.85])
_HOLD = np.array([0, 0, 0, 0, 0, 0, 2, 2])


def iwpc_start_dose_mg_per_day(covariates: dict[str, FloatArray], max_dose_mg: float) -> FloatArray:
    """The IWPC pharmacogenetic daily dose rounded to 0.5 mg, within [0.5, max_dose_mg]."""
    raw = iwpc_pharmacogenetic_dose_mg_per_day(covariates)
    return np.clip(np.round(raw / START_DOSE_STEP_MG) * START_DOSE_STEP_MG, MIN_START_DOSE_MG, max_dose_mg)


def aurora_adjustment(inr: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(dose multiplier, doses to hold first) per patient for a new INR, from the Aurora nomogram."""
    band = np.searchsorted(_UPPER, np.round(inr, 2), side="left")
    return _FACTOR[band], _HOLD[band]


class IwpcAuroraGuideline:
    """DosingPolicy: IWPC start (already the regimen at day 0), then Aurora on new INRs. State per patient: doses still to
    hold and the day of the last dose change."""

    name = "guideline"

    def __init__(self, max_dose_mg: float) -> None:
        self.max_dose_mg = max_dose_mg
        self._hold_left = np.zeros(0)
        self._last_change_day = np.zeros(0)

    def reset(self, n: int) -> None:
        self._hold_left = np.zeros(n)
        self._last_change_day = np.full(n, -np.inf)

    def act(self, view: ClinicView) -> tuple[FloatArray, FloatArray]:
        if self._hold_left.shape[0] != view.n:
            self.reset(view.n)
        inr = view.obs["inr"][:, 0]
        new_inr = view.obs_age_days["inr"][:, 0] == 0.0
        factor, hold = aurora_adjustment(np.where(np.isnan(inr), 2.5, inr))
        in_initiation = view.day < MAINTENANCE_FROM_DAY
        lowering = factor < 1.0
        waited = view.day - self._last_change_day >= RETEST_AFTER_CHANGE_DAYS
        apply = new_inr & (lowering | (~in_initiation & waited))
        self._last_change_day = np.where(apply & (factor != 1.0), view.day, self._last_change_day)
        regimen = np.where(apply, np.clip(view.current_dose * factor, 0.0, self.max_dose_mg), view.current_dose)
        self._hold_left = np.where(apply, hold, self._hold_left)
        given = np.where(self._hold_left > 0, 0.0, regimen)
        self._hold_left = np.maximum(self._hold_left - 1, 0)
        return given, regimen
