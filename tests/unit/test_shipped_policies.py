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
from dosewise.storage.models import Policy
from dosewise.therapies.registry import PACKS
from dosewise_trainer import bootstrap
from dosewise_trainer.controllers_ship import write_controller
from dosewise_trainer.export import sha256_file

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"
# The networks (a controller's version has no policy.onnx: dosewise.controllers)
SHIPPED = sorted(p.parent for p in POLICY_DIR.glob("*/*/policy.onnx"))


def test_no_shipped_network_is_untrained_and_every_shipped_version_fits_its_pack() -> None:
    """A random network never ships, nor a version made for another action or feature set of its pack (the 8-action
    warfarin DQN left with d7cf487's percent actions, as the 6-action insulin one did before it)."""
    assert all(json.loads((d / "model_card.json").read_text())["status"] != "untrained" for d in SHIPPED)
    for therapy, pack in PACKS.items():
        for version, _, card in bootstrap.shipped_artifacts(POLICY_DIR, therapy):
            assert bootstrap.fits_pack(card, pack), f"{therapy}/{version}: made for another version of the pack"


@pytest.mark.parametrize("therapy", sorted(PACKS))
def test_a_fresh_deployment_serves_what_met_its_targets_else_the_guideline(therapy: str, tmp_path: Path) -> None:
    """What the bootstrap activates on an empty registry from what ships here (bootstrap.best_candidate, the guideline it
    writes when none ships): never an untrained network; a network or the MPC only with its card's evidence; otherwise the
    guideline — what warfarin and insulin serve while no network of their current packs ships."""
    pack = PACKS[therapy]
    rows = []
    for version, folder, card in bootstrap.shipped_artifacts(POLICY_DIR, therapy):
        path, digest = bootstrap.artifact_file(folder, card)
        rows.append(Policy(therapy=therapy, version=version, status="candidate", sha256=digest,
                           artifact_path=str(path.relative_to(POLICY_DIR)), model_card=card))
    if not any(bootstrap.kind_of(card) == "guideline" for card in (r.model_card for r in rows)):
        manifest = write_controller(pack, "guideline", tmp_path / "guideline")
        card = json.loads((tmp_path / "guideline" / "model_card.json").read_text())
        rows.append(Policy(therapy=therapy, version="guideline", status="candidate", sha256=sha256_file(manifest),
                           artifact_path=str(manifest), model_card=card))  # absolute: outside the policy dir, as var/
    choice = bootstrap.best_candidate(rows, pack, POLICY_DIR)
    assert choice is not None
    card = choice.model_card
    proven = [r for r in rows if bootstrap.kind_of(r.model_card) in bootstrap.PREFERENCE
              and bootstrap.passed_targets(r.model_card, pack) and bootstrap.fits_pack(r.model_card, pack)]
    assert card.get("status") != "untrained" and bootstrap.fits_pack(card, pack)
    if not proven:
        assert bootstrap.kind_of(card) == "guideline"
    else:
        assert bootstrap.kind_of(card) in bootstrap.PREFERENCE and bootstrap.passed_targets(card, pack)


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
             if (POLICY_DIR / t / "dqn-clinic-seed1").is_dir()]


@pytest.mark.parametrize(("therapy", "example"), _EXAMPLES)
def test_a_clinic_shaped_state_lies_inside_the_shipped_policys_training_distribution(therapy: str, example: dict) -> None:
    """The API's examples are shaped as an EHR sends them (readings hours or days old, a week of doses): the shipped policy
    must have trained on states like them. Insulin twins once read fasting glucose every morning, so a reading from
    yesterday put every real request farther from training than any training state (novelty 0, HyperScore at its floor)."""
    folder = POLICY_DIR / therapy / "dqn-clinic-seed1"
    stats = FeatureStats.load(folder / "feature_stats.json")
    assert stats is not None
    x = decision.prepare([PatientState.model_validate(example)]).features
    # At least a fifth of the training states lie as far out (novelty 0.42 warfarin, 0.92 insulin; the old insulin 0).
    assert stats.novelty_score(x)[0] > 0.2
