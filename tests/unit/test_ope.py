"""Off-policy evaluation (services/trainer/dosewise_trainer/evaluation/ope.py) and the behaviour probabilities it rests on
(services/inference/dosewise_inference/scoring.py): estimators checked against values known in closed form."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from dosewise_inference.scoring import choose, serving_distribution
from dosewise_trainer.evaluation.ope import (
    FQEArgs,
    effective_sample_size,
    fitted_q_evaluation,
    greedy_probabilities,
    trajectory_wis,
    weighted_importance_sampling,
)
from tests.unit.trainer_toy_pack import ToyPack


class TestEffectiveSampleSize:
    """Kish's ESS = (Σw)²/Σw² (Gottesman et al. 2019 ask for it with every IS estimate)."""

    def test_equal_weights_count_fully(self) -> None:
        assert effective_sample_size(np.full(40, 3.0)) == pytest.approx(40.0)

    def test_one_dominant_weight_is_one_sample(self) -> None:
        assert effective_sample_size(np.array([0.0, 0.0, 5.0, 0.0])) == pytest.approx(1.0)

    def test_no_weight_is_no_sample(self) -> None:
        assert effective_sample_size(np.zeros(5)) == 0.0


def _bandit(n: int, epsilon: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Logged ε-greedy decisions over 4 actions (greedy = 0) with Bernoulli rewards of means 0.2, 0.5, 0.8, 0.4."""
    rng = np.random.default_rng(seed)
    means = np.array([0.2, 0.5, 0.8, 0.4])
    probs = np.full(4, epsilon / 4)
    probs[0] += 1 - epsilon
    actions = rng.choice(4, size=n, p=probs)
    rewards = (rng.random(n) < means[actions]).astype(float)
    return actions, rewards, probs[actions], means


class TestWeightedImportanceSampling:
    def test_recovers_an_unexplored_policys_value_from_exploration_data(self) -> None:
        """Behaviour mostly plays action 0 (mean 0.2); the target always plays action 2 (mean 0.8): WIS finds ≈ 0.8."""
        actions, rewards, mu, means = _bandit(20_000, epsilon=0.3, seed=1)
        target = (actions == 2).astype(float)
        res = weighted_importance_sampling(rewards, target, mu, n_boot=100)
        assert res.value == pytest.approx(means[2], abs=0.03)
        assert res.ci95[0] <= means[2] <= res.ci95[1]
        assert res.behaviour_value == pytest.approx(rewards.mean())
        assert res.ess == pytest.approx((actions == 2).sum(), rel=1e-9)  # equal weights on the matches

    def test_on_policy_weights_are_one_and_the_estimate_is_the_sample_mean(self) -> None:
        _, rewards, mu, _ = _bandit(500, epsilon=0.2, seed=2)
        res = weighted_importance_sampling(rewards, mu, mu, n_boot=0)
        assert res.value == pytest.approx(rewards.mean())
        assert res.ess == pytest.approx(500.0)

    def test_unknown_propensities_are_left_out_not_guessed(self) -> None:
        """A clinician's override has no logged probability (NaN): it neither counts nor crashes the estimate."""
        res = weighted_importance_sampling(np.array([1.0, 0.0, 5.0]), np.array([1.0, 1.0, 1.0]),
                                           np.array([0.5, 0.5, np.nan]), n_boot=0)
        assert (res.n, res.n_used) == (3, 2)
        assert res.value == pytest.approx(0.5)

    def test_a_policy_the_data_never_shows_has_no_estimate_and_zero_ess(self) -> None:
        res = weighted_importance_sampling(np.ones(10), np.zeros(10), np.full(10, 0.9), n_boot=0)
        assert np.isnan(res.value) and res.ess == 0.0 and res.n_matched == 0


def test_greedy_target_probability_respects_the_guardrail_mask() -> None:
    q = np.array([[0.0, 9.0, 1.0], [0.0, 9.0, 1.0]])
    mask = np.array([[True, True, True], [True, False, True]])  # action 1 forbidden in row 2
    assert greedy_probabilities(q, mask, np.array([1, 2])).tolist() == [1.0, 1.0]
    assert greedy_probabilities(q, mask, np.array([2, 1])).tolist() == [0.0, 0.0]


def test_trajectory_weights_degenerate_with_the_horizon_while_decisions_keep_their_ess() -> None:
    """Products of ratios over 30 steps leave a handful of courses carrying the estimate (the reason the gate reports the
    per-decision ESS and treats a small one as inconclusive)."""
    rng = np.random.default_rng(3)
    episodes, flat_t, flat_b = [], [], []
    for _ in range(200):
        mu = rng.choice([0.9, 0.1 / 3], size=30, p=[0.9, 0.1])  # ε-greedy logging, 4 actions, ε = 0.1
        pt = (mu > 0.5).astype(float) * 1.0 + (mu < 0.5) * 0.5  # a target that also likes explored actions half the time
        episodes.append((np.ones(30), pt, mu))
        flat_t.append(pt)
        flat_b.append(mu)
    traj = trajectory_wis(episodes, gamma=0.95, n_boot=0)
    per = weighted_importance_sampling(np.ones(6000), np.concatenate(flat_t), np.concatenate(flat_b), n_boot=0)
    assert traj.ess < 20 < 200
    assert per.ess > 1000  # (Σw)²/Σw² ≈ 6000 · 2.5² / 23.6 ≈ 1589


class TestFittedQEvaluation:
    """FQE (Le et al. 2019) against values known in closed form, on the toy pack's feature layout."""

    @staticmethod
    def _data(n: int, terminated: float, seed: int = 0) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        obs = rng.normal([80, 2.5, 2.5, 2.0], [15, 1, 1, 1.5], size=(n, 4)).astype(np.float32)
        actions = rng.integers(4, size=n)
        return {"obs": obs, "actions": actions, "rewards": (actions == 2).astype(np.float32),
                "next_obs": rng.permutation(obs), "mask": np.ones((n, 4), bool), "next_mask": np.ones((n, 4), bool),
                "terminated": np.full(n, terminated, np.float32)}

    @staticmethod
    def _always(action: int) -> Callable[[np.ndarray], np.ndarray]:
        return lambda f: np.tile(np.eye(4)[action], (len(f), 1))

    def test_one_step_value_is_the_expected_reward_of_the_policys_action(self) -> None:
        d = self._data(2000, terminated=1.0)
        args = FQEArgs(iterations=2, steps_per_iteration=150, seed=1)
        good = fitted_q_evaluation(ToyPack(), self._always(2), gamma=0.9, args=args, **d)
        bad = fitted_q_evaluation(ToyPack(), self._always(0), gamma=0.9, args=args, **d)
        assert good.value == pytest.approx(1.0, abs=0.1)
        assert bad.value == pytest.approx(0.0, abs=0.1)

    def test_bootstraps_through_non_terminal_steps(self) -> None:
        """Reward 1 on every step of a policy that always earns it, γ = 0.5, never terminated: V = 1/(1 − γ) = 2."""
        d = self._data(2000, terminated=0.0)
        d["rewards"] = np.ones_like(d["rewards"])
        res = fitted_q_evaluation(ToyPack(), self._always(1), gamma=0.5,
                                  args=FQEArgs(iterations=12, steps_per_iteration=100, seed=2), **d)
        assert res.value == pytest.approx(2.0, abs=0.2)


class TestServingExploration:
    """Inference samples among ALLOWED actions and reports the true probability of the one it chose."""

    q = np.array([[1.0, 3.0, 2.0, 0.0]])
    mask = np.array([[True, True, False, True]])  # action 2 masked: m = 3 allowed

    def test_epsilon_greedy_probabilities(self) -> None:
        p = serving_distribution(self.q, self.mask, "epsilon", epsilon=0.3)[0]
        assert p.tolist() == pytest.approx([0.1, 0.7 + 0.1, 0.0, 0.1])  # ε/m each, 1 − ε more on the best

    def test_softmax_probabilities_follow_q_over_allowed_actions_only(self) -> None:
        p = serving_distribution(self.q, self.mask, "softmax", temperature=0.5)[0]
        assert p[2] == 0.0 and p.sum() == pytest.approx(1.0)
        assert p[1] / p[0] == pytest.approx(np.exp((3.0 - 1.0) / 0.5))

    @pytest.mark.parametrize("mode", ["epsilon", "softmax"])
    def test_samples_match_the_reported_probabilities_and_never_a_masked_action(self, mode: str) -> None:
        rng = np.random.default_rng(4)
        q, mask = np.repeat(self.q, 20_000, axis=0), np.repeat(self.mask, 20_000, axis=0)
        actions, probs = choose(q, mask, mode, rng, epsilon=0.3, temperature=0.5)
        dist = serving_distribution(self.q, self.mask, mode, epsilon=0.3, temperature=0.5)[0]
        assert not np.any(actions == 2)
        np.testing.assert_allclose(np.bincount(actions, minlength=4) / len(actions), dist, atol=0.01)
        np.testing.assert_allclose(probs, dist[actions])

    def test_off_is_greedy_with_probability_one_and_nothing_allowed_is_minus_one(self) -> None:
        rng = np.random.default_rng(5)
        q = np.vstack([self.q, self.q])
        mask = np.vstack([self.mask, np.zeros((1, 4), bool)])
        for mode in ("off", "epsilon", "softmax"):
            actions, probs = choose(q, mask, mode, rng)
            assert actions[1] == -1 and probs[1] == 0.0
        actions, probs = choose(q, mask, "off", rng)
        assert actions[0] == 1 and probs[0] == 1.0
