"""Warfarin outcomes of a clinic-protocol rollout (``clinic.ClinicTrajectory``) and the patient groups they are reported by.

Metrics, each (n,), efficacy first and then the adverse-event count the evaluation's aims read:

- ``ttr_true_pct``: % of days whose true INR (the twin's, at the end of each day) lies in 2.0–3.0.
- ``adverse_event_days``: days with true INR > 4, or < 1.5 after day 7 (simulator.py's definition; ../shared/clinical.md
  §1 adverse-event proxies), also split into ``days_inr_above_4`` and ``days_inr_below_1_5_after_day_7``.
- ``ttr_rosendaal_pct``: Rosendaal et al. 1993 (Thromb Haemost 69:236) TTR on the INRs the clinic measured at its visits,
  linear interpolation between them (metrics.rosendaal_ttr_pct): what a clinic would report.
- ``direction_changes``: decisions that went the other way from the one at the visit before (clinic.direction_changes).
- ``visits``, ``doses_held``, ``mean_dose_mg_per_day``, ``final_dose_mg_per_day``.

Groups (``warfarin_groups``): genotype sensitivity from CYP2C9 and VKORC1 −1639G>A by the US warfarin label's table of
expected maintenance doses (Coumadin prescribing information, FDA Reference ID 3022954; the table as reproduced in Cleve
Clin J Med 2011;78:243, Table 2, PMC3351041, and, labelled normal / sensitive / very sensitive, in Sci Rep 2019,
doi:10.1038/s41598-019-49329-0, Table 2) [checked, the table; secondary, the label itself]. Its three dose ranges are the
three genotype bins of Mega et al., Lancet 2015;385:2280 (ENGAGE AF-TIMI 48) [checked, abstract]:
"normal responders" (5–7 mg/day expected), "sensitive" (3–4 mg/day) and "highly sensitive" (0.5–2 mg/day); on warfarin the
sensitive and highly sensitive bled more and spent more time over-anticoagulated in the first 90 days. (COAG, Kimmel et
al. 2013, and EU-PACT, Pirmohamed et al. 2013, dosed by algorithms and report no such bins.) A patient with either genotype
unknown is not classified (−1).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dosewise.therapies.base import CYP2C9_GENOTYPES, VKORC1_GENOTYPES, FloatArray, IntArray
from dosewise.therapies.clinic import ClinicTrajectory, direction_changes
from dosewise.therapies.warfarin.metrics import rosendaal_ttr_pct
from dosewise.therapies.warfarin.simulator import (
    CLOT_RISK_AFTER_DAY,
    INR_BLEED_RISK,
    INR_CLOT_RISK,
    INR_HIGH,
    INR_LOW,
)

TRUTH_KEY = "inr_true"

GENOTYPE_GROUP = "genotype sensitivity"
SENSITIVITY_LABELS = ("normal responder", "sensitive", "highly sensitive")
# The label's table: rows VKORC1 (G/G, G/A, A/A), columns CYP2C9 in CYP2C9_GENOTYPES order (*1/*1, *1/*2, *1/*3, *2/*2,
# *2/*3, *3/*3); 0 = 5–7 mg/day, 1 = 3–4 mg/day, 2 = 0.5–2 mg/day.
LABEL_DOSE_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 0, 1, 1, 1, 2),  # G/G
    (0, 1, 1, 1, 2, 2),  # G/A
    (1, 1, 2, 2, 2, 2),  # A/A
)
assert CYP2C9_GENOTYPES == ("*1/*1", "*1/*2", "*1/*3", "*2/*2", "*2/*3", "*3/*3")
assert VKORC1_GENOTYPES == ("G/G", "G/A", "A/A")

CLINIC_LABELS = {
    "ttr_true_pct": "Days INR 2–3 (true, %)",
    "adverse_event_days": "Adverse-event days",
    "days_inr_above_4": "Days INR > 4",
    "days_inr_below_1_5_after_day_7": "Days INR < 1.5 after day 7",
    "ttr_rosendaal_pct": "TTR Rosendaal, measured (%)",
    "direction_changes": "Direction changes",
    "visits": "Visits",
    "doses_held": "Doses held",
    "mean_dose_mg_per_day": "Mean dose (mg/day)",
    "final_dose_mg_per_day": "Final dose (mg/day)",
}


def warfarin_clinic_metrics(traj: ClinicTrajectory) -> dict[str, FloatArray]:
    """The metrics of the module docstring, per patient."""
    inr = traj.truth[TRUTH_KEY]
    end_of_day = np.arange(1, traj.days + 1)[None, :]  # truth[:, d] is the INR at the end of day d, i.e. day d + 1
    above = (inr > INR_BLEED_RISK).sum(axis=1).astype(float)
    below = ((inr < INR_CLOT_RISK) & (end_of_day > CLOT_RISK_AFTER_DAY)).sum(axis=1).astype(float)
    in_range = ((inr >= INR_LOW) & (inr <= INR_HIGH)).mean(axis=1) * 100.0
    held = traj.held if traj.held is not None else np.zeros_like(traj.visit)
    return {
        "ttr_true_pct": in_range,
        "adverse_event_days": above + below,
        "days_inr_above_4": above,
        "days_inr_below_1_5_after_day_7": below,
        "ttr_rosendaal_pct": rosendaal_ttr_pct(np.arange(traj.days, dtype=float), traj.measured),
        "direction_changes": direction_changes(traj),
        "visits": traj.visit.sum(axis=1).astype(float),
        "doses_held": held.sum(axis=1).astype(float),
        "mean_dose_mg_per_day": traj.given.mean(axis=1),
        "final_dose_mg_per_day": traj.regimen[:, -1],
    }


def genotype_sensitivity(cyp2c9: FloatArray, vkorc1: FloatArray) -> IntArray:
    """Codes into SENSITIVITY_LABELS from the genotype codes of base.CYP2C9_GENOTYPES / VKORC1_GENOTYPES; −1 if unknown."""
    cyp = np.asarray(cyp2c9, dtype=float)
    vk = np.asarray(vkorc1, dtype=float)
    known = (cyp >= 0) & (vk >= 0) & np.isfinite(cyp) & np.isfinite(vk)
    table = np.asarray(LABEL_DOSE_TABLE, dtype=np.int64)
    code = table[np.where(known, vk, 0).astype(np.int64), np.where(known, cyp, 0).astype(np.int64)]
    return np.where(known, code, -1).astype(np.int64)


def warfarin_groups(covariates: Mapping[str, FloatArray], hidden: Mapping[str, FloatArray]) -> dict[str, IntArray]:
    """Genotype sensitivity of each twin, from its true genotype when the model carries one (``hidden`` "cyp2c9" /
    "vkorc1": a patient the clinic did not genotype still has a genotype), else from the covariates."""
    cyp = np.asarray(hidden.get("cyp2c9", covariates["cyp2c9"]), dtype=float)
    vk = np.asarray(hidden.get("vkorc1", covariates["vkorc1"]), dtype=float)
    return {GENOTYPE_GROUP: genotype_sensitivity(cyp, vk)}
