"""A tiny therapy pack for the tests: one drug, one level, first-order response. Not a clinical model.

level' = 0.5·level + 0.5·sensitivity·dose + noise; target band 2–3; level > 6 ends the course (``terminated``) so the
learners' handling of terminations is exercised. Seconds to train on, and the right dose differs per patient.

It is a whole pack, as a new therapy would be (tests/unit/test_adding_a_therapy.py registers, trains, serves and explains
it): its observation kind, its reward terms (the simulator books the same), and a forecast twin fitted on one scale of
the patient's sensitivity.
"""

from __future__ import annotations

import numpy as np

from dosewise.therapies.base import (
    COVARIATES,
    ActionSpec,
    ClinicView,
    Cohort,
    FeatureSpec,
    FloatArray,
    ObservationKind,
    StepResult,
    TherapyPack,
    Trajectory,
    TwinSpec,
    VectorSimulator,
)

FATAL_LEVEL = 6.0
NOISE_SD = 0.05  # of the level's daily change


class ToySimulator(VectorSimulator):
    def __init__(self, pack: ToyPack, cohort: Cohort, seed: int, noise_sd: float = NOISE_SD) -> None:
        self.pack, self.cohort, self.n, self.noise_sd = pack, cohort, cohort.n, noise_sd
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
        noise = self.rng.normal(0.0, self.noise_sd, self.n)
        self.level = np.where(self.dead, self.level,
                              0.5 * self.level + 0.5 * self.cohort.hidden["sensitivity"] * given + noise)
        in_band, adverse, changed = self.pack.reward_terms(self.level, self.day + 1, regimen - self.dose)
        self.dose = regimen.copy()
        self.day += 1
        self.levels = np.concatenate([self.level[:, None], self.levels[:, :2]], axis=1)
        self.given_hist = np.concatenate([given[:, None], self.given_hist[:, :2]], axis=1)
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


def _twin(pack: TherapyPack, view: ClinicView, scale: FloatArray) -> VectorSimulator:
    """Noise-free toy patients whose sensitivity is ``scale`` (the population's is about 1)."""
    assert isinstance(pack, ToyPack)
    sim = ToySimulator(pack, Cohort.from_view(view, {"sensitivity": np.asarray(scale, dtype=float)}), 0, noise_sd=0.0)
    sim.reset()
    return sim


def _steady(sim: VectorSimulator, rows: np.ndarray, dose: FloatArray) -> None:
    """level = sensitivity · dose is where level' = 0.5·level + 0.5·sensitivity·dose stays."""
    assert isinstance(sim, ToySimulator)
    sim.level = np.where(rows, sim.cohort.hidden["sensitivity"] * dose, sim.level)
    sim.dose = np.where(rows, dose, sim.dose)


TWIN = TwinSpec(
    parameter="sensitivity", unit="level", description="scale on the toy drug's sensitivity (population about 1)",
    prior_log_sd=0.25,  # the cohort's sensitivity is uniform on 0.6–1.4: ln 0.6 … ln 1.4 is about ±2 of these
    residual_log_sd=0.1, truth_key="level", build=_twin, set_steady_state=_steady,
    memory_days=4,  # the level halves its distance to the steady state each day: 6 % of an old dose's effect after 4
    reward_forecast=True,
)


class ToyPack(TherapyPack):
    id = "toy"
    name = "Toy drug (tests only)"
    dose_unit = "U"
    dose_quantity = "dose_units"
    observation_kinds = ("level",)
    observation_definitions = {"level": ObservationKind(quantity="dimensionless", low=0.0, high=100.0,
                                                        description="Toy drug level (tests only)", label="level")}
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

    def reward_terms(self, observation: FloatArray, day: FloatArray, dose_change: FloatArray,
                     ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """T: level in 2–3; A: level above 4 or below 1; H: 1 for any change of the regimen."""
        level = np.asarray(observation, dtype=float)
        in_band = ((level >= 2.0) & (level <= 3.0)).astype(float)
        adverse = ((level > 4.0) | (level < 1.0)).astype(float)
        return in_band, adverse, (np.abs(dose_change) > 1e-9).astype(float)

    def forecast_twin(self) -> TwinSpec:
        return TWIN

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
