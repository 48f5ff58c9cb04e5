"""Conservative offline RL (services/trainer/dosewise_trainer/algorithms/cql.py) on the toy pack: the CQL penalty's
definition, learning from offline data only, warm starts from an exported policy, and determinism. Budgets are tiny."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dosewise.therapies.rollout import ActionPolicy
from dosewise_trainer.algorithms import cql
from dosewise_trainer.algorithms.common import held_out_means
from dosewise_trainer.algorithms.networks import build_q_network, torch_q_fn
from dosewise_trainer.export import export_policy
from tests.unit.trainer_toy_pack import ToyPack

TINY = {"therapy": "toy", "gradient_steps": 400, "batch_size": 64, "hidden_sizes": (32, 32), "n_heads": 3,
        "twin_patients": 64, "twin_days": 20, "log_every": 50}


def _one_transition(mask: list[bool]) -> dict[str, torch.Tensor]:
    return {"obs": torch.tensor([[80.0, 2.5, 2.5, 2.0]]), "actions": torch.tensor([1]), "returns": torch.tensor([0.0]),
            "next_obs": torch.tensor([[80.0, 2.5, 2.5, 2.0]]), "mask": torch.tensor([mask]),
            "next_mask": torch.tensor([[True] * 4]), "terminated": torch.tensor([1.0]), "weight": torch.tensor([1.0]),
            "discount": torch.tensor([0.9])}


class TestPenalty:
    """α·(logsumexp over allowed actions − Q(s, a_logged)) on top of the Double-DQN TD loss (Kumar et al. 2020)."""

    def test_equals_the_definition_on_one_transition(self) -> None:
        torch.manual_seed(0)
        net = build_q_network(ToyPack(), (8,), n_heads=2, dueling=False)
        data = _one_transition([True, True, True, True])
        boot = torch.ones(1, 2)
        loss0, _ = cql.cql_loss(net, net, data, alpha=0.0, boot=boot)
        loss1, parts = cql.cql_loss(net, net, data, alpha=1.0, boot=boot)
        with torch.no_grad():
            q = net(data["obs"])[0]  # (K, A)
            expected = (torch.logsumexp(q, dim=-1) - q[:, 1]).mean()
        assert parts["cql_penalty"] == pytest.approx(float(expected), rel=1e-5)
        assert float((loss1 - loss0).detach()) == pytest.approx(float(expected), rel=1e-5)

    def test_masked_actions_stay_out_of_the_logsumexp(self) -> None:
        """A guardrail-masked action nobody may take must not change the penalty, however large its Q."""
        torch.manual_seed(0)
        net = build_q_network(ToyPack(), (8,), n_heads=1, dueling=False)
        with torch.no_grad():
            net.heads.bias[3] = 1e3
        masked = cql.cql_loss(net, net, _one_transition([True, True, True, False]), 1.0, torch.ones(1, 1))[1]
        with torch.no_grad():
            q = net(_one_transition([True] * 4)["obs"])[0, 0]
        assert masked["cql_penalty"] == pytest.approx(float(torch.logsumexp(q[:3], 0) - q[1]), rel=1e-5)


def test_override_transitions_weigh_more_in_the_penalty_and_have_no_propensity() -> None:
    class Row:
        def __init__(self, feedback: str) -> None:
            self.features, self.next_features = [80.0, 2.5, 2.5, 2.0], [80.0, 2.5, 2.5, 2.0]
            self.action_index, self.reward, self.terminated, self.feedback = 2, 1.0, False, feedback
            self.mask = self.next_mask = [True] * 4
            self.behaviour_probability = 0.9 if feedback == "accepted" else None  # an override's propensity is unknown

    data = cql.OfflineData.from_rows([Row("accepted"), Row("overridden")], override_weight=2.0)
    assert data.weight.tolist() == [1.0, 2.0]
    assert data.behaviour_prob[0] == 0.9 and np.isnan(data.behaviour_prob[1])


def test_twin_rollouts_only_take_allowed_actions_and_stop_at_termination() -> None:
    pack = ToyPack()
    data = cql.twin_transitions(pack, pack.guideline_policy(), n_patients=32, days=25, epsilon=0.5, seed=3)
    assert np.all(data.mask[np.arange(len(data)), data.actions])
    assert 0 < len(data) <= 32 * 25
    assert data.terminated.sum() <= 32  # a course that ended contributes nothing after its last step
    # ε-greedy around the guideline: the logged probability is 1 − ε + ε/m for its choice, ε/m for any other allowed action
    m = data.mask.sum(axis=1)
    assert np.all(np.isclose(data.behaviour_prob, 0.5 / m) | np.isclose(data.behaviour_prob, 0.5 + 0.5 / m))


def test_learns_to_titrate_from_offline_data_alone() -> None:
    """Trained only on ε-explored guideline rollouts (no interaction), the policy titrates like the guideline: the toy's
    starting dose keeps everyone below the band (0 % in range), the guideline reaches ~90 %."""
    pack = ToyPack()
    args = cql.CQLArgs(**{**TINY, "gradient_steps": 1000, "batch_size": 128, "hidden_sizes": (64, 64),
                          "twin_patients": 100, "twin_days": 30, "learning_rate": 1e-3})
    twins = cql.twin_mix(pack, args, active_q_fn=None)
    result = cql.train(args, pack, cql.OfflineData.empty(pack.n_features, pack.n_actions), twins)
    learned = held_out_means(pack, ActionPolicy(pack, torch_q_fn(result.q_network)), 300, 30, seed=11)
    guideline = held_out_means(pack, pack.guideline_policy(), 300, 30, seed=11)
    assert learned["time_in_range_pct"] > guideline["time_in_range_pct"] - 5.0
    assert result.warm_start == "not requested" and result.n_logged == 0


def test_conservatism_keeps_unlogged_actions_below_logged_ones() -> None:
    """Logged data never takes action 3 (+1): after training, its Q sits below the logged actions' in the logged states."""
    pack = ToyPack()
    twins = cql.twin_transitions(pack, pack.guideline_policy(), 64, 20, epsilon=0.0, seed=5)
    keep = twins.actions != 3
    logged = twins.take(np.flatnonzero(keep))
    result = cql.train(cql.CQLArgs(**{**TINY, "gradient_steps": 600}), pack, logged,
                       cql.OfflineData.empty(pack.n_features, pack.n_actions))
    q = torch_q_fn(result.q_network)(logged.obs)
    assert np.mean(q[:, 3] < q[np.arange(len(logged)), logged.actions]) > 0.9


