"""The policies committed under policies/ (rebuilt by `make policies`) are exactly what their model cards say: same bytes
(sha256), same therapy, and the same feature and action spec as the pack today — so a pack change that would silently feed a
shipped network the wrong inputs fails here instead."""

from __future__ import annotations

import json
from pathlib import Path

import onnxruntime as ort
import pytest

from dosewise import decision
from dosewise.hyperscore import FeatureStats
from dosewise.schemas import INSULIN_STATE_EXAMPLE, PATIENT_STATE_EXAMPLE, PatientState
from dosewise.therapies.registry import PACKS
from dosewise_trainer.export import sha256_file

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"
# The networks (a controller's version has no policy.onnx: dosewise.controllers)
SHIPPED = sorted(p.parent for p in POLICY_DIR.glob("*/*/policy.onnx"))


def test_no_shipped_network_is_untrained() -> None:
    """A therapy with no network that fits its pack serves its guideline (bootstrap.py); a random network never ships."""
    assert SHIPPED, "run `make policies`"
    assert all(json.loads((d / "model_card.json").read_text())["status"] != "untrained" for d in SHIPPED)


@pytest.mark.parametrize("folder", SHIPPED, ids=[f"{d.parent.name}/{d.name}" for d in SHIPPED])
def test_artifact_matches_its_card_and_pack(folder: Path) -> None:
    card = json.loads((folder / "model_card.json").read_text())
    pack = PACKS[folder.parent.name]
    assert card["therapy"] == pack.id
    assert sha256_file(folder / "policy.onnx") == card["onnx"]["sha256"]
    assert [f["name"] for f in card["features"]] == [f.name for f in pack.feature_specs]
    assert [a["id"] for a in card["actions"]] == [a.id for a in pack.actions]
    sess = ort.InferenceSession(str(folder / "policy.onnx"))
    assert sess.get_inputs()[0].shape[1] == pack.n_features
    assert {o.name for o in sess.get_outputs()} >= {"q_values", "q_heads"}


_EXAMPLES = [(t, e) for t, e in (("warfarin", PATIENT_STATE_EXAMPLE), ("insulin_t2d", INSULIN_STATE_EXAMPLE))
             if (POLICY_DIR / t / "dqn-quick-seed1").is_dir()]


@pytest.mark.parametrize(("therapy", "example"), _EXAMPLES)
def test_a_clinic_shaped_state_lies_inside_the_shipped_policys_training_distribution(therapy: str, example: dict) -> None:
    """The API's examples are shaped as an EHR sends them (readings hours or days old, a week of doses): the shipped policy
    must have trained on states like them. Insulin twins once read fasting glucose every morning, so a reading from
    yesterday put every real request farther from training than any training state (novelty 0, HyperScore at its floor)."""
    folder = POLICY_DIR / therapy / "dqn-quick-seed1"
    stats = FeatureStats.load(folder / "feature_stats.json")
    assert stats is not None
    x = decision.prepare([PatientState.model_validate(example)]).features
    # At least a fifth of the training states lie as far out (novelty 0.42 warfarin, 0.92 insulin; the old insulin 0).
    assert stats.novelty_score(x)[0] > 0.2
