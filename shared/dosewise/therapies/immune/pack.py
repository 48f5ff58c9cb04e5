"""Immune therapy pack: daily dose level of a pathogen-killing agent in the Stengel 2002 innate-immune model.

Action space (5 discrete dose levels, kind "level": the level is given over the next day; a.u. = the model's control units)

| index | id     | level (a.u./day) | note |
|-------|--------|------------------|------|
| 0     | none   | 0                | no drug — the safest action, what "hold" falls back to |
| 1     | 0.25au | 0.25             | |
| 2     | 0.5au  | 0.5              | |
| 3     | 1au    | 1                | the guideline's standard level |
| 4     | 2au    | 2                | top level = max_dose (the guideline's escalated level) |

A level L kills pathogen at L·kill_efficacy per day (Stengel 2002 control u1, b1 = −1, times the patient's drug
susceptibility). Levels are our choice: at the nominal patient 0.25 a.u. already rescues an otherwise lethal load of 3
(clearing in about 6 days, peak damage ≈ 0.8); 2 a.u. clears it in about 1.2 days, peak damage ≈ 0.5
(tests/unit/test_immune_twin.py checks the ordering).

Observation space: the features below (float32, clipped to ``feature_bounds``), from the ClinicView only — the measured
``pathogen_load`` and ``organ_damage`` (``observation_definitions``) and the doses given. Demographics are not features: the
model has no covariate effects (cohort.py), so they would only add noise. Hidden parameters never enter.

Time: one decision a day; one model time unit is read as one day (model.TIME_UNIT_DAYS — the paper is nondimensional).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from dosewise.therapies.base import (
    ActionSpec,
    ClinicView,
    Cohort,
    FeatureSpec,
    ObservationKind,
    RewardWeights,
    TherapyPack,
    Trajectory,
    TwinSpec,
)
from dosewise.therapies.immune import cohort as cohort_mod
from dosewise.therapies.immune import forecast_twin
from dosewise.therapies.immune.guideline import ImmuneGuidelinePolicy
from dosewise.therapies.immune.metrics import LABELS, PRIMARY, immune_metrics
from dosewise.therapies.immune.simulator import DETECTION_LIMIT, ImmuneSimulator, SimConfig, log_load

PATHOGEN_IMPUTE = 2.2  # a.u.; no load on record → the cohort's median presenting load (cohort.py), flagged by pathogen_measured
LOG_CHANGE_CAP = 5.0  # log10 a.u. per day
DAMAGE_CHANGE_CAP = 2.0  # per day
DAY_CAP = 30.0  # days
SINCE_CAP = 7.0  # days
EXPOSURE_DAYS = 3  # drug exposure feature window, days


class ImmunePack(TherapyPack):
    id = "immune"
    name = "Innate immune response (Stengel 2002 model)"
    dose_unit = "a.u."
    dose_quantity = "dimensionless"
    observation_kinds = ("pathogen_load", "organ_damage")
    # The model's other two states are defined too, so a record carrying them is answered "immune uses pathogen_load,
    # organ_damage", not "unknown kind". Ranges reject impossible values, not abnormal ones.
    observation_definitions: ClassVar[dict[str, ObservationKind]] = {
        "pathogen_load": ObservationKind(
            quantity="dimensionless", low=0.0, high=100.0, description="Pathogen concentration x1 (Stengel 2002 model units)"
        ),
        "organ_damage": ObservationKind(
            quantity="dimensionless", low=0.0, high=2.0, description="Organ health index x4 (0 healthy, 1 death; Stengel 2002)"
        ),
        "plasma_cells": ObservationKind(
            quantity="dimensionless", low=0.0, high=100.0, description="Plasma cell concentration x2 (Stengel 2002 model units)"
        ),
        "antibodies": ObservationKind(
            quantity="dimensionless", low=0.0, high=100.0, description="Antibody concentration x3 (Stengel 2002 model units)"
        ),
    }
    target_band = (0.0, DETECTION_LIMIT)  # pathogen load: undetectable is the goal
    decision_interval_days = 1.0
    dose_history_days = 7
    obs_history = 3
    max_dose = 2.0
    episode_days: ClassVar[float] = 30.0  # read by gym_env: untreated courses end (clear or die) within ≈ 15 days at x1(0) ≤ 2.6
    actions = (
        ActionSpec("none", "No pathogen-killing drug today", "level", 0.0),
        ActionSpec("0.25au", "Pathogen killer at 0.25 a.u./day", "level", 0.25),
        ActionSpec("0.5au", "Pathogen killer at 0.5 a.u./day", "level", 0.5),
        ActionSpec("1au", "Pathogen killer at 1 a.u./day (standard)", "level", 1.0),
        ActionSpec("2au", "Pathogen killer at 2 a.u./day (maximum)", "level", 2.0),
    )
    feature_specs = (
        FeatureSpec("pathogen_log10_last", "log10 a.u.", "Latest pathogen load (log10 of load + 0.01; −2 = undetectable)",
                    0.0, 1.0),
        FeatureSpec("pathogen_log10_prev", "log10 a.u.", "Previous pathogen load (log10 of load + 0.01; = latest if none)",
                    0.0, 1.0),
        FeatureSpec("pathogen_log10_change_per_day", "log10 a.u./day", "Change between the last two loads, per day (0 if <2)",
                    0.0, 1.0),
        FeatureSpec("pathogen_undetectable_count", "count", "Consecutive undetectable loads among the last 3", 0.0, 1.0),
        FeatureSpec("pathogen_measured", "0/1", "At least one pathogen load is on record"),
        FeatureSpec("days_since_pathogen_load", "days", f"Days since the latest load (capped at {SINCE_CAP:g})", 0.0, 1.0),
        FeatureSpec("organ_damage_last", "0–1 score", "Latest organ damage (0 healthy, 1 death; 0 if none)", 0.3, 0.3),
        FeatureSpec("organ_damage_prev", "0–1 score", "Previous organ damage (= latest if none)", 0.3, 0.3),
        FeatureSpec("organ_damage_change_per_day", "1/day", "Change between the last two damage scores, per day", 0.0, 0.2),
        FeatureSpec("current_level_au", "a.u./day", "Dose level in force before this decision", 0.5, 0.7),
        FeatureSpec("drug_exposure_3d_au_day", "a.u.·day", f"Drug given over the last {EXPOSURE_DAYS} days", 1.0, 1.5),
        FeatureSpec("day_of_therapy", "days", f"Days since presentation (capped at {DAY_CAP:g})", 5.0, 5.0),
    )
    feature_bounds: ClassVar[tuple[tuple[float, float], ...]] = (
        (-2.0, 2.1), (-2.0, 2.1), (-LOG_CHANGE_CAP, LOG_CHANGE_CAP), (0.0, 3.0), (0.0, 1.0), (0.0, SINCE_CAP),
        (0.0, 2.0), (0.0, 2.0), (-DAMAGE_CHANGE_CAP, DAMAGE_CHANGE_CAP), (0.0, 10.0), (0.0, 30.0), (0.0, DAY_CAP),
    )
    # R = α·T − β·A − γ·H; the scales of T and A are set in simulator.reward_terms, so unit weights; γ keeps switching cheap
    # but not free (same γ as the base default).
    reward_weights = RewardWeights(alpha=1.0, beta=1.0, gamma=0.1)

    def features(self, view: ClinicView) -> np.ndarray:
        load, load_age = view.obs["pathogen_load"], view.obs_age_days["pathogen_load"]
        dmg, dmg_age = view.obs["organ_damage"], view.obs_age_days["organ_damage"]
        measured = ~np.isnan(load[:, 0])
        last = log_load(np.where(measured, load[:, 0], PATHOGEN_IMPUTE))
        has_prev = ~np.isnan(load[:, 1])
        prev = np.where(has_prev, log_load(np.nan_to_num(load[:, 1])), last)
        gap = np.where(has_prev, np.nan_to_num(load_age[:, 1]) - np.nan_to_num(load_age[:, 0]), 1.0)
        change = np.where(has_prev, (last - prev) / np.maximum(gap, 1e-3), 0.0)
        undetectable = load == 0.0  # NaN compares False
        run = np.cumprod(undetectable, axis=1).sum(axis=1)
        since = np.where(measured, np.nan_to_num(load_age[:, 0]), SINCE_CAP)
        d_last = np.nan_to_num(dmg[:, 0], nan=0.0)
        d_has_prev = ~np.isnan(dmg[:, 1])
        d_prev = np.where(d_has_prev, np.nan_to_num(dmg[:, 1]), d_last)
        d_gap = np.where(d_has_prev, np.nan_to_num(dmg_age[:, 1]) - np.nan_to_num(dmg_age[:, 0]), 1.0)
        d_change = np.where(d_has_prev & ~np.isnan(dmg[:, 0]), (d_last - d_prev) / np.maximum(d_gap, 1e-3), 0.0)
        exposure = np.nansum(view.dose_history[:, :EXPOSURE_DAYS], axis=1)
        cols = [
            last, prev, change, run, measured.astype(float), since, d_last, d_prev, d_change, view.current_dose, exposure,
            view.day,
        ]
        x = np.stack(cols, axis=1)
        lo = np.array([b[0] for b in self.feature_bounds])
        hi = np.array([b[1] for b in self.feature_bounds])
        return np.clip(x, lo, hi).astype(np.float32)

    # --- digital twin --------------------------------------------------------------------------------------------------
    def sample_cohort(self, n: int, seed: int) -> Cohort:
        return cohort_mod.sample_cohort(n, seed)

    def simulator(self, cohort: Cohort, seed: int) -> ImmuneSimulator:
        return ImmuneSimulator(
            cohort, seed, SimConfig(max_dose=self.max_dose), reward_weights=self.reward_weights,
            decision_interval_days=self.decision_interval_days, dose_history_days=self.dose_history_days,
            obs_history=self.obs_history,
        )

    def guideline_policy(self) -> ImmuneGuidelinePolicy:
        return ImmuneGuidelinePolicy()

    def forecast_twin(self) -> TwinSpec:
        """One scale on the drug's kill efficacy, fitted to the patient's pathogen loads (forecast_twin.py)."""
        return forecast_twin.TWIN

    metric_labels = LABELS

    def metrics(self, trajectory: Trajectory) -> dict[str, np.ndarray]:
        return immune_metrics(trajectory, self.decision_interval_days)

    def primary_metrics(self) -> tuple[str, str]:
        return PRIMARY
