"""Policy-vs-guideline statistics for one metric: each arm's mean, SD and 95 % CI (dosewise.stats.summarize: a seeded BCa
bootstrap, never outside the values' range), Welch's two-sided t-test with the CI of the difference (both from
scipy.stats.ttest_ind), relative change.

The issue's protocol (HSDPO source document, ../shared/clinical.md §5) asks for a *two-tailed t-test* against guideline dosing;
we use Welch's unequal-variance form (scipy.stats.ttest_ind(equal_var=False)) because a policy and the guideline need not
produce equal spreads. Both arms run on the *same* virtual patients with the same simulator noise, so the paired t-test
(scipy.stats.ttest_rel) is the sharper test; it is reported alongside as ``paired_p``, never instead of Welch.

Degenerate data (both arms constant, so the t statistic is 0/0) is resolved explicitly instead of leaking NaN: equal
constants give p = 1 (no difference observed), different constants give p = 0 (the difference has no noise at all).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

from dosewise.stats import CONFIDENCE, Summary, summarize
from dosewise.stats import json_number as _num


@dataclass(frozen=True)
class Comparison:
    """Policy vs guideline on one metric. ``delta`` = policy mean − guideline mean (in the metric's unit);
    ``relative_change`` = delta / guideline mean (None when the guideline mean is 0 and the policy's is not)."""

    metric: str
    policy: Summary
    guideline: Summary
    delta: float
    delta_ci_low: float  # Welch CI of the difference of means
    delta_ci_high: float
    relative_change: float | None
    welch_t: float
    welch_df: float
    welch_p: float
    paired_p: float | None  # None when the arms are not paired (different patients)

    def significant(self, alpha: float = 0.05) -> bool:
        return self.welch_p < alpha

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "policy": self.policy.to_dict(),
            "guideline": self.guideline.to_dict(),
            "delta": _num(self.delta),
            "delta_ci95": [_num(self.delta_ci_low), _num(self.delta_ci_high)],
            "relative_change": _num(self.relative_change),
            "welch_t": _num(self.welch_t),
            "welch_df": _num(self.welch_df),
            "welch_p": _num(self.welch_p),
            "paired_p": _num(self.paired_p),
        }


def _as_sample(x: np.ndarray | list[float]) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).ravel()
    if a.size == 0:
        raise ValueError("empty sample (no finite value)")
    if not np.all(np.isfinite(a)):
        raise ValueError("sample contains NaN or inf; metrics must be finite per patient")
    return a


@dataclass(frozen=True)
class Welch:
    """Welch's unequal-variance t-test of mean(a) − mean(b), and the confidence interval of that difference."""

    t: float
    df: float  # Welch–Satterthwaite
    p: float  # two-sided
    ci_low: float
    ci_high: float


def welch(a: np.ndarray, b: np.ndarray, confidence: float = CONFIDENCE) -> Welch:
    """scipy.stats.ttest_ind(equal_var=False) and its ``confidence_interval``, with the degenerate cases made explicit."""
    a, b = _as_sample(a), _as_sample(b)
    diff = float(a.mean() - b.mean())
    if a.min() == a.max() and b.min() == b.max():  # both arms constant (or single values): no sampling noise to test
        # against (scipy would divide 0 by 0, or by float round-off of a constant's variance and report a spurious t)
        return Welch(0.0 if diff == 0.0 else math.copysign(math.inf, diff), math.nan, 1.0 if diff == 0.0 else 0.0,
                     diff, diff)
    if min(a.size, b.size) < 2:  # one value beside a varying arm: its variance is unknown, so is the test (scipy's t and
        # p are NaN here, and its df a placeholder 1); no interval either, rather than one from the other arm's spread
        return Welch(math.nan, math.nan, math.nan, math.nan, math.nan)
    with warnings.catch_warnings():
        # One constant arm (e.g. no adverse days for anyone in a subgroup) is valid data: its variance is exactly 0 and
        # Welch's formula stays exact, so scipy's "precision loss … nearly identical" alarm does not apply.
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        res = sps.ttest_ind(a, b, equal_var=False)
        ci = res.confidence_interval(confidence_level=confidence)
    return Welch(float(res.statistic), float(res.df), float(res.pvalue), float(ci.low), float(ci.high))


def welch_test(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(t, Welch–Satterthwaite df, two-sided p) for mean(a) − mean(b)."""
    w = welch(a, b)
    return w.t, w.df, w.p


def paired_test(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided paired t-test p (scipy.stats.ttest_rel) on per-patient differences; 1 when every difference is 0."""
    a, b = _as_sample(a), _as_sample(b)
    if a.shape != b.shape:
        raise ValueError("paired samples need the same patients in the same order")
    d = a - b
    if a.size < 2 or np.all(d == d[0]):  # constant differences: p = 1 if all 0, else 0 (no noise around a shift)
        return 1.0 if np.all(d == 0.0) else 0.0
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)  # see welch_test
        return float(sps.ttest_rel(a, b).pvalue)


def _paired_defined(a: np.ndarray, b: np.ndarray) -> float:
    both = np.isfinite(a) & np.isfinite(b)
    return paired_test(a[both], b[both])


