"""`make policies` split into parts (deploy/k8s/jobs/policies: an Indexed Job, one part per pod, then a gather) gives what it
gives in one process: folds run one by one in separate "processes" (a fresh plan each, results only through files) and
pooled equal ``cross_validate``'s all-at-once result, and ``ship --part`` … ``--gather`` writes the model card ``ship``
writes. On ``EvalToyPack`` (tests/unit/test_crossval.py), a seconds-fast fake therapy, with the real DQN learner on a
budget of a few hundred steps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dosewise.artifacts import CARD_FILE
from dosewise.therapies.base import TherapyPack
from dosewise_trainer import ship
from dosewise_trainer.evaluation.crossval import (
    CVResult,
    TrainerFn,
    cross_validate,
    dqn_trainer_fn,
    plan_cross_validation,
    pool_folds,
    run_fold,
)
from dosewise_trainer.evaluation.fold_store import load_fold, missing_folds, save_fold
from tests.unit.test_crossval import EvalToyPack, fixed_trainer, harms_women_q_fn

PACK = EvalToyPack()
TINY = {"total_steps": 600, "learning_starts": 200, "num_patients": 16, "batch_size": 32}


def _without_timing(d: dict[str, Any]) -> dict[str, Any]:
    """``to_dict`` less the one thing a rerun cannot repeat: how long each fold trained."""
    return d | {"folds": [{k: v for k, v in f.items() if k != "train_seconds"} for f in d["folds"]]}


def _in_parts(pack: TherapyPack, n: int, days: float, seed: int, folds: int, trainer: TrainerFn, work: Path) -> CVResult:
    """Every fold as its own pod would run it (its own plan, drawn again from the seed), then the gather's pooling."""
    for k in reversed(range(folds)):  # order does not matter: each fold stands alone
        plan = plan_cross_validation(pack, n, days, seed, folds)
        save_fold(pack, plan, run_fold(pack, plan, k, trainer), work)
    plan = plan_cross_validation(pack, n, days, seed, folds)
    assert missing_folds(plan, work) == []
    return pool_folds(pack, plan, [load_fold(pack, plan, k, work) for k in range(folds)])


def test_folds_run_one_by_one_and_gathered_equal_the_all_at_once_cross_validation(tmp_path: Path) -> None:
    trainer = dqn_trainer_fn("smoke", **TINY)
    together = cross_validate(PACK, 40, days=6, seed=0, trainer_fn=trainer, folds=2)
    parts = _in_parts(PACK, 40, 6, 0, 2, trainer, tmp_path)
    assert _without_timing(parts.to_dict()) == _without_timing(together.to_dict())
    assert parts.card_summary() == together.card_summary()  # what the model card records
    assert [f.train_seconds for f in parts.folds] == pytest.approx([f.train_seconds for f in together.folds], abs=60)


def test_pooled_subgroups_and_every_metric_survive_the_files(tmp_path: Path) -> None:
    """A policy that harms one subgroup: the gathered result flags the same subgroup with the same numbers."""
    trainer = fixed_trainer(harms_women_q_fn)
    together = cross_validate(PACK, 90, days=8, seed=3, trainer_fn=trainer, folds=3)
    parts = _in_parts(PACK, 90, 8, 3, 3, trainer, tmp_path)
    assert together.to_dict()["pooled"]["subgroup_flags"]  # the case is not vacuous
    assert _without_timing(parts.to_dict()) == _without_timing(together.to_dict())
    for a, b in zip(parts.pooled.policy_metrics.values(), together.pooled.policy_metrics.values(), strict=True):
        assert np.array_equal(a, b)


def test_a_fold_of_another_plan_is_refused(tmp_path: Path) -> None:
    trainer = fixed_trainer(harms_women_q_fn)
    plan = plan_cross_validation(PACK, 30, 5, 1, 2)
    save_fold(PACK, plan, run_fold(PACK, plan, 0, trainer), tmp_path)
    other_seed = plan_cross_validation(PACK, 30, 5, 2, 2)
    with pytest.raises(ValueError, match="run that fold again"):
        load_fold(PACK, other_seed, 0, tmp_path)
    assert missing_folds(plan, tmp_path) == [1]