class TestWarmStart:
    def _exported(self, tmp_path: Path, with_weights: bool) -> tuple[Path, torch.nn.Module]:
        torch.manual_seed(7)
        net = build_q_network(ToyPack(), (16, 16), n_heads=2)
        onnx = export_policy(net, ToyPack(), tmp_path, {"seed": 7}, cohort_hash=None)
        if with_weights:
            cql.save_weights(net, tmp_path)
        return onnx, net

    @pytest.mark.parametrize("with_weights", [True, False], ids=["policy.pt", "onnx-initializers"])
    def test_loads_the_exact_active_network(self, tmp_path: Path, with_weights: bool) -> None:
        onnx, net = self._exported(tmp_path, with_weights)
        loaded, source = cql.load_warm_start(ToyPack(), onnx)
        assert loaded is not None and source.startswith(str(tmp_path))
        x = torch.randn(8, 4) * 2 + torch.tensor([80.0, 2.5, 2.5, 2.0])
        torch.testing.assert_close(loaded(x), net(x))
        assert loaded.config == net.config

    def test_without_weights_or_a_readable_onnx_it_trains_from_scratch_and_says_why(self, tmp_path: Path) -> None:
        (tmp_path / "policy.onnx").write_bytes(b"not an onnx file")
        net, why = cql.load_warm_start(ToyPack(), tmp_path / "policy.onnx")
        assert net is None and why.startswith("not warm-startable")
        assert cql.load_warm_start(ToyPack(), None) == (None, "no active policy")

    def test_training_starts_from_the_warm_weights(self, tmp_path: Path) -> None:
        onnx, net = self._exported(tmp_path, with_weights=True)
        pack = ToyPack()
        twins = cql.twin_transitions(pack, pack.guideline_policy(), 16, 10, 0.3, seed=1)
        result = cql.train(cql.CQLArgs(**{**TINY, "gradient_steps": 1}), pack, twins,
                           cql.OfflineData.empty(4, 4), cql.load_warm_start(pack, onnx))
        assert result.q_network.config == net.config  # the active network's shape, not CQLArgs' hidden sizes
        before, after = net.state_dict(), result.q_network.state_dict()
        assert all(torch.allclose(before[k], after[k], atol=1e-2) for k in before)  # one small step away


def test_same_data_and_seed_give_identical_weights() -> None:
    pack = ToyPack()
    args = cql.CQLArgs(**{**TINY, "gradient_steps": 100})
    twins = cql.twin_mix(pack, args, None)
    a = cql.train(args, pack, cql.OfflineData.empty(4, 4), twins).q_network.state_dict()
    b = cql.train(args, pack, cql.OfflineData.empty(4, 4), twins).q_network.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
