"""dosewise.stats: each metric's mean, SD and 95 % CI of the mean, the one summary behind `dosewise simulate` and
`dosewise evaluate`. The interval is a seeded BCa bootstrap, so a count's interval never goes below zero (the t-interval
printed adverse-event days as 0.54 [-0.29, 1.36])."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats as sps

from dosewise.stats import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, summarize, summarize_metric, summarize_metrics


def sparse_counts(rng: np.random.Generator, n: int) -> np.ndarray:
    """Adverse-event days as the twins produce them: most patients none, a few many."""
    return np.where(rng.random(n) < rng.uniform(0.01, 0.2), rng.poisson(rng.uniform(1, 30), n), 0).astype(float)


def test_mean_sd_and_scipys_bca_bootstrap_interval() -> None:
    x = np.random.default_rng(3).gamma(2.0, 1.5, 40)
    s = summarize(x)
    ref = sps.bootstrap((np.sort(x),), np.mean, n_resamples=BOOTSTRAP_RESAMPLES, method="BCa",
                        rng=np.random.default_rng(BOOTSTRAP_SEED)).confidence_interval
    assert (s.n, s.mean, s.sd) == (40, pytest.approx(x.mean()), pytest.approx(x.std(ddof=1)))
    assert (s.ci_low, s.ci_high) == (pytest.approx(ref.low), pytest.approx(ref.high))
    assert s.ci_low < s.mean < s.ci_high


def test_the_same_values_always_give_the_same_interval() -> None:
    x = sparse_counts(np.random.default_rng(5), 300)
    assert summarize(x) == summarize(x.copy()) == summarize(x[::-1])


def test_the_interval_that_was_negative_is_not() -> None:
    """197 patients without an adverse day and three with 30–40: a mean of 0.54 days."""
    x = np.concatenate([np.zeros(197), [30.0, 40.0, 38.0]])
    low_t = sps.t.interval(0.95, x.size - 1, loc=x.mean(), scale=sps.sem(x))[0]
    assert low_t < 0.0  # what the t-interval said
    s = summarize(x)
    assert 0.0 <= s.ci_low < s.mean < s.ci_high <= x.max()


@pytest.mark.parametrize("seed", range(40))
def test_a_count_interval_never_goes_below_zero(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = sparse_counts(rng, int(rng.integers(2, 400)))
    s = summarize(x)
    if x.min() == x.max():
        assert s.ci_low == s.ci_high == s.mean
    else:
        assert x.min() <= s.ci_low <= s.mean <= s.ci_high <= x.max()
    assert s.ci_low >= 0.0


def test_a_share_interval_stays_within_0_and_100_percent() -> None:
    ttr = np.concatenate([np.full(90, 100.0), np.random.default_rng(1).uniform(40, 100, 10)])  # most patients always in range
    s = summarize(ttr)
    assert s.ci_high <= 100.0 and s.ci_low > 90.0
    cleared = np.array([1.0] * 58 + [0.0] * 2)  # a 0/1 metric
    c = summarize(cleared)
    assert 0.0 <= c.ci_low < c.mean <= c.ci_high <= 1.0


def test_nan_is_left_out_and_n_counts_the_rest() -> None:
    row = summarize_metric("x", np.array([1.0, 2.0, 3.0, 4.0, np.nan]))
    assert (row.n, row.mean, row.sd) == (4, 2.5, pytest.approx(np.std([1, 2, 3, 4], ddof=1)))
    assert 1.0 <= row.ci_low < 2.5 < row.ci_high <= 4.0
    single = summarize_metric("y", np.array([7.0, np.nan]))
    assert single.n == 1 and single.mean == 7.0 and math.isnan(single.sd) and math.isnan(single.ci_low)
    assert summarize_metric("z", np.array([np.nan])).n == 0
    assert [r.name for r in summarize_metrics({"b": np.ones(3), "a": np.ones(3)})] == ["b", "a"]


def test_a_constant_sample_has_the_constant_as_its_interval() -> None:
    s = summarize(np.zeros(50))  # no adverse day for anyone: common in a small subgroup
    assert (s.mean, s.sd, s.ci_low, s.ci_high) == (0.0, 0.0, 0.0, 0.0)


def test_json_form_has_no_nan() -> None:
    assert summarize([3.0]).to_dict() == {"n": 1, "mean": 3.0, "sd": None, "ci95": [None, None]}


@pytest.mark.slow
@pytest.mark.parametrize(("draw", "true_mean"), [
    (lambda rng, n: rng.normal(5.0, 2.0, n), 5.0),
    (lambda rng, n: rng.exponential(3.0, n), 3.0),  # skewed, like adverse-event days
])
def test_95_ci_covers_the_true_mean_about_95_percent_of_the_time(
    draw: Callable[[np.random.Generator, int], np.ndarray], true_mean: float
) -> None:
    rng = np.random.default_rng(2024)
    trials = 1000
    covered = sum(s.ci_low <= true_mean <= s.ci_high for s in (summarize(draw(rng, 200)) for _ in range(trials)))
    # Binomial SD of the coverage over 1000 trials at 0.95 is 0.007: ±0.02 is about 3 SD. (Bootstrap intervals run a little
    # short at small n; 200 patients is a small evaluation cohort.)
    assert 0.93 <= covered / trials <= 0.97
