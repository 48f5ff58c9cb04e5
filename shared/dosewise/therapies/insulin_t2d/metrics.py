"""Per-patient outcome metrics of a basal-insulin rollout, computed from the *true* (hidden) fasting glucose of each simulated
day after day 0 (``info["glucose_true_mg_dl"]``, one value per decision step), so meter noise does not count as an event.

| metric                       | unit     | definition |
|------------------------------|----------|------------|
| pct_days_in_range_80_130     | %        | days with fasting glucose 80–130 mg/dL (ADA fasting target) |
| est_hba1c_pct                | %        | ADAG (Nathan 2008): (mean glucose mg/dL + 46.7) / 28.7, on the model's 24-h mean |
| mean_fasting_glucose_mg_dl   | mg/dL    | mean fasting glucose |
| hypo_l1_days                 | days     | fasting glucose < 70 mg/dL (ADA level 1) |
| hypo_l2_days                 | days     | fasting glucose < 54 mg/dL (ADA level 2; also counted in level 1) |
| hyper_days_over_250          | days     | fasting glucose > 250 mg/dL |
| adverse_event_days           | days     | hypo_l1_days + hyper_days_over_250 (see below) |
| mean_dose_u_per_day          | U/day    | mean prescribed dose given by the policy (adherence not applied) |
| final_dose_u_per_day         | U/day    | the regimen in force at the end |

adverse_event_days counts days with either adverse glycaemic event: a day cannot be both < 70 and > 250 mg/dL, so no
day is counted twice, and level 2 days are already inside level 1.

Caveat for est_hba1c_pct: the Aradóttir model describes fasting glucose without meals, so its 24-h mean underestimates real
mean glucose and the HbA1c estimate is a lower-bound proxy for comparing policies, not a prediction of a lab value.
"""

from __future__ import annotations

import numpy as np

from dosewise.therapies.base import FloatArray, Trajectory
from dosewise.therapies.insulin_t2d.simulator import HYPER_MG_DL, HYPO_L1_MG_DL, HYPO_L2_MG_DL, TARGET_MG_DL

ADAG_INTERCEPT_MG_DL = 46.7  # Nathan et al., Diabetes Care 2008;31:1473 (ADAG): A1C = (eAG + 46.7) / 28.7
ADAG_SLOPE = 28.7

PRIMARY = ("pct_days_in_range_80_130", "adverse_event_days")
# What tables call each metric (TherapyPack.metric_labels): words a clinician reads, each with its unit.
LABELS = {
    "pct_days_in_range_80_130": "Days in 80–130 mg/dL (%)",
    "est_hba1c_pct": "Estimated HbA1c (%)",
    "mean_fasting_glucose_mg_dl": "Fasting glucose (mg/dL)",
    "hypo_l1_days": "Days < 70 mg/dL",
    "hypo_l2_days": "Days < 54 mg/dL",
    "hyper_days_over_250": "Days > 250 mg/dL",
    "adverse_event_days": "Adverse-event days",
    "mean_dose_u_per_day": "Mean dose (U/day)",
    "final_dose_u_per_day": "Final dose (U/day)",
}


def adag_hba1c_pct(mean_glucose_mg_dl: FloatArray) -> FloatArray:
    """Estimated HbA1c (%) from mean glucose (ADAG, Nathan 2008; clinical.md §2 "Metrics")."""
    return (np.asarray(mean_glucose_mg_dl) + ADAG_INTERCEPT_MG_DL) / ADAG_SLOPE


def insulin_metrics(trajectory: Trajectory) -> dict[str, FloatArray]:
    """Per-patient metrics (each (n,)): efficacy first, then adverse events, then dosing."""
    g = trajectory.info["glucose_true_mg_dl"]
    lo, hi = TARGET_MG_DL
    mean24 = trajectory.info.get("glucose_mean_24h_mg_dl", g)
    hypo1 = (g < HYPO_L1_MG_DL).sum(axis=1).astype(float)
    hyper = (g > HYPER_MG_DL).sum(axis=1).astype(float)
    return {
        "pct_days_in_range_80_130": 100.0 * ((g >= lo) & (g <= hi)).mean(axis=1),
        "est_hba1c_pct": adag_hba1c_pct(mean24.mean(axis=1)),
        "mean_fasting_glucose_mg_dl": g.mean(axis=1),
        "hypo_l1_days": hypo1,
        "hypo_l2_days": (g < HYPO_L2_MG_DL).sum(axis=1).astype(float),
        "hyper_days_over_250": hyper,
        "adverse_event_days": hypo1 + hyper,
        "mean_dose_u_per_day": trajectory.given.mean(axis=1),
        "final_dose_u_per_day": trajectory.regimen[:, -1].astype(float),
    }
