"""Training twin (b): the Hovorka 2004 glucose–insulin model, extended for type 2 diabetes, on once-daily long-acting insulin.

Why: a training model structurally different from both the Aradóttir/Kanderian model (training a, model.py) and the
held-out Dalla Man 2007 model (twin_dallaman.py): two glucose compartments with three separate insulin actions (on glucose
transport, disposal and endogenous production), a saturating non-insulin-dependent flux, renal glucose loss, meals.

Source — Hovorka R, Canonico V, Chassin LJ, et al. Nonlinear model predictive control of glucose concentration in subjects
with type 1 diabetes. Physiol Meas 2004;25:905–20 (the model and its Table 1 population values). The values below agree
with several public implementations (e.g. the single-hormone parameter files of ``hovorka_parameters`` in public Python and
MATLAB code found by search) [secondary: not read from the paper itself]. Time in minutes, per kg body weight::

    dQ1/dt = −F01c/(VG·G)·Q1 − x1·Q1 + k12·Q2 − FR + EGP0·max(0, 1 − x3) + UG      G = Q1/VG          [mmol/kg]
    dQ2/dt = x1·Q1 − (k12 + x2)·Q2
    dxi/dt = −kai·xi + kai·SIi·I   (i = 1 transport, 2 disposal, 3 EGP; SIi = SfIT, SfID, SfIE)
    dI/dt  = (UI + SR)/VI − ke·I                                                                          [mU/L]
    F01c = F01·min(1, G/4.5);  FR = 0.003·(G − 9)·VG where G ≥ 9 mmol/L
    Gut: D1 → D2 with time constant tmaxG, UG = AG·D2/tmaxG per kg (a meal of D mmol enters D1)

EGP0 0.0161 mmol/kg/min, F01 0.0097 mmol/kg/min, k12 0.066 /min, ka1 0.006, ka2 0.06, ka3 0.03 /min, SfIT 51.2e-4
/min per mU/L, SfID 8.2e-4 /min per mU/L, SfIE 520e-4 per mU/L, ke 0.138 /min, VI 0.12 L/kg, VG 0.16 L/kg, AG 0.8, tmaxG
40 min (Hovorka 2004 Table 1 [secondary]).

**Type 2 extension — Dosewise assumptions, not Hovorka's** (the 2004 model is for type 1 diabetes):

- Residual β-cell secretion SR = kβ·G (mU/kg/min; G in mmol/L), kβ log-normal with median 0.018 (an untreated fasting
  insulin of ≈ 12 mU/L at 11 mmol/L glucose, typical of T2D [unverified, recalled]) and geometric SD e^0.3.
- Insulin resistance: SfIT, SfID and SfIE × one factor ``si`` per patient, log-normal with median 0.25 and geometric SD
  e^0.45 (clipped 0.06–1.0: never more sensitive than Hovorka's T1D mean); EGP0 × log-normal (geometric SD e^0.1).
  Together they put untreated fasting glucose at ≈ 170–250 mg/dL (checked in the tests), as at basal-insulin initiation.
- Long-acting insulin: Hovorka's own two-compartment subcutaneous chain (S1 → S2 → plasma, time constant tmaxI) with
  tmaxI stretched from 55 min (rapid insulin) to 10 h per patient × log-normal (geometric SD e^0.2), a smooth
  once-daily profile — structurally unlike the held-out model's precipitate depot [assumption].
- Injection time per patient: after the 07:00 reading, or at bedtime (22:00), half each [assumption].
- Meals: 40 g at 08:00, 60 g at 13:00, 60 g at 19:30 of carbohydrate, each × log-normal (SD 0.25) day to day; the day's
  insulin sensitivity × log-normal (SD 0.1) [assumptions].
- Renal function: exogenous insulin appearance UI divided by model.py's ``renal_clearance_factor(egfr)`` — Dosewise's rule
  (Snyder & Berns 2004 dose rule as a relative clearance), the same rule as the other insulin twins.

Nocturnal minimum: meals give the day a clock, so ``glucose_night_min_mg_dl`` is the lowest glucose from midnight to the
07:00 reading. Integration: exponential-Euler steps of ``dt_minutes`` (1; fasting and nightly values within ≈ 1 % of
quarter-minute steps, 2.6 % at 2 minutes; tests/unit/test_insulin_twins.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dosewise.therapies.base import FloatArray
from dosewise.therapies.insulin_t2d.cohort import sample_cohort
from dosewise.therapies.insulin_t2d.model import renal_clearance_factor
from dosewise.units import GLUCOSE_MG_DL_PER_MMOL_L

# Hovorka 2004, Table 1 [secondary]
EGP0, F01, K12 = 0.0161, 0.0097, 0.066  # mmol/kg/min, mmol/kg/min, 1/min
KA1, KA2, KA3 = 0.006, 0.06, 0.03  # 1/min
SF_IT, SF_ID, SF_IE = 51.2e-4, 8.2e-4, 520e-4  # /min per mU/L, /min per mU/L, per mU/L
KE, VI, VG, AG, TMAX_G = 0.138, 0.12, 0.16, 0.8, 40.0  # 1/min, L/kg, L/kg, –, min
F01_G_MMOL_L, FR_G_MMOL_L, FR_RATE = 4.5, 9.0, 0.003  # F01 saturation, renal threshold, renal clearance /min
MW_GLUCOSE = 180.16  # mg/mmol
MU_PER_U = 1000.0

MEALS: tuple[tuple[float, float], ...] = ((1.0, 40.0), (6.0, 60.0), (12.5, 60.0))  # (hours after 07:00, g carbohydrate)
READING_CLOCK_H = 7.0
NIGHT_FROM_H = 17.0  # midnight, in hours after the 07:00 reading
INJECTION_OFFSETS_H = (0.0, 15.0)  # 07:00 or 22:00


@dataclass(frozen=True)
class HovorkaT2DConfig:
    k_beta_median: float = 0.022
    k_beta_log_sd: float = 0.3
    si_median: float = 0.25
    si_log_sd: float = 0.35
    si_range: tuple[float, float] = (0.06, 0.8)
    egp0_log_sd: float = 0.1
    tmax_i_minutes: float = 600.0
    tmax_i_log_sd: float = 0.2
    bedtime_fraction: float = 0.5
    meal_log_sd: float = 0.25
    si_day_log_sd: float = 0.1
    dt_minutes: float = 1.0
    warmup_days: int = 3


def _relax(x: FloatArray, target: FloatArray, rate: FloatArray | float, dt: float) -> FloatArray:
    return target + (x - target) * np.exp(-np.asarray(rate) * dt)


def _fasting_steady_g(si: FloatArray, k_beta: FloatArray, egp0: FloatArray) -> FloatArray:
    """Untreated, fasting steady state glucose (mmol/L): bisection on dQ1/dt = 0 with x's and I at their steady states."""
    lo, hi = np.full(si.shape, 2.0), np.full(si.shape, 40.0)
    for _ in range(60):
        g = 0.5 * (lo + hi)
        ins = k_beta * g / (VI * KE)
        x1, x2, x3 = SF_IT * si * ins, SF_ID * si * ins, SF_IE * si * ins
        q1 = g * VG
        q2 = x1 * q1 / (K12 + x2)
        f01c = F01 * np.minimum(1.0, g / F01_G_MMOL_L)
        fr = np.where(g >= FR_G_MMOL_L, FR_RATE * (g - FR_G_MMOL_L) * VG, 0.0)
        dq1 = -f01c - x1 * q1 + K12 * q2 - fr + egp0 * np.maximum(0.0, 1.0 - x3)
        lo, hi = np.where(dq1 > 0, g, lo), np.where(dq1 > 0, hi, g)
    return 0.5 * (lo + hi)


