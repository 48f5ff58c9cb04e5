"""Vectorized warfarin digital twins: N Hamberg 2007 patients stepping one day at a time.

Spec sheet (Gymnasium style):

- **Time**: one step = one day (``decision_interval_days`` = 1). At each decision (the morning of day d) the policy sees the
  ClinicView, the day's dose is given at once as an oral bolus, and the model advances 24 h (model.DayPropagator).
- **Start**: day 0, drug-naive (INR = BASE = 1), regimen = IWPC pharmacogenetic dose rounded to 0.5 mg for every policy
  (guideline.iwpc_start_dose_mg_per_day), so policies differ only in how they titrate.
- **INR measurements**: on the same fixed days for every policy, so comparisons are fair: days 0–4 daily (initiation),
  days 7, 10 and 14 (twice weekly), then every 7 days. This follows the usual clinic pattern (frequent tests until the INR
  settles, then weekly: Aurora retests within 7 days whenever the INR is out of range; ACCP/CHEST 2012, Ageno et al. Chest
  141:e44S) without letting a policy buy extra information. Measured INR = true INR · exp(ε), ε ~ N(0, 0.0325²)
  (Hamberg 2007 residual error). The ClinicView carries measured INRs only.
- **Reward** (HSDPO R = α·T − β·A − γ·H, weights from the pack), on the true INR at the end of the day:
  T = 1 if 2 ≤ INR ≤ 3; A = 1 if INR > 4, or INR < 1.5 after day 7 (../shared/clinical.md §1 adverse-event proxies);
  H = |new regimen − previous regimen| in mg/day. ``info`` carries r_t, r_a, r_h, inr_true, inr_measured (NaN when not
  measured) and day.
- **Episode end**: the model has no death or cure, so ``terminated`` is always False; the time limit is the caller's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dosewise.therapies.base import ClinicView, Cohort, FloatArray, RewardWeights, StepResult, VectorSimulator
from dosewise.therapies.warfarin import model as hb
from dosewise.therapies.warfarin.guideline import iwpc_start_dose_mg_per_day
from dosewise.therapies.warfarin.target import INR_TARGET

INR_DAYS_EXPLICIT = (0, 1, 2, 3, 4, 7, 10, 14)
INR_WEEKLY_AFTER_DAY = 14
INR_LOW, INR_HIGH = INR_TARGET  # target range (ACCP/CHEST for AF and VTE; target.py)
INR_BLEED_RISK = 4.0  # adverse-event proxy, ../shared/clinical.md §1
INR_CLOT_RISK = 1.5  # adverse-event proxy after the first week
CLOT_RISK_AFTER_DAY = 7


def inr_measured_on(day: int) -> bool:
    """True on the fixed INR days: 0–4, 7, 10, 14, then every 7 days."""
    return day in INR_DAYS_EXPLICIT or (day > INR_WEEKLY_AFTER_DAY and day % 7 == 0)


def reward_terms(
    inr_true: FloatArray, day: FloatArray | float, regimen: FloatArray, prev_regimen: FloatArray,
) -> dict[str, FloatArray]:
    """The HSDPO terms for one day: r_t (in range), r_a (adverse-event proxy), r_h (dose change, mg/day)."""
    in_range = (inr_true >= INR_LOW) & (inr_true <= INR_HIGH)
    adverse = (inr_true > INR_BLEED_RISK) | ((inr_true < INR_CLOT_RISK) & (day > CLOT_RISK_AFTER_DAY))
    return {"r_t": in_range.astype(float), "r_a": adverse.astype(float), "r_h": np.abs(regimen - prev_regimen)}


class WarfarinSimulator(VectorSimulator):
    """N warfarin twins; see the module docstring. Same (cohort, seed) and same doses → same trajectory."""

    def __init__(
        self,
        cohort: Cohort,
        seed: int,
        reward_weights: RewardWeights,
        max_dose_mg: float,
        dose_history_days: int = 14,
        obs_history: int = 3,
        sigma_inr: float = hb.SIGMA_INR,
        transit1_per_mtt: float = float(hb.N_TRANSIT1),
        substeps_h: tuple[float, ...] = hb.DEFAULT_SUBSTEPS_H,
    ) -> None:
        self.cohort = cohort
        self.n = cohort.n
        self.seed = seed
        self.reward_weights = reward_weights
        self.max_dose_mg = max_dose_mg
        self.dose_history_days = dose_history_days
        self.obs_history = obs_history
        self.sigma_inr = sigma_inr
        self.params = hb.HambergParams.from_hidden(cohort.hidden, transit1_per_mtt=transit1_per_mtt)
        self.propagator = hb.DayPropagator(self.params, substeps_h)
        self.reset()

    # --- state ----------------------------------------------------------------------------------------------------------
    def reset(self) -> ClinicView:
        n = self.n
        self._rng = np.random.default_rng(self.seed)
        self.state = hb.initial_state(n)
        self.day = 0
        self.regimen = iwpc_start_dose_mg_per_day(self.cohort.covariates, self.max_dose_mg)
        self._dose_history = np.full((n, self.dose_history_days), np.nan)
        self._inr_values = np.full((n, self.obs_history), np.nan)
        self._inr_days = np.full((n, self.obs_history), np.nan)
        self.inr_true = hb.inr_from_state(self.state)
        self._measure()
        return self.view()

    def _measure(self) -> FloatArray:
        """Draw today's measured INR if today is an INR day (NaN otherwise) and push it onto the history."""
        if not inr_measured_on(self.day):
            return np.full(self.n, np.nan)
        measured = self.inr_true * np.exp(self._rng.normal(0.0, self.sigma_inr, self.n))
        self._inr_values = np.concatenate([measured[:, None], self._inr_values[:, :-1]], axis=1)
        self._inr_days = np.concatenate([np.full((self.n, 1), float(self.day)), self._inr_days[:, :-1]], axis=1)
        return measured

    def view(self) -> ClinicView:
        """What the clinic sees now: measured INRs, doses given, covariates, day. Never the hidden parameters."""
        return ClinicView(
            day=np.full(self.n, float(self.day)),
            current_dose=self.regimen.copy(),
            dose_history=self._dose_history.copy(),
            obs={"inr": self._inr_values.copy()},
            obs_age_days={"inr": self.day - self._inr_days},
            covariates=self.cohort.covariates,
        )

    # --- dynamics -------------------------------------------------------------------------------------------------------
    def step(self, given: FloatArray, regimen: FloatArray) -> StepResult:
        given = np.clip(np.asarray(given, dtype=float).reshape(self.n), 0.0, self.max_dose_mg)
        regimen = np.clip(np.asarray(regimen, dtype=float).reshape(self.n), 0.0, self.max_dose_mg)
        self.propagator.advance_day(self.state, hb.S_FRACTION * given)
        self.day += 1
        self._dose_history = np.concatenate([given[:, None], self._dose_history[:, :-1]], axis=1)
        self.inr_true = hb.inr_from_state(self.state)
        measured = self._measure()
        terms = reward_terms(self.inr_true, self.day, regimen, self.regimen)
        self.regimen = regimen
        reward = self.reward_weights.combine(terms["r_t"], terms["r_a"], terms["r_h"])
        info = {**terms, "inr_true": self.inr_true.copy(), "inr_measured": measured, "day": np.full(self.n, float(self.day))}
        no = np.zeros(self.n, dtype=bool)
        return StepResult(view=self.view(), reward=reward, terminated=no, truncated=no.copy(), info=info)

    # --- reference ------------------------------------------------------------------------------------------------------
    def solve_ivp_reference(self, given: FloatArray, **solver: Any) -> FloatArray:
        """True INR at the end of each day (n, days) for daily doses ``given`` (mg, (n, days)), each patient integrated on
        its own with ``scipy.integrate.solve_ivp`` (``solver`` overrides method/rtol/atol): the naive baseline for the
        accuracy test and bench/sim_throughput.py."""
        return hb.solve_ivp_inr(self.params, hb.S_FRACTION * np.asarray(given, dtype=float), **solver)
