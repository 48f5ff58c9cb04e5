"""ONNX export and model card (services/trainer/dosewise_trainer/export.py).

The contract the inference service relies on: input "features" float32 (batch, F) in the pack's raw units, outputs
"q_values" (batch, A) = ensemble mean and "q_heads" (batch, K, A), opset ≥ 17, dynamic batch; the ONNX model agrees with
torch (max |ΔQ| ≤ 1e-4, same action) on 10,000 valid states; the card's sha256 is the file's.
"""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from dosewise.therapies.base import TherapyPack
from dosewise.therapies.registry import get_pack
from dosewise.therapies.rollout import ActionPolicy, rollout
from dosewise_trainer.algorithms import dqn
from dosewise_trainer.algorithms.networks import QNetwork
from dosewise_trainer.export import (
    OPSET,
    export_policy,
    export_untrained,
    load_onnx_q_fn,
    load_onnx_q_heads_fn,
    read_model_card,
)
from tests.unit.trainer_toy_pack import ToyPack

PARITY_STATES = 10_000


def warfarin_or_skip() -> TherapyPack:
    pack = get_pack("warfarin")
    try:
        pack.simulator(pack.sample_cohort(2, 0), 0)
    except NotImplementedError:
        pytest.skip("warfarin simulator not written yet")
    return pack


