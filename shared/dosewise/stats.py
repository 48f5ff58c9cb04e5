"""Summary statistics of a per-patient metric: mean, SD and a 95 % confidence interval of the mean — the one
implementation behind `dosewise simulate` and `dosewise evaluate` (dosewise_trainer.evaluation.statistics compares arms
with it).

The interval is a seeded BCa bootstrap (scipy.stats.bootstrap; Efron 1987, JASA 82:171) rather than mean ± t·SD/√n. Most
metrics here are bounded and skewed — adverse-event days are counts, mostly 0 with a long tail — and the t-interval, being
symmetric, went below zero for them: a policy's adverse-event days printed as 0.54 [-0.29, 1.36]. A bootstrap interval is
made of means of resampled patients, so it never leaves the range the values can take (a count's never goes below 0, a
share's stays within 0–100 %), and BCa corrects the percentile interval for the skew. The resampling is seeded and runs
on the sorted values: the same values, in any order, always give the same interval.

NaN entries (a metric undefined for a patient, e.g. a TTR with fewer than two INRs) are left out, and ``n`` says how many
patients count.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 1999  # (B + 1)·α/2 is a whole number for α = 0.05: the percentile bounds fall on resamples
BOOTSTRAP_SEED = 20231
BOOTSTRAP_BATCH = 250  # resamples (and jackknife samples) per vectorized call: memory stays ~250 × n values at any n


def json_number(x: float | None) -> float | None:
    """JSON has no NaN: undefined numbers become null."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)


@dataclass(frozen=True)
class Summary:
    """One sample's size (finite values), mean, SD (ddof 1) and the bootstrap confidence interval of its mean."""

    n: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "mean": json_number(self.mean), "sd": json_number(self.sd),
                "ci95": [json_number(self.ci_low), json_number(self.ci_high)]}


def mean_interval(x: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The BCa bootstrap interval of the mean of ``x`` (finite, at least two values). A constant sample's is the constant
    (there is no sampling spread to show, and BCa's acceleration is 0/0 there)."""
    lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        return lo, hi
    x = np.sort(x)  # the mean ignores order, so may its interval: the same patients listed otherwise, the same numbers
    with warnings.catch_warnings():
        # A few distinct values (n = 2 or 3, or a 0/1 metric with a single 1) can leave BCa undefined: it warns and
        # returns NaN, and the percentile interval below is used instead.
        warnings.simplefilter("ignore")
        for method in ("BCa", "percentile"):
            ci = sps.bootstrap((x,), np.mean, n_resamples=BOOTSTRAP_RESAMPLES, confidence_level=confidence, method=method,
                               vectorized=True, batch=BOOTSTRAP_BATCH, rng=np.random.default_rng(BOOTSTRAP_SEED))
            low, high = float(ci.confidence_interval.low), float(ci.confidence_interval.high)
            if math.isfinite(low) and math.isfinite(high):
                return max(low, lo), min(high, hi)  # already inside [min, max]; the clip only absorbs float round-off
    return math.nan, math.nan


def summarize(values: np.ndarray | list[float], confidence: float = CONFIDENCE) -> Summary:
    """Mean, sample SD and the bootstrap CI of the mean over the finite values; SD and CI are NaN below two values."""
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n == 1:
        return Summary(1, mean, math.nan, math.nan, math.nan)
    low, high = mean_interval(x, confidence)
    return Summary(n, mean, float(x.std(ddof=1)), low, high)


@dataclass(frozen=True)
class MetricSummary:
    """One row of `dosewise simulate`: a metric's name and the summary of its per-patient values."""

    name: str
    mean: float
    sd: float
    ci_low: float
    ci_high: float
    n: int
    confidence: float = CONFIDENCE

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "mean": self.mean, "sd": self.sd, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "n": self.n, "confidence": self.confidence}


def summarize_metric(name: str, values: np.ndarray, confidence: float = CONFIDENCE) -> MetricSummary:
    s = summarize(values, confidence)
    return MetricSummary(name, s.mean, s.sd, s.ci_low, s.ci_high, s.n, confidence)


def summarize_metrics(metrics: Mapping[str, np.ndarray], confidence: float = CONFIDENCE) -> list[MetricSummary]:
    """One row per metric, in the mapping's order (packs list efficacy first, then adverse events)."""
    return [summarize_metric(k, v, confidence) for k, v in metrics.items()]
