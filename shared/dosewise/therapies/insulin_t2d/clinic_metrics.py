"""Basal-insulin outcomes of a clinic-protocol rollout (``clinic.ClinicTrajectory``) and the groups they are reported by.

Metrics, each (n,), efficacy first and then the adverse-event count the evaluation's aims read:

- ``pct_days_in_range_80_130``: % of days whose true fasting glucose (the twin's, each morning) lies in 80–130 mg/dL, the
  pack's target (ADA fasting target; ../shared/clinical.md §2).
- ``nights_below_70``: nights whose lowest glucose is below 70 mg/dL (ADA level 1 hypoglycaemia), and ``nights_below_54``
  (level 2). The night's minimum is the twin's ``glucose_night_min_mg_dl`` (NIGHT_MIN_KEY) where the model has one (the
  held-out Dalla Man twin does); a twin without one (the Aradóttir training model has no meals, so its nights are its
  fasting glucose) falls back to the fasting value, and ``night_source`` says which was used.
- ``adverse_event_days``: the pack's definition (metrics.py): fasting < 70 or > 250 mg/dL.
- ``hyper_days_over_250``, ``direction_changes`` (clinic.direction_changes), ``visits``, ``doses_held``,
  ``mean_dose_u_per_day`` (the dose taken), ``final_dose_u_per_day``.

Groups (``insulin_groups``): insulin-sensitivity tertile (low / middle / high third of the cohort's hidden ``si``, the
model's insulin-sensitivity parameter: Aradóttir's SI, Dalla Man's sensitivity factor) and renal function (eGFR < 60 vs
≥ 60 mL/min/1.73 m², the KDIGO 2012 threshold of CKD stage 3) [unverified, recalled: KDIGO 2012 CKD guideline].
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dosewise.therapies.base import FloatArray, IntArray
from dosewise.therapies.clinic import ClinicTrajectory, direction_changes
from dosewise.therapies.insulin_t2d.simulator import HYPER_MG_DL, HYPO_L1_MG_DL, HYPO_L2_MG_DL, TARGET_MG_DL

TRUTH_KEY = "glucose_fasting_true"
NIGHT_MIN_KEY = "glucose_night_min_mg_dl"
EGFR_CKD3 = 60.0  # mL/min/1.73 m²

SENSITIVITY_GROUP = "insulin sensitivity"
SENSITIVITY_LABELS = ("low (lowest third)", "middle third", "high (highest third)")
RENAL_GROUP = "renal function"
RENAL_LABELS = ("eGFR ≥ 60", "eGFR < 60")

CLINIC_LABELS = {
    "pct_days_in_range_80_130": "Days fasting 80–130 (%)",
    "nights_below_70": "Nights < 70 mg/dL",
    "nights_below_54": "Nights < 54 mg/dL",
    "adverse_event_days": "Adverse-event days",
    "hyper_days_over_250": "Days > 250 mg/dL",
    "direction_changes": "Direction changes",
    "visits": "Visits",
    "doses_held": "Doses held",
    "mean_dose_u_per_day": "Mean dose (U/day)",
    "final_dose_u_per_day": "Final dose (U/day)",
}


def night_source(traj: ClinicTrajectory) -> str:
    """Which truth the night metrics read: the twin's nightly minimum, or (fallback) its fasting glucose."""
    return NIGHT_MIN_KEY if NIGHT_MIN_KEY in traj.truth else TRUTH_KEY


def data_notes(traj: ClinicTrajectory) -> list[str]:
    """The fallback, when the twin has no night minimum (TherapyPack.clinic_notes)."""
    if night_source(traj) == NIGHT_MIN_KEY:
        return []
    return [f"this twin reports no nocturnal minimum ({NIGHT_MIN_KEY}): nights below 70 and 54 mg/dL are counted on the "
            "true fasting glucose instead"]


def insulin_clinic_metrics(traj: ClinicTrajectory) -> dict[str, FloatArray]:
    """The metrics of the module docstring, per patient."""
    fasting = traj.truth[TRUTH_KEY]
    night = traj.truth[night_source(traj)]
    lo, hi = TARGET_MG_DL
    held = traj.held if traj.held is not None else np.zeros_like(traj.visit)
    hypo = (fasting < HYPO_L1_MG_DL).sum(axis=1).astype(float)
    hyper = (fasting > HYPER_MG_DL).sum(axis=1).astype(float)
    return {
        "pct_days_in_range_80_130": ((fasting >= lo) & (fasting <= hi)).mean(axis=1) * 100.0,
        "nights_below_70": (night < HYPO_L1_MG_DL).sum(axis=1).astype(float),
        "nights_below_54": (night < HYPO_L2_MG_DL).sum(axis=1).astype(float),
        "adverse_event_days": hypo + hyper,
        "hyper_days_over_250": hyper,
        "direction_changes": direction_changes(traj),
        "visits": traj.visit.sum(axis=1).astype(float),
        "doses_held": held.sum(axis=1).astype(float),
        "mean_dose_u_per_day": traj.given.mean(axis=1),
        "final_dose_u_per_day": traj.regimen[:, -1],
    }


def tertiles(x: FloatArray) -> IntArray:
    """0, 1, 2 for the lowest, middle and highest third of ``x`` (by rank, so ties and scale do not matter); −1 for NaN."""
    x = np.asarray(x, dtype=float)
    ok = np.isfinite(x)
    out = np.full(x.shape, -1, dtype=np.int64)
    m = int(ok.sum())
    if m:
        ranks = np.empty(m, dtype=np.int64)
        ranks[np.argsort(x[ok], kind="stable")] = np.arange(m)
        out[ok] = (3 * ranks) // m
    return out


def insulin_groups(covariates: Mapping[str, FloatArray], hidden: Mapping[str, FloatArray]) -> dict[str, IntArray]:
    """Insulin-sensitivity tertile (hidden ``si``) and renal group (the eGFR the clinic knows, else the model's true
    ``egfr_true``; −1 if neither)."""
    egfr = np.asarray(covariates["egfr_ml_min_1_73m2"], dtype=float)
    if "egfr_true" in hidden:
        egfr = np.where(np.isnan(egfr), np.asarray(hidden["egfr_true"], dtype=float), egfr)
    renal = np.where(np.isnan(egfr), -1, (egfr < EGFR_CKD3).astype(np.int64))
    groups = {RENAL_GROUP: renal.astype(np.int64)}
    if "si" in hidden:
        groups = {SENSITIVITY_GROUP: tertiles(hidden["si"]), **groups}
    return groups
