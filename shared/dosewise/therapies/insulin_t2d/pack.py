"""Basal insulin in type 2 diabetes: titration of the once-daily basal dose (U/day) to a fasting glucose of 80–130 mg/dL,
one decision per clinic visit (every 3 days or weekly), the regimen held until the next visit.

Action space (9 discrete actions; each sets the regimen until the next visit, rounded to whole units, ``dose_step`` 1 U: insulin
pens dial whole units, and ``round_regimen`` keeps a reduction at least 1 U below the current dose, so −10 % of 6 U is 5 U):

| index | id    | kind   | effect on the daily dose | source                                                          |
|-------|-------|--------|--------------------------|-----------------------------------------------------------------|
| 0     | -20%  | scale  | regimen × 0.80           | ADA Standards §9: lower 10–20 % after hypoglycaemia (upper end)  |
| 1     | -10%  | scale  | regimen × 0.90           | ADA Standards §9 (lower end)                                    |
| 2     | -4U   | change | regimen − 4 U/day        | Treat-to-Target decrease 2–4 U (Riddle 2003)                    |
| 3     | -2U   | change | regimen − 2 U/day        | Treat-to-Target decrease 2–4 U (Riddle 2003)                    |
| 4     | keep  | change | regimen unchanged        |                                                                 |
| 5     | +2U   | change | regimen + 2 U/day        | AT.LANTUS algorithm 2 (Davies 2005); Treat-to-Target 100–119    |
| 6     | +4U   | change | regimen + 4 U/day        | Treat-to-Target 120–139 mg/dL                                   |
| 7     | +6U   | change | regimen + 6 U/day        | Treat-to-Target 140–179 mg/dL                                   |
| 8     | +8U   | change | regimen + 8 U/day        | Treat-to-Target ≥ 180 mg/dL                                     |

There is no "skip the injection" action: hypoglycaemia on basal insulin is answered by reducing the dose, not by skipping
injections (Riddle 2003; ADA; clinical.md §2), level 2 (< 54 mg/dL) included, by at least 10 % (guardrails.py). Index 0, the
action every fallback takes (decision.py, clinic.ActionVisitPolicy, where no action is allowed), is the safest: for basal
insulin the one acute harm is hypoglycaemia, and −20 %, the largest reduction any cited guideline recommends after a low,
lowers the dose at every dose level (at least 1 U, ``round_regimen``) without skipping it; a patient left too high for a visit
interval is hyperglycaemic for days, not in danger within hours.

Cadences: "every-3-days" (AT.LANTUS algorithm 2, Davies 2005: +2 U every 3 days while the 3-day mean fasting glucose > 100
mg/dL; the default) and "weekly" (Treat-to-Target, Riddle 2003). The visit guidelines are in
guideline.py; the patient measures fasting glucose every morning (``self_monitored``), so a decision reads the mean of the
latest fasting readings, not one value.

Observation space: the features below (float32), each with its unit; computed from a ClinicView only — never the hidden
simulator parameters. Observation kind ``glucose_fasting`` in mg/dL (canonical; 1 mmol/L = 18 mg/dL, units.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from dosewise.guardrails import evaluate as evaluate_rules
from dosewise.therapies.base import (
    ActionSpec,
    ClinicView,
    Cohort,
    DosingPolicy,
    FeatureSpec,
    FloatArray,
    GuardrailResult,
    ObservationKind,
    RewardWeights,
    ShieldLimit,
    TherapyPack,
    Trajectory,
    TwinSpec,
    VectorSimulator,
)
from dosewise.therapies.insulin_t2d import clinic_metrics as clinic_outcomes
from dosewise.therapies.insulin_t2d import forecast_twin
from dosewise.therapies.insulin_t2d import guardrails as rules
from dosewise.therapies.insulin_t2d.cohort import sample_cohort
from dosewise.therapies.insulin_t2d.guardrails import RULES
from dosewise.therapies.insulin_t2d.guideline import (
    AtLantusVisitPolicy,
    TreatToTargetPolicy,
    TreatToTargetVisitPolicy,
    days_on_regimen,
    start_dose_u,
)
from dosewise.therapies.insulin_t2d.metrics import LABELS, PRIMARY, insulin_metrics
from dosewise.therapies.insulin_t2d.model import renal_clearance_factor
from dosewise.therapies.insulin_t2d.simulator import (
    HYPO_L1_MG_DL,
    HYPO_L2_MG_DL,
    TARGET_MG_DL,
    InsulinT2DSimulator,
    SimConfig,
    reward_terms,
)

if TYPE_CHECKING:
    from dosewise.therapies.clinic import ClinicTrajectory, VisitPolicy

KIND = "glucose_fasting"
EGFR_IMPUTE = 75.0  # mL/min/1.73 m²: about the cohort mean (cohort.py) when eGFR is unknown; flagged by egfr_unknown
GLUCOSE_IMPUTE_MG_DL = TARGET_MG_DL[1]  # no reading yet: the top of the target band, neither alarming nor reassuring
DAYS_SINCE_GLUCOSE_CAP = 14.0  # days; longer gaps look the same to the policy
STALE_GLUCOSE_DAYS = 3.0  # guardrail: no increase without a fasting glucose in the last 3 days (Dosewise rule)
DAYS_ON_REGIMEN_CAP = 14.0  # the dose record's length (dose_history_days)
# Recheck after a decision: the cadence's 3 days (AT.LANTUS; a dose change settles in about 3 days, clinical.md §2); the next
# morning after a level-2 low (< 54 mg/dL), so the next fasting reading shows whether the reduction was enough — a Dosewise
# product limit: ADA asks for the regimen to be re-evaluated after level-2 hypoglycaemia but we found no interval to cite.
RECHECK_DAYS = 3.0
RECHECK_AFTER_SEVERE_LOW_DAYS = 1.0
# As warfarin's: an older course than the 90-day training courses reads as day 90. Capped at 180 instead, the shipped
# policy chose 'hold' for a 180-day course at fasting glucose 171 mg/dL ('+4 U' at 92 days), and its score did not flag it.
DAY_CAP = 90.0
# The model-predictive controller's objective (mpc_objective): aim at 120 mg/dL, in the upper part of the 80–130 target
# (ADA, clinical.md §2), a shortfall weighing MPC_LOW_SIDE_WEIGHT times an excess
# (hypoglycaemia is the worse error); a forecast day below 70 mg/dL costs MPC_HYPO_L1_COST more, below 54 mg/dL (ADA
# levels 1 and 2) MPC_HYPO_L2_COST more again. ln(70/120)² = 0.29: a level-1 day costs several times its distance.
# Why not Treat-to-Target's ≤ 100 (Riddle 2003): the twin forecasts a noise-free, fully modelled patient; the real one has
# process noise, missed doses and SI drift, and aimed at 100 the MPC's patients (Aradóttir twins, decisions every 3 days,
# 2 × 300 patients × 90 days) had 6.6–7.0 level-1 days vs 5.7–6.7 for Treat-to-Target; at 120: 0.8–1.1 days, and 48–49 %
# of days in 80–130 vs 31 %. The weights and the aim are our choice.
MPC_GLUCOSE_AIM_MG_DL = 120.0
MPC_LOW_SIDE_WEIGHT = 2.0
MPC_HYPO_L1_COST = 1.0
MPC_HYPO_L2_COST = 2.0


class InsulinT2DPack(TherapyPack):
    id = "insulin_t2d"
    name = "Basal insulin, type 2 diabetes (fasting glucose 80–130 mg/dL)"
    dose_unit = "U"
    dose_quantity = "dose_units"
    observation_kinds = (KIND,)
    observation_definitions = {
        KIND: ObservationKind(quantity="glucose", low=10.0, high=1000.0, loinc="1558-6",
                              description="Fasting plasma glucose", label="fasting glucose"),
    }
    target_band = TARGET_MG_DL  # ADA fasting target
    # The daily machinery's step (the simulator, the gym env, outcome transitions advance one day per step); visits are
    # set by ``cadences`` and ``recheck_days``, which the clinic protocol, the MPC and the answer read.
    decision_interval_days = 1.0
    cadences = ("every-3-days", "weekly")
    dose_step = 1.0  # pens dial whole units
    dose_effect_sign = -1  # more insulin lowers glucose (base.TherapyPack.dose_effect_sign)
    # A learned policy's shield (dosewise.shield) holds its forecasts to the CGM consensus's time-below-range targets
    # (Battelino et al., Diabetes Care 2019;42:1593; clinical.md §2): below 70 mg/dL < 4 % of days, below 54 < 1 %.
    shield_limits = (
        ShieldLimit(below=rules.HYPO_L1_MG_DL, max_share=0.04, source="Battelino 2019: time below 70 mg/dL < 4 %"),
        ShieldLimit(below=rules.HYPO_L2_MG_DL, max_share=0.01, source="Battelino 2019: time below 54 mg/dL < 1 %"),
    )
    self_monitored = True  # the patient reads fasting glucose every morning (SMBG); the clinic decides at visits (clinic.py)
    episode_days = DAY_CAP  # training course length (trainer, gym_env)
    # The T2D twin integrates 240 six-minute Euler steps per day: ~18 ms per vectorized day for 64 or 256 patients alike
    # (numpy call overhead dominates), so the daily learner steps 4× more patients at once and keeps the replay ratio
    # (gradient_steps · batch_size / num_patients) at 8 (dosewise_trainer.algorithms.dqn.Args).
    training_defaults = {"num_patients": 256, "gradient_steps": 8}
    dose_history_days = 14
    obs_history = 7  # a week of daily readings: the guideline and the 7-day minimum need them
    # Product safety limit, not a literature value: > 0.5 U/kg/day already signals overbasalization (clinical.md §2
    # [secondary]); 100 U/day is 1 U/kg for a 100 kg patient. Higher doses must be a clinician's explicit decision.
    max_dose = 100.0
    reward_weights = RewardWeights(alpha=1.0, beta=1.0, gamma=0.1)
    actions = (
        ActionSpec("-20%", "Reduce by 20 %", "scale", -20.0),
        ActionSpec("-10%", "Reduce by 10 %", "scale", -10.0),
        ActionSpec("-4U", "Decrease by 4 U/day", "change", -4.0),
        ActionSpec("-2U", "Decrease by 2 U/day", "change", -2.0),
        ActionSpec("keep", "Keep the current dose", "change", 0.0),
        ActionSpec("+2U", "Increase by 2 U/day", "change", 2.0),
        ActionSpec("+4U", "Increase by 4 U/day", "change", 4.0),
        ActionSpec("+6U", "Increase by 6 U/day", "change", 6.0),
        ActionSpec("+8U", "Increase by 8 U/day", "change", 8.0),
    )
    feature_specs = (
        FeatureSpec("age_years", "years", "Age", 60.0, 12.0),
        FeatureSpec("female", "0/1", "Sex is female"),
        FeatureSpec("weight_kg", "kg", "Body weight", 90.0, 20.0),
        FeatureSpec("height_cm", "cm", "Height", 170.0, 10.0),
        FeatureSpec("bmi_kg_m2", "kg/m²", "Body-mass index from weight and height", 32.0, 6.0),
        FeatureSpec("egfr_ml_min_1_73m2", "mL/min/1.73 m²", f"eGFR ({EGFR_IMPUTE:g} if unknown)", 75.0, 25.0),
        FeatureSpec("egfr_unknown", "0/1", "eGFR not known (imputed)"),
        FeatureSpec("renal_dose_fraction", "1", "Snyder & Berns 2004 insulin dose fraction for this eGFR (1 if unknown)",
                    0.9, 0.1),
        FeatureSpec("current_dose_u_per_day", "U/day", "Regimen in force before this decision", 30.0, 20.0),
        FeatureSpec("dose_u_per_kg_per_day", "U/kg/day", "Current regimen per kg (> 0.5 suggests overbasalization)", 0.3, 0.2),
        FeatureSpec("mean_dose_7d_u_per_day", "U/day", "Mean dose taken over the last 7 days (current dose if unknown)",
                    30.0, 20.0),
        FeatureSpec("days_without_dose_7d", "days", "Days with no insulin taken among the last 7 known days", 2.0, 2.0),
        FeatureSpec("glucose_last_mg_dl", "mg/dL", f"Latest fasting glucose ({GLUCOSE_IMPUTE_MG_DL:g} if none)", 140.0, 50.0),
        FeatureSpec("glucose_prev_mg_dl", "mg/dL", "Fasting glucose before the latest (= latest if none)", 140.0, 50.0),
        FeatureSpec("glucose_prev2_mg_dl", "mg/dL", "Fasting glucose two before the latest (= previous if none)", 140.0, 50.0),
        FeatureSpec("days_since_glucose", "days", f"Days since the latest reading (capped at {DAYS_SINCE_GLUCOSE_CAP:g})",
                    1.0, 3.0),
        FeatureSpec("glucose_measured", "0/1", "At least one fasting glucose is on record"),
        FeatureSpec("glucose_min_7d_mg_dl", "mg/dL", "Lowest fasting glucose of the last 7 days (= latest if none)",
                    120.0, 40.0),
        FeatureSpec("day_of_therapy", "days", f"Days since the first recorded dose (capped at {DAY_CAP:g})", 45.0, 30.0),
        # The decision's inputs at visits: the mean of the latest readings (the guideline algorithms titrate on means), the
        # lows the guardrails act on, and how long the regimen has been taken (a change settles in about 3 days).
        FeatureSpec("glucose_mean_3d_mg_dl", "mg/dL", "Mean fasting glucose of the last 3 days (= latest if none)",
                    140.0, 50.0),
        FeatureSpec("glucose_mean_7d_mg_dl", "mg/dL", "Mean fasting glucose of the last 7 days (= latest if none)",
                    140.0, 50.0),
        FeatureSpec("readings_below_70_7d", "count", "Fasting readings below 70 mg/dL in the last 7 days", 0.2, 0.5),
        FeatureSpec("low_unanswered", "0/1", "A reading < 70 mg/dL in the last 7 days and the dose not lowered since"),
        FeatureSpec("days_on_regimen", "days", f"Days the current regimen has been taken (capped at {DAYS_ON_REGIMEN_CAP:g})",
                    5.0, 4.0),
    )

    # (low, high) of each feature in feature_specs order: the Gymnasium observation Box (gym_env.py). Loose physical limits
    # (PatientState ranges, the meter's and the observation kind's 10–1000 mg/dL), not reference ranges.
    feature_bounds = (
        (0.0, 120.0), (0.0, 1.0), (0.0, 400.0), (0.0, 250.0), (0.0, 150.0),
        (0.0, 200.0), (0.0, 1.0), (0.5, 1.0),
        (0.0, max_dose), (0.0, 400.0), (0.0, max_dose), (0.0, 7.0),
        (0.0, 1000.0), (0.0, 1000.0), (0.0, 1000.0), (0.0, DAYS_SINCE_GLUCOSE_CAP), (0.0, 1.0), (0.0, 1000.0), (0.0, DAY_CAP),
        (0.0, 1000.0), (0.0, 1000.0), (0.0, float(obs_history)), (0.0, 1.0), (0.0, DAYS_ON_REGIMEN_CAP),
    )

    # --- decision ----------------------------------------------------------------------------------------------------------
    def features(self, view: ClinicView) -> np.ndarray:
        c = view.covariates
        egfr = c["egfr_ml_min_1_73m2"]
        egfr_unknown = np.isnan(egfr)
        week = view.dose_history[:, :7]
        known = ~np.isnan(week)
        n_known = known.sum(axis=1)
        mean7 = np.where(n_known > 0, np.nansum(week, axis=1) / np.maximum(n_known, 1), view.current_dose)
        no_dose = (known & (np.nan_to_num(week, nan=1.0) <= 0.0)).sum(axis=1).astype(float)
        g = view.obs[KIND]
        age = view.obs_age_days[KIND]
        last = np.where(np.isnan(g[:, 0]), GLUCOSE_IMPUTE_MG_DL, g[:, 0])
        prev = np.where(np.isnan(g[:, 1]), last, g[:, 1])
        prev2 = np.where(np.isnan(g[:, 2]), prev, g[:, 2])
        in_week = ~np.isnan(g) & (age < 7.0)
        min7 = np.where(in_week.any(axis=1), np.min(np.where(in_week, g, np.inf), axis=1), last)
        since = np.where(np.isnan(age[:, 0]), DAYS_SINCE_GLUCOSE_CAP, np.minimum(age[:, 0], DAYS_SINCE_GLUCOSE_CAP))
        g_mean3 = rules.mean_fasting(view, rules.MEAN_DAYS)
        g_mean7 = rules.mean_fasting(view, rules.LOOKBACK_DAYS)
        _, week7 = rules.recent_readings(view, rules.LOOKBACK_DAYS)
        n_low = (week7 & (np.nan_to_num(g, nan=np.inf) < rules.HYPO_L1_MG_DL)).sum(axis=1).astype(float)
        weight = c["weight_kg"]
        cols = [
            c["age_years"], c["female"], weight, c["height_cm"], weight / (c["height_cm"] / 100.0) ** 2,
            np.where(egfr_unknown, EGFR_IMPUTE, egfr), egfr_unknown.astype(float), renal_clearance_factor(egfr),
            view.current_dose, view.current_dose / weight, mean7, no_dose,
            last, prev, prev2, since, (~np.isnan(g[:, 0])).astype(float), min7, np.minimum(view.day, DAY_CAP),
            np.where(np.isnan(g_mean3), last, g_mean3), np.where(np.isnan(g_mean7), last, g_mean7), n_low,
            rules.unanswered_low(view, rules.HYPO_L1_MG_DL).astype(float),
            np.minimum(days_on_regimen(view), DAYS_ON_REGIMEN_CAP),
        ]
        return np.stack(cols, axis=1).astype(np.float32)

    def reward_terms(self, observation: FloatArray, day: FloatArray, dose_change: FloatArray,
                     ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """InsulinT2DSimulator.step's terms (simulator.reward_terms) on this fasting glucose: T in 80–130 mg/dL with soft
        edges, A 1 below 70, 2 below 54, ½ above 250 mg/dL, H = |Δ| / 4 U."""
        return reward_terms(observation, dose_change)

    def mpc_objective(self, predicted: np.ndarray) -> np.ndarray:
        """Asymmetric squared log-distance to 120 mg/dL, plus the hypoglycaemia costs (dosewise.mpc)."""
        g = np.maximum(np.asarray(predicted, dtype=float), 1e-6)
        d = np.log(g / MPC_GLUCOSE_AIM_MG_DL)
        return (np.where(d < 0, MPC_LOW_SIDE_WEIGHT, 1.0) * d**2 + MPC_HYPO_L1_COST * (g < HYPO_L1_MG_DL)
                + MPC_HYPO_L2_COST * (g < HYPO_L2_MG_DL))

    def guardrails(self, view: ClinicView) -> GuardrailResult:
        """The rules in guardrails.py (hypoglycaemia, renal, dose limits), applied by the shared machinery."""
        return evaluate_rules(self, view, RULES)

    def recheck_days(self, view: ClinicView, action_idx: np.ndarray) -> np.ndarray:
        """3 days (the cadence; a change settles in about 3 days), the next morning after an unanswered level-2 low."""
        severe = rules.unanswered_low(view, rules.HYPO_L2_MG_DL)
        return np.where(severe, RECHECK_AFTER_SEVERE_LOW_DAYS, RECHECK_DAYS)

    def start_regimen(self, view: ClinicView) -> np.ndarray:
        """0.1 U/kg/day × the renal fraction, whole units (guideline.start_dose_u); 0 while the log shows no need."""
        return start_dose_u(view, self.max_dose)

    # --- digital twin ------------------------------------------------------------------------------------------------------
    def sample_cohort(self, n: int, seed: int) -> Cohort:
        return sample_cohort(n, seed)

    def simulator(self, cohort: Cohort, seed: int) -> VectorSimulator:
        return InsulinT2DSimulator(
            cohort, seed, SimConfig(max_dose_u=self.max_dose), self.reward_weights, self.dose_history_days, self.obs_history,
        )

    def guideline_policy(self) -> DosingPolicy:
        return TreatToTargetPolicy(self.max_dose)

    def forecast_twin(self) -> TwinSpec:
        """One scale on insulin sensitivity SI, fitted to the patient's fasting glucose (forecast_twin.py)."""
        return forecast_twin.TWIN

    def visit_guideline_policy(self, cadence: str | None = None) -> VisitPolicy:
        """The cited algorithm of a cadence: "weekly" (and "early-then-weekly") → Treat-to-Target (Riddle 2003);
        "every-3-days", "recheck" (3-day rechecks, ``recheck_days``) and None (the default cadence, every 3 days) →
        AT.LANTUS algorithm 2 (Davies 2005). Treat-to-Target keeps its weekly pace at 3-day visits too (guideline.py);
        AT.LANTUS at weekly visits would add 2 U a week, a third of its pace, so it is not offered for weekly visits."""
        if cadence in (None, "every-3-days", "recheck"):
            return AtLantusVisitPolicy(self)
        if cadence in ("weekly", "early-then-weekly"):
            return TreatToTargetVisitPolicy(self)
        raise KeyError(f"{self.id}: no visit guideline for cadence {cadence!r}; known: {', '.join(self.cadences)}")

    metric_labels = LABELS

    def metrics(self, trajectory: Trajectory) -> dict[str, np.ndarray]:
        return insulin_metrics(trajectory)

    def primary_metrics(self) -> tuple[str, str]:
        return PRIMARY

    # --- clinic protocol (clinic.py; outcomes and groups in clinic_metrics.py) -------------------------------------------
    clinic_metric_labels = clinic_outcomes.CLINIC_LABELS
    clinic_group_labels = {clinic_outcomes.SENSITIVITY_GROUP: clinic_outcomes.SENSITIVITY_LABELS,
                           clinic_outcomes.RENAL_GROUP: clinic_outcomes.RENAL_LABELS}

    def clinic_metrics(self, trajectory: ClinicTrajectory) -> dict[str, np.ndarray]:
        return clinic_outcomes.insulin_clinic_metrics(trajectory)

    def clinic_groups(self, covariates: Mapping[str, np.ndarray], hidden: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return clinic_outcomes.insulin_groups(covariates, hidden)

    def clinic_notes(self, trajectory: ClinicTrajectory) -> list[str]:
        return clinic_outcomes.data_notes(trajectory)
