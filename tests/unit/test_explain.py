"""Explanations (services/inference/dosewise_inference/explain.py) against real ONNX policies (untrained exports: the facts
checked hold for any weights): integrated gradients' completeness (Sundararajan et al. 2017: attributions sum to
Q(x) − Q(baseline)), the rationale names the chosen action and the top feature, and the JSON the endpoint returns."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from dosewise import hyperscore as hs
from dosewise.therapies.base import GuardrailResult
from dosewise.therapies.warfarin.pack import WarfarinPack
from dosewise_inference import explain
from dosewise_inference.onnx_gradient import load_gradient
from dosewise_trainer.export import export_untrained, load_onnx_session
from dosewise_trainer.feature_stats import compute_feature_stats

PACK = WarfarinPack()


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> object:
    return load_onnx_session(export_untrained(PACK, tmp_path_factory.mktemp("policy"), seed=3))


@pytest.fixture(scope="module")
def stats() -> hs.FeatureStats:
    return compute_feature_stats(PACK, n_patients=60, days=30)


@pytest.fixture(scope="module")
def states() -> tuple:
    """Six avatars on day 18 of guideline dosing: their view, features and guardrails."""
    sim = PACK.simulator(PACK.sample_cohort(6, 21), 4)
    policy = PACK.guideline_policy()
    policy.reset(6)
    view = sim.reset()
    for _ in range(18):
        view = sim.step(*policy.act(view)).view
    return view, PACK.features(view), PACK.guardrails(view)


def run(session: object, stats: hs.FeatureStats | None, states: tuple, i: int, chosen: int | None = None) -> dict:
    view, x, guard = states
    q, heads = session.run(["q_values", "q_heads"], {"features": x[i : i + 1]})  # type: ignore[attr-defined]
    mask = guard.mask[i]
    if chosen is None:
        chosen = int(np.argmax(np.where(mask, q[0], -np.inf)))
    return explain.score_and_explain(
        PACK, session, view.take(np.array([i])), x[i], mask, chosen, q[0], heads[0], hs.HyperScoreConfig(), stats,
        guard=GuardrailResult(guard.mask[i : i + 1], guard.firings[i : i + 1]), policy_version="v-test",
    )


class TestIntegratedGradients:
    @pytest.mark.parametrize("action", [0, 4, 7])
    def test_attributions_sum_to_the_q_difference_from_the_baseline(self, session: object, states: tuple,
                                                                    stats: hs.FeatureStats, action: int) -> None:
        _, x, _ = states
        q_fn = explain.as_q_fn(session)
        scales = np.array([f.scale for f in PACK.feature_specs])
        for i in range(len(x)):
            attr = explain.integrated_gradients(q_fn, x[i], stats.mean, action, scales)
            gap = float(q_fn(x[i : i + 1])[0, action] - q_fn(stats.mean[None].astype(np.float32))[0, action])
            assert attr.sum() == pytest.approx(gap, rel=0.03, abs=0.01)

    @pytest.mark.parametrize("action", [0, 4, 7])
    def test_exact_gradients_keep_completeness_on_realistic_patients(self, tmp_path: Path, states: tuple,
                                                                    stats: hs.FeatureStats, action: int) -> None:
        """The inference service's path (onnx_gradient.py): the same 16-step completeness as finite differences."""
        path = export_untrained(PACK, tmp_path, seed=3)
        q_fn = explain.as_q_fn(load_onnx_session(path))
        graph = load_gradient(path, load_onnx_session(path), PACK.n_features)
        assert graph is not None
        _, x, _ = states
        scales = np.array([f.scale for f in PACK.feature_specs])
        attr = explain.integrated_gradients_many(q_fn, x, stats.mean, np.full(len(x), action), scales,
                                                 grad_fn=graph.action_gradient)
        gap = q_fn(x)[:, action] - q_fn(stats.mean[None].astype(np.float32))[0, action]
        np.testing.assert_allclose(attr.sum(axis=1), gap, rtol=0.03, atol=0.01)

    def test_features_equal_to_the_baseline_get_no_attribution(self, session: object, states: tuple) -> None:
        _, x, _ = states
        base = x[0].astype(float).copy()
        base[[0, 19]] += (5.0, 0.5)  # only age and the latest INR differ
        attr = explain.integrated_gradients(explain.as_q_fn(session), x[0], base, 4,
                                            np.array([f.scale for f in PACK.feature_specs]))
        assert set(np.flatnonzero(attr)) <= {0, 19}

    def test_a_linear_q_function_gets_its_exact_contributions(self) -> None:
        """For Q = w·x, IG gives w_j·(x_j − b_j) exactly."""
        w = np.array([[1.0, -2.0, 0.5]]).T
        attr = explain.integrated_gradients(lambda f: np.asarray(f, dtype=float) @ w, np.array([1.0, 2.0, 3.0]),
                                            np.zeros(3), 0, np.ones(3))
        np.testing.assert_allclose(attr, [1.0, -4.0, 1.5], atol=1e-4)


