"""Vectorized immune digital twins: N infected patients under a pathogen-killing drug, one dose-level decision per day.

Description
    The Stengel 2002 model (model.py) with the cohort's per-patient parameters (cohort.py). The drug is the paper's control
    u1 (pathogen killer, b1 = −kill_efficacy): a dose level L a.u. held over an interval kills pathogen at rate
    L·kill_efficacy per time unit. One model time unit is read as one day (model.TIME_UNIT_DAYS, our convention; the paper
    is nondimensional), so the daily decision is one time unit. The organ-health agent u4 exists in the model but no action
    of this pack doses it (u4 = 0).

Time line of one step
    At the decision time the clinic has today's measurements (in the view); the policy sets the level; the level is held
    for one day (the model runs RK4 with step model.DT); the next measurements are taken at the end of the day.

Observations (measured daily; noise model is **our assumption**)
    ``pathogen_load`` (a.u., model x1): true x1·exp(0.2·N(0, 1)) — a quantitative culture/PCR load with ≈ 20 % error —
    reported as 0 below the detection limit 0.01 a.u. (``DETECTION_LIMIT``). ``organ_damage`` (0 healthy … 1 death, model
    x4): true x4 + 0.03·N(0, 1), clipped to 0–2, standing for an organ-dysfunction score read on the model's scale.

Reward (per step, true state; R = α·T − β·A − γ·H with the pack's RewardWeights)
    T = clip(log10((x1_before + 0.01)/(x1_after + 0.01)), −1, 1) + 1·[cleared at this step]: pathogen reduction in logs,
        plus a bonus for confirmed clearance.
    A = 2·max(max x4 in the interval − 0.5, 0) + 10·[died in this step] + 0.1·dose level·days: organ damage above the
        threshold 0.5 (where the model's immune response starts to fail, a21 = 0), death (large), and drug exposure (the
        paper's quadratic control cost stands for side effects; ours is linear in exposure). Weights are design choices.
    H = |new level − previous level| (a.u.).
    ``info`` carries r_t, r_a, r_h, pathogen_true, organ_damage_true, organ_damage_max, pathogen_measured,
    organ_damage_measured, dose (delivered level), died and cleared (0/1 states).

Episode end (``terminated``; True from the ending step on)
    Death: x4 reaches 1 (Stengel 2002). Clearance: true x1 < 0.01 a.u. (the detection limit) at two consecutive decision
    times, i.e. held through one whole day. The model cannot relapse after that: with x1 ≈ 0 the antibodies return above
    a11/a12 (the healthy state is stable in every virtual patient, cohort.py), so the pathogen only keeps falling; a drug
    that drove x1 to exactly 0 has eradicated it. After the end the patient's state and view freeze, reward is 0 and no
    drug is delivered; the others keep stepping.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dosewise.therapies.base import ClinicView, Cohort, FloatArray, RewardWeights, StepResult, VectorSimulator
from dosewise.therapies.immune.cohort import params_of
from dosewise.therapies.immune.model import DT, TIME_UNIT_DAYS, advance

DETECTION_LIMIT = 0.01  # a.u.; pathogen below this is undetectable (our assumption: 1 % of a typical presenting load)
CLEAR_CONFIRMATIONS = 2  # consecutive decision times below the detection limit that count as cleared
DAMAGE_THRESHOLD = 0.5  # organ damage above which the model's plasma-cell response is switched off (a21 = 0 for x4 > 0.5)
PATHOGEN_LOG_SD = 0.2  # measurement error of pathogen load, log scale (our assumption)
DAMAGE_SD = 0.03  # measurement error of organ damage, absolute (our assumption)
DAMAGE_REPORT_RANGE = (0.0, 2.0)  # ImmunePack.observation_definitions["organ_damage"]
REWARD_LOG_CLIP = 1.0  # T's log-reduction term is clipped to ±1 per day
CLEAR_BONUS = 1.0
DAMAGE_PENALTY_SCALE = 2.0  # 2·(x4 − 0.5): 1 at x4 = 1
DEATH_PENALTY = 10.0
DRUG_COST_PER_AU_DAY = 0.1


def log_load(load: np.ndarray) -> np.ndarray:
    """log10(load + detection limit): 0 (undetectable) → −2. The scale the policy reads a load on (pack.py) and the
    forecast measures distances to the "undetectable" band in (forecast_twin.py)."""
    return np.log10(np.maximum(load, 0.0) + DETECTION_LIMIT)


@dataclass(frozen=True)
class SimConfig:
    """Simulator knobs."""

    dt: float = DT  # RK4 step, model time units
    measurement_noise: bool = True
    max_dose: float = 2.0  # pack.max_dose, a.u.


def reward_terms(
    x1_before: FloatArray, x1_after: FloatArray, max_damage: FloatArray, died: FloatArray, cleared: FloatArray,
    dose: FloatArray, level_change: FloatArray, days: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(T, A, H) of one step, see the module docstring."""
    logs = np.log10((x1_before + DETECTION_LIMIT) / (x1_after + DETECTION_LIMIT))
    t = np.clip(logs, -REWARD_LOG_CLIP, REWARD_LOG_CLIP) + CLEAR_BONUS * cleared
    a = (
        DAMAGE_PENALTY_SCALE * np.maximum(max_damage - DAMAGE_THRESHOLD, 0.0)
        + DEATH_PENALTY * died
        + DRUG_COST_PER_AU_DAY * dose * days
    )
    return t, a, np.abs(level_change)


