"""HyperScore (shared/dosewise/hyperscore.py): the formula of source document 001, its printed-parameter discrepancy
(../shared/clinical.md §4), the fusion V, the review flag, each sub-score and the feature statistics behind novelty."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dosewise import hyperscore as hs
from dosewise.therapies.base import GuardrailResult
from dosewise.therapies.warfarin.pack import WarfarinPack

PACK = WarfarinPack()


class TestFormula:
    def test_printed_parameters_only_reach_100_to_111_1(self) -> None:
        """clinical.md §4: β = 5, γ = −ln 2, κ = 2 cap the score at 100·(1 + (1/3)²) = 111.1 for V ≤ 1; V = 0.95 → 107.8."""
        v = np.linspace(1e-6, 1.0, 2001)
        score = hs.hyperscore(v, hs.PRINTED_BETA, hs.PRINTED_GAMMA, hs.PRINTED_KAPPA)
        assert score.max() == pytest.approx(100 * (1 + 1 / 9), abs=1e-9)
        assert score.min() >= 100.0
        assert float(hs.hyperscore(0.95, 5.0, -math.log(2), 2.0)) == pytest.approx(107.8, abs=0.05)
        # and the sigmoid's midpoint is not at V = 0.5 as the source claims: σ(5·ln 0.5 − ln 2) ≪ 0.5
        assert hs.sigmoid(5 * math.log(0.5) - math.log(2)) < 0.02

    def test_defaults_put_the_midpoint_at_v_one_half_and_span_100_to_194(self) -> None:
        """γ = β·ln 2 makes β·ln V + γ = 0 at V = 0.5 (the source's stated intent): σ = ½ → 100·(1 + ½²) = 125."""
        cfg = hs.HyperScoreConfig()
        assert cfg.gamma == pytest.approx(cfg.beta * math.log(2))
        assert float(hs.hyperscore(0.5, cfg.beta, cfg.gamma, cfg.kappa)) == pytest.approx(125.0)
        low, high = cfg.score_range()
        assert low == pytest.approx(100.0, abs=1e-6)
        assert high == pytest.approx(100 * (1 + (32 / 33) ** 2))  # σ(5·ln 2) = 2⁵/(1 + 2⁵)
        assert high == pytest.approx(194.03, abs=0.01)

    @pytest.mark.parametrize(("beta", "gamma", "kappa"), [(5.0, 5 * math.log(2), 2.0), (2.0, 0.0, 1.0), (8.0, 3.0, 0.5)])
    def test_strictly_increasing_in_v(self, beta: float, gamma: float, kappa: float) -> None:
        score = hs.hyperscore(np.linspace(0.05, 1.0, 500), beta, gamma, kappa)
        assert (np.diff(score) > 0).all()

    def test_v_is_clipped_to_its_domain(self) -> None:
        cfg = hs.HyperScoreConfig()
        assert float(hs.hyperscore(0.0, cfg.beta, cfg.gamma, cfg.kappa)) == pytest.approx(100.0)
        assert float(hs.hyperscore(3.0, cfg.beta, cfg.gamma, cfg.kappa)) == pytest.approx(cfg.score_range()[1])


class TestFusionAndReview:
    def test_weighted_mean_drops_missing_sub_scores_and_renormalizes(self) -> None:
        sub = {"consistency": np.array([1.0, 1.0]), "forecast": np.array([0.0, np.nan]),
               "novelty": np.array([0.5, 0.5])}
        w = {"consistency": 2.0, "forecast": 1.0, "novelty": 1.0, "impact": 1.0}  # impact absent: ignored
        v = hs.fuse(sub, w)
        assert v[0] == pytest.approx((2 * 1 + 0 + 0.5) / 4)
        assert v[1] == pytest.approx((2 * 1 + 0.5) / 3)

    def test_geometric_fusion_is_the_weighted_mean_of_logs(self) -> None:
        sub = {"consistency": np.array([0.25]), "forecast": np.array([1.0])}
        v = hs.fuse(sub, {"consistency": 1.0, "forecast": 1.0}, "geometric")
        assert v[0] == pytest.approx(0.5)

    def test_zero_weight_sub_scores_do_not_count(self) -> None:
        sub = {"consistency": np.array([1.0]), "forecast": np.array([0.0])}
        assert hs.fuse(sub, {"consistency": 1.0, "forecast": 0.0})[0] == pytest.approx(1.0)

    def test_threshold_flags_needs_review_below_it_only(self) -> None:
        cfg = hs.HyperScoreConfig(weights={"consistency": 1.0}, review_below=150.0)
        v_at_150 = 0.5 * (1 / (1 / math.sqrt(0.5) - 1)) ** (1 / cfg.beta)  # σ(β ln 2V)² = ½ ⇔ (2V)^β = 1/(√2 − 1)
        v = np.array([v_at_150 - 0.01, v_at_150 + 0.01, 1.0])
        _, score, review = hs.score({"consistency": v}, cfg)
        assert score[0] < 150.0 < score[1]
        assert review.tolist() == [True, False, False]

    def test_a_state_outside_the_training_states_needs_review_whatever_its_score(self) -> None:
        """The calibration sees only twins like the training ones: it cannot weigh a state unlike any of them."""
        cfg = hs.HyperScoreConfig(weights={"consistency": 1.0}, review_below=110.0)  # novelty weighs nothing in V
        sub = {"consistency": np.array([1.0, 1.0, 1.0, 0.0]), "novelty": np.array([0.5, 0.004, np.nan, 0.004])}
        _, score, review = hs.score(sub, cfg)
        assert score[1] > 190.0 and review.tolist() == [False, True, False, True]
        assert hs.review_reasons(sub, score, cfg) == [
            [],
            ["the patient's data lie farther from the states the policy was trained on than 99 % of them (novelty 0.004)"],
            [],
            ["HyperScore 100 is below the review threshold 110.0",
             "the patient's data lie farther from the states the policy was trained on than 99 % of them (novelty 0.004)"],
        ]
        assert hs.score(sub, hs.HyperScoreConfig(weights={"consistency": 1.0}, review_below=110.0,
                                                 review_novelty_below=0.0))[2].tolist() == [False, False, False, True]

    def test_no_allowed_action_is_flagged_with_its_reason_first(self) -> None:
        cfg = hs.HyperScoreConfig(weights={"consistency": 1.0}, review_below=110.0)
        scored = hs.score_batch({"consistency": np.array([1.0, 0.0])}, cfg)
        scored.flag(np.array([False, True]), hs.NOTHING_SAFE_REASON)
        assert scored.needs_review.tolist() == [False, True]
        assert scored.review_reasons == [[], [hs.NOTHING_SAFE_REASON, "HyperScore 100 is below the review threshold 110.0"]]

    def test_invalid_weights_are_refused(self) -> None:
        with pytest.raises(ValueError, match="unknown sub-scores"):
            hs.HyperScoreConfig(weights={"meta_stability": 1.0})
        with pytest.raises(ValueError, match="non-negative"):
            hs.HyperScoreConfig(weights={"consistency": -1.0})

    def test_config_round_trips_through_json_and_defaults_when_absent(self, tmp_path: Path) -> None:
        cfg = hs.HyperScoreConfig(weights={"forecast": 0.7, "novelty": 0.3}, fusion="geometric", review_below=140.0,
                                  calibration={"spearman_test": 0.6})
        cfg.save(tmp_path)
        assert json.loads((tmp_path / hs.HYPERSCORE_FILE).read_text())["review_below"] == 140.0
        assert hs.HyperScoreConfig.load(tmp_path) == cfg
        assert hs.HyperScoreConfig.load(tmp_path / "elsewhere") == hs.HyperScoreConfig()


class TestSubScores:
    def test_reproducibility_is_the_share_of_heads_choosing_the_action(self) -> None:
        heads = np.zeros((1, 4, 3))
        heads[0, :3, 2] = 1.0  # three heads prefer action 2, one (all zeros) prefers action 0
        mask = np.ones((1, 3), dtype=bool)
        assert hs.reproducibility_score(heads, mask, np.array([2]))[0] == pytest.approx(0.75)
        mask[0, 2] = False  # a head's argmax is masked too
        assert hs.reproducibility_score(heads, mask, np.array([0]))[0] == pytest.approx(1.0)
        assert np.isnan(hs.reproducibility_score(None, mask, np.array([0]))[0])

    def test_impact_squashes_the_advantage_over_the_allowed_mean(self) -> None:
        q = np.array([[1.0, 2.0, 3.0, 100.0]])
        mask = np.array([[True, True, True, False]])  # the masked 100 never counts
        assert hs.advantage(q, mask, np.array([2]))[0] == pytest.approx(1.0)
        assert hs.impact_score(q, mask, np.array([2]), scale=1.0)[0] == pytest.approx(math.tanh(1.0))
        only = np.array([[True, False, False, False]])
        assert np.isnan(hs.impact_score(q, only, np.array([0]), 1.0)[0])  # nothing to choose between

    def test_value_is_the_chosen_q_relative_to_the_calibration_median_and_absent_until_calibrated(self) -> None:
        q = np.array([[0.0, 5.0, 7.0], [1.0, 3.0, 2.0], [9.0, 9.0, 9.0]])
        chosen = np.array([1, 2, -1])  # the last row: nothing was chosen
        qc = hs.chosen_q(q, chosen)
        assert qc[:2].tolist() == [5.0, 2.0] and np.isnan(qc[2])
        v = hs.value_score(qc, center=5.0, scale=2.0)
        assert v[0] == pytest.approx(0.5)  # the median patient
        assert v[1] == pytest.approx(1 / (1 + math.exp(1.5)))  # 3 / 2 scales below it
        assert np.isnan(v[2])
        assert np.isnan(hs.value_score(qc, None, None)).all()  # an uncalibrated config has no value sub-score
        higher = hs.value_score(np.linspace(-10, 10, 21), 0.0, 1.0)
        assert (np.diff(higher) > 0).all() and ((higher > 0) & (higher < 1)).all()

    def test_an_uncalibrated_value_is_dropped_from_v(self) -> None:
        sub = {"forecast": np.array([0.8]), "value": hs.value_score(np.array([3.0]), None, None)}
        assert hs.fuse(sub, {"forecast": 1.0, "value": 1.0})[0] == pytest.approx(0.8)

    def test_forecast_band_score_rewards_reaching_the_band_where_keeping_would_not(self) -> None:
        band = (2.0, 3.0)
        both_in = hs.forecast_band_score(np.full((1, 5), 2.5), np.full((1, 5), 2.5), band)
        rescue = hs.forecast_band_score(np.full((1, 5), 2.5), np.full((1, 5), 4.5), band)
        harm = hs.forecast_band_score(np.full((1, 5), 4.5), np.full((1, 5), 2.5), band)
        assert both_in[0] == pytest.approx(0.75)
        assert rescue[0] > 0.99 and harm[0] < 0.05
        closer = hs.forecast_band_score(np.full((1, 5), 3.5), np.full((1, 5), 4.5), band)
        assert harm[0] < closer[0] < rescue[0]  # moving toward the band beats moving away

    def test_uncalibrated_forecast_reward_runs_from_the_worst_day_to_the_best(self) -> None:
        score = hs.forecast_reward_score(np.array([1.0, 0.0, -1.0, -3.0, 0.95, np.nan]), (-1.0, 1.0))
        assert score[:5] == pytest.approx([1.0, 0.5, 0.0, 0.0, 0.975])
        assert np.isnan(score[5])

    @given(st.lists(st.floats(-2.0, 1.0), min_size=2, max_size=50), st.lists(st.floats(-3.0, 2.0), min_size=1, max_size=20))
    def test_calibrated_forecast_reward_is_the_share_of_calibration_rewards_no_better(
        self, calibration: list[float], rewards: list[float],
    ) -> None:
        score = hs.forecast_reward_score(np.array(rewards), (-2.0, 1.0), calibration)
        cal = np.array(calibration)
        assert score == pytest.approx([(cal <= r).mean() for r in rewards])
        order = np.argsort(rewards)
        assert (np.diff(score[order]) >= 0).all()  # a better forecast never scores lower

    def test_forecast_score_uses_the_reward_where_the_forecast_has_one_else_the_band(self) -> None:
        rec, keep, band = np.full((2, 3), 4.5), np.full((2, 3), 2.5), (2.0, 3.0)
        with_reward = hs.ForecastInputs(rec, keep, band, np.array([1.0, -1.0]), (-1.0, 1.0))
        assert hs.forecast_score(with_reward) == pytest.approx([1.0, 0.0])
        assert hs.forecast_score(with_reward, reward_quantiles=[-1.0, 0.0, 0.5, 1.0]) == pytest.approx([1.0, 0.25])
        without = hs.ForecastInputs(rec, keep, band)
        assert hs.forecast_score(without) == pytest.approx(hs.forecast_band_score(rec, keep, band))

    def test_consistency_is_zero_for_a_forbidden_choice_and_discounted_per_firing(self) -> None:
        view = PACK.simulator(PACK.sample_cohort(3, 1), 0).reset()
        x = PACK.features(view)
        mask = np.ones((3, PACK.n_actions), dtype=bool)
        mask[0, 7] = False
        guard = GuardrailResult(mask=mask, firings=[[], [], [("a", "x"), ("b", "y")]])
        c = hs.consistency_score(PACK, view, x, guard, np.array([7, 4, 4]), firing_discount=0.75)
        complete = hs.completeness(PACK, view, x)
        assert c[0] == 0.0
        assert c[1] == pytest.approx(complete[1])
        assert c[2] == pytest.approx(complete[2] * 0.75**2)

    def test_completeness_falls_with_missing_observations_doses_and_genotype(self) -> None:
        sim = PACK.simulator(PACK.sample_cohort(2, 1), 0)
        view = sim.reset()
        for _ in range(8):  # day 8: a week of doses on record, INRs on days 4 and 7
            view = sim.step(view.current_dose, view.current_dose).view
        full = hs.completeness(PACK, view, PACK.features(view))
        gappy = view.take(np.arange(2))
        gappy.obs["inr"][1] = np.nan
        gappy.obs_age_days["inr"][1] = np.nan
        gappy.dose_history[1, :3] = np.nan
        gappy.covariates["cyp2c9"] = np.array([gappy.covariates["cyp2c9"][0], -1.0])
        worse = hs.completeness(PACK, gappy, PACK.features(gappy))
        assert full[1] == pytest.approx(1.0)
        # no INR (0 of 2 INR terms), 4/7 doses known, 1 of 2 genotype flags on: (0 + 0 + 4/7 + 1/2) / 4
        assert worse[1] == pytest.approx((4 / 7 + 0.5) / 4)


class TestFeatureStats:
    @pytest.fixture(scope="class")
    @classmethod
    def data(cls) -> tuple[hs.FeatureStats, np.ndarray]:
        rng = np.random.default_rng(0)
        x = np.tile(np.array([f.loc for f in PACK.feature_specs]), (3000, 1))
        x[:, 0] += rng.normal(0, 10, 3000)  # age varies
        x[:, 2] += rng.normal(0, 20, 3000)  # weight varies; every other feature is constant
        return hs.FeatureStats.from_features(x[:2000], PACK, source="synthetic"), x[2000:]

    def test_held_out_states_of_the_same_distribution_get_uniform_novelty(self, data: tuple) -> None:
        stats, held_out = data
        nov = stats.novelty_score(held_out)
        assert 0.4 < np.median(nov) < 0.6
        assert 0.05 < np.mean(nov < 0.1) < 0.15

    def test_far_states_and_never_seen_feature_values_score_zero(self, data: tuple) -> None:
        stats, held_out = data
        far = held_out[:1].copy()
        far[0, 0] += 100.0  # 10 SD older
        unseen = held_out[:1].copy()
        unseen[0, 10] = 1.0  # "CYP2C9 unknown": constant 0 in training
        assert stats.novelty_score(far)[0] == 0.0
        assert stats.novelty_score(unseen)[0] == 0.0

    def test_round_trips_through_json(self, data: tuple, tmp_path: Path) -> None:
        stats, held_out = data
        stats.save(tmp_path)
        back = hs.FeatureStats.load(tmp_path)
        assert back is not None and back.feature_names == stats.feature_names
        np.testing.assert_allclose(back.novelty_score(held_out[:50]), stats.novelty_score(held_out[:50]))
        assert hs.FeatureStats.load(tmp_path / "none") is None


class TestScoredRows:
    def test_rows_are_rounded_python_values_with_missing_sub_scores_as_null(self) -> None:
        scored = hs.Scored(sub_scores={"forecast": np.array([0.123456, np.nan]), "novelty": np.array([1.0, 0.5])},
                           v=np.array([0.654321, 0.1]), hyperscore=np.array([150.126, 101.0]),
                           needs_review=np.array([False, True]), review_reasons=[[], ["HyperScore 101 is below …"]])
        assert scored.rows() == [
            {"hyperscore": 150.13, "v": 0.6543, "needs_review": False, "review_reasons": [],
             "sub_scores": {"forecast": 0.1235, "novelty": 1.0}},
            {"hyperscore": 101.0, "v": 0.1, "needs_review": True, "review_reasons": ["HyperScore 101 is below …"],
             "sub_scores": {"forecast": None, "novelty": 0.5}},
        ]
        assert [scored.row(i) for i in range(2)] == scored.rows()
        assert all(type(r["hyperscore"]) is float and type(r["needs_review"]) is bool for r in scored.rows())

    def test_the_score_range_follows_the_configured_parameters(self) -> None:
        """Cached per (β, γ, κ): another configuration gets its own range, not the first one's."""
        for beta in (5.0, 2.0):
            cfg = hs.HyperScoreConfig(beta=beta, gamma=beta * math.log(2))
            ends = hs.hyperscore(np.array([hs.V_FLOOR, 1.0]), cfg.beta, cfg.gamma, cfg.kappa)
            assert cfg.score_range() == (float(ends.min()), float(ends.max()))
        assert hs.HyperScoreConfig(beta=2.0, gamma=2 * math.log(2)).score_range() != hs.HyperScoreConfig().score_range()