class TestScoreAndExplain:
    def test_returns_json_with_every_part(self, session: object, stats: hs.FeatureStats, states: tuple) -> None:
        out = run(session, stats, states, 0)
        json.dumps(out)  # JSON-able as is
        assert set(out) >= {"hyperscore", "sub_scores", "needs_review", "attributions", "forecast", "rationale", "q_values"}
        assert set(out["sub_scores"]) == set(hs.SUB_SCORES)
        low, high = hs.HyperScoreConfig().score_range()
        assert low <= out["hyperscore"] <= high
        assert len(out["q_values"]) == PACK.n_actions and sum(a["chosen"] for a in out["q_values"]) == 1
        assert out["forecast"]["target_band"] == [2.0, 3.0] and len(out["forecast"]["recommended"]) == 7
        assert out["attributions"]["sum"] == pytest.approx(
            out["attributions"]["q_at_features"] - out["attributions"]["q_at_baseline"], rel=0.03, abs=0.01)

    def test_action_labels_keep_their_units_mid_sentence(self) -> None:
        assert explain.mid_sentence("Increase by 4 U/day") == "increase by 4 U/day"
        assert explain.mid_sentence("Hold today's dose") == "hold today's dose"

    def test_a_fact_names_its_unit_once(self) -> None:
        def fact(description: str, unit: str, value: float) -> str:
            return explain._fact({"description": description, "unit": unit, "value": value})

        assert fact("Latest INR (1.0 if none yet)", "INR", 5.2) == "Latest INR: 5.2"
        assert fact("Days since the latest INR (capped at 30)", "days", 4.0) == "Days since the latest INR: 4"
        assert fact("Body weight", "kg", 78.0) == "Body weight 78 kg"
        assert fact("Latest fasting glucose (140 if none)", "mg/dL", 142.0) == "Latest fasting glucose 142 mg/dL"
        assert fact("Snyder & Berns 2004 insulin dose fraction for this eGFR (1 if unknown)", "1", 0.75) == (
            "Snyder & Berns 2004 insulin dose fraction for this eGFR: 0.75")
        assert fact("Takes amiodarone (CYP2C9 inhibitor; IWPC covariate)", "0/1", 1.0) == "Takes amiodarone: yes"

    def test_novelty_in_words_never_rounds_to_a_hundred_percent(self) -> None:
        assert explain.novelty_sentence(0.5) == "The patient's data look like the training population."
        assert explain.novelty_sentence(0.04).endswith("farther from the training population than 96 % of training states.")
        assert explain.novelty_sentence(0.004).endswith("than 99.6 % of training states.")
        assert explain.novelty_sentence(0.0004).endswith("than 99.9 % of training states.")
        assert explain.novelty_sentence(0.0).endswith("than every training state.")

    def test_one_allowed_action_is_called_the_only_one(self, session: object, stats: hs.FeatureStats,
                                                       states: tuple) -> None:
        view, x, guard = states
        only_hold = np.zeros((view.n, PACK.n_actions), dtype=bool)
        only_hold[:, 0] = True
        out = run(session, stats, (view, x, GuardrailResult(only_hold, guard.firings)), 0, chosen=0)
        assert "It is the only action the guardrails allow (" in out["rationale"]
        assert "Of the 1 actions" not in out["rationale"]
        several = int(guard.mask[0].sum())
        assert several > 1
        assert f"Of the {several} actions the guardrails allow, policy v-test values this one highest (Q " in run(
            session, stats, states, 0)["rationale"]

    def test_rationale_names_the_chosen_action_and_the_top_feature(self, session: object, stats: hs.FeatureStats,
                                                                   states: tuple) -> None:
        for chosen in (1, 6):
            out = run(session, stats, states, 2, chosen=chosen)
            label = explain.mid_sentence(PACK.actions[chosen].label)
            top = out["attributions"]["top"][0]
            assert out["rationale"].startswith(f"Recommendation: {label}")
            assert explain._fact(top) in out["rationale"]
            assert f"HyperScore {out['hyperscore']:.0f}" in out["rationale"]
            fc_row, reward = out["forecast"], out["forecast"]["mean_daily_reward"]
            assert f"predicts INR {explain._fmt(fc_row['recommended'][-1])} after 7 days" in out["rationale"]
            assert (f"averages {reward['recommended']:.2f} a day with the recommendation (its dose change included) "
                    f"versus {reward['keep_dose']:.2f}") in out["rationale"]

    def test_the_rationale_lists_fired_guardrails_as_one_sentence(self, session: object, stats: hs.FeatureStats,
                                                                  states: tuple) -> None:
        view, x, guard = states
        firings = [[("max_step", "Changes larger than 2 mg/day are not recommended."), ("amiodarone", "Monitor INR.")]]
        fired = (view, x, GuardrailResult(guard.mask, firings * view.n))
        rationale = run(session, stats, fired, 0)["rationale"]
        assert "Guardrails: Changes larger than 2 mg/day are not recommended; Monitor INR. HyperScore" in rationale
        assert ".." not in rationale and ".;" not in rationale

    def test_a_calibrated_value_scale_gives_the_value_sub_score_and_its_sentence(self, session: object,
                                                                                 stats: hs.FeatureStats,
                                                                                 states: tuple) -> None:
        view, x, guard = states
        q, heads = session.run(["q_values", "q_heads"], {"features": x[:1]})  # type: ignore[attr-defined]
        chosen = int(np.argmax(np.where(guard.mask[0], q[0], -np.inf)))
        for center, expected in ((float(q[0, chosen]) - 1.0, "a better"), (float(q[0, chosen]) + 1.0, "a worse")):
            cfg = hs.HyperScoreConfig(value_center=center, value_scale=1.0)
            out = explain.score_and_explain(PACK, session, view.take(np.array([0])), x[0], guard.mask[0], chosen, q[0],
                                            heads[0], cfg, stats, guard=GuardrailResult(guard.mask[:1], guard.firings[:1]))
            assert out["sub_scores"]["value"] == pytest.approx(1 / (1 + math.exp(-1.0 if expected == "a better" else 1.0)),
                                                               abs=1e-4)
            assert f"The policy expects {expected} outcome for this patient" in out["rationale"]

    def test_nothing_allowed_means_hold_and_review(self, session: object, stats: hs.FeatureStats, states: tuple) -> None:
        view, x, _ = states
        none = GuardrailResult(np.zeros((1, PACK.n_actions), dtype=bool), [[("pregnancy", "Hold and refer.")]])
        q, heads = session.run(["q_values", "q_heads"], {"features": x[:1]})  # type: ignore[attr-defined]
        out = explain.score_and_explain(PACK, session, view.take(np.array([0])), x[0], none.mask[0], -1, q[0], heads[0],
                                        hs.HyperScoreConfig(), stats, guard=none)
        assert out["needs_review"] is True
        assert out["sub_scores"]["consistency"] == 0.0
        assert "a clinician must decide" in out["rationale"] and "Hold and refer." in out["rationale"]
        assert out["review_reasons"][0] == hs.NOTHING_SAFE_REASON
        assert f"a clinician should review it ({hs.NOTHING_SAFE_REASON}" in out["rationale"]

    def test_sidecars_are_read_next_to_the_policy(self, tmp_path: Path, stats: hs.FeatureStats) -> None:
        assert explain.load_sidecars(tmp_path) == (hs.HyperScoreConfig(), None)
        stats.save(tmp_path)
        hs.HyperScoreConfig(review_below=140.0).save(tmp_path)
        cfg, loaded = explain.load_sidecars(tmp_path / "policy.onnx")
        assert cfg.review_below == 140.0 and loaded is not None and loaded.n_samples == stats.n_samples


