"""A tiny therapy pack for the trainer's tests: one drug, one level, first-order response. Not a clinical model.

level' = 0.5·level + 0.5·sensitivity·dose + noise; target band 2–3; level > 6 ends the course (``terminated``) so the
learners' handling of terminations is exercised. Seconds to train on, and the right dose differs per patient.
"""

from __future__ import annotations

import numpy as np

from dosewise.therapies.base import (
    COVARIATES,
    ActionSpec,
    ClinicView,
    Cohort,
    FeatureSpec,
    StepResult,
    TherapyPack,
    Trajectory,
    VectorSimulator,
)

FATAL_LEVEL = 6.0


class ToySimulator(VectorSimulator):
    def __init__(self, pack: ToyPack, cohort: Cohort, seed: int) -> None:
        self.pack, self.cohort, self.n = pack, cohort, cohort.n
        self.rng = np.random.default_rng(seed)

    def _view(self) -> ClinicView:
        return ClinicView(day=self.day.copy(), current_dose=self.dose.copy(), dose_history=self.given_hist.copy(),
                          obs={"level": self.levels.copy()}, obs_age_days={"level": np.zeros_like(self.levels)},
                          covariates=self.cohort.covariates)

    def reset(self) -> ClinicView:
        self.day = np.zeros(self.n)
        self.dose = np.ones(self.n)  # every course starts at 1 unit/day, like a guideline's fixed start
        self.level = 0.5 * self.cohort.hidden["sensitivity"]
        self.levels = np.full((self.n, 3), np.nan)
        self.levels[:, 0] = self.level
        self.given_hist = np.full((self.n, 3), np.nan)
        self.dead = np.zeros(self.n, bool)
        return self._view()

    def step(self, given: np.ndarray, regimen: np.ndarray) -> StepResult:
        noise = self.rng.normal(0.0, 0.05, self.n)
        self.level = np.where(self.dead, self.level,
                              0.5 * self.level + 0.5 * self.cohort.hidden["sensitivity"] * given + noise)
        changed = (np.abs(regimen - self.dose) > 1e-9).astype(float)
        self.dose = regimen.copy()
        self.day += 1
        self.levels = np.concatenate([self.level[:, None], self.levels[:, :2]], axis=1)
        self.given_hist = np.concatenate([given[:, None], self.given_hist[:, :2]], axis=1)
        in_band = ((self.level >= 2.0) & (self.level <= 3.0)).astype(float)
        adverse = ((self.level > 4.0) | (self.level < 1.0)).astype(float)
        newly_dead = (self.level > FATAL_LEVEL) & ~self.dead
        self.dead |= newly_dead
        reward = self.pack.reward_weights.combine(in_band, adverse, changed) - 10.0 * newly_dead
        return StepResult(view=self._view(), reward=reward, terminated=newly_dead.copy(), truncated=np.zeros(self.n, bool),
                          info={"level": self.level.copy(), "in_band": in_band, "adverse": adverse})


class ToyGuideline:
    name = "toy_guideline"

    def __init__(self, pack: ToyPack) -> None:
        self.pack = pack

    def reset(self, n: int) -> None:
        pass

    def act(self, view: ClinicView) -> tuple[np.ndarray, np.ndarray]:
        return self.pack.apply_actions(view.current_dose, guideline_actions(view.obs["level"][:, 0]))


def guideline_actions(level: np.ndarray) -> np.ndarray:
    """Below the band: +1; above: −1; inside: keep (action indices of ToyPack)."""
    return np.where(level < 2.0, 3, np.where(level > 3.0, 1, 2))


class ToyPack(TherapyPack):
    id = "toy"
    name = "Toy drug (tests only)"
    dose_unit = "U"
    dose_quantity = "dose_units"
    observation_kinds = ("level",)
    target_band = (2.0, 3.0)
    dose_history_days = 3
    obs_history = 3
    max_dose = 6.0
    actions = (
        ActionSpec("hold", "Hold", "hold"),
        ActionSpec("-1", "Decrease by 1", "change", -1.0),
        ActionSpec("keep", "Keep", "change", 0.0),
        ActionSpec("+1", "Increase by 1", "change", 1.0),
    )
    feature_specs = (
        FeatureSpec("weight_kg", "kg", "Body weight (correlates with sensitivity)", 80.0, 15.0),
        FeatureSpec("level_last", "level", "Latest level", 2.5, 1.0),
        FeatureSpec("level_prev", "level", "Previous level", 2.5, 1.0),
        FeatureSpec("current_dose", "U/day", "Regimen in force", 2.0, 1.5),
    )

    def features(self, view: ClinicView) -> np.ndarray:
        lv = view.obs["level"]
        last = np.nan_to_num(lv[:, 0], nan=0.0)
        prev = np.where(np.isnan(lv[:, 1]), last, lv[:, 1])
        return np.stack([view.covariates["weight_kg"], last, prev, view.current_dose], axis=1).astype(np.float32)

    def sample_cohort(self, n: int, seed: int) -> Cohort:
        rng = np.random.default_rng(seed)
        sensitivity = rng.uniform(0.6, 1.4, n)  # an integer dose of 2–4 puts everyone in band
        cov = {c: np.zeros(n) for c in COVARIATES}
        cov["weight_kg"] = 80.0 + 40.0 * (sensitivity - 1.0) + rng.normal(0, 3, n)
        return Cohort(covariates=cov, hidden={"sensitivity": sensitivity}, seed=seed)

    def simulator(self, cohort: Cohort, seed: int) -> VectorSimulator:
        return ToySimulator(self, cohort, seed)

    def guideline_policy(self) -> ToyGuideline:
        return ToyGuideline(self)

    def metrics(self, trajectory: Trajectory) -> dict[str, np.ndarray]:
        return {"time_in_range_pct": 100.0 * trajectory.info["in_band"].mean(axis=1),
                "adverse_event_days": trajectory.info["adverse"].sum(axis=1)}

    def primary_metrics(self) -> tuple[str, str]:
        return ("time_in_range_pct", "adverse_event_days")
