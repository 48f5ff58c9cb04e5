"""Policy-vs-guideline statistics (dosewise_trainer.evaluation.statistics): the numbers `dosewise evaluate` prints. Each
arm's mean, SD and CI come from dosewise.stats (tests/unit/test_stats.py).

Issue 4 asks, per metric: mean, SD, 95 % CI, a two-sided Welch t-test p-value, and the relative change; and the targets
"≥ 20 % fewer adverse-event days while efficacy is no worse by more than 2 percentage points".
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from dosewise_trainer.evaluation.statistics import (
    TargetCheck,
    check_targets,
    compare,
    paired_test,
    percentage_points,
    welch_test,
)


class TestWelch:
    def test_matches_scipy_welch_on_known_data(self) -> None:
        rng = np.random.default_rng(11)
        a, b = rng.normal(10.0, 1.0, 40), rng.normal(10.6, 3.0, 25)  # unequal variances and sizes: Welch's case
        t, _, p = welch_test(a, b)
        ref = sps.ttest_ind(a, b, equal_var=False)
        assert t == pytest.approx(ref.statistic, rel=1e-12)
        assert p == pytest.approx(ref.pvalue, rel=1e-12)
        # ... and it is not Student's pooled-variance test, which gives a different p on these data
        assert p != pytest.approx(sps.ttest_ind(a, b, equal_var=True).pvalue, rel=1e-3)

    def test_hand_computed_example(self) -> None:
        # a = 1..5: mean 3, s² 2.5, s²/n 0.5; b = 2,4,..,10: mean 6, s² 10, s²/n 2.
        # t = (3 − 6)/√(0.5 + 2) = −3/√2.5; Welch–Satterthwaite df = 2.5² / (0.5²/4 + 2²/4) = 6.25/1.0625 = 5.882…
        t, df, p = welch_test(np.array([1, 2, 3, 4, 5.0]), np.array([2, 4, 6, 8, 10.0]))
        assert t == pytest.approx(-3.0 / math.sqrt(2.5), rel=1e-12)
        assert df == pytest.approx(6.25 / 1.0625, rel=1e-12)
        assert p == pytest.approx(2.0 * sps.t.sf(3.0 / math.sqrt(2.5), 6.25 / 1.0625), rel=1e-9)
        assert 0.10 < p < 0.12  # |t| ≈ 1.90 on ~5.9 df: not significant at 5 %

    def test_identical_samples_give_p_one(self) -> None:
        x = np.array([0.0, 1.0, 3.0, 2.0, 7.0])
        assert welch_test(x, x.copy())[2] == pytest.approx(1.0)

    def test_constant_arms_have_explicit_p(self) -> None:
        # All-zero adverse days in both arms is common in small subgroups: no difference, p = 1, not NaN.
        assert welch_test(np.zeros(10), np.zeros(10))[2] == 1.0
        assert welch_test(np.zeros(10), np.ones(10))[2] == 0.0


class TestCompare:
    def test_policy_identical_to_guideline_is_no_difference(self) -> None:
        x = np.random.default_rng(3).poisson(4.0, 500).astype(float)
        c = compare("adverse_event_days", x, x.copy())
        assert c.delta == 0.0 and c.relative_change == 0.0
        assert c.welch_p == pytest.approx(1.0) and c.paired_p == 1.0
        assert not c.significant()
        assert c.delta_ci_low == pytest.approx(-c.delta_ci_high) and c.delta_ci_low < 0.0  # Welch CI straddles 0

    def test_relative_change_is_delta_over_guideline_mean(self) -> None:
        g = np.array([4.0, 6.0, 5.0, 5.0])  # mean 5
        p = np.array([3.0, 5.0, 4.0, 4.0])  # mean 4: 20 % fewer
        c = compare("adverse_event_days", p, g)
        assert c.delta == pytest.approx(-1.0)
        assert c.relative_change == pytest.approx(-0.20)

    def test_relative_change_undefined_against_a_zero_guideline(self) -> None:
        assert compare("adverse_event_days", [1.0, 0.0], [0.0, 0.0]).relative_change is None
        assert compare("adverse_event_days", [0.0, 0.0], [0.0, 0.0]).relative_change == 0.0

    def test_welch_ci_of_the_difference(self) -> None:
        rng = np.random.default_rng(5)
        p, g = rng.normal(1.0, 1.0, 50), rng.normal(0.0, 2.0, 80)
        c = compare("m", p, g, paired=False)
        se = math.sqrt(p.var(ddof=1) / 50 + g.var(ddof=1) / 80)
        half = sps.t.ppf(0.975, c.welch_df) * se
        assert (c.delta_ci_low, c.delta_ci_high) == (pytest.approx(c.delta - half), pytest.approx(c.delta + half))
        assert c.paired_p is None

    def test_an_arm_of_one_value_has_no_welch_interval(self) -> None:
        # One patient has no spread to estimate: no p, df or interval, rather than the other arm's spread alone.
        c = compare("m", [3.0], np.random.default_rng(5).normal(0.0, 1.0, 40), paired=False)
        assert math.isnan(c.welch_p) and math.isnan(c.welch_df)
        assert c.to_dict()["delta_ci95"] == [None, None] and not c.significant()

    def test_constant_arms_have_a_zero_width_interval(self) -> None:
        c = compare("adverse_event_days", np.zeros(10), np.ones(10))
        assert (c.delta_ci_low, c.delta_ci_high) == (-1.0, -1.0) and c.welch_p == 0.0

    def test_paired_test_sees_a_small_consistent_shift_that_welch_misses(self) -> None:
        # Same patients in both arms: between-patient spread (SD 5) hides a 0.3 shift from Welch, not from the paired test.
        rng = np.random.default_rng(8)
        base = rng.normal(10.0, 5.0, 200)
        g = base + rng.normal(0.0, 0.2, 200)
        p = base - 0.3 + rng.normal(0.0, 0.2, 200)
        c = compare("m", p, g)
        assert c.welch_p > 0.3
        assert c.paired_p is not None and c.paired_p < 1e-6
        assert c.paired_p == pytest.approx(sps.ttest_rel(p, g).pvalue)

    def test_paired_needs_the_same_patients(self) -> None:
        with pytest.raises(ValueError, match="same patients"):
            paired_test(np.ones(3), np.ones(4))

    def test_undefined_values_are_left_out_and_counted(self) -> None:
        # Rosendaal TTR is NaN for a patient with fewer than two INRs: that patient drops out, visibly (n).
        nan = float("nan")
        c = compare("time_in_range_pct", [50.0, nan, 70.0, 60.0], [40.0, 55.0, nan, 45.0])
        assert (c.policy.n, c.guideline.n) == (3, 3)
        assert c.policy.mean == pytest.approx(60.0) and c.guideline.mean == pytest.approx(140.0 / 3)
        assert c.paired_p == pytest.approx(sps.ttest_rel([50.0, 60.0], [40.0, 45.0]).pvalue)  # patients 0 and 3 only
        empty = compare("m", [nan, nan], [1.0, 2.0])  # undefined for everyone: no numbers, and never "significant"
        assert empty.policy.n == 0 and math.isnan(empty.delta) and not empty.significant()
        assert empty.to_dict()["welch_p"] is None

    def test_json_has_no_nan(self) -> None:
        d = compare("m", [1.0], [2.0]).to_dict()
        assert d["policy"]["sd"] is None and d["policy"]["ci95"] == [None, None]


class TestTargets:
    """Issue 4: ≥ 20 % fewer adverse-event days AND efficacy not worse by more than 2 percentage points."""

    @staticmethod
    def _check(adverse_policy: float, ttr_policy: float, metric: str = "time_in_range_pct") -> TargetCheck:
        n = 50
        ones = np.ones(n)
        scale = 1.0 if metric.endswith("_pct") else 0.01
        comps = [
            compare(metric, ttr_policy * scale * ones, 70.0 * scale * ones),
            compare("adverse_event_days", adverse_policy * ones, 10.0 * ones),
        ]
        return check_targets(comps, metric, "adverse_event_days")

    def test_met(self) -> None:
        t = self._check(adverse_policy=7.5, ttr_policy=69.0)  # −25 %, −1 pp
        assert t.met and t.adverse_relative_change == pytest.approx(-0.25) and t.efficacy_delta_pp == pytest.approx(-1.0)

    def test_boundaries_count_as_met(self) -> None:
        assert self._check(adverse_policy=8.0, ttr_policy=68.0).met  # exactly −20 % and −2 pp

    def test_too_few_adverse_days_saved(self) -> None:
        t = self._check(adverse_policy=8.5, ttr_policy=75.0)  # −15 %
        assert not t.met and not t.adverse_target_met and t.efficacy_target_met

    def test_efficacy_lost(self) -> None:
        t = self._check(adverse_policy=5.0, ttr_policy=67.0)  # −50 % adverse but −3 pp TTR
        assert not t.met and t.adverse_target_met and not t.efficacy_target_met

    def test_fraction_metric_is_converted_to_points(self) -> None:
        t = self._check(adverse_policy=7.0, ttr_policy=67.0, metric="time_in_range_fraction")
        assert t.efficacy_delta_pp == pytest.approx(-3.0) and not t.efficacy_target_met

    def test_unit_must_be_in_the_name(self) -> None:
        assert percentage_points("ttr_pct", 1.5) == 1.5
        assert percentage_points("pct_days_in_range_80_130", 1.5) == 1.5  # insulin_t2d's efficacy metric
        with pytest.raises(ValueError, match="percent or a fraction"):
            percentage_points("ttr", 0.1)

    def test_efficacy_that_is_not_a_share_cannot_meet_the_margin(self) -> None:
        # immune's efficacy is "cleared" (0/1 per patient): the 2-percentage-point margin has no meaning there.
        ones = np.ones(20)
        t = check_targets([compare("cleared", ones, ones), compare("adverse_event_days", 5 * ones, 10 * ones)],
                          "cleared", "adverse_event_days")
        assert t.adverse_target_met and t.efficacy_target_met is None and t.efficacy_delta_pp is None
        assert not t.met
