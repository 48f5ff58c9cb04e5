"""Vectorized digital twins for basal insulin in type 2 diabetes: N patients, one decision per day.

Description
    The Aradóttir 2019 / Kanderian T2D model (model.py) with between-patient parameters, per-patient process noise, 65 %
    daily adherence and a mid-course +30 % insulin-sensitivity step (cohort.py), plus Dosewise's renal-clearance extension.

Time line of one day k (one ``step``)
    At the start of day k the patient measures fasting glucose (the value in the view), then the policy sets the dose and
    the patient injects it (morning injection right after the reading, as ``mainLS.m`` reads SMBG and doses at the same
    instant) — or, with probability 1 − adherence, skips it (dose 0, as in ``mainLS.m``). The dose enters over one hour;
    the model runs 24 h with 6-minute steps; the next fasting glucose is measured just before the next dose. The
    mid-course SI step applies from day ``si_step_day`` on.

Observation
    A fasting glucose in mg/dL (``glucose_fasting``; 1 mmol/L = 18 mg/dL, units.py): true G × (1 + 0.05·N(0, 1)), clipped to
    a meter's 20–600 mg/dL, read each morning with the twin's ``smbg_probability`` (cohort.py: 0.3–1.0; the reference code
    reads every day, ``SimConfig(missed_readings=False)``); a missed morning leaves the view's latest reading a day older.
    The 5 % CV is an **assumption**: the public code has no measurement noise; ISO 15197:2013 requires 95 % of meter
    readings within ±15 % (±15 mg/dL below 100 mg/dL), i.e. a CV of at most ≈ 7.7 %.
    The view's dose history holds the dose actually taken (0 on missed days) — a connected pen or the patient's log; an
    **assumption** about what the clinic knows.

Reward (per step, on the next measured fasting glucose g in mg/dL, so the trainer can compute it from real outcomes; on a
missed morning the twin still books it on the reading the meter would have shown, ``info["glucose_reported"]`` = 0)
    T = 1 inside 80–130 mg/dL (ADA fasting target), falling linearly to 0 at 50 mg/dL outside the band.
    A = 1·[g < 70] + 1·[g < 54] + 0.5·[g > 250]  (ADA level 1 / level 2 hypoglycaemia; marked hyperglycaemia weighted lower
        as it is less acutely dangerous — a design choice).
    H = |new regimen − previous regimen| / 4 U (the largest single action is 4 U).
    R = α·T − β·A − γ·H with the pack's RewardWeights; ``info`` carries r_t, r_a, r_h and the glucose values.

Episode end
    Never terminated inside the model (no death state); the caller decides the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from dosewise.therapies.base import ClinicView, Cohort, FloatArray, RewardWeights, StepResult, VectorSimulator
from dosewise.therapies.insulin_t2d.guideline import weight_based_start_dose_u
from dosewise.therapies.insulin_t2d.model import INFUSION_HOURS, PatientParams, advance_day, equilibrium, rhs
from dosewise.units import GLUCOSE_MG_DL_PER_MMOL_L

TARGET_MG_DL = (80.0, 130.0)  # ADA fasting plasma glucose target (clinical.md §2 "Metrics")
HYPO_L1_MG_DL = 70.0  # ADA level 1 hypoglycaemia (< 70 mg/dL)
HYPO_L2_MG_DL = 54.0  # ADA level 2 hypoglycaemia (< 54 mg/dL)
HYPER_MG_DL = 250.0  # marked hyperglycaemia (brief; ADA time-above-range uses > 250 for level 2)
REWARD_BAND_SOFTNESS_MG_DL = 50.0  # T falls to 0 this far outside the target band (design choice)
REWARD_DOSE_STEP_U = 4.0  # H is |Δ regimen| in units of the largest action (4 U)


@dataclass(frozen=True)
class SimConfig:
    """Simulator knobs. Defaults follow the public reference code except where marked."""

    dt_minutes: float = 6.0  # Euler–Maruyama step (mainLS.m: 6 minutes)
    measurement_cv: float = 0.05  # assumption, see module docstring (ISO 15197:2013 bound ≈ 7.7 %)
    meter_range_mg_dl: tuple[float, float] = (20.0, 600.0)  # assumption: a typical meter's reportable range
    process_noise: bool = True
    adherence: bool = True  # False: every prescribed dose is taken
    missed_readings: bool = True  # False: a fasting reading every morning (the reference code)
    max_dose_u: float = 100.0  # pack.max_dose


def reward_terms(glucose_mg_dl: FloatArray, dose_change_u: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(T, A, H) of the reward, see the module docstring."""
    lo, hi = TARGET_MG_DL
    outside = np.maximum(lo - glucose_mg_dl, 0.0) + np.maximum(glucose_mg_dl - hi, 0.0)
    t = np.clip(1.0 - outside / REWARD_BAND_SOFTNESS_MG_DL, 0.0, 1.0)
    a = (
        (glucose_mg_dl < HYPO_L1_MG_DL).astype(float)
        + (glucose_mg_dl < HYPO_L2_MG_DL).astype(float)
        + 0.5 * (glucose_mg_dl > HYPER_MG_DL).astype(float)
    )
    h = np.abs(dose_change_u) / REWARD_DOSE_STEP_U
    return t, a, h


