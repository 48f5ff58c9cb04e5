"""Summary statistics for per-patient metrics: mean, SD and a t-based 95 % confidence interval of the mean.

Used by ``dosewise simulate`` and evaluation reports. NaN entries (a metric undefined for a patient, e.g. a TTR with fewer
than two INRs) are left out and ``n`` says how many patients count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as sps


@dataclass(frozen=True)
class MetricSummary:
    """One table row: the cohort mean of a metric with its SD and the CI of the mean (Student t, n − 1 df)."""

    name: str
    mean: float
    sd: float
    ci_low: float
    ci_high: float
    n: int
    confidence: float = 0.95

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize_metric(name: str, values: np.ndarray, confidence: float = 0.95) -> MetricSummary:
    """Mean, sample SD (ddof 1) and mean ± t_{(1+c)/2, n−1}·SD/√n over the finite values."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return MetricSummary(name, float("nan"), float("nan"), float("nan"), float("nan"), 0, confidence)
    mean = float(x.mean())
    if n == 1:
        return MetricSummary(name, mean, float("nan"), float("nan"), float("nan"), 1, confidence)
    sd = float(x.std(ddof=1))
    half = float(sps.t.ppf(0.5 + confidence / 2.0, df=n - 1)) * sd / np.sqrt(n)
    return MetricSummary(name, mean, sd, mean - half, mean + half, n, confidence)


def summarize(metrics: Mapping[str, np.ndarray], confidence: float = 0.95) -> list[MetricSummary]:
    """One row per metric, in the mapping's order (packs list efficacy first, then adverse events)."""
    return [summarize_metric(k, v, confidence) for k, v in metrics.items()]