class ImmuneSimulator(VectorSimulator):
    """N immune twins; see the module docstring. Same (cohort, seed, config) and same doses → same trajectory."""

    def __init__(
        self, cohort: Cohort, seed: int, config: SimConfig | None = None, reward_weights: RewardWeights | None = None,
        decision_interval_days: float = 1.0, dose_history_days: int = 7, obs_history: int = 3,
    ) -> None:
        self.cohort, self.seed = cohort, seed
        self.config = config or SimConfig()
        self.weights = reward_weights or RewardWeights()
        self.n = cohort.n
        self.interval_days = decision_interval_days
        self.H, self.K = dose_history_days, obs_history
        self.params = params_of(cohort)
        self.reset()

    # --- helpers ---------------------------------------------------------------------------------------------------------
    def _measure(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Measured (pathogen_load, organ_damage) of states x (4, n); draws noise for every patient, dead or alive."""
        e1, e4 = self._rng.standard_normal(self.n), self._rng.standard_normal(self.n)
        if not self.config.measurement_noise:
            e1, e4 = np.zeros(self.n), np.zeros(self.n)
        load = x[0] * np.exp(PATHOGEN_LOG_SD * e1)
        load = np.where(load < DETECTION_LIMIT, 0.0, load)
        damage = np.clip(x[3] + DAMAGE_SD * e4, *DAMAGE_REPORT_RANGE)
        return load, damage

    def _view(self) -> ClinicView:
        return ClinicView(
            day=self.day.copy(), current_dose=self.regimen.copy(), dose_history=self.dose_hist.copy(),
            obs={k: v.copy() for k, v in self.obs.items()}, obs_age_days={k: v.copy() for k, v in self.obs_age.items()},
            covariates={k: v.copy() for k, v in self.cohort.covariates.items()},
        )

    # --- VectorSimulator ---------------------------------------------------------------------------------------------------
    def reset(self) -> ClinicView:
        """Presentation (t = 0): healthy immune state plus the patient's pathogen load; first measurements; no drug yet."""
        self._rng = np.random.default_rng(np.random.SeedSequence([self.seed, 3, 1]))
        self.x = self.params.healthy_state()
        self.x[0] = self.cohort.hidden["x1_0"]
        self.day = np.zeros(self.n)
        self.regimen = np.zeros(self.n)
        self.dose_hist = np.full((self.n, self.H), np.nan)
        self.obs = {k: np.full((self.n, self.K), np.nan) for k in ("pathogen_load", "organ_damage")}
        self.obs_age = {k: np.full((self.n, self.K), np.nan) for k in ("pathogen_load", "organ_damage")}
        load, damage = self._measure(self.x)
        self.obs["pathogen_load"][:, 0], self.obs["organ_damage"][:, 0] = load, damage
        for k in self.obs_age:
            self.obs_age[k][:, 0] = 0.0
        self.below = (self.x[0] < DETECTION_LIMIT).astype(int)  # consecutive decision times below the detection limit
        self.died = np.zeros(self.n, dtype=bool)
        self.cleared = np.zeros(self.n, dtype=bool)
        return self._view()

    def step(self, given: FloatArray, regimen: FloatArray) -> StepResult:
        """Hold level ``given`` (a.u.) for one interval, record ``regimen`` as the standing level; advance one interval."""
        cfg = self.config
        live = ~(self.died | self.cleared)
        given = np.where(live, np.clip(np.asarray(given, dtype=float), 0.0, cfg.max_dose), 0.0)
        regimen = np.where(live, np.clip(np.asarray(regimen, dtype=float), 0.0, cfg.max_dose), self.regimen)
        duration = self.interval_days / TIME_UNIT_DAYS
        x_before = self.x
        res = advance(x_before, given, np.zeros(self.n), self.params, duration, alive=live, dt=cfg.dt)
        self.x = res.x
        load, damage = self._measure(self.x)

        died_now = live & res.died
        self.below = np.where(live, np.where(self.x[0] < DETECTION_LIMIT, self.below + 1, 0), self.below)
        cleared_now = live & ~died_now & (self.below >= CLEAR_CONFIRMATIONS)
        t, a, h = reward_terms(
            x_before[0], self.x[0], res.max_damage, died_now.astype(float), cleared_now.astype(float), given,
            regimen - self.regimen, self.interval_days,
        )
        t, a, h = (np.where(live, v, 0.0) for v in (t, a, h))

        # The clinic's record moves on for patients still under care; a finished course keeps its last view.
        def roll(arr: FloatArray, first: FloatArray, age_step: float | None = None) -> FloatArray:
            rolled = np.roll(arr, 1, axis=1)
            if age_step is not None:
                rolled += age_step
            rolled[:, 0] = first
            return np.where(live[:, None], rolled, arr)

        self.dose_hist = roll(self.dose_hist, given * self.interval_days)
        self.obs["pathogen_load"] = roll(self.obs["pathogen_load"], load)
        self.obs["organ_damage"] = roll(self.obs["organ_damage"], damage)
        for k in self.obs_age:
            self.obs_age[k] = roll(self.obs_age[k], np.zeros(self.n), self.interval_days)
        self.day = np.where(live, self.day + self.interval_days, self.day)
        self.regimen = regimen
        self.died |= died_now
        self.cleared |= cleared_now
        info = {
            "r_t": t, "r_a": a, "r_h": h,
            "pathogen_true": self.x[0].copy(), "organ_damage_true": self.x[3].copy(),
            "organ_damage_max": np.where(live, res.max_damage, self.x[3]),
            "pathogen_measured": self.obs["pathogen_load"][:, 0].copy(),
            "organ_damage_measured": self.obs["organ_damage"][:, 0].copy(),
            "dose": given, "died": self.died.astype(float), "cleared": self.cleared.astype(float),
        }
        ended = self.died | self.cleared
        return StepResult(
            view=self._view(), reward=np.where(live, self.weights.combine(t, a, h), 0.0),
            terminated=ended.copy(), truncated=np.zeros(self.n, dtype=bool), info=info,
        )