class HovorkaT2DTwin:
    """N T2D patients of the extended Hovorka 2004 model on once-daily long-acting insulin, as a ClinicTwin."""

    truth_key = "glucose_fasting_true"

    def __init__(self, n: int, seed: int, config: HovorkaT2DConfig | None = None) -> None:
        self.config = c = config or HovorkaT2DConfig()
        self.n = n
        cohort = sample_cohort(n, seed)  # the shared clinic-visible population (cohort.py); its hidden params unused
        self.covariates: dict[str, FloatArray] = {k: v.copy() for k, v in cohort.covariates.items()}
        rng = np.random.default_rng(np.random.SeedSequence([seed, 2, 25, 20]))
        si = np.clip(c.si_median * np.exp(c.si_log_sd * rng.standard_normal(n)), *c.si_range)
        k_beta = c.k_beta_median * np.exp(c.k_beta_log_sd * rng.standard_normal(n))
        egp0 = EGP0 * np.exp(c.egp0_log_sd * rng.standard_normal(n))
        tmax_i = c.tmax_i_minutes * np.exp(c.tmax_i_log_sd * rng.standard_normal(n))
        bedtime = rng.random(n) < c.bedtime_fraction
        egfr = cohort.hidden["egfr_true"]
        self.hidden: dict[str, FloatArray] = {
            "si": si, "k_beta": k_beta, "egp0": egp0, "tmax_i_min": tmax_i, "bedtime_injection": bedtime.astype(float),
            "egfr_true": egfr, "clearance": renal_clearance_factor(egfr),
        }
        self._rng_day = np.random.default_rng(np.random.SeedSequence([seed, 2, 25, 21]))
        g = _fasting_steady_g(si, k_beta, egp0)
        ins = k_beta * g / (VI * KE)
        x1, x2 = SF_IT * si * ins, SF_ID * si * ins
        z = np.zeros(n)
        self._x = {"q1": g * VG, "q2": x1 * g * VG / (K12 + x2), "x1": x1, "x2": x2, "x3": SF_IE * si * ins, "i": ins,
                   "d1": z.copy(), "d2": z.copy(), "s1": z.copy(), "s2": z.copy()}
        self._last_night_min = np.full(n, np.nan)
        for _ in range(c.warmup_days):
            self._run_day(np.zeros(n))

    def truth_now(self) -> dict[str, FloatArray]:
        return {"glucose_fasting_true": self._x["q1"] / VG * GLUCOSE_MG_DL_PER_MMOL_L,
                "glucose_night_min_mg_dl": self._last_night_min.copy()}

    def advance_day(self, given: FloatArray) -> dict[str, FloatArray]:
        """Give ``given`` U at each patient's injection time of this day (07:00 → next 07:00); the day's true values."""
        return self._run_day(np.clip(np.nan_to_num(np.asarray(given, dtype=float)), 0.0, None))

    def _run_day(self, dose_u: FloatArray) -> dict[str, FloatArray]:
        c, s, h, n = self.config, self._x, self.hidden, self.n
        dt = c.dt_minutes
        steps = round(24 * 60 / dt)
        bw = self.covariates["weight_kg"]
        meal_at = {round(hh * 60 / dt): (j, grams) for j, (hh, grams) in enumerate(MEALS)}
        inj_morning, inj_bed = (round(o * 60 / dt) for o in INJECTION_OFFSETS_H)
        bed = h["bedtime_injection"] > 0
        night_from = round(NIGHT_FROM_H * 60 / dt)
        meal_f = np.exp(c.meal_log_sd * self._rng_day.standard_normal((len(MEALS), n)))
        si = h["si"] * np.exp(c.si_day_log_sd * self._rng_day.standard_normal(n))
        dose_mu_per_kg = dose_u * MU_PER_U / bw
        tmax_i, inv_cl = h["tmax_i_min"], 1.0 / h["clearance"]
        g_sum, g_min, night_min = np.zeros(n), np.full(n, np.inf), np.full(n, np.inf)
        for k in range(steps):
            if k in meal_at:
                j, grams = meal_at[k]
                s["d1"] = s["d1"] + AG * grams * 1000.0 / MW_GLUCOSE * meal_f[j] / bw  # mmol/kg
            if k == inj_morning:
                s["s1"] = s["s1"] + np.where(bed, 0.0, dose_mu_per_kg)
            if k == inj_bed:
                s["s1"] = s["s1"] + np.where(bed, dose_mu_per_kg, 0.0)
            g = s["q1"] / VG
            ug = s["d2"] / TMAX_G
            ui = s["s2"] / tmax_i * inv_cl  # mU/kg/min, Dosewise renal rule
            d2 = _relax(s["d2"], s["d1"], 1.0 / TMAX_G, dt)
            s["d1"] = s["d1"] * np.exp(-dt / TMAX_G)
            s["d2"] = d2
            s2 = _relax(s["s2"], s["s1"], 1.0 / tmax_i, dt)
            s["s1"] = s["s1"] * np.exp(-dt / tmax_i)
            s["s2"] = s2
            sr = h["k_beta"] * g
            s["i"] = _relax(s["i"], (ui + sr) / (VI * KE), KE, dt)
            s["x1"] = _relax(s["x1"], SF_IT * si * s["i"], KA1, dt)
            s["x2"] = _relax(s["x2"], SF_ID * si * s["i"], KA2, dt)
            s["x3"] = _relax(s["x3"], SF_IE * si * s["i"], KA3, dt)
            f01_rate = F01 * np.minimum(1.0 / g, 1.0 / F01_G_MMOL_L) / VG  # F01c/(VG·G), per unit Q1
            fr_on = g >= FR_G_MMOL_L
            q1_rate = f01_rate + s["x1"] + np.where(fr_on, FR_RATE, 0.0)
            q1_in = K12 * s["q2"] + np.where(fr_on, FR_RATE * FR_G_MMOL_L * VG, 0.0) + h["egp0"] * np.maximum(0.0, 1.0 - s["x3"])
            q1_in = q1_in + ug
            q2_new = _relax(s["q2"], s["x1"] * s["q1"] / (K12 + s["x2"]), K12 + s["x2"], dt)
            s["q1"] = np.maximum(_relax(s["q1"], q1_in / q1_rate, q1_rate, dt), 0.05 * VG)
            s["q2"] = q2_new
            g = s["q1"] / VG * GLUCOSE_MG_DL_PER_MMOL_L
            g_sum += g
            np.minimum(g_min, g, out=g_min)
            if k >= night_from:
                np.minimum(night_min, g, out=night_min)
        self._last_night_min = night_min
        return {
            "glucose_fasting_true": s["q1"] / VG * GLUCOSE_MG_DL_PER_MMOL_L,
            "glucose_night_min_mg_dl": night_min,
            "glucose_min_24h_mg_dl": g_min,
            "glucose_mean_24h_mg_dl": g_sum / steps,
        }


def build_hovorka_t2d(n: int, seed: int) -> HovorkaT2DTwin:
    """Registry builder: the training family's extended Hovorka 2004 twin."""
    return HovorkaT2DTwin(n, seed)