class InsulinT2DSimulator(VectorSimulator):
    """N type-2-diabetes twins on once-daily basal insulin. Same (cohort, seed, config) → same trajectory for a policy."""

    def __init__(
        self, cohort: Cohort, seed: int, config: SimConfig | None = None, reward_weights: RewardWeights | None = None,
        dose_history_days: int = 14, obs_history: int = 7,
    ) -> None:
        self.cohort, self.seed = cohort, seed
        self.config = config or SimConfig()
        self.weights = reward_weights or RewardWeights()
        self.n = cohort.n
        self.H, self.K = dose_history_days, obs_history
        h = cohort.hidden
        sigma = h["sigma"] if self.config.process_noise else np.zeros(self.n)
        self.params = PatientParams(si=h["si"], egp=h["egp"], b=h["b"], clearance=h["clearance"], sigma=sigma)
        self.reset()

    # --- helpers ---------------------------------------------------------------------------------------------------------
    def _measure(self, g_mmol_l: FloatArray) -> tuple[FloatArray, FloatArray]:
        true = g_mmol_l * GLUCOSE_MG_DL_PER_MMOL_L
        noisy = true * (1.0 + self.config.measurement_cv * self._rng_meas.standard_normal(self.n))
        return true, np.clip(noisy, *self.config.meter_range_mg_dl)

    def _view(self) -> ClinicView:
        return ClinicView(
            day=np.full(self.n, float(self.day)), current_dose=self.regimen.copy(), dose_history=self.dose_hist.copy(),
            obs={"glucose_fasting": self.obs.copy()}, obs_age_days={"glucose_fasting": self.obs_age.copy()},
            covariates={k: v.copy() for k, v in self.cohort.covariates.items()},
        )

    # --- VectorSimulator ---------------------------------------------------------------------------------------------------
    def reset(self) -> ClinicView:
        """Insulin-naive steady state; day 0 fasting glucose measured; regimen = the weight/renal-based start dose."""
        ss = np.random.SeedSequence([self.seed, 2, 7])
        # Separate streams: a policy's choices never shift another stream's draws (spawn(4)'s first three children are
        # spawn(3)'s: adding the readings' stream left the others' draws unchanged).
        s_adh, s_proc, s_meas, s_read = ss.spawn(4)
        self._rng_read = np.random.default_rng(s_read)
        self._rng_adh = np.random.default_rng(s_adh)
        self._rng_proc = np.random.default_rng(s_proc)
        self._rng_meas = np.random.default_rng(s_meas)
        self.day = 0
        self.x = equilibrium(self.params, 0.0)
        self.regimen = weight_based_start_dose_u(self.cohort.covariates, self.config.max_dose_u)
        self.dose_hist = np.full((self.n, self.H), np.nan)
        self.obs = np.full((self.n, self.K), np.nan)
        self.obs_age = np.full((self.n, self.K), np.nan)
        _, self.obs[:, 0] = self._measure(self.x[3])
        self.obs_age[:, 0] = 0.0
        return self._view()

    def step(self, given: FloatArray, regimen: FloatArray) -> StepResult:
        """Inject ``given`` U today (if the patient adheres), keep ``regimen`` as the standing order; advance to tomorrow."""
        cfg, h = self.config, self.cohort.hidden
        given = np.clip(np.asarray(given, dtype=float), 0.0, cfg.max_dose_u)
        regimen = np.clip(np.asarray(regimen, dtype=float), 0.0, cfg.max_dose_u)
        taken_draw = self._rng_adh.random(self.n) < h["adherence"]
        taken = given * (taken_draw if cfg.adherence else True)
        si_now = h["si"] * (1.0 + h["si_step_fraction"] * (self.day >= h["si_step_day"]))
        res = advance_day(self.x, taken, si_now, self.params, self._rng_proc, dt_minutes=cfg.dt_minutes)
        self.x = res.x
        g_true, g_meas = self._measure(self.x[3])

        self.dose_hist = np.roll(self.dose_hist, 1, axis=1)
        self.dose_hist[:, 0] = taken
        read = self._rng_read.random(self.n) < h["smbg_probability"] if cfg.missed_readings else np.ones(self.n, bool)
        obs, age = np.roll(self.obs, 1, axis=1), np.roll(self.obs_age, 1, axis=1) + 1.0
        obs[:, 0], age[:, 0] = g_meas, 0.0
        self.obs = np.where(read[:, None], obs, self.obs)  # a missed morning: the same readings, each a day older
        self.obs_age = np.where(read[:, None], age, self.obs_age + 1.0)
        t, a, hh = reward_terms(g_meas, regimen - self.regimen)
        self.regimen = regimen
        self.day += 1
        info = {
            "r_t": t, "r_a": a, "r_h": hh,
            # the meter's value the reward is booked on, whether or not the patient read it that morning
            "glucose_true_mg_dl": g_true, "glucose_measured_mg_dl": g_meas, "glucose_reported": read.astype(float),
            # under the <kind>_true / <kind>_measured names plots.py draws and the loop demo reports (NaN: not read)
            "glucose_fasting_true": g_true, "glucose_fasting_measured": np.where(read, g_meas, np.nan),
            "glucose_mean_24h_mg_dl": res.mean_glucose_mmol_l * GLUCOSE_MG_DL_PER_MMOL_L,
            "dose_taken_u": taken, "si_step_active": (self.day - 1 >= h["si_step_day"]).astype(float),
        }
        return StepResult(
            view=self._view(), reward=self.weights.combine(t, a, hh),
            terminated=np.zeros(self.n, dtype=bool), truncated=np.zeros(self.n, dtype=bool), info=info,
        )

    def solve_ivp_reference(self, given: FloatArray) -> FloatArray:
        """True fasting glucose (mg/dL) at the end of each day (n, days) for daily doses ``given`` (n, days), every dose
        taken, no process or meter noise (the deterministic model, SI step and renal factor included), integrating each
        patient on its own with ``scipy.integrate.solve_ivp`` (LSODA, rtol 1e-8): the naive baseline for accuracy tests and
        the bench."""
        n, days = given.shape
        h = self.cohort.hidden
        out = np.empty((n, days))
        t_inf = INFUSION_HOURS / 24.0
        for i in range(n):
            p = PatientParams(h["si"][i:i + 1], h["egp"][i:i + 1], h["b"][i:i + 1], h["clearance"][i:i + 1], np.zeros(1))
            y = equilibrium(p, 0.0)[:, 0]
            for d in range(days):
                si = p.si * (1.0 + h["si_step_fraction"][i] * (d >= h["si_step_day"][i]))

                def f(t: float, x: FloatArray, u: float, si: FloatArray = si, p: PatientParams = p) -> FloatArray:
                    return rhs(x.reshape(4, 1), u, si, p).ravel()

                y = solve_ivp(f, (0.0, t_inf), y, args=(given[i, d] / t_inf,), method="LSODA", rtol=1e-8, atol=1e-10).y[:, -1]
                y = solve_ivp(f, (t_inf, 1.0), y, args=(0.0,), method="LSODA", rtol=1e-8, atol=1e-10).y[:, -1]
                out[i, d] = y[3] * GLUCOSE_MG_DL_PER_MMOL_L
        return out