def compare(
    metric: str,
    policy_values: np.ndarray | list[float],
    guideline_values: np.ndarray | list[float],
    paired: bool = True,
    confidence: float = CONFIDENCE,
) -> Comparison:
    """Compare one metric between arms. ``paired``: the i-th values belong to the same virtual patient.

    A metric can be undefined for a patient (NaN, e.g. a time in range with fewer than two measurements): such values are
    left out of that arm's summary and Welch test, and the paired test uses the patients defined in both arms. Each
    Summary's ``n`` says how many values were used."""
    p_all, g_all = np.asarray(policy_values, dtype=np.float64).ravel(), np.asarray(guideline_values, dtype=np.float64).ravel()
    if paired and p_all.shape != g_all.shape:
        raise ValueError("paired samples need the same patients in the same order")
    p, g = p_all[np.isfinite(p_all)], g_all[np.isfinite(g_all)]
    if p.size == 0 or g.size == 0:  # undefined for everyone in an arm (e.g. a TTR over one day): nothing to compare
        nan = math.nan
        sp, sg = summarize(p, confidence), summarize(g, confidence)  # an empty arm's summary is n = 0, all NaN
        return Comparison(metric, sp, sg, nan, nan, nan, None, nan, nan, nan, nan if paired else None)
    sp, sg = summarize(p, confidence), summarize(g, confidence)
    w = welch(p, g, confidence)
    delta = sp.mean - sg.mean
    if sg.mean != 0.0:
        rel: float | None = delta / sg.mean
    else:
        rel = 0.0 if delta == 0.0 else None
    return Comparison(
        metric=metric, policy=sp, guideline=sg, delta=delta, delta_ci_low=w.ci_low, delta_ci_high=w.ci_high,
        relative_change=rel, welch_t=w.t, welch_df=w.df, welch_p=w.p, paired_p=_paired_defined(p_all, g_all) if paired else None,
    )


def compare_metrics(
    policy: dict[str, np.ndarray], guideline: dict[str, np.ndarray], paired: bool = True
) -> list[Comparison]:
    """One Comparison per metric, in the pack's metric order (efficacy first, then adverse events)."""
    missing = set(policy) ^ set(guideline)
    if missing:
        raise ValueError(f"the arms report different metrics: {sorted(missing)}")
    return [compare(name, policy[name], guideline[name], paired=paired) for name in policy]


# --- targets (issue 4, "Targets on held-out folds") --------------------------------------------------------------------
ADVERSE_REDUCTION_TARGET = 0.20  # ≥ 20 % fewer adverse-event days than the guideline (issue 4; HSDPO promised 15–20 %)
EFFICACY_MARGIN_PP = 2.0  # efficacy (time in range) no worse than the guideline by more than 2 percentage points (issue 4)


def percentage_points(metric: str, delta: float) -> float:
    """A difference of a share metric in percentage points. The unit is read from the metric's name (names carry units,
    base.TherapyPack.metrics): a ``pct``/``percent`` word means percent, a ``fraction``/``frac`` word means 0–1
    (``time_in_range_pct``, ``pct_days_in_range_80_130``, ``time_in_range_fraction``)."""
    words = set(metric.lower().split("_"))
    if words & {"pct", "percent"}:
        return delta
    if words & {"fraction", "frac"}:
        return 100.0 * delta
    raise ValueError(f"cannot tell whether {metric!r} is a percent or a fraction; name it *_pct or *_fraction")


@dataclass(frozen=True)
class TargetCheck:
    """Whether a policy meets issue 4's targets against the guideline on one evaluation set."""

    efficacy_metric: str
    adverse_metric: str
    adverse_relative_change: float | None
    efficacy_delta_pp: float | None  # None: the efficacy metric is not a share (e.g. 0/1 "cleared"), no pp margin applies
    adverse_target_met: bool
    efficacy_target_met: bool | None  # None: not applicable (see efficacy_delta_pp)

    @property
    def met(self) -> bool:
        """Both targets met; a target that cannot be applied is not met."""
        return self.adverse_target_met and self.efficacy_target_met is True

    def to_dict(self) -> dict[str, Any]:
        return {
            "efficacy_metric": self.efficacy_metric, "adverse_metric": self.adverse_metric,
            "adverse_relative_change": _num(self.adverse_relative_change),
            "adverse_target": f"<= -{ADVERSE_REDUCTION_TARGET:.0%}",
            "efficacy_delta_pp": _num(self.efficacy_delta_pp), "efficacy_target": f">= -{EFFICACY_MARGIN_PP:g} pp",
            "adverse_target_met": self.adverse_target_met, "efficacy_target_met": self.efficacy_target_met, "met": self.met,
        }


def check_targets(comparisons: list[Comparison], efficacy_metric: str, adverse_metric: str) -> TargetCheck:
    """Apply the targets to the efficacy and adverse-event comparisons (named by ``pack.primary_metrics()``)."""
    by_name = {c.metric: c for c in comparisons}
    eff, adv = by_name[efficacy_metric], by_name[adverse_metric]
    try:
        pp: float | None = percentage_points(efficacy_metric, eff.delta)
    except ValueError:
        pp = None
    rel = adv.relative_change
    return TargetCheck(
        efficacy_metric=efficacy_metric, adverse_metric=adverse_metric, adverse_relative_change=rel, efficacy_delta_pp=pp,
        adverse_target_met=bool(rel is not None and rel <= -ADVERSE_REDUCTION_TARGET + 1e-12),
        efficacy_target_met=None if pp is None else bool(pp >= -EFFICACY_MARGIN_PP - 1e-12),
    )
