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

At visits (``AuroraVisitGuideline``, one decision per clinic visit through the pack's action set and guardrails): every
Aurora band is one of the pack's actions, so the nomogram needs no approximation. The same first-week rule and one increase
per ``RETEST_AFTER_CHANGE_DAYS`` on a regimen apply (read from the dose record: stateless, so it behaves the same in the
simulator, the clinic protocol and the gateway). The start, for a patient not yet on warfarin, is the IWPC dose:
pharmacogenetic where both genotypes are known, else the IWPC clinical equation (iwpc.py), rounded to 0.5 mg/day.

Recheck (``recheck_days``, Aurora as coded in ReiL, clinical.md §1): INR > 5 → 2 days; out of range → 7 days; in range, by
the run of in-range INRs on record: ≥ 28 days → 28, ≥ 14 → 14, ≥ 7 → 7, ≥ 2 → 5. Aurora's next step, 1 day after a single
in-range INR, we lengthen to ``MIN_RECHECK_DAYS`` (a daily clinic visit is not practice; our adaptation). Within the first
``EARLY_DAYS`` of therapy, after a change or with no INR yet, at most ``CHANGE_RECHECK_DAYS``; after a start,
``START_RECHECK_DAYS`` (the first INR of Aurora's initiation, days 3–4).
"""

from __future__ import annotations

import numpy as np

from dosewise.therapies.base import ClinicView, FloatArray, IntArray, TherapyPack
from dosewise.therapies.clinic import ActionGuideline, action_index, days_on_regimen
from dosewise.therapies.warfarin.iwpc import iwpc_dose_mg_per_day, iwpc_pharmacogenetic_dose_mg_per_day
from dosewise.therapies.warfarin.target import INR_TARGET

START_DOSE_STEP_MG = 0.5  # half of a 1-mg tablet
MIN_START_DOSE_MG = 0.5
MAINTENANCE_FROM_DAY = 5.0  # Aurora (Ravvaz 2017, as coded in ReiL): maintenance table from day 5
RETEST_AFTER_CHANGE_DAYS = 7.0  # Aurora retests 7 days after an out-of-range INR: a change is judged a week later
# Aurora nomogram bands on the INR rounded to 2 decimals: inclusive upper bound, dose multiplier, doses held first
_UPPER = np.array([1.4999, 1.7999, 1.9999, 3.0, 3.3999, 3.9999, 5.0, np.inf])
_FACTOR = np.array([1.15, 1.10, 1.075, 1.0, 0.925, 0.90, 0.875, 0.85])
_HOLD = np.array([0, 0, 0, 0, 0, 0, 2, 2])
_ACTION = ("+15%", "+10%", "+7.5%", "keep", "-7.5%", "-10%", "hold2-12.5%", "hold2-15%")  # the pack's action per band
URGENT_INR = 5.0  # Aurora: > 5 hold and recheck in 2 days
URGENT_RECHECK_DAYS = 2.0
OUT_OF_RANGE_RECHECK_DAYS = 7.0  # Aurora: retest in 7 days when out of range
IN_RANGE_RECHECK: tuple[tuple[float, float], ...] = ((28.0, 28.0), (14.0, 14.0), (7.0, 7.0), (2.0, 5.0))  # run ≥ d → days
MIN_RECHECK_DAYS = 3.0  # our adaptation of Aurora's 1-day step (module docstring)
EARLY_DAYS = 14.0  # the first two weeks: INR still settling
CHANGE_RECHECK_DAYS = 7.0
START_RECHECK_DAYS = 3.0


def iwpc_start_dose_mg_per_day(covariates: dict[str, FloatArray], max_dose_mg: float) -> FloatArray:
    """The IWPC pharmacogenetic daily dose rounded to 0.5 mg, within [0.5, max_dose_mg]."""
    raw = iwpc_pharmacogenetic_dose_mg_per_day(covariates)
    return np.clip(np.round(raw / START_DOSE_STEP_MG) * START_DOSE_STEP_MG, MIN_START_DOSE_MG, max_dose_mg)


def iwpc_visit_start_dose_mg_per_day(covariates: dict[str, FloatArray], max_dose_mg: float) -> FloatArray:
    """The start at a visit: the IWPC dose (pharmacogenetic where genotyped, else clinical) rounded to 0.5 mg/day, within
    [0.5, max_dose_mg]."""
    raw = iwpc_dose_mg_per_day(covariates)
    return np.clip(np.round(raw / START_DOSE_STEP_MG) * START_DOSE_STEP_MG, MIN_START_DOSE_MG, max_dose_mg)


def aurora_band(inr: FloatArray) -> IntArray:
    """(n,) the Aurora band of each INR (rounded to 2 decimals), an index into _FACTOR / _ACTION."""
    return np.searchsorted(_UPPER, np.round(np.asarray(inr, dtype=float), 2), side="left")


def in_range_run_days(view: ClinicView) -> FloatArray:
    """(n,) how long the INRs on record have stayed in range: the age of the oldest INR of the unbroken in-range run that
    ends with the latest one (0 for a single in-range INR; NaN where the latest is out of range or missing)."""
    inr, age = view.obs["inr"], view.obs_age_days["inr"]
    lo, hi = INR_TARGET
    ok = ~np.isnan(inr) & (inr >= lo) & (inr <= hi)
    run = np.cumprod(ok, axis=1).astype(bool)  # True while every INR from the latest back is in range
    oldest = np.where(run, np.nan_to_num(age, nan=0.0), -np.inf).max(axis=1)
    return np.where(ok[:, 0], oldest - np.nan_to_num(age[:, 0], nan=0.0), np.nan)


def recheck_days(pack: TherapyPack, view: ClinicView, action_idx: IntArray) -> FloatArray:
    """Days to the next INR for the chosen actions (module docstring)."""
    inr = view.obs["inr"][:, 0]
    lo, hi = INR_TARGET
    run = in_range_run_days(view)
    days = np.full(view.n, MIN_RECHECK_DAYS)
    for at_least, d in reversed(IN_RANGE_RECHECK):
        days = np.where(run >= at_least, d, days)
    out_of_range = ~np.isnan(inr) & ((inr < lo) | (inr > hi))
    days = np.where(out_of_range, OUT_OF_RANGE_RECHECK_DAYS, days)
    days = np.where(~np.isnan(inr) & (np.round(inr, 2) > URGENT_INR), URGENT_RECHECK_DAYS, days)
    idx = np.asarray(action_idx, dtype=np.int64)
    changed = idx != action_index(pack, "keep")
    early = (view.day < EARLY_DAYS) | np.isnan(inr) | changed
    days = np.where(early, np.minimum(days, CHANGE_RECHECK_DAYS), days)
    return np.where(pack.needs_start(view), START_RECHECK_DAYS, days)


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


class AuroraVisitGuideline(ActionGuideline):
    """Aurora at each visit through its exact action (module docstring); the IWPC start where no warfarin is given yet."""

    name = "guideline-aurora"

    def preferred(self, view: ClinicView) -> IntArray:
        pack = self.pack
        inr = view.obs["inr"][:, 0]
        band = aurora_band(np.where(np.isnan(inr), 2.5, inr))  # no INR yet: keep the start dose
        ids = np.array(_ACTION)[band]
        lowering = _FACTOR[band] < 1.0
        may_raise = (view.day >= MAINTENANCE_FROM_DAY) & (days_on_regimen(view) >= RETEST_AFTER_CHANGE_DAYS)
        ids = np.where(lowering | may_raise, ids, "keep")
        index = {a.id: i for i, a in enumerate(pack.actions)}
        return np.array([index[i] for i in ids], dtype=np.int64)
