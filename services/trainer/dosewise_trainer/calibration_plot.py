"""The HyperScore calibration as a figure: does a higher score mean a better realized outcome on held-out patients?

Left: the test half's decisions in HyperScore bins of equal size, the mean realized reward of each with its 95 %
interval, and the review threshold. Right: each sub-score's Spearman ρ with the realized reward on the test half, the
calibrated HyperScore's beside them, and the rank ceiling the outcome's chance allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dosewise_trainer.calibration_report import CalibrationReport

Z95 = 1.96
CALIBRATION_FIGURE = "calibration.png"  # next to a shipped policy (`make policies`)


@dataclass(frozen=True)
class Bins:
    """Decisions grouped by score: per bin the mean score, the mean realized reward and its 95 % half-width, the size."""

    score: np.ndarray
    reward: np.ndarray
    half_width: np.ndarray
    size: np.ndarray


def reward_by_score(scores: np.ndarray, realized: np.ndarray, bins: int = 10) -> Bins:
    """Sort the decisions by score and cut them into ``bins`` groups of (nearly) equal size; ties stay in sort order."""
    scores, realized = np.asarray(scores, dtype=float), np.asarray(realized, dtype=float)
    groups = np.array_split(np.argsort(scores, kind="stable"), min(bins, scores.size))
    size = np.array([g.size for g in groups])
    sd = np.array([realized[g].std(ddof=1) if g.size > 1 else np.nan for g in groups])
    return Bins(score=np.array([scores[g].mean() for g in groups]), reward=np.array([realized[g].mean() for g in groups]),
                half_width=Z95 * sd / np.sqrt(size), size=size)


def plot_calibration(report: CalibrationReport, path: Path | str) -> Path:
    """Write the figure (PNG) of a calibration's test half (``report.test_scores`` / ``test_realized``); returns the path."""
    from matplotlib.figure import Figure

    if report.test_scores is None or report.test_realized is None:
        raise ValueError("the report carries no test-half scores (it was not made by calibrate())")
    b = reward_by_score(report.test_scores, report.test_realized)
    fig = Figure(figsize=(11.0, 4.2), dpi=110)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1.0]})
    per_point = f"{b.size.min()}" if b.size.min() == b.size.max() else f"{b.size.min()}–{b.size.max()}"
    left.errorbar(b.score, b.reward, yerr=b.half_width, fmt="o-", color="tab:blue", capsize=3,
                  label=f"mean realized reward, {per_point} decisions per point (95 % interval)")
    left.axvline(report.review_below, color="tab:red", ls="--", lw=1.0,
                 label=f"needs_review below {report.review_below:.1f} ({100 * report.test_flagged_share:.0f} % flagged, "
                       f"novelty below {report.review_novelty_below:g} included)")
    left.set_xlabel("HyperScore")
    left.set_ylabel(report.outcome_label())
    left.set_title(f"{report.therapy}: test half ({report.n_patients_test} patients), Spearman {report.spearman_test:.3f}",
                   fontsize=10)
    left.grid(alpha=0.3)
    left.legend(fontsize=8, loc="lower right")
    names = [*report.spearman_test_by_sub_score, "HyperScore"]
    rhos = [*report.spearman_test_by_sub_score.values(), report.spearman_test]
    colors = ["0.6"] * (len(names) - 1) + ["tab:blue"]
    right.barh(names, np.nan_to_num(rhos), color=colors)
    right.axvline(report.ceiling_rank_test, color="tab:red", ls=":", lw=1.2,
                  label=f"rank ceiling {report.ceiling_rank_test:.2f} (test–retest)")
    right.axvline(0, color="black", lw=0.8)
    right.set_xlabel("Spearman ρ with the realized reward (test half)")
    right.invert_yaxis()
    right.legend(fontsize=8, loc="lower right")
    right.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    return path
