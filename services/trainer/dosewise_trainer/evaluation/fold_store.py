"""One cross-validation fold on disk, so folds can run in separate processes (an Indexed Job's pods on a shared volume) and a
gather step pools them exactly as ``cross_validate`` does in one process.

A fold is stored as what pooling and the reports read: its bookkeeping (sizes, seeds, training time) in ``fold-K.json`` and
every held-out patient's metric under each arm in ``fold-K.npz`` (float64, loaded without pickle). The comparison, the
targets and the pooled result are recomputed from those arrays by the same functions as in one process
(``crossval.compare_on_cohort``, ``crossval.pool_folds``); the cohort and the split are redrawn from the CV seed
(``crossval.plan_cross_validation``), and a file made under another plan is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from dosewise.therapies.base import TherapyPack
from dosewise_trainer.evaluation.crossval import CVPlan, FoldResult, compare_on_cohort

FORMAT = 1


def fold_paths(directory: Path, k: int) -> tuple[Path, Path]:
    """(bookkeeping JSON, metric arrays) of fold ``k``; the JSON is written last, so its presence means the fold is done."""
    return directory / f"fold-{k}.json", directory / f"fold-{k}.npz"


def _plan_key(pack: TherapyPack, plan: CVPlan) -> dict[str, Any]:
    return {"therapy": pack.id, "patients": plan.n_patients, "days": plan.days, "seed": plan.seed, "folds": len(plan.parts)}


def _replace_atomically(path: Path, write: Any) -> None:
    """Write through a temporary file in the same directory, then rename: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def save_fold(pack: TherapyPack, plan: CVPlan, fold: FoldResult, directory: Path) -> Path:
    """Write fold ``fold.fold`` of ``plan`` under ``directory``; returns the JSON's path."""
    directory.mkdir(parents=True, exist_ok=True)
    meta_path, arrays_path = fold_paths(directory, fold.fold)
    r = fold.result
    metrics = list(r.policy_metrics)
    arrays = {f"policy_{i}": r.policy_metrics[m] for i, m in enumerate(metrics)}
    arrays |= {f"guideline_{i}": r.guideline_metrics[m] for i, m in enumerate(metrics)}

    def write_arrays(tmp: Path) -> None:
        with tmp.open("wb") as f:  # a file object: np.savez would append ".npz" to a path
            np.savez(f, **arrays)

    _replace_atomically(arrays_path, write_arrays)
    meta = {"format": FORMAT, "plan": _plan_key(pack, plan), "fold": fold.fold, "n_train": fold.n_train,
            "n_test": fold.n_test, "train_seed": fold.train_seed, "rollout_seed": fold.rollout_seed,
            "train_seconds": fold.train_seconds, "policy_name": r.policy_name, "metrics": metrics}
    _replace_atomically(meta_path, lambda tmp: tmp.write_text(json.dumps(meta, indent=2) + "\n"))
    return meta_path


def load_fold(pack: TherapyPack, plan: CVPlan, k: int, directory: Path) -> FoldResult:
    """Fold ``k`` as ``crossval.run_fold`` returned it (without the trajectories, which nothing pooled reads)."""
    meta_path, arrays_path = fold_paths(directory, k)
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != FORMAT or meta.get("plan") != _plan_key(pack, plan) or meta.get("fold") != k:
        raise ValueError(f"{meta_path} is fold {meta.get('fold')} of {meta.get('plan')}, not fold {k} of "
                         f"{_plan_key(pack, plan)}: run that fold again")
    test_idx = plan.parts[k]
    with np.load(arrays_path, allow_pickle=False) as z:
        policy = {m: z[f"policy_{i}"] for i, m in enumerate(meta["metrics"])}
        guideline = {m: z[f"guideline_{i}"] for i, m in enumerate(meta["metrics"])}
    if meta["n_test"] != test_idx.size or any(v.shape != (test_idx.size,) for v in (*policy.values(), *guideline.values())):
        raise ValueError(f"{arrays_path}: {meta['n_test']} held-out patients, the plan's fold {k} has {test_idx.size}")
    result = compare_on_cohort(pack, plan.cohort.take(test_idx), meta["policy_name"], plan.steps, meta["rollout_seed"],
                               policy, guideline, subgroups=False)
    return FoldResult(k, meta["n_train"], meta["n_test"], meta["train_seed"], meta["rollout_seed"], meta["train_seconds"],
                      result)


def missing_folds(plan: CVPlan, directory: Path) -> list[int]:
    """Folds of ``plan`` not (yet) written under ``directory``."""
    return [k for k in range(len(plan.parts)) if not fold_paths(directory, k)[0].exists()]
