"""Double DQN with an ensemble of Q-heads (services/trainer/dosewise_trainer/algorithms/dqn.py), on a toy pack and — once its
simulator exists — on warfarin. Budgets are tiny: these check the algorithm's contract, not its clinical quality."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from dosewise.therapies.base import ClinicView, GuardrailResult, StepResult
from dosewise.therapies.registry import PACKS
from dosewise.therapies.rollout import ActionPolicy
from dosewise_trainer.algorithms import dqn
from dosewise_trainer.algorithms.common import allowed_actions, epsilon_greedy, held_out_means, masked_argmax
from dosewise_trainer.algorithms.networks import QNetwork, torch_q_fn
from tests.unit.trainer_toy_pack import ToyPack, ToySimulator

TINY = {"therapy": "toy", "total_steps": 2_000, "num_patients": 16, "episode_days": 20, "learning_starts": 500,
        "train_patients": 100, "batch_size": 64, "buffer_size": 5_000, "hidden_sizes": (32, 32), "n_heads": 3,
        "log_every": 10, "progress": False}


def weights(net: torch.nn.Module) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for p in net.state_dict().values()]


class TestTrainSmoke:
    def test_writes_fixed_log_names_curves_and_an_export(self, tmp_path: Path) -> None:
        result = dqn.train(dqn.Args(**TINY, out_dir=str(tmp_path)), pack=ToyPack())
        assert {"charts/episodic_return", "losses/td_loss", "charts/SPS", "charts/epsilon"} <= set(result.curves.rows)
        with (tmp_path / "training_curves.csv").open() as f:
            rows = list(csv.DictReader(f))
        assert {r["tag"] for r in rows} >= {"charts/episodic_return", "losses/td_loss"}
        assert (tmp_path / "training_curves.png").stat().st_size > 1000
        assert (tmp_path / "policy.onnx").is_file() and (tmp_path / "model_card.json").is_file()
        assert result.out_dir == tmp_path
        assert isinstance(result.q_network, QNetwork) and result.q_network.n_heads == 3

    def test_epsilon_decays_linearly_to_its_floor(self) -> None:
        result = dqn.train(dqn.Args(**{**TINY, "exploration_fraction": 0.25}), pack=ToyPack())
        eps = [v for _, v in result.curves.rows["charts/epsilon"]]
        assert eps == sorted(eps, reverse=True) and eps[-1] == pytest.approx(0.05)

    def test_learns_to_titrate_as_well_as_the_toy_guideline(self) -> None:
        """Keeping the starting dose (1 U/day) leaves every toy patient below the band (level = sensitivity ≤ 1.4 < 2);
        the guideline titrates to ~90 % in band. A short run must learn to titrate: within 3 points of the guideline."""
        pack = ToyPack()
        args = dqn.Args(**{**TINY, "total_steps": 20_000, "num_patients": 32, "episode_days": 30, "learning_starts": 1_000,
                           "buffer_size": 30_000, "hidden_sizes": (64, 64), "batch_size": 128, "learning_rate": 1e-3,
                           "target_network_frequency": 200, "train_patients": 500})
        q_fn = torch_q_fn(dqn.train(args, pack=pack).q_network)
        learned = held_out_means(pack, ActionPolicy(pack, q_fn), 400, 30, seed=7)
        guideline = held_out_means(pack, pack.guideline_policy(), 400, 30, seed=7)
        keep = held_out_means(pack, ActionPolicy(pack, lambda f: np.eye(4)[np.full(len(f), 2)]), 400, 30, seed=7)
        assert keep["time_in_range_pct"] == 0.0
        assert learned["time_in_range_pct"] > guideline["time_in_range_pct"] - 3.0


class TestSeeds:
    def test_same_seed_gives_identical_weights(self) -> None:
        a = dqn.train(dqn.Args(**TINY, seed=3), pack=ToyPack()).q_network
        b = dqn.train(dqn.Args(**TINY, seed=3), pack=ToyPack()).q_network
        for wa, wb in zip(weights(a), weights(b), strict=True):
            np.testing.assert_array_equal(wa, wb)

    def test_another_seed_gives_other_weights(self) -> None:
        a = dqn.train(dqn.Args(**TINY, seed=3), pack=ToyPack()).q_network
        b = dqn.train(dqn.Args(**TINY, seed=4), pack=ToyPack()).q_network
        assert any(not np.array_equal(wa, wb) for wa, wb in zip(weights(a), weights(b), strict=True))

    def test_an_explicit_cohort_is_the_only_training_population(self) -> None:
        """Cross-validation passes four folds; the training cohort's hash identifies exactly those patients."""
        pack = ToyPack()
        cohort = pack.sample_cohort(200, seed=11)
        folds = np.array_split(np.random.default_rng(0).permutation(200), 5)
        train_idx = np.sort(np.concatenate(folds[:4]))
        r1 = dqn.train(dqn.Args(**TINY), cohort=cohort.take(train_idx), pack=pack)
        r2 = dqn.train(dqn.Args(**TINY), cohort=cohort.take(np.sort(np.concatenate(folds[1:]))), pack=pack)
        assert r1.cohort_hash != r2.cohort_hash


