"""The comparators: tabular Q-learning (algorithms/q_learning.py) and PPO with masked logits (algorithms/actor_critic.py).

Both must run through the same rollout/metrics code as the DQN and the guideline, respect the guardrail masks, and be
reproducible from their seed. Budgets are tiny; the clinical comparison is bench/ and ``dosewise evaluate``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dosewise.therapies.base import ClinicView, GuardrailResult, StepResult
from dosewise.therapies.registry import get_pack
from dosewise.therapies.rollout import ActionPolicy, rollout
from dosewise_trainer.algorithms import actor_critic, q_learning
from dosewise_trainer.algorithms.common import held_out_means
from dosewise_trainer.algorithms.networks import ActorCritic, torch_q_fn
from tests.unit.trainer_toy_pack import ToyPack, ToySimulator

INCREASE = 3  # ToyPack action "+1"


class NoIncreaseWhenHighPack(ToyPack):
    """The toy with a guardrail — no increase once the latest level is ≥ 2 — and a simulator that counts violations."""

    violations = 0

    def guardrails(self, view: ClinicView) -> GuardrailResult:
        base = super().guardrails(view)
        base.mask[view.obs["level"][:, 0] >= 2.0, INCREASE] = False
        return base

    def simulator(self, cohort, seed):  # type: ignore[no-untyped-def]
        pack = self

        class Counting(ToySimulator):
            def step(self, given: np.ndarray, regimen: np.ndarray) -> StepResult:
                pack.violations += int(np.sum((regimen > self.dose + 1e-9) & (self.levels[:, 0] >= 2.0)))
                return super().step(given, regimen)

        return Counting(self, cohort, seed)


def adversarial_actor(*args: object, **kwargs: object) -> ActorCritic:
    """An actor whose logits favour "+1" by 1000 in every state."""
    net = ActorCritic(*args, **kwargs)  # type: ignore[arg-type]
    with torch.no_grad():
        net.logits_head.bias[INCREASE] = 1000.0
    return net


class TestTabularQLearning:
    ARGS = {"therapy": "toy", "total_steps": 60_000, "num_patients": 64, "episode_days": 30, "train_patients": 300,
            "progress": False}

    def test_learns_to_titrate_on_the_toy(self) -> None:
        """Keeping the start dose leaves every toy patient out of band (0 %); the table must learn to titrate."""
        pack = ToyPack()
        result = q_learning.train(q_learning.Args(**self.ARGS), pack=pack)
        learned = held_out_means(pack, result.policy(), 300, 30, seed=7)
        assert learned["time_in_range_pct"] > 80.0  # the toy guideline reaches ~90 %
        assert result.visited_states > 10 and np.isfinite(result.q_table).all()

    def test_same_seed_same_table(self) -> None:
        a = q_learning.train(q_learning.Args(**{**self.ARGS, "total_steps": 5_000}), pack=ToyPack()).q_table
        b = q_learning.train(q_learning.Args(**{**self.ARGS, "total_steps": 5_000}), pack=ToyPack()).q_table
        np.testing.assert_array_equal(a, b)

    def test_respects_the_guardrails_in_training_and_with_an_adversarial_table(self) -> None:
        pack = NoIncreaseWhenHighPack()
        result = q_learning.train(q_learning.Args(**{**self.ARGS, "total_steps": 5_000, "start_e": 1.0}), pack=pack)
        assert pack.violations == 0
        result.q_table[:, INCREASE] = 1e6  # the table now wants "+1" everywhere
        rollout(pack, pack.sample_cohort(200, 9), result.policy(), 20, seed=9)
        assert pack.violations == 0

    def test_discretizer_bins_around_the_target_band(self) -> None:
        pack = ToyPack()
        d = q_learning.Discretizer(pack)
        sim = pack.simulator(pack.sample_cohort(3, 0), 0)
        view = sim.reset()
        view.obs["level"][:, 0] = [2.5, 2.5, np.nan]
        view.obs["level"][:, 1] = [2.5, 1.0, np.nan]
        level, trend, *_ = np.unravel_index(d(view), d.shape)
        assert level[0] == level[1] == 4  # edges 1, 1.5, 2, 2.5, 3, …: 2.5 falls in [2.5, 3), bin 4
        assert trend.tolist() == [1, 2, 1]  # steady, rising, unknown counts as steady
        assert level[2] == len(d.obs_edges) + 1  # "nothing measured yet" has its own bin


class TestPPO:
    ARGS = {"therapy": "toy", "total_steps": 20_000, "num_patients": 64, "episode_days": 30, "train_patients": 300,
            "hidden_sizes": (32, 32), "progress": False}

    def test_learns_to_titrate_on_the_toy(self) -> None:
        pack = ToyPack()
        result = actor_critic.train(actor_critic.Args(**self.ARGS), pack=pack)
        learned = held_out_means(pack, ActionPolicy(pack, torch_q_fn(result.network)), 300, 30, seed=7)
        assert learned["time_in_range_pct"] > 80.0  # the toy guideline reaches ~90 %
        assert {"charts/episodic_return", "losses/policy_loss", "losses/value_loss"} <= set(result.curves.rows)

    def test_same_seed_same_weights(self) -> None:
        args = actor_critic.Args(**{**self.ARGS, "total_steps": 4_000})
        a = actor_critic.train(args, pack=ToyPack()).network.state_dict()
        b = actor_critic.train(args, pack=ToyPack()).network.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)

    def test_masked_logits_never_sample_a_forbidden_action(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With "+1" forbidden above 2 and an actor that favours "+1" by 1000, neither the actions sampled in training
        nor the greedy policy afterwards ever increase a dose above 2."""
        monkeypatch.setattr(actor_critic, "ActorCritic", adversarial_actor)
        pack = NoIncreaseWhenHighPack()
        result = actor_critic.train(actor_critic.Args(**{**self.ARGS, "total_steps": 4_000}), pack=pack)
        assert pack.violations == 0
        with torch.no_grad():
            result.network.logits_head.bias[INCREASE] = 1000.0
        rollout(pack, pack.sample_cohort(200, 9), ActionPolicy(pack, torch_q_fn(result.network)), 20, seed=9)
        assert pack.violations == 0


def test_warfarin_comparators_smoke() -> None:
    pack = get_pack("warfarin")
    try:
        pack.simulator(pack.sample_cohort(2, 0), 0)
    except NotImplementedError:
        pytest.skip("warfarin simulator not written yet")
    common = {"therapy": "warfarin", "total_steps": 2_000, "num_patients": 32, "episode_days": 14, "train_patients": 64,
              "progress": False}
    table = q_learning.train(q_learning.Args(**common), pack=pack)
    ppo = actor_critic.train(actor_critic.Args(**common, hidden_sizes=(16,)), pack=pack)
    cohort = pack.sample_cohort(20, 3)
    for policy in (table.policy(), ActionPolicy(pack, torch_q_fn(ppo.network))):
        metrics = pack.metrics(rollout(pack, cohort, policy, 14, seed=3))
        assert all(v.shape == (20,) for v in metrics.values())