def valid_states(pack: TherapyPack, n: int, seed: int) -> np.ndarray:
    """n feature rows from real ClinicViews: a guideline rollout of the pack's twins, every patient-day one state."""
    days = 20
    patients = -(-n // days)
    traj = rollout(pack, pack.sample_cohort(patients, seed), pack.guideline_policy(), days, seed, record_features=True)
    assert traj.features is not None
    return traj.features.reshape(-1, pack.n_features)[:n]


@pytest.fixture(scope="module")
def toy_trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[QNetwork, Path]:
    """A briefly trained toy network (its Q-values have real magnitudes), exported."""
    out = tmp_path_factory.mktemp("toy_policy")
    args = dqn.Args(therapy="toy", total_steps=3_000, num_patients=16, episode_days=20, learning_starts=500,
                    train_patients=100, batch_size=64, buffer_size=5_000, hidden_sizes=(32, 32), n_heads=3,
                    progress=False, out_dir=str(out))
    return dqn.train(args, pack=ToyPack()).q_network, out


def assert_parity(module: QNetwork, path: Path, states: np.ndarray) -> None:
    with torch.no_grad():
        heads_torch = module(torch.from_numpy(states)).numpy()
    q_torch = heads_torch.mean(axis=1)
    q_onnx, heads_onnx = load_onnx_q_heads_fn(path)(states)
    assert q_onnx.shape == (len(states), module.n_actions)
    assert heads_onnx.shape == (len(states), module.n_heads, module.n_actions)
    assert np.max(np.abs(q_onnx - q_torch)) <= 1e-4
    assert np.max(np.abs(heads_onnx - heads_torch)) <= 1e-4
    np.testing.assert_array_equal(np.argmax(q_onnx, axis=1), np.argmax(q_torch, axis=1))


class TestParity:
    def test_toy_onnx_matches_torch_on_10000_states(self, toy_trained: tuple[QNetwork, Path]) -> None:
        module, out = toy_trained
        assert_parity(module, out / "policy.onnx", valid_states(ToyPack(), PARITY_STATES, seed=5))

    def test_warfarin_onnx_matches_torch_on_10000_states(self, tmp_path: Path) -> None:
        pack = warfarin_or_skip()
        torch.manual_seed(0)
        module = QNetwork(pack.feature_specs, pack.n_actions, (64, 64), n_heads=5)
        path = export_policy(module, pack, tmp_path, {"seed": 0}, cohort_hash=None)
        assert_parity(module, path, valid_states(pack, PARITY_STATES, seed=5))

    @pytest.mark.parametrize("batch", [1, 1000])
    def test_the_batch_axis_is_dynamic(self, toy_trained: tuple[QNetwork, Path], batch: int) -> None:
        module, out = toy_trained
        states = valid_states(ToyPack(), batch, seed=6)
        q = load_onnx_q_fn(out)(states)
        assert q.shape == (batch, 4) and q.dtype == np.float32
        with torch.no_grad():
            np.testing.assert_allclose(q, module.q_values(torch.from_numpy(states)).numpy(), atol=1e-4)
        graph_input = onnx.load(str(out / "policy.onnx")).graph.input[0]
        assert graph_input.name == "features"
        assert graph_input.type.tensor_type.shape.dim[0].dim_param  # symbolic, not a fixed size

    def test_normalization_is_inside_the_graph(self, toy_trained: tuple[QNetwork, Path]) -> None:
        """ONNX on raw-unit features = the same network without its Normalize layer on (x − loc) / scale of the specs."""
        module, out = toy_trained
        raw = valid_states(ToyPack(), 200, seed=8)
        loc = np.array([s.loc for s in ToyPack.feature_specs], np.float32)
        scale = np.array([s.scale for s in ToyPack.feature_specs], np.float32)
        bare = copy.deepcopy(module)
        bare.normalize = torch.nn.Identity()
        with torch.no_grad():
            expected = bare(torch.from_numpy((raw - loc) / scale)).mean(dim=1).numpy()
        np.testing.assert_allclose(load_onnx_q_fn(out)(raw), expected, atol=1e-4)


class TestModelCard:
    def test_card_fields_and_hash_match_the_file(self, toy_trained: tuple[QNetwork, Path]) -> None:
        _, out = toy_trained
        card = json.loads((out / "model_card.json").read_text())
        assert card["onnx"]["sha256"] == hashlib.sha256((out / "policy.onnx").read_bytes()).hexdigest()
        assert card["therapy"] == "toy" and card["status"] == "candidate"
        assert [f["name"] for f in card["features"]] == [f.name for f in ToyPack.feature_specs]
        assert all(f["unit"] and f["description"] for f in card["features"])
        assert [a["id"] for a in card["actions"]] == [a.id for a in ToyPack.actions]
        assert card["training"]["seed"] == 1 and card["training"]["config"]["total_steps"] == 3_000
        assert len(card["training"]["cohort_hash"]) == 64
        assert card["cross_validation"] is None  # evaluation fills it
        assert card["onnx"]["opset"] == OPSET >= 17
        assert "git_commit" in card and "git_dirty" in card and card["created_at"]

    def test_git_commit_is_this_checkouts_head(self, toy_trained: tuple[QNetwork, Path]) -> None:
        _, out = toy_trained
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True)
        if head.returncode != 0:
            pytest.skip("not a git checkout")
        assert read_model_card(out)["git_commit"] == head.stdout.strip()

    def test_the_file_declares_opset_17_or_later(self, toy_trained: tuple[QNetwork, Path]) -> None:
        _, out = toy_trained
        model = onnx.load(str(out / "policy.onnx"))
        onnx.checker.check_model(model)
        assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
        assert [o.name for o in model.graph.output] == ["q_values", "q_heads"]

    def test_cross_validation_results_are_written_when_given(self, tmp_path: Path) -> None:
        module = QNetwork(ToyPack.feature_specs, 4, (8,), n_heads=2)
        export_policy(module, ToyPack(), tmp_path, {"seed": 2}, "abc", cv_results={"folds": 5, "adverse_change_pct": -30.0})
        assert read_model_card(tmp_path)["cross_validation"] == {"folds": 5, "adverse_change_pct": -30.0}

    def test_untrained_export_is_marked_untrained_and_runs(self, tmp_path: Path) -> None:
        pack = ToyPack()
        path = export_untrained(pack, tmp_path, seed=0)
        card = read_model_card(path)
        assert card["status"] == "untrained" and card["training"]["cohort_hash"] is None
        traj = rollout(pack, pack.sample_cohort(10, 1), ActionPolicy(pack, load_onnx_q_fn(path)), 5, seed=1)
        assert traj.actions is not None and (traj.actions >= 0).all()

    def test_untrained_export_is_reproducible(self, tmp_path: Path) -> None:
        a = export_untrained(ToyPack(), tmp_path / "a", seed=3)
        b = export_untrained(ToyPack(), tmp_path / "b", seed=3)
        assert read_model_card(a)["onnx"]["sha256"] == read_model_card(b)["onnx"]["sha256"]
