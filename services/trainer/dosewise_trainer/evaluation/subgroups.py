"""Subgroup analysis: the same policy-vs-guideline comparison inside sex, age, genotype and renal-function groups, so a
policy that helps the average patient while harming a subgroup is visible (issue 4, "Evaluation").

Each *dimension* partitions the whole cohort (an "unknown" group catches patients without the covariate), so every patient
is counted exactly once per dimension. Dimensions whose covariate is unknown for everyone are left out (e.g. genotype in a
cohort that was never genotyped, eGFR where the twin does not model renal function).

Flags use each subgroup's Welch p < α without a multiplicity correction: with ~15 subgroups × 2 primary metrics about one
false flag per run is expected at α = 0.05, so a flag is a prompt to look, not a verdict; ``n_tests`` is reported with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dosewise.therapies.base import Cohort
from dosewise_trainer.evaluation.statistics import Comparison, compare_metrics

# Age bands of the brief (<50, 50–64, 65–74, ≥75 years): the ≥65 and ≥75 cut-offs are the usual geriatric ones, and age
# lowers the warfarin dose (IWPC 2009 age-in-decades term; Hamberg 2007 CL −0.91 %/year, ../shared/clinical.md §1).
AGE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("<50", -np.inf, 50.0), ("50–64", 50.0, 65.0), ("65–74", 65.0, 75.0), ("≥75", 75.0, np.inf),
)
# eGFR bands (mL/min/1.73 m²): ≥60 (KDIGO G1–G2), 30–59 (G3a–G3b), <30 (G4–G5) — the CKD staging cut-offs renal insulin dose
# rules refer to (../shared/clinical.md §2, "Renal impairment").
EGFR_BANDS: tuple[tuple[str, float, float], ...] = (("≥60", 60.0, np.inf), ("30–59", 30.0, 60.0), ("<30", -np.inf, 30.0))
# CYP2C9 by number of reduced-function alleles (*2, *3), the grouping CPIC uses; codes follow base.CYP2C9_GENOTYPES
# (*1/*1, *1/*2, *1/*3, *2/*2, *2/*3, *3/*3). Single genotypes like *3/*3 (0.02 % in Ravvaz 2017) would be empty groups.
CYP2C9_GROUPS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("*1/*1", (0,)), ("one variant (*1/*2, *1/*3)", (1, 2)), ("two variants (*2/*2, *2/*3, *3/*3)", (3, 4, 5)),
)
VKORC1_GROUPS: tuple[tuple[str, tuple[int, ...]], ...] = (("G/G", (0,)), ("G/A", (1,)), ("A/A", (2,)))


@dataclass(frozen=True)
class Subgroup:
    """Patients (indices into the cohort) sharing one level of one dimension."""

    dimension: str
    label: str
    index: np.ndarray


@dataclass(frozen=True)
class SubgroupResult:
    subgroup: Subgroup
    comparisons: list[Comparison]
    worse: list[str]  # metrics on which the policy is significantly worse in this subgroup

    def to_dict(self) -> dict[str, Any]:
        return {
            "dimension": self.subgroup.dimension, "label": self.subgroup.label, "n": int(self.subgroup.index.size),
            "metrics": [c.to_dict() for c in self.comparisons], "policy_significantly_worse_on": self.worse,
        }


def _banded(dimension: str, x: np.ndarray, bands: tuple[tuple[str, float, float], ...]) -> list[Subgroup]:
    known = np.isfinite(x)
    groups = [Subgroup(dimension, label, np.flatnonzero(known & (x >= lo) & (x < hi))) for label, lo, hi in bands]
    return [*groups, Subgroup(dimension, "unknown", np.flatnonzero(~known))]


def _coded(dimension: str, code: np.ndarray, levels: tuple[tuple[str, tuple[int, ...]], ...]) -> list[Subgroup]:
    c = np.asarray(code)
    groups = [Subgroup(dimension, label, np.flatnonzero(np.isin(c, codes))) for label, codes in levels]
    covered = np.isin(c, [k for _, codes in levels for k in codes])
    return [*groups, Subgroup(dimension, "unknown", np.flatnonzero(~covered))]


def split(cohort: Cohort) -> list[Subgroup]:
    """All subgroups of the cohort, dimension by dimension; empty groups are dropped. Each dimension covers every patient."""
    cov = cohort.covariates
    out: list[Subgroup] = []
    out += _coded("sex", np.where(cov["female"] > 0.5, 1, 0), (("male", (0,)), ("female", (1,))))
    out += _banded("age", np.asarray(cov["age_years"], dtype=float), AGE_BANDS)
    if "cyp2c9" in cov and np.any(np.asarray(cov["cyp2c9"]) >= 0):
        out += _coded("CYP2C9", cov["cyp2c9"], CYP2C9_GROUPS)
    if "vkorc1" in cov and np.any(np.asarray(cov["vkorc1"]) >= 0):
        out += _coded("VKORC1", cov["vkorc1"], VKORC1_GROUPS)
    if "egfr_ml_min_1_73m2" in cov and np.any(np.isfinite(cov["egfr_ml_min_1_73m2"])):
        out += _banded("eGFR", np.asarray(cov["egfr_ml_min_1_73m2"], dtype=float), EGFR_BANDS)
    return [g for g in out if g.index.size > 0]


def _worse(c: Comparison, higher_is_better: bool, alpha: float) -> bool:
    return c.significant(alpha) and (c.delta < 0 if higher_is_better else c.delta > 0)


def analyse(
    cohort: Cohort,
    policy_metrics: dict[str, np.ndarray],
    guideline_metrics: dict[str, np.ndarray],
    efficacy_metric: str,
    adverse_metric: str,
    alpha: float = 0.05,
    min_size: int = 2,
) -> list[SubgroupResult]:
    """Compare the arms inside each subgroup (paired: same patients). The policy is flagged *worse* in a subgroup when its
    efficacy is significantly lower or its adverse-event days significantly higher (Welch p < α). Subgroups with fewer
    than ``min_size`` patients are skipped: no SD, no test."""
    results = []
    for g in split(cohort):
        if g.index.size < min_size:
            continue
        comps = compare_metrics({k: v[g.index] for k, v in policy_metrics.items()},
                                {k: v[g.index] for k, v in guideline_metrics.items()})
        by = {c.metric: c for c in comps}
        worse = [m for m, better_high in ((efficacy_metric, True), (adverse_metric, False)) if _worse(by[m], better_high, alpha)]
        results.append(SubgroupResult(g, comps, worse))
    return results
