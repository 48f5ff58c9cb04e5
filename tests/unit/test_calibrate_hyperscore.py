"""HyperScore calibration (services/trainer/dosewise_trainer/calibrate_hyperscore.py): the weight search finds the sub-score
that predicts the outcome, its Spearman matches scipy's, and a small end-to-end run on an untrained policy writes a
hyperscore.json that inference loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from dosewise import hyperscore as hs
from dosewise.therapies.warfarin.pack import WarfarinPack
from dosewise_trainer import calibrate_hyperscore as cal
from dosewise_trainer.calibration_plot import reward_by_score
from dosewise_trainer.export import export_untrained


def test_vectorized_spearman_equals_scipy_with_ties() -> None:
    rng = np.random.default_rng(1)
    v = rng.integers(0, 5, (4, 60)).astype(float)  # many ties
    y = rng.integers(0, 3, 60).astype(float)
    expected = [spearmanr(row, y)[0] for row in v]
    np.testing.assert_allclose(cal._spearman_many(v, y), expected, atol=1e-12)


def test_weight_search_puts_the_weight_on_the_predictive_sub_score() -> None:
    rng = np.random.default_rng(2)
    m = 400
    sub = {k: rng.random(m) for k in hs.SUB_SCORES}
    realized = 3.0 * sub["forecast"] + 0.3 * rng.standard_normal(m)  # only the forecast carries signal
    weights, _, rho = cal.fit_weights(sub, realized, step=0.25)
    assert max(weights, key=weights.__getitem__) == "forecast" and weights["forecast"] >= 0.75
    assert rho > 0.9
    assert sum(weights.values()) == pytest.approx(1.0)


def test_small_end_to_end_run_writes_a_loadable_config(tmp_path: Path) -> None:
    pack = WarfarinPack()
    export_untrained(pack, tmp_path, seed=0)
    args = cal.CalibrationArgs(therapy="warfarin", policy=str(tmp_path), patients=20, days=20, decisions_per_patient=2,
                               horizon_days=5, outcome_days=5, stats_patients=30, grid_step=0.25)
    report = cal.calibrate(args)
    assert report.n_decisions == 40 and report.n_patients_fit == report.n_patients_test == 10
    assert -1.0 <= report.spearman_test <= 1.0
    # Warfarin's outcome is mostly the patient's state, little chance (INR measurement noise): a replay with fresh noise
    # realizes nearly the same reward.
    assert report.retest_pearson_test > 0.8 and report.ceiling_test == pytest.approx(np.sqrt(report.retest_pearson_test))
    cfg = hs.HyperScoreConfig.load(tmp_path)
    assert cfg.calibration is not None and cfg.calibration["spearman_test"] == pytest.approx(report.spearman_test)
    assert cfg.forecast_horizon_days == 5 and cfg.review_below == pytest.approx(report.review_below)
    # The value sub-score is centred on the fit half's median Q(chosen), and so is calibrated with the rest.
    assert cfg.value_center is not None and cfg.value_scale is not None and cfg.value_scale > 0
    assert set(cfg.weights) == set(hs.SUB_SCORES) and "value" in report.spearman_test_by_sub_score
    # The forecast sub-score's scale: the fit half's forecast rewards, within the reward's worst and best day.
    q = cfg.forecast_reward_quantiles
    assert q is not None and len(q) == cal.REWARD_QUANTILES and np.all(np.diff(q) >= 0) and q[-1] <= 1.0  # α·T, a day in range
    assert hs.FeatureStats.load(tmp_path) is not None  # written because the policy had none


def test_the_realized_reward_is_the_discounted_return_from_the_decision_day() -> None:
    rewards = np.arange(20.0).reshape(2, 10)  # patient 1's day d earns 10 + d
    got = cal.realized_return(rewards, np.array([0, 1]), np.array([2, 5]), days=3, discount=0.5)
    np.testing.assert_allclose(got, [2 + 0.5 * 3 + 0.25 * 4, 15 + 0.5 * 16 + 0.25 * 17])
    np.testing.assert_allclose(cal.realized_return(rewards, np.array([1]), np.array([0]), days=4, discount=1.0), [46.0])


def test_the_discount_is_the_policys_own_training_gamma(tmp_path: Path) -> None:
    export_untrained(WarfarinPack(), tmp_path, seed=0)
    assert cal.policy_discount(tmp_path) == cal.DEFAULT_DISCOUNT == 0.95  # untrained: no training config
    card = json.loads((tmp_path / "model_card.json").read_text())
    card["training"]["config"]["gamma"] = 0.9
    (tmp_path / "model_card.json").write_text(json.dumps(card))
    assert cal.policy_discount(tmp_path) == 0.9


def test_an_outcome_as_long_as_the_course_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="outcome_days"):
        cal.calibrate(cal.CalibrationArgs(therapy="warfarin", policy=str(tmp_path), days=20, outcome_days=20))


def test_the_cli_command_calibrates_and_writes_next_to_the_policy(tmp_path: Path) -> None:
    """`dosewise hyperscore calibrate` (the README's command) runs the protocol and writes hyperscore.json."""
    import typer
    from typer.testing import CliRunner

    export_untrained(WarfarinPack(), tmp_path, seed=1)
    app = typer.Typer()
    cal.register(app)
    result = CliRunner().invoke(app, ["hyperscore", "calibrate", "--therapy", "warfarin", "--policy", str(tmp_path),
                                      "--patients", "12", "--days", "14", "--outcome-days", "5",
                                      "--plot", str(tmp_path / "calibration.png")])
    assert result.exit_code == 0, result.output
    # An untrained policy's card names no training γ: the DQN's default.
    assert "Spearman(HyperScore, realized 5-day return (γ 0.95)): test" in result.output
    assert (tmp_path / "calibration.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cfg = hs.HyperScoreConfig.load(tmp_path)
    assert cfg.calibration is not None and cfg.calibration["n_patients_test"] == 6


def test_the_figure_bins_decisions_by_score_into_equal_groups() -> None:
    scores = np.arange(100.0, 150.0)  # 50 decisions, already in order
    realized = np.repeat([1.0, 2.0, 3.0, 4.0, 5.0], 10) + np.tile([-0.5, 0.5], 25)
    b = reward_by_score(scores, realized, bins=5)
    assert b.size.tolist() == [10] * 5
    np.testing.assert_allclose(b.reward, [1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_allclose(b.score, [104.5, 114.5, 124.5, 134.5, 144.5])
    np.testing.assert_allclose(b.half_width, 1.96 * realized[:10].std(ddof=1) / np.sqrt(10))
    shuffled = np.random.default_rng(0).permutation(50)
    again = reward_by_score(scores[shuffled], realized[shuffled], bins=5)  # the order the decisions come in is irrelevant
    np.testing.assert_allclose(again.reward, b.reward)
