"""Warfarin's forecast twin (``WarfarinPack.forecast_twin``): one scale on Hamberg's EC50, fitted to the patient's INRs.

The scale absorbs the clearance variability too: at steady state the INR depends on dose / (CL · EC50). The twins are the
pack's own simulator (simulator.py) with population-typical parameters for the patient's covariates (model.py, cohort.py),
no noise, and two integration sub-steps a day; ``path`` computes a whole forecast at once (model.inr_paths).
"""

from __future__ import annotations

import numpy as np

from dosewise.therapies.base import ClinicView, Cohort, FloatArray, TherapyPack, TwinSpec, VectorSimulator
from dosewise.therapies.warfarin import cohort as wc
from dosewise.therapies.warfarin import interactions as wi
from dosewise.therapies.warfarin import model as hb
from dosewise.therapies.warfarin.simulator import WarfarinSimulator

# Two sub-steps per day instead of the simulator's six: 3× faster; true INR within 0.05 of the default over 30 days
# (tests/unit/test_forecast.py checks it), small next to what one fitted parameter can capture.
SUBSTEPS_H = (2.0, 22.0)


def _typical(values: np.ndarray, p: np.ndarray, code: np.ndarray) -> np.ndarray:
    """Per row: the value of the known genotype, else the frequency-weighted geometric mean (Ravvaz 2017 frequencies)."""
    geo = float(np.exp((p / p.sum()) @ np.log(values)))
    return np.where(code >= 0, values[np.clip(code, 0, len(values) - 1).astype(int)], geo)


def _hidden(view: ClinicView, scale: FloatArray | float) -> dict[str, np.ndarray]:
    """Population-typical Hamberg parameters for the view's covariates, EC50 × ``scale``."""
    c = view.covariates
    n = view.n
    cyp = c["cyp2c9"]
    known = cyp >= 0
    comedication = wi.clearance_factor(c)  # every interacting drug of the table the patient takes
    cl = hb.clearance_l_per_h(np.zeros(n), c["age_years"], np.where(known, cyp, 0.0), comedication)
    if not known.all():  # unknown CYP2C9: the frequency-weighted geometric mean of the genotypes' CL
        cl_by_geno = np.stack([hb.clearance_l_per_h(np.zeros(n), c["age_years"], np.full(n, float(g)), comedication)
                               for g in range(len(wc.CYP2C9_P))], axis=1)  # (n, 6)
        cl = np.where(known, cl, np.exp(np.log(cl_by_geno) @ (wc.CYP2C9_P / wc.CYP2C9_P.sum())))
    return {
        "cl_l_per_h": cl, "v1_l": np.full(n, hb.V1_L), "v2_l": np.full(n, hb.V2_L),
        "ec50_mg_per_l": _typical(hb.EC50_MG_PER_L, wc.VKORC1_P, c["vkorc1"]) * scale,
        "mtt1_h": np.full(n, hb.MTT1_H), "mtt2_h": np.full(n, hb.MTT2_H),
        "cyp2c9_true": np.maximum(cyp, 0.0), "vkorc1_true": np.maximum(c["vkorc1"], 0.0),
    }


def _build(pack: TherapyPack, view: ClinicView, scale: FloatArray) -> VectorSimulator:
    return WarfarinSimulator(Cohort.from_view(view, _hidden(view, scale)), 0, pack.reward_weights, pack.max_dose,
                             dose_history_days=pack.dose_history_days, obs_history=pack.obs_history,
                             substeps_h=SUBSTEPS_H)


def _path(pack: TherapyPack, view: ClinicView, scale: FloatArray, start_dose: FloatArray, given: FloatArray) -> FloatArray:
    """``advance`` for every day at once (model.inr_paths): the same clipped doses, start and sub-steps."""
    p = hb.HambergParams.from_hidden(_hidden(view, 1.0))
    dose = np.minimum(np.maximum(given, 0.0), pack.max_dose)
    return hb.inr_paths(p, p.ec50_mg_per_l[:, None] * scale[None, :], hb.S_FRACTION * dose,
                        hb.S_FRACTION * start_dose, SUBSTEPS_H)


def _steady(sim: VectorSimulator, rows: np.ndarray, dose: FloatArray) -> None:
    assert isinstance(sim, WarfarinSimulator)
    p = sim.params
    c_ss = hb.S_FRACTION * dose / 24.0 / p.cl_l_per_h  # mg/L: infusion rate / CL
    u = hb.inflow(c_ss * p.v1_l, p)
    x = sim.state
    x[hb.GUT, rows] = 0.0
    x[hb.CENTRAL, rows] = (c_ss * p.v1_l)[rows]
    x[hb.PERIPHERAL, rows] = (c_ss * p.v2_l)[rows]  # Q·C1 = Q·C2 at steady state
    x[hb.CHAIN1, rows] = u[rows]
    x[hb.A7, rows] = u[rows]


def _advance(sim: VectorSimulator, given: FloatArray, _regimen: FloatArray) -> FloatArray:
    """WarfarinSimulator.step's dynamics alone: the clipped dose into the propagator, then the true INR."""
    assert isinstance(sim, WarfarinSimulator)
    # minimum(maximum(·)): np.clip's Python wrapper costs more than the two ufuncs on a forecast's few rows
    dose = np.minimum(np.maximum(np.asarray(given, dtype=float).reshape(sim.n), 0.0), sim.max_dose_mg)
    sim.propagator.advance_day(sim.state, hb.S_FRACTION * dose)
    sim.inr_true = hb.inr_from_state(sim.state)
    return sim.inr_true.copy()


TWIN = TwinSpec(
    parameter="EC50", unit="INR",
    description="scale on the Hamberg 2007 S-warfarin EC50 (VKORC1-typical value); absorbs CL variability too",
    # Prior: √(ω_EC50² + ω_CL²) = √(0.409² + 0.310²) (Hamberg 2007 IIV, clinical.md §1), since the scale stands for both.
    prior_log_sd=float(np.hypot(hb.OMEGA_EC50, hb.OMEGA_CL)),
    # Residual: Hamberg's σ_INR = 0.0325 plus the misfit of a one-parameter twin (V, MTT fixed at typical values); 0.10
    # is our assumption, wide enough that three INRs do not make the fit overconfident.
    residual_log_sd=0.10, truth_key="inr_true", build=_build, set_steady_state=_steady,
    # The continuous-infusion steady state overstates the effect of daily doses (E is concave in C): INR ≈ 6 % high at
    # the start, ≈ 1 % after 7 days of daily dosing (tests/unit/test_forecast.py); so burn in a week first.
    burn_in_days=7, advance=_advance, path=_path,
    # Course ≤ 3 weeks older than the 14 recorded days: naive start. Guideline-dosed twins of true scale 1.0 (16 per
    # day, geometric mean of the fitted scale) at days 15 / 18 / 21 / 28 / 35: 1.53 / 1.56 / 1.27 / 1.12 / 1.04 with
    # the steady start, 1.02 / 1.03 / 1.02 / 1.01 / 1.00 with this (tests/unit/test_forecast.py checks day 18).
    naive_impute_days=21,
    # The pack's reward_terms, WarfarinSimulator.step's, on the forecast's true INR.
    reward_forecast=True, outcome_bounds=(1.0, 1.0),
)
