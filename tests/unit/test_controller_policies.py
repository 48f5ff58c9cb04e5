"""Controllers (the guideline, the MPC) served through the same path as a network: inference loads their manifest,
scores every action, masks and chooses like a network's Q-values, and explains them without attributions; a network made
for another version of its pack is refused at load, never served (issue #25: "the guideline is the floor")."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dosewise import controllers
from dosewise.artifacts import sha256_file
from dosewise.schemas import INSULIN_STATE_EXAMPLE, PATIENT_STATE_EXAMPLE, PatientState
from dosewise.storage.models import Policy
from dosewise.therapies.base import ClinicView
from dosewise.therapies.registry import PACKS, get_pack
from dosewise_inference.policy_store import PolicyUnavailable, load_policy
from dosewise_inference.recommend import recommend
from dosewise_trainer.controllers_ship import write_controller
from dosewise_trainer.export import export_untrained


def _row(therapy: str, path: Path, root: Path, card: dict | None = None) -> Policy:
    return Policy(id="p1", therapy=therapy, version=path.parent.name, status="active", sha256=sha256_file(path),
                  artifact_path=str(path.relative_to(root)), model_card=card or {})


def _views(therapy: str, n: int = 12, days: int = 10):  # type: ignore[no-untyped-def]
    pack = get_pack(therapy)
    sim = pack.simulator(pack.sample_cohort(n, seed=5), seed=5)
    view = sim.reset()
    policy = pack.guideline_policy()
    policy.reset(n)
    for _ in range(days):
        view = sim.step(*policy.act(view)).view
    return pack, view


@pytest.mark.parametrize("therapy", list(PACKS))
def test_the_guideline_controller_ranks_the_guidelines_own_action_first(therapy: str) -> None:
    pack, view = _views(therapy)
    scores = controllers.scores("guideline", pack, view)
    assert scores.shape == (view.n, pack.n_actions)
    chosen = controllers.guideline_actions(pack, view)
    assert (np.argmax(scores, axis=1) == chosen).all()
    assert (scores[np.arange(view.n), chosen] == 0.0).all()
    assert (np.sort(scores, axis=1)[:, :-1] == controllers.GUIDELINE_OTHER_SCORE).all()


def test_a_controller_manifest_loads_and_scores_from_the_patient_record(tmp_path: Path) -> None:
    pack, view = _views("warfarin")
    path = write_controller(pack, "guideline", tmp_path / "warfarin" / "guideline")
    loaded = load_policy(_row("warfarin", path, tmp_path), tmp_path)
    assert loaded.kind == "guideline" and not loaded.is_network
    assert (loaded.n_features, loaded.n_actions) == (pack.n_features, pack.n_actions)
    q, heads = loaded.action_values(pack, view, pack.features(view))
    assert heads is None and np.allclose(q, controllers.scores("guideline", pack, view))
    with pytest.raises(PolicyUnavailable, match="needs the patient states"):
        loaded.q_values(pack.features(view))


def test_a_changed_manifest_is_refused_by_its_hash(tmp_path: Path) -> None:
    pack = get_pack("warfarin")
    path = write_controller(pack, "guideline", tmp_path / "warfarin" / "guideline")
    row = _row("warfarin", path, tmp_path)
    path.write_text(json.dumps({"kind": "mpc", "therapy": "warfarin"}))
    with pytest.raises(PolicyUnavailable, match="hash"):
        load_policy(row, tmp_path)


def test_a_network_made_for_another_pack_shape_is_refused_at_load(tmp_path: Path) -> None:
    onnx = export_untrained(get_pack("insulin_t2d"), tmp_path / "warfarin" / "foreign")  # insulin's shape, warfarin's row
    with pytest.raises(PolicyUnavailable, match="another version of the pack"):
        load_policy(_row("warfarin", onnx, tmp_path), tmp_path)


def test_a_served_guideline_answers_through_the_masked_choice_and_says_it_has_no_attributions(tmp_path: Path) -> None:
    pack = get_pack("warfarin")
    loaded = load_policy(_row("warfarin", write_controller(pack, "guideline", tmp_path / "warfarin" / "g"), tmp_path),
                         tmp_path)
    view = ClinicView.from_states(pack, [PatientState.model_validate(PATIENT_STATE_EXAMPLE)])
    item = recommend(loaded, pack, view, explain=True, exploration="off", rng=np.random.default_rng(0), epsilon=0.0,
                     temperature=1.0)[0]
    assert item["action_mask"][item["action"]]
    assert item["score"]["attributions"]["top"] == []
    assert item["score"]["attributions"]["method"].startswith("not available: a guideline controller")
    assert item["score"]["rationale"]


SHIPPED_INSULIN_NETWORK = Path(__file__).resolve().parents[2] / "policies" / "insulin_t2d" / "dqn-clinic-seed1"


def _shield(tmp_path: Path) -> Path:
    from dosewise_trainer.controllers_ship import write_shield

    return write_shield(get_pack("insulin_t2d"), SHIPPED_INSULIN_NETWORK, tmp_path / "insulin_t2d" / "shielded")


def test_a_shielded_network_loads_from_its_manifest_and_chooses_within_the_shield(tmp_path: Path) -> None:
    from dosewise import shield

    pack, view = _views("insulin_t2d", days=20)
    loaded = load_policy(_row("insulin_t2d", _shield(tmp_path), tmp_path), tmp_path)
    assert loaded.kind == controllers.SHIELD and loaded.is_network
    guard = pack.guardrails(view)
    narrowed = loaded.narrow(pack, view, guard)
    np.testing.assert_array_equal(narrowed.mask, shield.shield_mask(pack, view, guard.mask))
    prep_view = ClinicView.from_states(pack, [PatientState.model_validate(INSULIN_STATE_EXAMPLE)])
    item = recommend(loaded, pack, prep_view, explain=True, exploration="off", rng=np.random.default_rng(0),
                     epsilon=0.0, temperature=1.0)[0]
    expected = shield.shield_mask(pack, prep_view, pack.guardrails(prep_view).mask)[0]
    assert item["action_mask"] == expected.tolist() and expected[item["action"]]
    assert item["score"]["attributions"]["top"]  # a network: its attributions are given


def test_a_shield_whose_network_changed_is_refused(tmp_path: Path) -> None:
    manifest = _shield(tmp_path)
    row = _row("insulin_t2d", manifest, tmp_path)
    onnx = manifest.parent / "policy.onnx"
    onnx.write_bytes(onnx.read_bytes() + b"\0")
    with pytest.raises(PolicyUnavailable, match="shielded network"):
        load_policy(row, tmp_path)


def test_a_pack_without_shield_limits_refuses_a_shield_manifest(tmp_path: Path) -> None:
    folder = tmp_path / "warfarin" / "shielded"
    folder.mkdir(parents=True)
    onnx = export_untrained(get_pack("warfarin"), folder)
    manifest = folder / controllers.MANIFEST_FILE
    manifest.write_text(json.dumps(controllers.shield_manifest("warfarin", [a.id for a in get_pack("warfarin").actions],
                                                               onnx.name, sha256_file(onnx))))
    with pytest.raises(PolicyUnavailable, match="has no shield"):
        load_policy(_row("warfarin", manifest, tmp_path), tmp_path)