# --- dosewise_trainer.ship: --part I … --gather -------------------------------------------------------------------------
def test_parts_are_every_fold_then_the_policy_of_each_therapy() -> None:
    therapies = ("warfarin", "insulin_t2d")
    assert ship.part_count(therapies, 5) == 12
    assert [ship.part_of(i, therapies, 5) for i in range(12)] == (
        [("warfarin", k) for k in range(5)] + [("warfarin", None)]
        + [("insulin_t2d", k) for k in range(5)] + [("insulin_t2d", None)])
    assert [ship.part_of(i, therapies, 0) for i in range(2)] == [("warfarin", None), ("insulin_t2d", None)]
    for bad in (-1, 12):
        with pytest.raises(ValueError, match="out of range"):
            ship.part_of(bad, therapies, 5)


@pytest.fixture
def toy_ship(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ship`` on the toy therapy with a tiny CV; the policy build (minutes of DQN + calibration on a real twin, and
    the same function either way) replaced by one that writes a card, so what is compared is the CV and the card."""
    monkeypatch.setattr(ship, "get_pack", lambda therapy: PACK)
    monkeypatch.setattr(ship, "CV_PATIENTS", 40)
    monkeypatch.setattr(ship, "CV_DAYS", 6)
    monkeypatch.setattr(ship, "cv_trainer", lambda: dqn_trainer_fn("smoke", **TINY))

    def build_policy(therapy: str, out: Path, seed: int) -> None:
        out.mkdir(parents=True)
        (out / CARD_FILE).write_text(json.dumps({"therapy": therapy, "seed": seed, "status": "trained"}))
        (out / "policy.onnx").write_bytes(b"onnx bytes of " + therapy.encode())

    monkeypatch.setattr(ship, "build_policy", build_policy)


@pytest.mark.usefixtures("toy_ship")
def test_ship_in_parts_then_gather_writes_the_card_ship_writes(tmp_path: Path) -> None:
    at_once = ship.ship("evaltoy", tmp_path / "at-once", seed=3, cv_folds=2)
    work, root = tmp_path / "work", tmp_path / "gathered"
    n = ship.part_count(("evaltoy",), 2)
    for i in reversed(range(n)):  # the pods of an Indexed Job finish in any order
        ship.run_part(i, work, ("evaltoy",), seed=3, cv_folds=2)
    [gathered] = ship.gather(work, root, ("evaltoy",), seed=3, cv_folds=2)
    assert gathered.relative_to(root) == at_once.relative_to(tmp_path / "at-once")
    card_a, card_b = (json.loads((d / CARD_FILE).read_text()) for d in (at_once, gathered))
    for card in (card_a, card_b):
        assert card["cross_validation"]["n_folds"] == 2 and card["cross_validation"]["patients"] == 40
    assert card_b == card_a
    assert (gathered / "policy.onnx").read_bytes() == (at_once / "policy.onnx").read_bytes()


@pytest.mark.usefixtures("toy_ship")
def test_the_gather_names_the_parts_not_done(tmp_path: Path) -> None:
    work = tmp_path / "work"
    ship.run_part(1, work, ("evaltoy",), seed=1, cv_folds=2)  # fold 1 only
    with pytest.raises(SystemExit, match=r"evaltoy: policy, evaltoy: fold 0"):
        ship.gather(work, tmp_path / "out", ("evaltoy",), seed=1, cv_folds=2)
    assert not (tmp_path / "out").exists()


def test_the_cli_counts_the_parts_the_job_must_complete(capsys: pytest.CaptureFixture[str]) -> None:
    ship.main(["--parts"])
    assert capsys.readouterr().out.strip() == str(ship.part_count(ship.SHIPPED_THERAPIES, ship.CV_FOLDS))
    with pytest.raises(SystemExit):
        ship.main(["--part", "0"])  # without --work
    assert "need --work" in capsys.readouterr().err
