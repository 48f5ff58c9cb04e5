"""What the policies and performance pages show of the stored evaluation: each policy's model card (its cross-validation
against the guideline comparator, written by the trainer) and the gate's reports. Read from the registry, never typed in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int | None = None


@dataclass(frozen=True)
class MetricRow:
    """One metric of a cross-validation: the policy and the guideline with 95 % confidence intervals, their difference,
    Welch's and the paired test's p-values."""

    metric: str
    policy: Interval
    guideline: Interval
    delta: Interval
    welch_p: float | None
    paired_p: float | None


@dataclass(frozen=True)
class Evaluation:
    therapy: str
    version: str
    status: str
    algorithm: str
    patients: int | None
    folds: int | None
    days: float | None
    metrics: list[MetricRow]
    targets: dict[str, Any]
    targets_met: bool | None
    subgroup_tests: int | None
    subgroup_flags: list[Any]


def _interval(d: dict[str, Any], ci_key: str = "ci95", mean_key: str = "mean") -> Interval:
    low, high = d.get(ci_key) or (float("nan"), float("nan"))
    return Interval(float(d[mean_key]), float(low), float(high), d.get("n"))


def algorithm(card: dict[str, Any]) -> str:
    """How the policy was made, from its model card ("" when the card does not say)."""
    config = (card.get("training") or {}).get("config") or {}
    return str(config.get("algorithm") or card.get("algorithm") or "")


def evaluation(policy: dict[str, Any]) -> Evaluation | None:
    """The cross-validation of a registry row (``registry.public``), or None when its model card carries none."""
    card = policy.get("model_card") or {}
    cv = card.get("cross_validation")
    if not isinstance(cv, dict) or not cv.get("pooled_metrics"):
        return None
    rows = [MetricRow(metric=m["metric"], policy=_interval(m["policy"]), guideline=_interval(m["guideline"]),
                      delta=_interval({"mean": m["delta"], "ci95": m.get("delta_ci95")}),
                      welch_p=m.get("welch_p"), paired_p=m.get("paired_p"))
            for m in cv["pooled_metrics"] if isinstance(m, dict) and "policy" in m and "guideline" in m]
    return Evaluation(therapy=policy["therapy"], version=policy["version"], status=policy["status"],
                      algorithm=algorithm(card), patients=cv.get("patients"), folds=cv.get("n_folds"), days=cv.get("days"),
                      metrics=rows, targets=cv.get("pooled_targets") or {}, targets_met=cv.get("targets_met"),
                      subgroup_tests=cv.get("subgroup_tests"), subgroup_flags=list(cv.get("subgroup_flags") or []))