# --- guardrail masks ----------------------------------------------------------------------------------------------------

NO_INCREASE = 3  # ToyPack action "+1"


class NoIncreasePack(ToyPack):
    """The toy with a guardrail forbidding "+1" for everyone, and a simulator that records every regimen change."""

    def guardrails(self, view: ClinicView) -> GuardrailResult:
        base = super().guardrails(view)
        base.mask[:, NO_INCREASE] = False
        return base

    def simulator(self, cohort, seed):  # type: ignore[no-untyped-def]
        pack = self

        class Recording(ToySimulator):
            def step(self, given: np.ndarray, regimen: np.ndarray) -> StepResult:
                pack.increases += int(np.sum(regimen > self.dose + 1e-9))
                return super().step(given, regimen)

        return Recording(self, cohort, seed)


def adversarial_q_network(specs: tuple, n_actions: int, hidden: tuple[int, ...], n_heads: int, dueling: bool) -> QNetwork:
    """A Q-network that values the forbidden action 1000 above every other, in every head."""
    net = QNetwork(specs, n_actions, hidden, n_heads, dueling)
    with torch.no_grad():
        net.heads.weight.zero_()
        bias = net.heads.bias.view(net.n_heads, -1)
        bias.zero_()
        bias[:, 1 + NO_INCREASE if net.dueling else NO_INCREASE] = 1000.0
    return net