class TestBatchedExplanations:
    def test_a_batch_explains_each_row_exactly_as_alone(self, session: object, stats: hs.FeatureStats,
                                                        states: tuple) -> None:
        """The gateway coalesces concurrent requests into one batch: nobody's explanation may depend on who else was in it."""
        view, x, guard = states
        q, heads = session.run(["q_values", "q_heads"], {"features": x})  # type: ignore[attr-defined]
        chosen = np.array([int(np.argmax(np.where(guard.mask[i], q[i], -np.inf))) for i in range(view.n)])
        chosen[3] = -1  # one row with nothing allowed, among rows with choices
        many = explain.score_and_explain_many(PACK, session, view, x, guard.mask, chosen, q, heads, hs.HyperScoreConfig(),
                                              stats, guard=guard, policy_version="v-test")
        assert len(many) == view.n
        for i in range(view.n):
            alone = explain.score_and_explain(PACK, session, view.take(np.array([i])), x[i], guard.mask[i], int(chosen[i]),
                                              q[i], heads[i], hs.HyperScoreConfig(), stats,
                                              guard=GuardrailResult(guard.mask[i : i + 1], guard.firings[i : i + 1]),
                                              policy_version="v-test")
            assert json.dumps(many[i], sort_keys=True) == json.dumps(alone, sort_keys=True)
        assert many[3]["needs_review"] is True and "a clinician must decide" in many[3]["rationale"]
