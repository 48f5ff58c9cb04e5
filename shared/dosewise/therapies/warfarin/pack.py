"""Warfarin therapy pack: the weekly warfarin dose decided at clinic visits, to keep INR in 2.0–3.0.

A decision is taken at a visit (an INR measured in the clinic, ``self_monitored`` False) and held until the next one
(clinic.py). Doses are in mg/day, the weekly dose / 7; actions change the **weekly dose by a percentage**, as nomograms do,
and a hold skips N doses and then resumes at a **lower** regimen (CHEST 2012, Holbrook et al., Chest 141:e152S: omit one or
two doses and resume at a lower dose; a hold that kept the regimen let it never fall with weekly visits, issue #25).

Action space (11 discrete actions; index 0 is the safest: hold, then the largest reduction). Every step of the Aurora
nomogram (Ravvaz 2017, as coded in ReiL; clinical.md §1) is one action, so the guideline needs no approximation:

| index | id          | effect                                           | Aurora band (INR, 2 decimals) |
|-------|-------------|--------------------------------------------------|-------------------------------|
| 0     | hold2-15%   | hold 2 doses, then weekly dose × 0.85            | > 5 (hold, recheck in 2 days) |
| 1     | hold2-12.5% | hold 2 doses, then weekly dose × 0.875           | 4.0–5.0                       |
| 2     | hold1-10%   | hold 1 dose, then weekly dose × 0.90             | (CHEST 2012: omit one dose)   |
| 3     | -20%        | weekly dose × 0.80                               |                               |
| 4     | -10%        | weekly dose × 0.90                               | 3.4–3.99                      |
| 5     | -7.5%       | weekly dose × 0.925                              | 3.01–3.39                     |
| 6     | keep        | weekly dose unchanged                            | 2.0–3.0                       |
| 7     | +7.5%       | weekly dose × 1.075                              | 1.8–1.99                      |
| 8     | +10%        | weekly dose × 1.10                               | 1.5–1.79                      |
| 9     | +15%        | weekly dose × 1.15                               | < 1.5                         |
| 10    | +20%        | weekly dose × 1.20                               |                               |

±20 % and "hold 1 dose then −10 %" lie outside Aurora: the largest weekly change of common nomograms and CHEST's one-dose
omission, for a learned policy (our choice). New regimens are rounded to ``dose_step`` = 0.5 mg a week (a half 1-mg
tablet once a week; 1/14 mg/day) without losing their direction (base.round_regimen).

Visits (``cadences``): the warfarin twins' early-then-weekly INR days, or every 3 days; ``recheck_days`` gives the INR
retest the answer asks for (Aurora's rule, more often in the first two weeks). ``start_regimen``: the IWPC dose for a
patient not yet on warfarin (pharmacogenetic when genotyped, else clinical).

Observation space: the features below (float32), each with its unit and the bounds in ``feature_bounds``. The policy
sees only what a clinic sees.

Digital twin (issue "Digital twins"): Ravvaz 2017 avatars (cohort.py) on the Hamberg 2007 PK/PD model (model.py),
stepped by simulator.py; guideline = IWPC start + Aurora nomogram (guideline.py; daily ``IwpcAuroraGuideline`` and the
visit-level ``AuroraVisitGuideline``); guardrails in guardrails.py; outcomes in metrics.py and clinic_metrics.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from dosewise.guardrails import ADULT_AGE_YEARS
from dosewise.guardrails import evaluate as evaluate_rules
from dosewise.therapies.base import (
    CYP2C9_GENOTYPES,
    VKORC1_GENOTYPES,
    ActionSpec,
    ClinicView,
    Cohort,
    DosingPolicy,
    FeatureSpec,
    FloatArray,
    GuardrailResult,
    IntArray,
    ObservationKind,
    RewardWeights,
    TherapyPack,
    Trajectory,
    TwinSpec,
)
from dosewise.therapies.warfarin import clinic_metrics as clinic_outcomes
from dosewise.therapies.warfarin import forecast_twin, interactions
from dosewise.therapies.warfarin.cohort import sample_ravvaz_cohort
from dosewise.therapies.warfarin.guardrails import RULES
from dosewise.therapies.warfarin.guideline import (
    AuroraVisitGuideline,
    IwpcAuroraGuideline,
    iwpc_visit_start_dose_mg_per_day,
    recheck_days,
)
from dosewise.therapies.warfarin.iwpc import iwpc_pharmacogenetic_dose_mg_per_day
from dosewise.therapies.warfarin.metrics import LABELS, warfarin_metrics
from dosewise.therapies.warfarin.simulator import INR_BLEED_RISK, INR_CLOT_RISK, WarfarinSimulator, reward_terms
from dosewise.therapies.warfarin.target import INR_TARGET

if TYPE_CHECKING:
    from dosewise.therapies.clinic import ClinicTrajectory, VisitPolicy

START_MAX_INR = 1.5  # untreated INR is about 1 (Hamberg 2007 BASE); ≥ 1.5 without warfarin needs a clinician first
INR_IMPUTE_NONE = 1.0  # an untreated patient's INR (Hamberg 2007 BASE = 1) when no INR has been measured yet
DAYS_SINCE_INR_CAP = 28.0  # days; longer gaps look the same to the policy
# The twins' courses in training last 90 days (``episode_days``, read by the trainer and gym_env). An older course
# looks to the policy like the oldest it was trained on: the network is not asked about days it never saw.
DAY_CAP = 90.0
# The model-predictive controller's objective (mpc_objective): aim at the middle of the 2–3 target; a forecast day above
# INR 4 or below 1.5 (the adverse-event proxies, clinical.md §1 "Metrics") costs MPC_ADVERSE_DAY_COST more, about four
# times the squared log-distance at either threshold (ln(4/2.5)² = 0.22, ln(1.5/2.5)² = 0.26). Our choice.
MPC_INR_AIM = 2.5
MPC_ADVERSE_DAY_COST = 1.0

_GENO_FEATURES = (
    *(FeatureSpec(f"cyp2c9_{g}", "0/1", f"CYP2C9 {g} (one-hot)") for g in CYP2C9_GENOTYPES),
    FeatureSpec("cyp2c9_unknown", "0/1", "CYP2C9 not tested"),
    *(FeatureSpec(f"vkorc1_{g}", "0/1", f"VKORC1 -1639 {g} (one-hot)") for g in VKORC1_GENOTYPES),
    FeatureSpec("vkorc1_unknown", "0/1", "VKORC1 not tested"),
)


class WarfarinPack(TherapyPack):
    id = "warfarin"
    name = "Warfarin (INR 2–3)"
    dose_unit = "mg"
    dose_quantity = "dose_mg"
    observation_kinds = ("inr",)
    observation_definitions = {
        "inr": ObservationKind(quantity="inr", low=0.5, high=15.0, loinc="6301-6", description="INR of prothrombin time",
                               label="INR"),
    }
    target_band = INR_TARGET
    # The simulator steps a day; a clinic decision holds until the next visit, which ``cadences`` or ``recheck_days`` set
    # (clinic.py), as for insulin.
    decision_interval_days = 1.0
    cadences = ("early-then-weekly", "every-3-days")  # clinic.SCHEDULES; the first is the default
    self_monitored = False  # INR is measured at the clinic visit
    episode_days = DAY_CAP  # training course length (trainer, gym_env)
    dose_history_days = 14
    obs_history = 3
    # Product safety limit, not a literature value: maintenance doses above 15 mg/day are exceptional (IWPC 2009 cohort
    # weekly doses are mostly < 100 mg); anything higher must be a clinician's explicit decision.
    max_dose = 15.0
    dose_step = 0.5 / 7.0  # 0.5 mg a week, per day: the weekly dose in half 1-mg tablets (module docstring)
    actions = (
        ActionSpec("hold2-15%", "Hold 2 doses, then lower the weekly dose by 15 %", "hold", -15.0, hold_doses=2),
        ActionSpec("hold2-12.5%", "Hold 2 doses, then lower the weekly dose by 12.5 %", "hold", -12.5, hold_doses=2),
        ActionSpec("hold1-10%", "Hold 1 dose, then lower the weekly dose by 10 %", "hold", -10.0, hold_doses=1),
        ActionSpec("-20%", "Lower the weekly dose by 20 %", "scale", -20.0),
        ActionSpec("-10%", "Lower the weekly dose by 10 %", "scale", -10.0),
        ActionSpec("-7.5%", "Lower the weekly dose by 7.5 %", "scale", -7.5),
        ActionSpec("keep", "Keep the weekly dose", "scale", 0.0),
        ActionSpec("+7.5%", "Raise the weekly dose by 7.5 %", "scale", 7.5),
        ActionSpec("+10%", "Raise the weekly dose by 10 %", "scale", 10.0),
        ActionSpec("+15%", "Raise the weekly dose by 15 %", "scale", 15.0),
        ActionSpec("+20%", "Raise the weekly dose by 20 %", "scale", 20.0),
    )
    feature_specs = (
        FeatureSpec("age_years", "years", "Age", 65.0, 15.0),
        FeatureSpec("female", "0/1", "Sex is female"),
        FeatureSpec("weight_kg", "kg", "Body weight", 90.0, 25.0),
        FeatureSpec("height_cm", "cm", "Height", 170.0, 11.0),
        *_GENO_FEATURES,
        FeatureSpec("amiodarone", "0/1", "Takes amiodarone (CYP2C9 inhibitor; IWPC covariate)"),
        FeatureSpec("enzyme_inducer", "0/1", "Takes carbamazepine, phenytoin or rifampin (IWPC covariate)"),
        FeatureSpec("current_dose_mg_per_day", "mg/day", "Regimen in force before this decision", 5.0, 3.0),
        FeatureSpec("mean_dose_7d_mg_per_day", "mg/day", "Mean dose given over the last 7 days (current dose if unknown)",
                    5.0, 3.0),
        FeatureSpec("iwpc_dose_mg_per_day", "mg/day", "IWPC pharmacogenetic dose estimate (NEJM 2009;360:753)", 5.0, 2.0),
        FeatureSpec("inr_last", "INR", "Latest INR (1.0 if none yet)", 2.5, 1.0),
        FeatureSpec("inr_prev", "INR", "INR before the latest (= latest if none)", 2.5, 1.0),
        FeatureSpec("inr_prev2", "INR", "INR two before the latest (= previous if none)", 2.5, 1.0),
        FeatureSpec("days_since_inr", "days", f"Days since the latest INR (capped at {DAYS_SINCE_INR_CAP:g})", 3.0, 5.0),
        FeatureSpec("inr_measured", "0/1", "At least one INR is on record"),
        FeatureSpec("day_of_therapy", "days", f"Days since the first recorded dose (capped at {DAY_CAP:g})", 45.0, 30.0),
    )

    # (low, high) of each feature in feature_specs order: the Gymnasium observation Box (gym_env.py). Loose physical limits,
    # not reference ranges. INR: BASE + INRmax = 21 (Hamberg 2007) times the measurement error leaves ample room below 50.
    feature_bounds = (
        (0.0, 120.0), (0.0, 1.0), (0.0, 400.0), (0.0, 250.0),
        *((0.0, 1.0),) * len(_GENO_FEATURES),
        (0.0, 1.0), (0.0, 1.0),
        (0.0, 15.0), (0.0, 15.0), (0.0, 50.0),
        (0.0, 50.0), (0.0, 50.0), (0.0, 50.0), (0.0, DAYS_SINCE_INR_CAP), (0.0, 1.0), (0.0, DAY_CAP),
    )
    # HSDPO R = α·T − β·A − γ·H per day (simulator.py): +1 for a day in range, −1 for an adverse-event day, −0.1 per mg/day
    # of regimen change. Our choice (the source gives no weights): an adverse day costs as much as a day in range earns;
    # a 1-mg change costs a tenth of a day. Override per instance, e.g. ``pack.reward_weights = RewardWeights(...)``.
    reward_weights = RewardWeights(alpha=1.0, beta=1.0, gamma=0.1)

    def features(self, view: ClinicView) -> np.ndarray:
        c = view.covariates
        n = view.n
        cyp = np.zeros((n, len(CYP2C9_GENOTYPES) + 1))
        cyp[np.arange(n), np.where(c["cyp2c9"] < 0, len(CYP2C9_GENOTYPES), c["cyp2c9"]).astype(int)] = 1.0
        vk = np.zeros((n, len(VKORC1_GENOTYPES) + 1))
        vk[np.arange(n), np.where(c["vkorc1"] < 0, len(VKORC1_GENOTYPES), c["vkorc1"]).astype(int)] = 1.0
        week = view.dose_history[:, :7]
        known = ~np.isnan(week)
        mean7 = np.where(known.any(axis=1), np.nansum(week, axis=1) / np.maximum(known.sum(axis=1), 1), view.current_dose)
        inr = view.obs["inr"]
        age = view.obs_age_days["inr"]
        last = np.where(np.isnan(inr[:, 0]), INR_IMPUTE_NONE, inr[:, 0])
        prev = np.where(np.isnan(inr[:, 1]), last, inr[:, 1])
        prev2 = np.where(np.isnan(inr[:, 2]), prev, inr[:, 2])
        since = np.where(np.isnan(age[:, 0]), DAYS_SINCE_INR_CAP, np.minimum(age[:, 0], DAYS_SINCE_INR_CAP))
        cols = [
            c["age_years"], c["female"], c["weight_kg"], c["height_cm"], *cyp.T, *vk.T, c["amiodarone"], c["enzyme_inducer"],
            view.current_dose, mean7, iwpc_pharmacogenetic_dose_mg_per_day(c), last, prev, prev2, since,
            (~np.isnan(inr[:, 0])).astype(float), np.minimum(view.day, DAY_CAP),
        ]
        return np.stack(cols, axis=1).astype(np.float32)

    def guardrails(self, view: ClinicView) -> GuardrailResult:
        """The rules in guardrails.py (INR holds, pregnancy, interacting co-medications, stale INR, dose limits) by the
        shared machinery."""
        return evaluate_rules(self, view, RULES)

    def recheck_days(self, view: ClinicView, action_idx: IntArray) -> FloatArray:
        """Days to the next INR: Aurora's retest rule, sooner in the first two weeks and after a change (guideline.py)."""
        return recheck_days(self, view, action_idx)

    def start_regimen(self, view: ClinicView) -> FloatArray:
        """The IWPC dose (pharmacogenetic when genotyped, else clinical), rounded to 0.5 mg, in [0.5, max_dose]; 0 (no
        automatic start) in pregnancy (contraindicated: FDA Coumadin label 2011), for a child (adult models: guardrails
        ``child``) and where an INR ≥ START_MAX_INR is on record without warfarin (a coagulopathy or another
        anticoagulant to explain first; Dosewise product limit)."""
        dose = iwpc_visit_start_dose_mg_per_day(view.covariates, self.max_dose)
        inr = view.obs["inr"][:, 0]
        refuse = ((view.covariates["pregnant"] > 0.5) | (view.covariates["age_years"] < ADULT_AGE_YEARS)
                  | (~np.isnan(inr) & (inr >= START_MAX_INR)))
        return np.where(refuse, 0.0, dose)

    def reward_terms(self, observation: FloatArray, day: FloatArray, dose_change: FloatArray,
                     ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """WarfarinSimulator.step's terms (simulator.reward_terms) on this INR: T in 2–3, A above 4 or below 1.5 after
        day 7 (clinical.md §1), H = |Δ| mg/day."""
        terms = reward_terms(observation, day, dose_change, np.zeros_like(dose_change))
        return terms["r_t"], terms["r_a"], terms["r_h"]

    def mpc_objective(self, predicted: FloatArray) -> FloatArray:
        """Squared log-distance to INR 2.5, plus MPC_ADVERSE_DAY_COST a day above INR 4 or below 1.5 (dosewise.mpc)."""
        inr = np.maximum(np.asarray(predicted, dtype=float), 1e-6)
        adverse = (inr > INR_BLEED_RISK) | (inr < INR_CLOT_RISK)
        return np.log(inr / MPC_INR_AIM) ** 2 + MPC_ADVERSE_DAY_COST * adverse

    comedication_covariates = interactions.COVARIATES  # the IWPC's amiodarone and enzyme inducer, the table's rows

    def comedication_flags(self, generic_names: frozenset[str]) -> tuple[float, ...]:
        return interactions.flags_of(generic_names)

    def comedication_warnings(self, co_medications: Sequence[str]) -> list[str]:
        """Every entry naming no drug of the interaction table (nor warfarin): its interactions were not checked, and the
        answer says so (interactions.py)."""
        return interactions.comedication_warnings(co_medications)

    # --- digital twin ---------------------------------------------------------------------------------------------------
    def sample_cohort(self, n: int, seed: int, genotype_unknown_fraction: float = 0.0) -> Cohort:
        """Ravvaz 2017 avatars; ``genotype_unknown_fraction`` of them were not genotyped."""
        return sample_ravvaz_cohort(n, seed, genotype_unknown_fraction)

    def simulator(self, cohort: Cohort, seed: int) -> WarfarinSimulator:
        return WarfarinSimulator(
            cohort, seed, self.reward_weights, self.max_dose, dose_history_days=self.dose_history_days,
            obs_history=self.obs_history,
        )

    def guideline_policy(self) -> DosingPolicy:
        """The daily guideline (the simulator's own IWPC start, then Aurora on new INRs), for the daily rollout."""
        return IwpcAuroraGuideline(self.max_dose)

    def forecast_twin(self) -> TwinSpec:
        """One scale on Hamberg's EC50, fitted to the patient's INRs (forecast_twin.py)."""
        return forecast_twin.TWIN

    def visit_guideline_policy(self, cadence: str | None = None) -> VisitPolicy:
        """Aurora at each visit through its exact action, the IWPC start for a patient not yet on warfarin. The same at
        every cadence: Aurora's own retest days are ``recheck_days`` (the "recheck" schedule)."""
        return AuroraVisitGuideline(self)

    metric_labels = LABELS

    def metrics(self, trajectory: Trajectory) -> dict[str, FloatArray]:
        return warfarin_metrics(trajectory)

    def primary_metrics(self) -> tuple[str, str]:
        return ("time_in_range_pct", "adverse_event_days")

    # --- clinic protocol (clinic.py; outcomes and groups in clinic_metrics.py) -------------------------------------------
    clinic_metric_labels = clinic_outcomes.CLINIC_LABELS
    clinic_group_labels = {clinic_outcomes.GENOTYPE_GROUP: clinic_outcomes.SENSITIVITY_LABELS}

    def clinic_metrics(self, trajectory: ClinicTrajectory) -> dict[str, FloatArray]:
        return clinic_outcomes.warfarin_clinic_metrics(trajectory)

    def clinic_groups(self, covariates: Mapping[str, FloatArray], hidden: Mapping[str, FloatArray]) -> dict[str, IntArray]:
        return clinic_outcomes.warfarin_groups(covariates, hidden)
