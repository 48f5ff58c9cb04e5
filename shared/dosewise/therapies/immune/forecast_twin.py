"""The immune pack's forecast twin (``ImmunePack.forecast_twin``): one scale on the drug's kill efficacy, fitted to the
patient's pathogen loads.

The state is an infection's course, not a function of the doses, so every twin starts at the state measured at the oldest
replayed observation (pathogen load, organ damage; the unmeasured immune states at their healthy values). The twins are
the pack's own simulator (simulator.py, the Stengel 2002 model in model.py) with nominal parameters and no noise.
"""

from __future__ import annotations

import numpy as np

from dosewise.therapies.base import ClinicView, Cohort, FloatArray, IntArray, TherapyPack, TwinSpec, VectorSimulator
from dosewise.therapies.immune import model as mm
from dosewise.therapies.immune.simulator import DETECTION_LIMIT, ImmuneSimulator, SimConfig, log_load

# RK4 step 0.1 instead of 0.02 model time units: 5× faster; the model's rates are O(1) per time unit.
DT = 0.1


def _build(pack: TherapyPack, view: ClinicView, scale: FloatArray) -> VectorSimulator:
    n = view.n
    hidden = {k: np.full(n, mm.NOMINAL[k]) for k in ("a11", "a12", "a22", "a41", "a42")}
    hidden |= {"kill_efficacy": np.asarray(scale, dtype=float), "x1_0": np.zeros(n)}
    return ImmuneSimulator(Cohort.from_view(view, hidden), 0, SimConfig(dt=DT, measurement_noise=False,
                                                                        max_dose=pack.max_dose),
                           pack.reward_weights, pack.decision_interval_days, pack.dose_history_days, pack.obs_history)


def _observed(sim: VectorSimulator, view: ClinicView, age: IntArray) -> None:
    """Start at the measured pathogen load and organ damage ``age`` days ago (the latest when none is on record then);
    plasma cells and antibodies are not measured: their healthy equilibrium (Stengel 2002), our assumption."""
    assert isinstance(sim, ImmuneSimulator)

    def at_age(kind: str, fallback: float) -> np.ndarray:
        values, ages = view.obs[kind], np.round(view.obs_age_days[kind])
        hit = (ages == age[:, None]) & ~np.isnan(values)
        latest = np.where(np.isnan(values[:, 0]), fallback, values[:, 0])
        return np.where(hit.any(axis=1), values[np.arange(view.n), np.argmax(hit, axis=1)], latest)

    x = sim.params.healthy_state()
    x[0] = at_age("pathogen_load", 0.0)
    x[3] = np.clip(at_age("organ_damage", 0.0), 0.0, mm.DEATH_DAMAGE - 1e-6)
    sim.x = x
    sim.below = (x[0] < DETECTION_LIMIT).astype(int)


TWIN = TwinSpec(
    parameter="kill efficacy", unit="a.u.",
    description="scale on the drug's pathogen kill rate b1 (Stengel 2002 control u1); other parameters nominal",
    prior_log_sd=0.30,  # the cohort's ω of kill_efficacy (immune/cohort.py, our assumption there)
    # Residual: the pathogen-load assay's 20 % log error (immune/simulator.py) plus the misfit of a twin whose immune
    # state is assumed healthy at the start: 0.3, our assumption.
    residual_log_sd=0.30, truth_key="pathogen_true", build=_build, set_observed_state=_observed, memory_days=0,
    # Distances to the "undetectable" band in log10(load + detection limit), the pack's feature scale. No reward
    # forecast: the immune reward needs states the forecast does not return.
    score_transform=log_load,
)
