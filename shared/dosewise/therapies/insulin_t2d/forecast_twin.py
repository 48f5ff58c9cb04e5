"""Basal insulin's forecast twin (``InsulinT2DPack.forecast_twin``): one scale on insulin sensitivity SI, fitted to the
patient's fasting glucose readings.

The twins are the pack's own simulator (simulator.py, the Aradóttir 2019 model in model.py) with nominal EGP and B, the
renal clearance of the patient's eGFR, every dose taken, no noise and hour-long steps; ``path`` computes a whole forecast
at once (model.fasting_paths).
"""

from __future__ import annotations

import numpy as np

from dosewise.therapies.base import ClinicView, Cohort, FloatArray, TherapyPack, TwinSpec, VectorSimulator
from dosewise.therapies.insulin_t2d import model as im
from dosewise.therapies.insulin_t2d.simulator import InsulinT2DSimulator, SimConfig
from dosewise.units import GLUCOSE_MG_DL_PER_MMOL_L

# 60-minute steps instead of 6: the one-hour injection is still one whole step; fasting glucose within ~1 mg/dL of
# the 6-minute integration (the drift update is exponential, so it stays stable), 6× faster.
DT_MINUTES = 60.0


def _fixed(view: ClinicView) -> dict[str, FloatArray]:
    """A twin's parameters besides SI: nominal EGP and B, the renal clearance of the patient's eGFR."""
    egfr = view.covariates["egfr_ml_min_1_73m2"]
    return {"egp": np.full(view.n, im.NOMINAL_EGP), "b": np.full(view.n, im.NOMINAL_B), "egfr_true": egfr,
            "clearance": im.renal_clearance_factor(egfr)}


def _build(pack: TherapyPack, view: ClinicView, scale: FloatArray) -> VectorSimulator:
    n = view.n
    hidden = _fixed(view) | {
        "si": im.NOMINAL_SI * scale,
        "sigma": np.zeros(n), "adherence": np.ones(n),  # a twin replays doses actually taken, without noise
        "smbg_probability": np.ones(n),  # and forecasts every morning's fasting glucose
        "si_step_day": np.full(n, np.inf), "si_step_fraction": np.zeros(n),
    }
    cfg = SimConfig(dt_minutes=DT_MINUTES, process_noise=False, adherence=False, measurement_cv=0.0,
                    missed_readings=False, max_dose_u=pack.max_dose)
    return InsulinT2DSimulator(Cohort.from_view(view, hidden), 0, cfg, pack.reward_weights, pack.dose_history_days,
                               pack.obs_history)


def _steady(sim: VectorSimulator, rows: np.ndarray, dose: FloatArray) -> None:
    assert isinstance(sim, InsulinT2DSimulator)
    sim.x[:, rows] = im.equilibrium(sim.params, dose)[:, rows]


def _path(pack: TherapyPack, view: ClinicView, scale: FloatArray, start_dose: FloatArray, given: FloatArray) -> FloatArray:
    """``advance`` for every day at once (model.fasting_paths): the same clipped doses, start and steps, the insulin
    path computed once per plan instead of once per twin."""
    n, plans = given.shape[:2]
    rows = np.repeat(np.arange(n), plans)
    p = {k: v[rows] for k, v in _fixed(view).items()}
    si = np.broadcast_to(im.NOMINAL_SI * np.asarray(scale, dtype=float), (rows.size, scale.size))
    dose = np.minimum(np.maximum(given, 0.0), pack.max_dose).reshape(rows.size, -1)
    g = im.fasting_paths(si, p["egp"], p["b"], p["clearance"], start_dose[rows], dose, dt_minutes=DT_MINUTES)
    return (g * GLUCOSE_MG_DL_PER_MMOL_L).reshape(n, plans, scale.size, -1)


def _advance(sim: VectorSimulator, given: FloatArray, _regimen: FloatArray) -> FloatArray:
    """InsulinT2DSimulator.step's dynamics alone for these twins (every dose taken, no noise, no SI change): the
    clipped dose into the model's day, then the true fasting glucose."""
    assert isinstance(sim, InsulinT2DSimulator)
    dose = np.minimum(np.maximum(np.asarray(given, dtype=float), 0.0), sim.config.max_dose_u)
    sim.x = im.advance_day(sim.x, dose, sim.params.si, sim.params, None, dt_minutes=sim.config.dt_minutes).x
    return sim.x[3] * GLUCOSE_MG_DL_PER_MMOL_L


TWIN = TwinSpec(
    parameter="SI", unit="mg/dL",
    description="scale on insulin sensitivity SI of the Aradóttir 2019 model (nominal 1.8 /U); EGP, B nominal",
    # Prior: the cohort's SI range 1.0–2.4 around the nominal 1.8 spans ln 0.56 … ln 1.33; EGP and B variability
    # (350–380, 1.1–1.5) is absorbed too. 0.3 is our assumption.
    prior_log_sd=0.3,
    # Residual: 5 % meter CV plus process noise (σ ≈ 2 mmol/L/√day) and the one-parameter misfit: our assumption.
    residual_log_sd=0.10, truth_key="glucose_true_mg_dl", build=_build, set_steady_state=_steady, advance=_advance,
    path=_path, memory_days=4,  # a dose change settles in about 3 days (clinical.md §2); one more day of margin
    adherence_from_history=True,  # clinical.md §2: 65 % daily adherence in the reference code
    # The pack's reward_terms, the simulator's, here on the forecast's true glucose (the simulator books them on the
    # 5 %-CV measurement).
    reward_forecast=True, outcome_bounds=(1.0, 2.0),
)
