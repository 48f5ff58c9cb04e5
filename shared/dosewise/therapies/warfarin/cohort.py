"""Virtual warfarin patients: the Ravvaz et al. 2017 "avatar" population with Hamberg 2007 between-patient variability.

Demographics and genotype frequencies are those of the Aurora avatars as coded in GitHub ``anzabizadeh/ReiL``
``reil/healthcare/patient_warfarin_ravvaz.py`` (../shared/clinical.md §1): age N(67.30, 13.43) y, weight N(199.24, 54.71) lb,
height N(66.78, 4.31) in, female 53.14 %, race White 95.22 % / Black 4.19 % / Asian 0.40 % / other 0.19 %, amiodarone
11.51 %, CYP2C9 and VKORC1 frequencies below. Continuous covariates are drawn from normals truncated to plausible adult
ranges (ours; ReiL truncates age at 18 and weight at 70 lb). Age, height and weight are drawn independently, as in ReiL.

Hidden parameters (never shown to a policy): the Hamberg PK/PD parameters with log-normal IIV (model.py) and the TRUE
genotypes, which stay known to the simulator even for patients whose genotype the clinic did not test.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import truncnorm

from dosewise import units
from dosewise.therapies import base
from dosewise.therapies.warfarin import interactions
from dosewise.therapies.warfarin import model as hb

AGE_YEARS = (67.30, 13.43, 18.0, 100.0)  # mean, SD, low, high
WEIGHT_LB = (199.24, 54.71, 90.0, 450.0)
HEIGHT_IN = (66.78, 4.31, 54.0, 84.0)
FEMALE = 0.5314
RACE_P = np.array([0.9522, 0.0419, 0.0040, 0.0019])  # base.RACES: white, black, asian, other (Am. Indian + Pacific Isl.)
AMIODARONE = 0.1151
CYP2C9_P = np.array([0.6739, 0.1486, 0.0925, 0.0651, 0.0197, 0.0002])  # base.CYP2C9_GENOTYPES order
VKORC1_P = np.array([0.3837, 0.4418, 0.1745])  # G/G, G/A, A/A

HIDDEN_KEYS = ("cl_l_per_h", "v1_l", "v2_l", "ec50_mg_per_l", "mtt1_h", "mtt2_h", "cyp2c9_true", "vkorc1_true")


def _truncated_normal(rng: np.random.Generator, spec: tuple[float, float, float, float], n: int) -> np.ndarray:
    mean, sd, low, high = spec
    return truncnorm.rvs((low - mean) / sd, (high - mean) / sd, loc=mean, scale=sd, size=n, random_state=rng)


def _eta(rng: np.random.Generator, omega: float, n: int) -> np.ndarray:
    """Log-normal random effect η ~ N(0, ω²) truncated at ±3ω (model.ETA_TRUNCATION_SD)."""
    t = hb.ETA_TRUNCATION_SD
    return truncnorm.rvs(-t, t, loc=0.0, scale=omega, size=n, random_state=rng)


def _categorical(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    return rng.choice(len(p), size=n, p=p / p.sum()).astype(float)


def sample_ravvaz_cohort(n: int, seed: int, genotype_unknown_fraction: float = 0.0) -> base.Cohort:
    """N avatars. ``genotype_unknown_fraction`` of them were never genotyped (CYP2C9 and VKORC1 shown as -1, unknown)."""
    if n < 1:
        raise ValueError("a cohort needs at least one patient")
    if not 0.0 <= genotype_unknown_fraction <= 1.0:
        raise ValueError("genotype_unknown_fraction must lie in [0, 1]")
    rng = np.random.default_rng(seed)
    age = _truncated_normal(rng, AGE_YEARS, n)
    weight_kg = units.to_canonical(1.0, "lb", "mass") * _truncated_normal(rng, WEIGHT_LB, n)
    height_cm = units.to_canonical(1.0, "in", "length") * _truncated_normal(rng, HEIGHT_IN, n)
    female = (rng.random(n) < FEMALE).astype(float)
    race = _categorical(rng, RACE_P, n)
    amiodarone = (rng.random(n) < AMIODARONE).astype(float)
    cyp = _categorical(rng, CYP2C9_P, n)
    vk = _categorical(rng, VKORC1_P, n)
    untested = rng.random(n) < genotype_unknown_fraction

    eta_cl, eta_v1, eta_v2 = _eta(rng, hb.OMEGA_CL, n), _eta(rng, hb.OMEGA_V1, n), _eta(rng, hb.OMEGA_V2, n)
    eta_ec50, eta_mtt1, eta_mtt2 = _eta(rng, hb.OMEGA_EC50, n), _eta(rng, hb.OMEGA_MTT1, n), _eta(rng, hb.OMEGA_MTT2, n)
    covariates = {
        "age_years": age,
        "female": female,
        "weight_kg": weight_kg,
        "height_cm": height_cm,
        "egfr_ml_min_1_73m2": np.full(n, np.nan),  # not part of the warfarin model
        "race": race,
        "cyp2c9": np.where(untested, -1.0, cyp),
        "vkorc1": np.where(untested, -1.0, vk),
        "amiodarone": amiodarone,
        "enzyme_inducer": np.zeros(n),  # the avatars carry no inducers (Ravvaz 2017)
        "pregnant": np.zeros(n),  # warfarin is contraindicated in pregnancy
        **{c: np.zeros(n) for c in interactions.ROW_COVARIATES},  # the avatars take none of the table's other drugs
    }
    hidden = {
        "cl_l_per_h": hb.clearance_l_per_h(eta_cl, age, cyp, interactions.clearance_factor(covariates)),
        "v1_l": hb.V1_L * np.exp(eta_v1),
        "v2_l": hb.V2_L * np.exp(eta_v2),
        "ec50_mg_per_l": hb.EC50_MG_PER_L[vk.astype(int)] * np.exp(eta_ec50),
        "mtt1_h": hb.MTT1_H * np.exp(eta_mtt1),
        "mtt2_h": hb.MTT2_H * np.exp(eta_mtt2),
        "cyp2c9_true": cyp,
        "vkorc1_true": vk,
    }
    assert set(covariates) == set(base.COVARIATES + interactions.COVARIATES)
    return base.Cohort(covariates=covariates, hidden=hidden, seed=seed)