class TestGuardrailMasks:
    def test_epsilon_greedy_never_picks_a_masked_action(self) -> None:
        rng = np.random.default_rng(0)
        q = np.tile([0.0, 0.0, 0.0, 1e6], (5000, 1))  # the masked action looks best
        mask = np.ones((5000, 4), bool)
        mask[:, 3] = False
        mask[::7, :3] = [False, True, False]  # some rows allow one action only
        for eps in (0.0, 0.5, 1.0):
            a = epsilon_greedy(q, mask, eps, rng)
            assert mask[np.arange(5000), a].all()

    def test_a_row_with_nothing_allowed_holds(self) -> None:
        """Same rule as rollout.ActionPolicy: no allowed action → action 0 (every pack's hold)."""
        mask = allowed_actions(np.zeros((2, 4), bool))
        assert masked_argmax(np.array([[0, 5, 5, 5], [1, 2, 3, 4.0]]), mask).tolist() == [0, 0]

    def test_the_target_maxes_over_allowed_next_actions_only(self) -> None:
        pack = ToyPack()
        torch.manual_seed(0)
        online = adversarial_q_network(pack.feature_specs, pack.n_actions, (8,), 2, True)
        target = adversarial_q_network(pack.feature_specs, pack.n_actions, (8,), 2, True)
        mask = torch.ones(4, 4, dtype=torch.bool)
        mask[:, NO_INCREASE] = False
        data = {"next_obs": torch.zeros(4, 4), "next_mask": mask, "returns": torch.ones(4),
                "discount": torch.full((4,), 0.9), "terminated": torch.tensor([0.0, 0.0, 1.0, 1.0])}
        y = dqn.double_dqn_target(online, target, data)
        # The allowed actions' Q is V + A − mean(A) = 0 + 0 − 250 = −250; the forbidden one (+750) must not appear.
        np.testing.assert_allclose(y.numpy(), [[1 - 0.9 * 250] * 2] * 2 + [[1.0] * 2] * 2, rtol=1e-6)

    def test_training_never_takes_a_masked_action_even_with_adversarial_weights(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(dqn, "build_q_network", lambda pack, hidden, k, duel: adversarial_q_network(
            pack.feature_specs, pack.n_actions, hidden, k, duel))
        pack = NoIncreasePack()
        pack.increases = 0  # type: ignore[attr-defined]
        dqn.train(dqn.Args(**{**TINY, "start_e": 0.5}), pack=pack)
        assert pack.increases == 0  # type: ignore[attr-defined]


# --- n-step returns: terminated vs truncated ------------------------------------------------------------------------------


class TestNStepWindow:
    def _push(self, w: dqn.NStepWindow, rewards: list[float], terminated: list[bool], live: list[bool]) -> None:
        w.push(np.zeros((len(rewards), 2), np.float32), np.zeros(len(rewards), np.int64), np.array(rewards),
               np.array(terminated), np.array(live))

    def test_full_window_sums_discounted_rewards_and_bootstraps_with_gamma_to_the_n(self) -> None:
        w = dqn.NStepWindow(3, 0.5)
        for r in (1.0, 2.0, 4.0):
            self._push(w, [r], [False], [True])
        t = w.pop(np.ones((1, 2), np.float32), np.ones((1, 4), bool))
        assert t["returns"][0] == pytest.approx(1 + 0.5 * 2 + 0.25 * 4)
        assert t["discount"][0] == pytest.approx(0.125) and t["terminated"][0] == 0.0

    def test_a_termination_inside_the_window_stops_the_return_and_the_bootstrap(self) -> None:
        w = dqn.NStepWindow(3, 0.5)
        self._push(w, [1.0, 1.0], [False, False], [True, True])
        self._push(w, [2.0, -10.0], [False, True], [True, True])  # patient 1's course ends here
        self._push(w, [4.0, 99.0], [False, False], [True, False])  # a dead patient's reward never counts
        t = w.pop(np.ones((2, 2), np.float32), np.ones((2, 4), bool))
        np.testing.assert_allclose(t["returns"], [1 + 1 + 1, 1 - 5])
        np.testing.assert_array_equal(t["terminated"], [0.0, 1.0])

    def test_the_horizon_end_is_a_truncation_that_still_bootstraps(self) -> None:
        """At the episode's end the last steps leave with shorter windows, terminated = 0, discount γ^m."""
        w = dqn.NStepWindow(3, 0.5)
        self._push(w, [1.0], [False], [True])
        self._push(w, [2.0], [False], [True])
        first = w.pop(np.ones((1, 2), np.float32), np.ones((1, 4), bool))
        second = w.pop(np.ones((1, 2), np.float32), np.ones((1, 4), bool))
        assert (first["returns"][0], first["discount"][0], first["terminated"][0]) == (2.0, 0.25, 0.0)
        assert (second["returns"][0], second["discount"][0], second["terminated"][0]) == (2.0, 0.5, 0.0)

    def test_patients_dead_before_the_window_emit_nothing(self) -> None:
        w = dqn.NStepWindow(1, 0.9)
        self._push(w, [1.0, 5.0], [False, False], [True, False])
        assert len(w.pop(np.ones((2, 2), np.float32), np.ones((2, 4), bool))["actions"]) == 1


# --- the real twins, once their simulators exist -------------------------------------------------------------------------


@pytest.mark.parametrize("therapy", sorted(PACKS))
def test_registered_packs_smoke(therapy: str) -> None:
    pack = PACKS[therapy]
    try:
        pack.simulator(pack.sample_cohort(2, 0), 0)
    except NotImplementedError:
        pytest.skip(f"{therapy}: simulator not written yet")
    args = dqn.Args(**{**TINY, "therapy": therapy, "episode_days": 14, "train_patients": 64})
    result = dqn.train(args, pack=pack)
    assert np.isfinite(result.curves.last("losses/td_loss") or np.nan)
    q = torch_q_fn(result.q_network)(pack.features(pack.simulator(pack.sample_cohort(4, 1), 1).reset()))
    assert q.shape == (4, pack.n_actions) and np.isfinite(q).all()
