"""What a HyperScore calibration found (calibrate_hyperscore.calibrate): the numbers, as a report and as the lines
``dosewise hyperscore calibrate`` prints; calibration_plot.py draws its test half."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class CalibrationReport:
    therapy: str
    policy_sha256: str
    outcome_days: int  # the realized reward: Σ discountᵏ · reward over these days
    discount: float
    n_decisions: int
    n_patients_fit: int
    n_patients_test: int
    spearman_test: float
    spearman_test_p: float
    spearman_fit: float
    spearman_test_equal_weights: float
    spearman_test_by_sub_score: dict[str, float]
    retest_pearson_test: float  # r: realized reward vs its replay with fresh noise, test half
    retest_spearman_test: float
    ceiling_test: float  # √r: no state-based score correlates better with one realization (Pearson)
    ceiling_rank_test: float  # the same on ranks, √(Spearman test–retest): the ceiling read against the Spearman ρ
    review_below: float
    review_novelty_below: float  # needs_review also below this novelty, whatever the score (hyperscore.py)
    test_flagged_share: float  # by either rule
    test_mean_reward_flagged: float
    test_mean_reward_not_flagged: float
    config: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    # The test half's HyperScores and realized rewards, for the figure (calibration_plot.py); not saved in hyperscore.json.
    test_scores: np.ndarray | None = field(default=None, repr=False)
    test_realized: np.ndarray | None = field(default=None, repr=False)

    def outcome_label(self) -> str:
        """What the realized reward is, in words: "realized 28-day return (γ 0.95)" or "realized 7-day reward"."""
        return (f"realized {self.outcome_days}-day reward" if self.discount == 1.0
                else f"realized {self.outcome_days}-day return (γ {self.discount:g})")

    def summary(self) -> dict[str, Any]:
        """The JSON-able numbers (no per-decision arrays)."""
        return {k: v for k, v in asdict(self).items() if k not in ("test_scores", "test_realized")}


def print_report(r: CalibrationReport) -> None:
    print(f"HyperScore calibration — {r.therapy}, policy sha256 {r.policy_sha256[:12]}, {r.n_decisions} decisions, "
          f"{r.n_patients_fit} fit / {r.n_patients_test} test patients, {r.seconds:.0f} s")
    print(f"  weights: {r.config['weights']}  fusion: {r.config['fusion']}  impact_scale: {r.config['impact_scale']:.3g}")
    print(f"  Spearman(HyperScore, {r.outcome_label()}): test {r.spearman_test:.3f} "
          f"(p = {r.spearman_test_p:.2g}); fit half {r.spearman_fit:.3f}; "
          f"equal weights on test {r.spearman_test_equal_weights:.3f}")
    print("  each sub-score alone on test: " + ", ".join(f"{k} {v:.3f}" for k, v in r.spearman_test_by_sub_score.items()))
    print(f"  chance in the outcome: realized reward vs its replay from the same state with fresh noise: r = "
          f"{r.retest_pearson_test:.3f} (Spearman {r.retest_spearman_test:.3f}); no state-based score correlates with one "
          f"realization better than about √r: {r.ceiling_test:.3f} (Pearson), {r.ceiling_rank_test:.3f} (on ranks)")
    print(f"  needs_review below {r.review_below:.1f} (or novelty below {r.review_novelty_below:g}): "
          f"{100 * r.test_flagged_share:.0f} % of test decisions flagged; "
          f"mean realized reward flagged {r.test_mean_reward_flagged:.2f} vs not flagged {r.test_mean_reward_not_flagged:.2f}")
