"""IWPC warfarin initial-dose algorithms (International Warfarin Pharmacogenetics Consortium, NEJM 2009;360:753–764).

Both equations give √(weekly dose in mg); age enters in decades (floor(age/10)), height in cm, weight in kg.
Coefficients as printed in the paper's supplementary appendix, checked in ../shared/clinical.md §1.

``iwpc_dose_mg_per_day`` picks between them as a clinic would: the pharmacogenetic equation where both CYP2C9 and VKORC1
are known, else the clinical one (the paper's own comparison: the pharmacogenetic equation is better at the extremes,
e.g. within 20 % of the stable dose for 33.0 vs 25.9 % of the low-dose group, clinical.md §1). With one genotype known
we do not mix the two: the pharmacogenetic equation's "unknown" coefficient for the other gene exists, but the paper
validated both equations as wholes, and a half-genotyped patient is rare (our choice).
"""

from __future__ import annotations

import numpy as np

# Pharmacogenetic algorithm. Index = CYP2C9 code (base.CYP2C9_GENOTYPES order: *1/*1 *1/*2 *1/*3 *2/*2 *2/*3 *3/*3), -1 unknown.
_PG_CYP2C9 = np.array([0.0, -0.5211, -0.9357, -1.0616, -1.9206, -2.3312, -0.2188])  # last = unknown
_PG_VKORC1 = np.array([0.0, -0.8677, -1.6974, -0.4854])  # G/G, G/A, A/A, unknown
_PG_RACE = np.array([0.0, -0.2760, -0.1092, -0.1032, -0.1032])  # white, black, asian, other, unknown (mixed/missing)
PG_ENZYME_INDUCER = 1.1816  # carbamazepine, phenytoin, rifampin (also read by interactions.py)


def iwpc_pharmacogenetic_weekly_dose_mg(cov: dict[str, np.ndarray]) -> np.ndarray:
    """Weekly dose (mg) from the IWPC pharmacogenetic equation, vectorized over the covariate arrays (see base.COVARIATES)."""
    decades = np.floor(cov["age_years"] / 10.0)
    cyp = np.where(cov["cyp2c9"] < 0, 6, cov["cyp2c9"]).astype(int)
    vk = np.where(cov["vkorc1"] < 0, 3, cov["vkorc1"]).astype(int)
    race = np.where(cov["race"] < 0, 4, cov["race"]).astype(int)
    sqrt_weekly = (
        5.6044
        - 0.2614 * decades
        + 0.0087 * cov["height_cm"]
        + 0.0128 * cov["weight_kg"]
        + _PG_VKORC1[vk]
        + _PG_CYP2C9[cyp]
        + _PG_RACE[race]
        + PG_ENZYME_INDUCER * cov["enzyme_inducer"]
        - 0.5503 * cov["amiodarone"]
    )
    return np.maximum(sqrt_weekly, 0.0) ** 2


def iwpc_pharmacogenetic_dose_mg_per_day(cov: dict[str, np.ndarray]) -> np.ndarray:
    return iwpc_pharmacogenetic_weekly_dose_mg(cov) / 7.0


def iwpc_clinical_weekly_dose_mg(cov: dict[str, np.ndarray]) -> np.ndarray:
    """Weekly dose (mg) from the IWPC clinical (no genotype) equation."""
    decades = np.floor(cov["age_years"] / 10.0)
    race = np.where(cov["race"] < 0, 4, cov["race"]).astype(int)
    race_coef = np.array([0.0, 0.4060, -0.6752, 0.0443, 0.0443])[race]  # white, black, asian, other, unknown
    sqrt_weekly = (
        4.0376 - 0.2546 * decades + 0.0118 * cov["height_cm"] + 0.0134 * cov["weight_kg"] + race_coef
        + 1.2799 * cov["enzyme_inducer"] - 0.5695 * cov["amiodarone"]
    )
    return np.maximum(sqrt_weekly, 0.0) ** 2


def iwpc_clinical_dose_mg_per_day(cov: dict[str, np.ndarray]) -> np.ndarray:
    return iwpc_clinical_weekly_dose_mg(cov) / 7.0


def genotyped(cov: dict[str, np.ndarray]) -> np.ndarray:
    """(n,) True where both CYP2C9 and VKORC1 are known (codes ≥ 0)."""
    return (np.asarray(cov["cyp2c9"]) >= 0) & (np.asarray(cov["vkorc1"]) >= 0)


def iwpc_dose_mg_per_day(cov: dict[str, np.ndarray]) -> np.ndarray:
    """The IWPC daily dose: pharmacogenetic where both genotypes are known, else clinical (IWPC, NEJM 2009;360:753)."""
    return np.where(genotyped(cov), iwpc_pharmacogenetic_dose_mg_per_day(cov), iwpc_clinical_dose_mg_per_day(cov))
