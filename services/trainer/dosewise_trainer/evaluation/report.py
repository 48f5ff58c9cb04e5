"""Evaluation report: one formatting of the numbers for the terminal, ``table.md`` and ``results.json``, and three plots
(metric distributions, example trajectories, subgroup forest plot). Plots use matplotlib's object API (``Figure``, Agg
canvas), never pyplot's global state, so they work headless and in threads."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from dosewise.stats import Summary
from dosewise.therapies.base import TherapyPack, Trajectory
from dosewise_trainer.evaluation.crossval import CVResult, EvaluationResult
from dosewise_trainer.evaluation.statistics import Comparison, TargetCheck

COLUMNS: tuple[str, ...] = (
    "Metric", "Policy mean ± SD [95 % CI]", "Guideline mean ± SD [95 % CI]", "Δ policy − guideline [95 % CI]",
    "Relative change", "Welch p", "Paired p",
)


# --- numbers as text (one place, so terminal, markdown and tests agree) --------------------------------------------------
def fmt(x: float | None, digits: int = 2) -> str:
    if x is None or not np.isfinite(x):
        return "—"
    return f"{x:.{digits}f}"


def fmt_p(p: float | None) -> str:
    if p is None or not np.isfinite(p):
        return "—"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def fmt_rel(r: float | None) -> str:
    return "—" if r is None or not np.isfinite(r) else f"{100.0 * r:+.1f} %"


def fmt_summary(s: Summary) -> str:
    return f"{fmt(s.mean)} ± {fmt(s.sd)} [{fmt(s.ci_low)}, {fmt(s.ci_high)}]"


def row(c: Comparison) -> list[str]:
    return [
        c.metric, fmt_summary(c.policy), fmt_summary(c.guideline),
        f"{fmt(c.delta)} [{fmt(c.delta_ci_low)}, {fmt(c.delta_ci_high)}]", fmt_rel(c.relative_change), fmt_p(c.welch_p),
        fmt_p(c.paired_p),
    ]


def targets_line(t: TargetCheck | None, label: Callable[[str], str] = str) -> str:
    """The targets' verdict in one sentence; ``label`` names the metrics (the pack's labels on a terminal)."""
    if t is None:
        return "Targets: not applicable"
    verdict = "MET" if t.met else "NOT MET"
    if t.efficacy_delta_pp is None:
        efficacy = f"{label(t.efficacy_metric)} is not a percentage: the −2 pp margin does not apply"
    else:
        efficacy = (f"{label(t.efficacy_metric)} {t.efficacy_delta_pp:+.2f} pp "
                    f"(target ≥ −2 pp: {'yes' if t.efficacy_target_met else 'no'})")
    return (
        f"Targets {verdict}: {label(t.adverse_metric)} {fmt_rel(t.adverse_relative_change)} (target ≤ −20 %: "
        f"{'yes' if t.adverse_target_met else 'no'}); {efficacy}"
    )


def payload(result: EvaluationResult | None, cv: CVResult | None) -> dict[str, Any]:
    """What ``--json`` prints and ``results.json`` holds."""
    out: dict[str, Any] = {}
    if result is not None:
        out["evaluation"] = result.to_dict()
    if cv is not None:
        out["cross_validation"] = cv.to_dict()
    return out


def to_json(result: EvaluationResult | None, cv: CVResult | None) -> str:
    """``payload`` as strict JSON (NaN is refused: undefined numbers are already null)."""
    return json.dumps(payload(result, cv), indent=2, ensure_ascii=False, allow_nan=False)


def _md_table(header: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _subgroup_md(result: EvaluationResult) -> str:
    if not result.targets:
        return ""
    eff, adv = result.targets.efficacy_metric, result.targets.adverse_metric
    rows = []
    for s in result.subgroups:
        by = {c.metric: c for c in s.comparisons}
        rows.append([
            s.subgroup.dimension, s.subgroup.label, str(s.subgroup.index.size),
            f"{fmt(by[adv].delta)} [{fmt(by[adv].delta_ci_low)}, {fmt(by[adv].delta_ci_high)}]", fmt_rel(by[adv].relative_change),
            fmt_p(by[adv].welch_p), f"{fmt(by[eff].delta)}", fmt_p(by[eff].welch_p), ", ".join(s.worse) or "",
        ])
    header = ("Dimension", "Subgroup", "n", f"Δ {adv} [95 % CI]", "Relative change", "Welch p", f"Δ {eff}", "Welch p",
              "Policy significantly worse on")
    note = (f"\nFlags: Welch p < 0.05 without multiplicity correction over {2 * len(result.subgroups)} tests; "
            "expect about one false flag in twenty tests.\n")
    return "\n### Subgroups\n\n" + _md_table(header, rows) + "\n" + note


def markdown(result: EvaluationResult | None, cv: CVResult | None) -> str:
    parts: list[str] = ["# Dosewise evaluation\n"]
    if result is not None:
        parts.append(
            f"## {result.therapy}: {result.policy_name} vs guideline\n\n{result.n_patients} fresh virtual patients, "
            f"{result.days:g} days ({result.steps} decisions), seed {result.seed}; both arms on the same patients and simulator "
            "noise. Welch = two-sided Welch t-test; paired = paired t-test on the same patients.\n"
        )
        parts += [f"> **Warning:** {w}\n" for w in result.warnings]
        parts.append(_md_table(COLUMNS, [row(c) for c in result.comparisons]))
        parts.append("\n" + targets_line(result.targets) + "\n")
        parts.append(_subgroup_md(result))
    if cv is not None:
        parts.append(f"\n## {cv.therapy}: {len(cv.folds)}-fold cross-validation ({cv.n_patients} patients, seed {cv.seed})\n")
        for f in cv.folds:
            parts.append(f"\n### Fold {f.fold + 1} (train {f.n_train}, held out {f.n_test}, "
                         f"trained in {f.train_seconds:.0f} s)\n")
            parts.append(_md_table(COLUMNS, [row(c) for c in f.result.comparisons]))
            parts.append("\n" + targets_line(f.result.targets) + "\n")
        parts.append("\n### Pooled held-out patients (each patient once, dosed by the model that never saw them)\n")
        parts.append(_md_table(COLUMNS, [row(c) for c in cv.pooled.comparisons]))
        parts.append("\n" + targets_line(cv.pooled.targets) + "\n")
        parts.append(_subgroup_md(cv.pooled))
    return "\n".join(parts)


# --- plots --------------------------------------------------------------------------------------------------------------
POLICY_COLOR, GUIDELINE_COLOR = "#1f77b4", "#ff7f0e"


def plot_distributions(result: EvaluationResult, path: Path) -> Path:
    """Per metric: violin + box of the per-patient values, policy vs guideline."""
    names = [c.metric for c in result.comparisons]
    cols = min(3, len(names))
    rows = int(np.ceil(len(names) / cols))
    fig = Figure(figsize=(4.2 * cols, 3.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, c in zip(axes.ravel(), result.comparisons, strict=False):
        data = [v[np.isfinite(v)] for v in (result.policy_metrics[c.metric], result.guideline_metrics[c.metric])]
        if min(d.size for d in data) == 0:
            ax.set_title(f"{c.metric}\n(undefined)", fontsize=9)
            continue
        parts = ax.violinplot(data, showextrema=False)
        for body, color in zip(parts["bodies"], (POLICY_COLOR, GUIDELINE_COLOR), strict=True):  # type: ignore[arg-type]
            body.set_facecolor(color)
            body.set_alpha(0.35)
        ax.boxplot(data, widths=0.15, showfliers=False)
        ax.set_xticks([1, 2], ["policy", "guideline"])
        ax.set_title(f"{c.metric}\nWelch p {fmt_p(c.welch_p)}, Δ {fmt(c.delta)}", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    fig.suptitle(f"{result.therapy}: per-patient metrics ({result.n_patients} patients)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def true_series(pack: TherapyPack, traj: Trajectory) -> np.ndarray | None:
    """The simulator's true primary observation (n, T) from the trajectory's info, if the pack records one."""
    kind = pack.observation_kinds[0]
    for key in (kind, f"{kind}_true", f"true_{kind}", *sorted(k for k in traj.info if k.startswith(kind))):
        v = traj.info.get(key)
        if v is not None and np.shape(v) == (traj.n, traj.steps):
            return np.asarray(v, dtype=float)
    return None


def plot_trajectories(pack: TherapyPack, result: EvaluationResult, path: Path, n_examples: int = 4, seed: int = 0) -> Path:
    """A few patients (seeded random choice): primary observation against the target band, and the daily doses."""
    assert result.policy is not None and result.guideline is not None, "trajectory plots need a single-cohort evaluation"
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(result.n_patients, size=min(n_examples, result.n_patients), replace=False))
    kind = pack.observation_kinds[0]
    day = (np.arange(result.steps) + 1) * pack.decision_interval_days
    fig = Figure(figsize=(10, 2.6 * len(idx)))
    axes = fig.subplots(len(idx), 1, squeeze=False, sharex=True)
    twins = []
    arms = (("policy", result.policy, POLICY_COLOR), ("guideline", result.guideline, GUIDELINE_COLOR))
    for ax, i in zip(axes[:, 0], idx, strict=True):
        lo, hi = pack.target_band
        ax.axhspan(lo, hi, color="green", alpha=0.12, label="target band")
        for who, arm, color in arms:
            series = true_series(pack, arm.trajectory)
            if series is not None:
                ax.plot(day, series[i], color=color, lw=1.4, label=f"{who}: true {kind}")
            # A measurement is plotted once, on its own day: the decision right after it (age < one interval).
            fresh = arm.observed_age_days[i] < pack.decision_interval_days
            decision_day = day - pack.decision_interval_days
            ax.plot((decision_day - arm.observed_age_days[i])[fresh], arm.observed[i][fresh], "o", color=color, ms=3.5,
                    mfc="none" if who == "guideline" else color, label=f"{who}: measured {kind}")
        ax.set_ylabel(kind)
        ax2 = ax.twinx()
        twins.append(ax2)
        for who, arm, color in arms:
            ax2.step(day - pack.decision_interval_days, arm.trajectory.given[i], where="post", color=color, lw=0.9, ls="--",
                     alpha=0.8, label=f"{who}: dose given")
        ax2.set_ylabel(f"dose ({pack.dose_unit}/day)")
        c = result.cohort.covariates
        ax.set_title(f"patient {i}: age {c['age_years'][i]:.0f}, {'female' if c['female'][i] > 0.5 else 'male'}", fontsize=9)
    h1, l1 = axes[0, 0].get_legend_handles_labels()
    h2, l2 = twins[0].get_legend_handles_labels()
    fig.legend(h1 + h2, l1 + l2, loc="upper center", ncol=4, fontsize=8, frameon=False)
    axes[-1, 0].set_xlabel("day of therapy")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(path, dpi=110)
    return path


def plot_forest(result: EvaluationResult, path: Path) -> Path:
    """Per subgroup: Δ adverse-event days (policy − guideline) with its 95 % Welch CI; red = policy significantly worse."""
    assert result.targets is not None
    adv = result.targets.adverse_metric
    rows = [(s, next(c for c in s.comparisons if c.metric == adv)) for s in result.subgroups]
    overall = next(c for c in result.comparisons if c.metric == adv)
    labels = ["all patients", *(f"{s.subgroup.dimension}: {s.subgroup.label} (n={s.subgroup.index.size})" for s, _ in rows)]
    comps = [overall, *(c for _, c in rows)]
    worse = [False, *(adv in s.worse for s, _ in rows)]
    y = np.arange(len(comps))[::-1]
    fig = Figure(figsize=(9, 0.38 * len(comps) + 1.4))
    ax = fig.subplots()
    for yi, c, bad in zip(y, comps, worse, strict=True):
        color = "crimson" if bad else ("black" if yi == y[0] else POLICY_COLOR)
        ax.errorbar(c.delta, yi, xerr=[[c.delta - c.delta_ci_low], [c.delta_ci_high - c.delta]], fmt="s", color=color,
                    capsize=3, ms=5)
        ax.text(1.01, yi, f"{fmt_rel(c.relative_change)}  p {fmt_p(c.welch_p)}", transform=ax.get_yaxis_transform(),
                va="center", fontsize=8)
    ax.axvline(0.0, color="grey", lw=1)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel(f"Δ {adv} (policy − guideline), 95 % CI — left of 0 favours the policy")
    ax.set_title(f"{result.therapy}: adverse-event change by subgroup", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def write_report(
    out_dir: Path, pack: TherapyPack, result: EvaluationResult | None = None, cv: CVResult | None = None
) -> list[Path]:
    """Write table.md, results.json and the plots; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "table.md", out_dir / "results.json"]
    written[0].write_text(markdown(result, cv), encoding="utf-8")
    written[1].write_text(to_json(result, cv) + "\n", encoding="utf-8")
    if result is not None:
        written.append(plot_distributions(result, out_dir / "distributions.png"))
        if result.policy is not None:
            written.append(plot_trajectories(pack, result, out_dir / "trajectories.png"))
        if result.targets is not None:
            written.append(plot_forest(result, out_dir / "forest.png"))
    if cv is not None:
        written.append(plot_distributions(cv.pooled, out_dir / "cv_distributions.png"))
        if cv.pooled.targets is not None:
            written.append(plot_forest(cv.pooled, out_dir / "cv_forest.png"))
    return written
