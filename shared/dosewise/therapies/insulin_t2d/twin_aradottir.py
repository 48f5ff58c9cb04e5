"""Training twin (a): the Aradóttir 2019 / Kanderian T2D model (model.py) as a ClinicTwin with wider uncertainty.

The model and its integration are model.py's, unchanged (``advance_day``, the Dosewise renal-clearance extension, process
noise); the cohort sampler is cohort.py's with wider ranges. What this twin adds for robust training:

- **Wider between-patient uncertainty than the paper's cohort**: the uniform ranges of SI (1.0–2.4 1/U), EGP (350–380
  mmol/L/day) and B (1.1–1.5) of ``main_50patients.m`` (clinical.md §2) are widened 1.5 × about their centres: SI
  0.65–2.75, EGP 342.5–387.5, B 1.0–1.6 (the brief's ×1.5 spread; an assumption, not a fitted population).
- **Day-to-day variability**: the day's SI × log-normal (geometric SD e^0.1) [assumption], on top of the model's own
  process noise (σ per patient, ``main_50patients.m``) and the reference code's +30 % SI step at day 60 (``mainLS.m``).
- **Adherence**: the clinic protocol draws missed doses (``ClinicNoise.adherence``), so this twin takes every dose it is
  given by default; ``adherence`` < 1 adds the twin's own misses (reported as ``clinic.DOSE_TAKEN_KEY``).
- Meter noise is the protocol's (``ClinicNoise.assay_cv``): the twin reports true values only.

Nocturnal minimum: the model has no meals and no clock (a dose enters over the first hour after the morning reading), so
``glucose_night_min_mg_dl`` is the model's **24-hour minimum** of glucose between two morning readings (including the
process noise's dips), not a midnight-to-morning window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dosewise.therapies.base import FloatArray
from dosewise.therapies.insulin_t2d.cohort import CohortConfig, sample_cohort
from dosewise.therapies.insulin_t2d.model import PatientParams, advance_day, equilibrium
from dosewise.units import GLUCOSE_MG_DL_PER_MMOL_L

DOSE_TAKEN_KEY = "dose_taken"  # = clinic.DOSE_TAKEN_KEY (kept literal so this module does not import the protocol)


def _widen(lo_hi: tuple[float, float], factor: float) -> tuple[float, float]:
    mid, half = 0.5 * (lo_hi[0] + lo_hi[1]), 0.5 * (lo_hi[1] - lo_hi[0])
    return mid - factor * half, mid + factor * half


_PAPER = CohortConfig()


@dataclass(frozen=True)
class AradottirTwinConfig:
    spread: float = 1.5  # × the paper cohort's SI, EGP and B ranges about their centres
    si_day_log_sd: float = 0.1
    adherence: float = 1.0  # the twin's own probability of taking a dose (the protocol has its own)
    process_noise: bool = True
    dt_minutes: float = 6.0  # model.py / mainLS.m


class AradottirT2DTwin:
    """N patients of the Aradóttir 2019 model (model.py) with the wider family's parameters, as a ClinicTwin."""

    truth_key = "glucose_fasting_true"

    def __init__(self, n: int, seed: int, config: AradottirTwinConfig | None = None) -> None:
        self.config = c = config or AradottirTwinConfig()
        self.n = n
        cohort = sample_cohort(n, seed, CohortConfig(
            si_range=_widen(_PAPER.si_range, c.spread), egp_range=_widen(_PAPER.egp_range, c.spread),
            b_range=_widen(_PAPER.b_range, c.spread), adherence=c.adherence,
        ))
        self.covariates: dict[str, FloatArray] = {k: v.copy() for k, v in cohort.covariates.items()}
        self.hidden: dict[str, FloatArray] = {k: v.copy() for k, v in cohort.hidden.items()}
        h = self.hidden
        sigma = h["sigma"] if c.process_noise else np.zeros(n)
        self._params = PatientParams(si=h["si"], egp=h["egp"], b=h["b"], clearance=h["clearance"], sigma=sigma)
        ss = np.random.SeedSequence([seed, 2, 25, 10])
        s_proc, s_day, s_adh = ss.spawn(3)
        self._rng_proc, self._rng_day = np.random.default_rng(s_proc), np.random.default_rng(s_day)
        self._rng_adh = np.random.default_rng(s_adh)
        self._x = equilibrium(self._params, 0.0)
        self.day = 0

    def truth_now(self) -> dict[str, FloatArray]:
        g = self._x[3] * GLUCOSE_MG_DL_PER_MMOL_L
        return {"glucose_fasting_true": g.copy(), "glucose_night_min_mg_dl": np.full(self.n, np.nan)}

    def advance_day(self, given: FloatArray) -> dict[str, FloatArray]:
        """Inject ``given`` U after today's morning reading; advance to tomorrow's reading (model.advance_day)."""
        c, h = self.config, self.hidden
        dose = np.clip(np.nan_to_num(np.asarray(given, dtype=float)), 0.0, None)
        taken = dose * (self._rng_adh.random(self.n) < h["adherence"]) if c.adherence < 1.0 else dose
        si_day = np.exp(c.si_day_log_sd * self._rng_day.standard_normal(self.n))
        si_now = h["si"] * (1.0 + h["si_step_fraction"] * (self.day >= h["si_step_day"])) * si_day
        res = advance_day(self._x, taken, si_now, self._params, self._rng_proc, dt_minutes=c.dt_minutes)
        self._x = res.x
        self.day += 1
        assert res.min_glucose_mmol_l is not None
        out = {
            "glucose_fasting_true": res.x[3] * GLUCOSE_MG_DL_PER_MMOL_L,
            "glucose_night_min_mg_dl": res.min_glucose_mmol_l * GLUCOSE_MG_DL_PER_MMOL_L,  # 24-h minimum (docstring)
            "glucose_min_24h_mg_dl": res.min_glucose_mmol_l * GLUCOSE_MG_DL_PER_MMOL_L,
            "glucose_mean_24h_mg_dl": res.mean_glucose_mmol_l * GLUCOSE_MG_DL_PER_MMOL_L,
        }
        if c.adherence < 1.0:
            out[DOSE_TAKEN_KEY] = taken
        return out


def build_aradottir_t2d(n: int, seed: int) -> AradottirT2DTwin:
    """Registry builder: the training family's Aradóttir 2019 twin (wider parameters, day-to-day SI)."""
    return AradottirT2DTwin(n, seed)
