"""Virtual patients for the immune pack: an infection of varying size in hosts of varying immune and organ parameters.

Every number below is **our assumption** — Stengel et al. 2002 model one nominal patient and give no population. The
variability is chosen to spread the untreated outcomes over all four courses of the nominal model (sub-clinical, clinical,
protracted, lethal), so that dosing decisions matter; it is not fitted to data.

Hidden (simulator-only) parameters — log-normal around the nominal Stengel 2002 values (model.NOMINAL), η ~ N(0, ω²)
truncated at ±2ω:

| hidden key       | median | ω    | meaning (why it varies between patients) |
|------------------|--------|------|-------------------------------------------|
| ``a11``          | 1      | 0.10 | pathogen growth rate (strain virulence) |
| ``a12``          | 1      | 0.10 | pathogen killing per antibody (antibody efficacy) |
| ``a22``          | 3      | 0.20 | plasma-cell stimulation (host immune competence) |
| ``a41``          | 0.5    | 0.15 | organ damage per pathogen (organ vulnerability) |
| ``a42``          | 1      | 0.15 | organ recovery rate (organ reserve) |
| ``kill_efficacy``| 1      | 0.30 | drug effect per dose level, b1 = −kill_efficacy (drug susceptibility of the strain) |
| ``x1_0``         | 2.2    | 0.25 | pathogen load at presentation (a.u.), clipped to 1.0–3.5 |

The others (a23, x2*, a31, a32, a33, b4) stay nominal. a11 is capped at 0.95·a12·a31·x2*/a32 so the uninfected state stays
stable in every patient (model.py: otherwise no infection could ever clear on its own and the sub-clinical course would not
exist). Each course starts at presentation (t = 0) from x2 = x2*, x3 = a31·x2*/a32 (the healthy equilibrium), x4 = 0 and
x1 = x1_0 — the initial state of the paper's uncontrolled courses.

Clinic-visible covariates (generic adults; none drives the model — the paper has no covariate effects and we add none, so a
policy cannot and need not use them): age N(50, 18) y clipped 18–90, 50 % female, height N(176, 7) cm men / N(162, 6.5) cm
women, BMI N(26, 4) kg/m² clipped 17–45 → weight. eGFR, race and genotypes are unknown (NaN / −1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import truncnorm

from dosewise.therapies.base import COVARIATES, Cohort
from dosewise.therapies.immune.model import NOMINAL, ImmuneParams

ETA_TRUNCATION_SD = 2.0  # random effects truncated at ±2ω (our assumption; keeps every patient inside the model's regimes)
HEALTHY_STABILITY_MARGIN = 0.95  # a11 ≤ 0.95 · a12·a31·x2*/a32 (see module docstring)

HIDDEN_KEYS = ("a11", "a12", "a22", "a41", "a42", "kill_efficacy", "x1_0")


@dataclass(frozen=True)
class CohortConfig:
    """Knobs of the cohort sampler (all our assumptions, see the module docstring)."""

    omega_a11: float = 0.10
    omega_a12: float = 0.10
    omega_a22: float = 0.20
    omega_a41: float = 0.15
    omega_a42: float = 0.15
    omega_kill: float = 0.30
    x1_0_median: float = 2.2
    x1_0_omega: float = 0.25
    x1_0_range: tuple[float, float] = (1.0, 3.5)


def _eta(rng: np.random.Generator, omega: float, n: int) -> np.ndarray:
    t = ETA_TRUNCATION_SD
    if omega <= 0.0:
        return np.zeros(n)
    return truncnorm.rvs(-t, t, loc=0.0, scale=omega, size=n, random_state=rng)


def sample_cohort(n: int, seed: int, config: CohortConfig | None = None) -> Cohort:
    """N infected patients; same (n, seed, config) → same cohort. Covariates carry every key of base.COVARIATES."""
    if n < 1:
        raise ValueError("a cohort needs at least one patient")
    c = config or CohortConfig()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 3]))  # 3: this pack's stream, distinct from other packs
    female = (rng.random(n) < 0.5).astype(float)
    age = np.clip(rng.normal(50.0, 18.0, n), 18.0, 90.0)
    height = np.where(female > 0, rng.normal(162.0, 6.5, n), rng.normal(176.0, 7.0, n))
    weight = np.clip(rng.normal(26.0, 4.0, n), 17.0, 45.0) * (height / 100.0) ** 2
    cov = {k: np.zeros(n) for k in COVARIATES}
    cov.update(age_years=age, female=female, weight_kg=weight, height_cm=height, egfr_ml_min_1_73m2=np.full(n, np.nan))
    for k in ("race", "cyp2c9", "vkorc1"):
        cov[k] = np.full(n, -1.0)

    a12 = NOMINAL["a12"] * np.exp(_eta(rng, c.omega_a12, n))
    a11_cap = HEALTHY_STABILITY_MARGIN * a12 * NOMINAL["a31"] * NOMINAL["x2_star"] / NOMINAL["a32"]
    hidden = {
        "a11": np.minimum(NOMINAL["a11"] * np.exp(_eta(rng, c.omega_a11, n)), a11_cap),
        "a12": a12,
        "a22": NOMINAL["a22"] * np.exp(_eta(rng, c.omega_a22, n)),
        "a41": NOMINAL["a41"] * np.exp(_eta(rng, c.omega_a41, n)),
        "a42": NOMINAL["a42"] * np.exp(_eta(rng, c.omega_a42, n)),
        "kill_efficacy": np.exp(_eta(rng, c.omega_kill, n)),
        "x1_0": np.clip(c.x1_0_median * np.exp(_eta(rng, c.x1_0_omega, n)), *c.x1_0_range),
    }
    assert set(hidden) == set(HIDDEN_KEYS)
    return Cohort(covariates=cov, hidden=hidden, seed=seed)


def params_of(cohort: Cohort) -> ImmuneParams:
    """The ImmuneParams of a cohort's hidden parameters (the rest nominal)."""
    h = cohort.hidden
    return ImmuneParams.nominal(
        cohort.n, a11=h["a11"], a12=h["a12"], a22=h["a22"], a41=h["a41"], a42=h["a42"], b1=NOMINAL["b1"] * h["kill_efficacy"],
    )
