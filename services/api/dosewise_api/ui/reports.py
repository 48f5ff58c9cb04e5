"""What the policies and performance pages show of the stored evaluation: each policy's model card (its evidence against
the guideline, written by the trainer: for a visit-level policy its clinic evaluation on each held-out twin model and
cadence, issue #25; for a daily one its cross-validation) and the gate's reports. Read from the registry, never typed in."""

from __future__ import annotations

from dataclasses import dataclass, field
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
class GroupRow:
    """One patient group of a clinic run: its size and the policy's difference from the guideline (paired p)."""

    dimension: str
    label: str
    n: int
    deltas: list[tuple[str, float, float | None]]  # (metric, policy − guideline, paired p)


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
    where: str = ""  # a clinic evaluation's held-out model and cadence ("" for a cross-validation)
    # A clinic run's algorithm comparison: every arm's mean of each metric (the guideline, the MPC, this policy).
    means: dict[str, dict[str, float]] = field(default_factory=dict)
    groups: list[GroupRow] = field(default_factory=list)  # per patient group: this policy − the guideline
    kind: str = "cross-validation"  # or "clinic"
    heading: str = ""

    def __post_init__(self) -> None:
        if not self.heading:
            extra = f" · {self.where}" if self.where else ""
            object.__setattr__(self, "heading", f"{self.therapy} · {self.version}{extra}")


def _interval(d: dict[str, Any], ci_key: str = "ci95", mean_key: str = "mean") -> Interval:
    low, high = d.get(ci_key) or (float("nan"), float("nan"))
    return Interval(float(d[mean_key]), float(low), float(high), d.get("n"))


def algorithm(card: dict[str, Any]) -> str:
    """How the policy was made, from its model card ("" when the card does not say)."""
    config = (card.get("training") or {}).get("config") or {}
    return str(config.get("algorithm") or card.get("algorithm") or "")


def _rows(comparisons: list[Any]) -> list[MetricRow]:
    return [MetricRow(metric=m["metric"], policy=_interval(m["policy"]), guideline=_interval(m["guideline"]),
                      delta=_interval({"mean": m["delta"], "ci95": m.get("delta_ci95")}),
                      welch_p=m.get("welch_p"), paired_p=m.get("paired_p"))
            for m in comparisons if isinstance(m, dict) and "policy" in m and "guideline" in m]


def clinic_evaluations(policy: dict[str, Any]) -> list[Evaluation]:
    """One Evaluation per held-out model and cadence of a card's ``clinic_evaluation`` (clinic_card.gate_evaluation)."""
    card = policy.get("model_card") or {}
    ce = card.get("clinic_evaluation")
    if not isinstance(ce, dict):
        return []
    out = []
    for run in ce.get("runs") or []:
        rows = _rows(run.get("comparisons") or [])
        if not rows:
            continue
        adverse = next((r.metric for r in rows if r.metric == "adverse_event_days"), rows[1].metric if len(rows) > 1 else "")
        out.append(Evaluation(
            therapy=policy["therapy"], version=policy["version"], status=policy["status"], algorithm=algorithm(card),
            patients=ce.get("patients"), folds=None, days=ce.get("days"), metrics=rows,
            targets={"efficacy_metric": rows[0].metric, "adverse_metric": adverse}, targets_met=run.get("met"),
            subgroup_tests=len(run.get("groups") or []) or None,
            subgroup_flags=[a.get("aim", "") for a in run.get("aims") or [] if a.get("met") is False],
            where=f"{run.get('twin_model')} ({run.get('role')}) at {run.get('schedule')} visits", kind="clinic",
            means={arm: {m: float(v) for m, v in ms.items() if isinstance(v, (int, float))}
                   for arm, ms in (run.get("means") or {}).items() if isinstance(ms, dict)},
            groups=[GroupRow(g["dimension"], g["label"], int(g["n"]),
                             [(c["metric"], float(c["delta"]), c.get("paired_p")) for c in g.get("comparisons") or []][:2])
                    for g in run.get("groups") or [] if isinstance(g, dict) and "dimension" in g]))
    return out


def evaluations(policy: dict[str, Any]) -> list[Evaluation]:
    """Everything a registry row's card says against the guideline: its clinic evaluations, then its cross-validation."""
    cv = evaluation(policy)
    return [*clinic_evaluations(policy), *([cv] if cv is not None else [])]


def evaluation(policy: dict[str, Any]) -> Evaluation | None:
    """The cross-validation of a registry row (``registry.public``), or None when its model card carries none."""
    card = policy.get("model_card") or {}
    cv = card.get("cross_validation")
    if not isinstance(cv, dict) or not cv.get("pooled_metrics"):
        return None
    rows = _rows(cv["pooled_metrics"])
    return Evaluation(therapy=policy["therapy"], version=policy["version"], status=policy["status"],
                      algorithm=algorithm(card), patients=cv.get("patients"), folds=cv.get("n_folds"), days=cv.get("days"),
                      metrics=rows, targets=cv.get("pooled_targets") or {}, targets_met=cv.get("targets_met"),
                      subgroup_tests=cv.get("subgroup_tests"), subgroup_flags=list(cv.get("subgroup_flags") or []))
