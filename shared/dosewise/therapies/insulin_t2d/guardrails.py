"""Basal-insulin hard limits (type 2 diabetes). Each rule cites where it comes from; product limits say so.

- max_dose: no regimen above 100 U/day (product limit, pack.max_dose).
- max_dose_per_kg: no regimen above 1.0 U/kg/day (product limit; > 0.5 U/kg/day already signals overbasalization,
  ADA 2024 §9 [secondary]).
- hypo_week: after any fasting glucose < 72 mg/dL in the last 7 days, no increase (Treat-to-Target, Riddle 2003; the ADA
  level-1 threshold is 70).
- severe_hypo: latest fasting glucose < 54 mg/dL (ADA level 2) → hold or decrease only.
- renal_step: eGFR < 30 mL/min/1.73 m² → increases limited to 2 U per step (insulin clearance falls with GFR: Snyder & Berns
  2004 [secondary]; the step cap is a product limit).
- dose_record_above_max: a recorded day above 100 U → keep or hold only (product limit: outside the policy's dose range;
  often a unit slip in the record).
- child: age < 18 y → keep or hold only (product limit: the twins are adults, 30–85 y, after the Treat-to-Target trial's
  adult population, Riddle 2003; youth-onset type 2 diabetes has its own standards, ADA Standards §14).
- pregnancy: pregnant → keep or hold only, refer (product limit: the policy learned the 80–130 mg/dL fasting target of
  non-pregnant adults; in pregnancy the fasting target is < 95 mg/dL and insulin needs change by trimester, ADA Standards of
  Care 2024 §15 [unverified, recalled]; Treat-to-Target excluded pregnancy).
- no_recent_glucose: no fasting glucose in the last 3 days → no increase (product limit: never titrate up blind).
"""

from __future__ import annotations

import numpy as np

from dosewise.guardrails import (
    DOSE_RECORD_ABOVE_MAX,
    Rule,
    always,
    child_rule,
    forbid_above,
    forbid_change,
    forbid_increase,
)
from dosewise.therapies.base import ClinicView, TherapyPack

KIND = "glucose_fasting"
NO_INCREASE_BELOW_MG_DL = 72.0  # Riddle 2003 Treat-to-Target: no increase if any plasma glucose < 72 mg/dL in the past week
HYPO_L2_MG_DL = 54.0  # ADA level-2 hypoglycaemia
LOOKBACK_DAYS = 7.0
MAX_U_PER_KG = 1.0  # product limit
LOW_EGFR = 30.0  # mL/min/1.73 m², CKD stage 4–5
LOW_EGFR_MAX_STEP_U = 2.0  # product limit
STALE_GLUCOSE_DAYS = 3.0  # product limit


def _recent(view: ClinicView, days: float) -> tuple[np.ndarray, np.ndarray]:
    g, age = view.obs[KIND], view.obs_age_days[KIND]
    return g, ~np.isnan(g) & (age < days)


def _hypo_week(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    g, recent = _recent(view, LOOKBACK_DAYS)
    return (recent & (g < NO_INCREASE_BELOW_MG_DL)).any(axis=1)


def _severe_hypo(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    g = view.obs[KIND][:, 0]
    return ~np.isnan(g) & (g < HYPO_L2_MG_DL)


def _forbid_keep_or_increase(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    deltas = np.array([a.delta if a.kind == "change" else -1.0 for a in pack.actions])
    return np.broadcast_to(deltas >= 0.0, (view.n, pack.n_actions)).copy()


def _low_egfr(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    egfr = view.covariates["egfr_ml_min_1_73m2"]
    return ~np.isnan(egfr) & (egfr < LOW_EGFR)


def _forbid_big_increase(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    deltas = np.array([a.delta if a.kind == "change" else 0.0 for a in pack.actions])
    return np.broadcast_to(deltas > LOW_EGFR_MAX_STEP_U + 1e-9, (view.n, pack.n_actions)).copy()


def _pregnant(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    return view.covariates["pregnant"] > 0.5


def _no_recent_glucose(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    return ~_recent(view, STALE_GLUCOSE_DAYS)[1].any(axis=1)


RULES: tuple[Rule, ...] = (
    Rule("max_dose", always, forbid_above(lambda p, v: np.full(v.n, p.max_dose)),
         lambda p, v, i: f"Basal doses above {p.max_dose:g} U/day need the clinician's explicit decision.",
         "Dosewise product limit"),
    Rule("max_dose_per_kg", always, forbid_above(lambda p, v: MAX_U_PER_KG * v.covariates["weight_kg"]),
         lambda p, v, i: f"Basal doses above {MAX_U_PER_KG:g} U/kg/day ({MAX_U_PER_KG * v.covariates['weight_kg'][i]:.0f} U) "
                         "suggest overbasalization: review the regimen.",
         "ADA Standards of Care 2024 §9 (overbasalization > 0.5 U/kg) [secondary]; cap is a Dosewise product limit"),
    Rule("hypo_week", _hypo_week, forbid_increase,
         lambda p, v, i: f"A fasting glucose below {NO_INCREASE_BELOW_MG_DL:g} mg/dL in the last 7 days: no dose increase.",
         "Treat-to-Target (Riddle et al., Diabetes Care 2003;26:3080)"),
    Rule("severe_hypo", _severe_hypo, _forbid_keep_or_increase,
         lambda p, v, i: f"Latest fasting glucose {v.obs[KIND][i, 0]:.0f} mg/dL is level-2 hypoglycaemia (< 54): reduce or "
                         "hold the basal dose and review.",
         "ADA hypoglycaemia classification (level 2 < 54 mg/dL)"),
    Rule("renal_step", _low_egfr, _forbid_big_increase,
         lambda p, v, i: f"eGFR {v.covariates['egfr_ml_min_1_73m2'][i]:.0f} mL/min/1.73 m²: insulin clearance is reduced; "
                         f"increases limited to {LOW_EGFR_MAX_STEP_U:g} U per step.",
         "Snyder & Berns 2004 [secondary]; step cap is a Dosewise product limit"),
    child_rule("Dosewise product limit: adult twins (30–85 y; Treat-to-Target, Riddle 2003, enrolled adults)"),
    DOSE_RECORD_ABOVE_MAX,
    Rule("pregnancy", _pregnant, forbid_change,
         lambda p, v, i: "Pregnant: fasting targets (< 95 mg/dL) and insulin needs differ in pregnancy and this policy "
                         "learned neither; no automatic dose change, refer to the diabetes-in-pregnancy team.",
         "ADA Standards of Care 2024 §15 [unverified, recalled]; Dosewise product limit"),
    Rule("no_recent_glucose", _no_recent_glucose, forbid_increase,
         lambda p, v, i: f"No fasting glucose in the last {STALE_GLUCOSE_DAYS:g} days: measure before increasing the dose.",
         "Dosewise product limit"),
)
