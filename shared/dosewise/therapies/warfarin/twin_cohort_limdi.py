"""The held-out warfarin cohort: patients of European and African ancestry as in Limdi et al. 2015, NOT the training sampler.

The training twins draw the Ravvaz 2017 avatars (cohort.py: 95 % white, Aurora genotype frequencies). A policy evaluated on a
held-out model should also meet patients it was not trained on, so the held-out models draw from another population, with
its own seed stream: Table 1 of Limdi et al., Blood 2015;126:539 ("Race influences warfarin dose changes associated with
genetic factors"; the table as shown at ashpublications.net/view-large/7496165 [checked, the table; the citation details
secondary]): 762 European Americans and 595 African Americans on warfarin.

| per group (EA / AA)              | value |
|----------------------------------|-------|
| share of the cohort              | 762 / 595 of 1,357 |
| age, y (mean ± SD)               | 64.1 ± 15.2 / 57.0 ± 15.7 |
| height, in                       | 67.9 ± 4.0 / 67.4 ± 6.6 |
| weight, lb                       | 192.8 ± 50.1 / 200.6 ± 51.1 |
| female                           | 42.5 % / 56.5 % |
| amiodarone                       | 12.9 % / 7.1 % |
| carriers of ≥ 1 CYP2C9*2         | 25.6 % / 4.9 % |
| carriers of ≥ 1 CYP2C9*3         | 12.6 % / 2.3 % |
| carriers of ≥ 1 VKORC1 −1639A    | 60.2 % / 18.5 % |

Our choices: genotypes from the carrier shares by Hardy–Weinberg equilibrium (allele frequency q = 1 − √(1 − carriers); the
*2 and *3 alleles drawn independently per chromosome); CYP2C9 *5, *6, *8, *11 (3.4 % and 13.9 % carriers among African
Americans) are not modelled by the twin models' clearance (Hamberg has parameters for *1, *2, *3 only) and count as *1;
continuous covariates are truncated normals on cohort.py's plausible adult ranges; the table's eGFR is not used by the
warfarin models (NaN, as in cohort.py); enzyme inducers and the interaction table's other drugs are absent unless
``inducer_fraction`` > 0 (Limdi's Table 1 does not report inducers; the default 0 is ours).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import truncnorm

from dosewise import units
from dosewise.therapies import base
from dosewise.therapies.warfarin import cohort as ravvaz
from dosewise.therapies.warfarin import interactions

SOURCE = "Limdi et al. 2015, Blood 126:539, Table 1 (European and African Americans)"


@dataclass(frozen=True)
class AncestryGroup:
    race: int  # index into base.RACES
    count: int
    age_years: tuple[float, float]  # mean, SD
    height_in: tuple[float, float]
    weight_lb: tuple[float, float]
    female: float
    amiodarone: float
    carriers_cyp2c9_2: float
    carriers_cyp2c9_3: float
    carriers_vkorc1_a: float


GROUPS: tuple[AncestryGroup, ...] = (
    AncestryGroup(base.RACES.index("white"), 762, (64.1, 15.2), (67.9, 4.0), (192.8, 50.1), 0.425, 0.129,
                  0.256, 0.126, 0.602),
    AncestryGroup(base.RACES.index("black"), 595, (57.0, 15.7), (67.4, 6.6), (200.6, 51.1), 0.565, 0.071,
                  0.049, 0.023, 0.185),
)


def allele_frequency(carriers: float) -> float:
    """The allele frequency whose Hardy–Weinberg carrier share (1 − (1 − q)²) is ``carriers``."""
    return 1.0 - float(np.sqrt(1.0 - carriers))


def cyp2c9_genotype_probabilities(carriers_2: float, carriers_3: float) -> np.ndarray:
    """P of each base.CYP2C9_GENOTYPES under Hardy–Weinberg, from the *2 and *3 carrier shares."""
    q2, q3 = allele_frequency(carriers_2), allele_frequency(carriers_3)
    q1 = 1.0 - q2 - q3
    p = {"*1/*1": q1 * q1, "*1/*2": 2 * q1 * q2, "*1/*3": 2 * q1 * q3, "*2/*2": q2 * q2, "*2/*3": 2 * q2 * q3,
         "*3/*3": q3 * q3}
    return np.array([p[g] for g in base.CYP2C9_GENOTYPES])


def vkorc1_genotype_probabilities(carriers_a: float) -> np.ndarray:
    """P of G/G, G/A, A/A under Hardy–Weinberg from the −1639A carrier share."""
    qa = allele_frequency(carriers_a)
    return np.array([(1 - qa) ** 2, 2 * qa * (1 - qa), qa * qa])


def _truncated(rng: np.random.Generator, mean_sd: tuple[float, float], low_high: tuple[float, float], n: int) -> np.ndarray:
    mean, sd = mean_sd
    low, high = low_high
    return truncnorm.rvs((low - mean) / sd, (high - mean) / sd, loc=mean, scale=sd, size=n, random_state=rng)


@dataclass(frozen=True)
class LimdiCohort:
    covariates: dict[str, np.ndarray]  # every WarfarinPack.covariate_names key, (n,)
    cyp2c9_true: np.ndarray  # the true genotype codes, also for a patient shown as untested (−1)
    vkorc1_true: np.ndarray
    group: np.ndarray  # index into GROUPS


def sample_limdi_cohort(n: int, seed: int, genotype_unknown_fraction: float = 0.0,
                        inducer_fraction: float = 0.0) -> LimdiCohort:
    """``n`` patients of the Limdi 2015 population (module docstring), from their own seed stream."""
    if n < 1:
        raise ValueError("a cohort needs at least one patient")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 4, 25, 2015]))
    share = np.array([g.count for g in GROUPS], dtype=float)
    group = rng.choice(len(GROUPS), size=n, p=share / share.sum())
    cov = {k: np.zeros(n) for k in base.COVARIATES + interactions.COVARIATES}
    cyp, vk = np.zeros(n), np.zeros(n)
    lb, inch = units.to_canonical(1.0, "lb", "mass"), units.to_canonical(1.0, "in", "length")
    for j, g in enumerate(GROUPS):
        idx = np.flatnonzero(group == j)
        m = idx.size
        if m == 0:
            continue
        cov["age_years"][idx] = _truncated(rng, g.age_years, ravvaz.AGE_YEARS[2:], m)
        cov["height_cm"][idx] = inch * _truncated(rng, g.height_in, ravvaz.HEIGHT_IN[2:], m)
        cov["weight_kg"][idx] = lb * _truncated(rng, g.weight_lb, ravvaz.WEIGHT_LB[2:], m)
        cov["female"][idx] = (rng.random(m) < g.female).astype(float)
        cov["race"][idx] = float(g.race)
        cov["amiodarone"][idx] = (rng.random(m) < g.amiodarone).astype(float)
        cyp[idx] = rng.choice(6, size=m, p=cyp2c9_genotype_probabilities(g.carriers_cyp2c9_2, g.carriers_cyp2c9_3))
        vk[idx] = rng.choice(3, size=m, p=vkorc1_genotype_probabilities(g.carriers_vkorc1_a))
    untested = rng.random(n) < genotype_unknown_fraction
    cov["cyp2c9"] = np.where(untested, -1.0, cyp)
    cov["vkorc1"] = np.where(untested, -1.0, vk)
    cov["egfr_ml_min_1_73m2"] = np.full(n, np.nan)  # not part of the warfarin models
    if inducer_fraction > 0:
        # An inducer patient takes carbamazepine (the IWPC inducer covariate and its interaction row).
        ind = rng.random(n) < inducer_fraction
        cov["enzyme_inducer"] = ind.astype(float)
        cov["carbamazepine"] = ind.astype(float)
    assert set(cov) == set(base.COVARIATES + interactions.COVARIATES)
    return LimdiCohort(covariates=cov, cyp2c9_true=cyp, vkorc1_true=vk, group=group)
