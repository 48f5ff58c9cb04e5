"""Held-out evaluation against the guideline, and 5-fold cross-validation over virtual-patient splits.

``evaluate_on_cohort`` runs a policy and the pack's guideline on the *same* patients with the *same* simulator seed (so the
arms differ only by the dosing decisions) and compares every metric of the pack. ``cross_validate`` is the HSDPO protocol
(../shared/clinical.md §5; issue 4): sample one cohort, split the patients into k folds with a seeded permutation, train on
k − 1 folds through a ``trainer_fn`` callback (DQN, tabular Q, anything that returns a Q-function) and evaluate on the
held-out fold. Results are reported per fold and *pooled*: every patient appears exactly once in the pooled set, dosed by
the one model that never saw them, so the pooled numbers estimate how the training procedure does on new patients.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.progress import Progress

from dosewise.therapies.base import ClinicView, Cohort, DosingPolicy, TherapyPack, Trajectory
from dosewise.therapies.rollout import ActionPolicy, rollout
from dosewise_trainer.evaluation.statistics import Comparison, TargetCheck, check_targets, compare_metrics
from dosewise_trainer.evaluation.subgroups import SubgroupResult, analyse

QFn = Callable[[np.ndarray], np.ndarray]
TrainerFn = Callable[[TherapyPack, Cohort, int], QFn]
"""``trainer_fn(pack, train_cohort, seed) -> q_fn``: learn on the training patients only; q_fn maps features (n, F) to (n, A)."""


class RecordingPolicy:
    """Wraps a DosingPolicy and keeps the latest measured primary observation each decision saw, and how many days old it
    was, (n, T) each, for trajectory plots."""

    def __init__(self, inner: DosingPolicy, kind: str) -> None:
        self.inner, self.kind, self.name = inner, kind, inner.name
        self.seen: list[np.ndarray] = []
        self.age_days: list[np.ndarray] = []

    @property
    def last_actions(self) -> np.ndarray | None:
        return getattr(self.inner, "last_actions", None)

    def reset(self, n: int) -> None:
        self.seen, self.age_days = [], []
        self.inner.reset(n)

    def act(self, view: ClinicView) -> tuple[np.ndarray, np.ndarray]:
        self.seen.append(np.array(view.obs[self.kind][:, 0], dtype=float))
        self.age_days.append(np.array(view.obs_age_days[self.kind][:, 0], dtype=float))
        return self.inner.act(view)


@dataclass
class Arm:
    """One policy's rollout on the evaluation cohort: trajectory, per-patient metrics, measured primary observation."""

    name: str
    trajectory: Trajectory
    metrics: dict[str, np.ndarray]
    observed: np.ndarray  # (n, T) latest measured primary observation at each decision (NaN before the first)
    observed_age_days: np.ndarray  # (n, T) how long before the decision it was measured


@dataclass
class EvaluationResult:
    """Policy vs guideline on one cohort."""

    therapy: str
    policy_name: str
    n_patients: int
    steps: int
    days: float
    seed: int
    comparisons: list[Comparison]
    targets: TargetCheck | None
    subgroups: list[SubgroupResult]
    cohort: Cohort
    policy: Arm | None = None  # None when pooled from folds (no single trajectory)
    guideline: Arm | None = None
    policy_metrics: dict[str, np.ndarray] = field(default_factory=dict)
    guideline_metrics: dict[str, np.ndarray] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # e.g. "the evaluation cohort is the training population"

    def to_dict(self) -> dict[str, Any]:
        return {
            "therapy": self.therapy, "policy": self.policy_name, "patients": self.n_patients, "days": self.days,
            "steps": self.steps, "seed": self.seed, "warnings": self.warnings,
            "metrics": [c.to_dict() for c in self.comparisons],
            "targets": self.targets.to_dict() if self.targets else None,
            "subgroups": [s.to_dict() for s in self.subgroups],
            "subgroup_flags": [{"dimension": s.subgroup.dimension, "label": s.subgroup.label, "metrics": s.worse}
                               for s in self.subgroups if s.worse],
            "subgroup_tests": 2 * len(self.subgroups),
        }


def steps_for(pack: TherapyPack, days: float) -> int:
    """Decision steps covering ``days`` of therapy."""
    steps = round(days / pack.decision_interval_days)
    if steps < 1:
        raise ValueError(f"{days} days is shorter than one decision interval ({pack.decision_interval_days} d)")
    return int(steps)


def _run_arm(pack: TherapyPack, cohort: Cohort, policy: DosingPolicy, steps: int, seed: int,
             progress: Progress | None, label: str) -> Arm:
    rec = RecordingPolicy(policy, pack.observation_kinds[0])
    if progress is None:
        traj = rollout(pack, cohort, rec, steps, seed)
    else:
        task = progress.add_task(label, total=steps)
        traj = rollout(pack, cohort, rec, steps, seed, progress=lambda t: progress.update(task, completed=t))
        progress.remove_task(task)
    metrics = {k: np.asarray(v, dtype=np.float64) for k, v in pack.metrics(traj).items()}
    return Arm(policy.name, traj, metrics, np.stack(rec.seen, axis=1), np.stack(rec.age_days, axis=1))


def _targets(pack: TherapyPack, comparisons: list[Comparison]) -> TargetCheck:
    eff, adv = pack.primary_metrics()
    return check_targets(comparisons, eff, adv)


def evaluate_on_cohort(
    pack: TherapyPack,
    cohort: Cohort,
    policy: DosingPolicy,
    steps: int,
    seed: int,
    guideline: DosingPolicy | None = None,
    progress: Progress | None = None,
    subgroups: bool = True,
) -> EvaluationResult:
    """Run ``policy`` and the guideline on the same patients with the same rollout seed and compare every metric
    (and, with ``subgroups``, inside every subgroup)."""
    guideline = guideline if guideline is not None else pack.guideline_policy()
    p = _run_arm(pack, cohort, policy, steps, seed, progress, f"{pack.id}: {policy.name}")
    g = _run_arm(pack, cohort, guideline, steps, seed, progress, f"{pack.id}: guideline")
    result = compare_on_cohort(pack, cohort, policy.name, steps, seed, p.metrics, g.metrics, subgroups)
    result.policy, result.guideline = p, g
    return result


def compare_on_cohort(pack: TherapyPack, cohort: Cohort, policy_name: str, steps: int, seed: int,
                      policy_metrics: dict[str, np.ndarray], guideline_metrics: dict[str, np.ndarray],
                      subgroups: bool) -> EvaluationResult:
    """The comparison of two arms' per-patient metrics on ``cohort`` (no trajectories): what ``evaluate_on_cohort``
    reports, what pooling folds reports, and what a fold computed in another process is rebuilt from (``fold_store``)."""
    comps = compare_metrics(policy_metrics, guideline_metrics, paired=True)
    eff, adv = pack.primary_metrics()
    return EvaluationResult(
        therapy=pack.id, policy_name=policy_name, n_patients=cohort.n, steps=steps,
        days=steps * pack.decision_interval_days, seed=seed, comparisons=comps, targets=_targets(pack, comps),
        subgroups=analyse(cohort, policy_metrics, guideline_metrics, eff, adv) if subgroups else [], cohort=cohort,
        policy_metrics=policy_metrics, guideline_metrics=guideline_metrics,
    )


# --- cross-validation ----------------------------------------------------------------------------------------------------
def fold_indices(n: int, folds: int, seed: int) -> list[np.ndarray]:
    """Split patients 0..n−1 into ``folds`` disjoint folds covering everyone, sizes differing by at most one.
    A seeded permutation decides membership (same seed → same folds); each fold's indices are sorted."""
    if folds < 2 or folds > n:
        raise ValueError(f"need 2 ≤ folds ≤ patients, got folds={folds}, patients={n}")
    perm = np.random.default_rng(np.random.SeedSequence([seed, 0xF01D])).permutation(n)
    return [np.sort(part) for part in np.array_split(perm, folds)]


def _sd(values: list[float]) -> float:
    """Sample SD (ddof 1) over folds; NaN for a single fold."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")


def _sub_seeds(seed: int, fold: int) -> tuple[int, int]:
    """(training seed, rollout seed) for one fold: independent streams derived from the CV seed."""
    a, b = np.random.SeedSequence([seed, fold]).generate_state(2)
    return int(a), int(b)


@dataclass
class FoldResult:
    fold: int
    n_train: int
    n_test: int
    train_seed: int
    rollout_seed: int
    train_seconds: float
    result: EvaluationResult

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "fold": self.fold, "n_train": self.n_train, "n_test": self.n_test, "train_seed": self.train_seed,
            "rollout_seed": self.rollout_seed, "train_seconds": round(self.train_seconds, 2),
            "metrics": [c.to_dict() for c in r.comparisons], "targets": r.targets.to_dict() if r.targets else None,
        }


@dataclass
class CVResult:
    """k-fold cross-validation: per-fold results and the pooled held-out comparison (every patient once)."""

    therapy: str
    n_patients: int
    days: float
    seed: int
    folds: list[FoldResult]
    pooled: EvaluationResult

    @property
    def targets_met(self) -> bool:
        return self.pooled.targets is not None and self.pooled.targets.met

    def across_folds(self) -> dict[str, dict[str, Any]]:
        """Per metric: mean ± SD over folds of the fold's Δ and relative change (how stable the result is across splits)."""
        out: dict[str, dict[str, Any]] = {}
        for i, c in enumerate(self.pooled.comparisons):
            deltas = [f.result.comparisons[i].delta for f in self.folds]
            rels = [f.result.comparisons[i].relative_change for f in self.folds]
            finite = [r for r in rels if r is not None]
            out[c.metric] = {
                "delta_mean": float(np.mean(deltas)), "delta_sd": _sd(deltas),
                "relative_change_mean": float(np.mean(finite)) if finite else None,
                "relative_change_sd": _sd(finite) if finite else None,
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        met = [f.result.targets.met for f in self.folds if f.result.targets is not None]
        return {
            "therapy": self.therapy, "patients": self.n_patients, "days": self.days, "seed": self.seed,
            "n_folds": len(self.folds), "folds": [f.to_dict() for f in self.folds],
            "pooled": self.pooled.to_dict(), "across_folds": _jsonable(self.across_folds()),
            "folds_meeting_targets": sum(met), "targets_met": self.targets_met,
        }


    def card_summary(self) -> dict[str, Any]:
        """The compact form for a model card's ``cross_validation``: per fold the targets, pooled every metric, and the
        subgroups where the policy was significantly worse (the full per-subgroup numbers stay in ``to_dict``)."""
        pooled = self.pooled.to_dict()
        return {
            "therapy": self.therapy, "patients": self.n_patients, "days": self.days, "seed": self.seed,
            "n_folds": len(self.folds),
            "folds": [{"fold": f.fold, "n_test": f.n_test, **(f.result.targets.to_dict() if f.result.targets else {})}
                      for f in self.folds],
            "pooled_metrics": pooled["metrics"], "pooled_targets": pooled["targets"],
            "subgroup_flags": pooled["subgroup_flags"], "subgroup_tests": pooled["subgroup_tests"],
            "targets_met": self.targets_met,
        }


def _jsonable(d: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: {kk: (None if vv is None or not np.isfinite(vv) else float(vv)) for kk, vv in v.items()} for k, v in d.items()}


@dataclass
class CVPlan:
    """What a k-fold CV runs on: the cohort, its folds and the rollout length, all drawn from the CV seed, so any process
    (a fold on another machine: ``dosewise_trainer.ship --part``) rebuilds the same plan from the same arguments."""

    n_patients: int
    days: float
    seed: int
    cohort: Cohort
    steps: int
    parts: list[np.ndarray]


def plan_cross_validation(pack: TherapyPack, n_patients: int, days: float, seed: int, folds: int = 5) -> CVPlan:
    cohort = pack.sample_cohort(n_patients, seed)
    return CVPlan(n_patients, days, seed, cohort, steps_for(pack, days), fold_indices(cohort.n, folds, seed))


def run_fold(pack: TherapyPack, plan: CVPlan, k: int, trainer_fn: TrainerFn, progress: Progress | None = None,
             policy_name: str = "learned") -> FoldResult:
    """Fold ``k`` alone: train on the other folds' patients, evaluate on fold ``k``'s (with the fold's own seeds)."""
    train_idx = np.sort(np.concatenate([p for j, p in enumerate(plan.parts) if j != k]))
    test_idx = plan.parts[k]
    train_seed, rollout_seed = _sub_seeds(plan.seed, k)
    t0 = time.perf_counter()
    q_fn = trainer_fn(pack, plan.cohort.take(train_idx), train_seed)
    train_seconds = time.perf_counter() - t0
    policy = ActionPolicy(pack, q_fn, name=policy_name)
    res = evaluate_on_cohort(pack, plan.cohort.take(test_idx), policy, plan.steps, rollout_seed, progress=progress,
                             subgroups=False)  # subgroups on the pooled set: 5× the patients
    return FoldResult(k, train_idx.size, test_idx.size, train_seed, rollout_seed, train_seconds, res)


def pool_folds(pack: TherapyPack, plan: CVPlan, results: list[FoldResult], policy_name: str = "learned") -> CVResult:
    """Every fold's held-out patients together, each dosed by the one model that never saw them."""
    if [f.fold for f in results] != list(range(len(plan.parts))):
        raise ValueError(f"need folds 0..{len(plan.parts) - 1} in order, got {[f.fold for f in results]}")
    folds = len(plan.parts)
    order = np.concatenate(plan.parts)
    pooled_p = {m: np.concatenate([f.result.policy_metrics[m] for f in results]) for m in results[0].result.policy_metrics}
    pooled_g = {m: np.concatenate([f.result.guideline_metrics[m] for f in results]) for m in results[0].result.guideline_metrics}
    pooled = compare_on_cohort(pack, plan.cohort.take(order), f"{policy_name} ({folds}-fold CV, pooled held-out)",
                               plan.steps, plan.seed, pooled_p, pooled_g, subgroups=True)
    return CVResult(therapy=pack.id, n_patients=plan.cohort.n, days=plan.steps * pack.decision_interval_days,
                    seed=plan.seed, folds=results, pooled=pooled)


def cross_validate(
    pack: TherapyPack,
    n_patients: int,
    days: float,
    seed: int,
    trainer_fn: TrainerFn,
    folds: int = 5,
    progress: Progress | None = None,
    policy_name: str = "learned",
) -> CVResult:
    """k-fold CV over virtual patients: cohort = pack.sample_cohort(n_patients, seed); for each fold, q_fn = trainer_fn(pack,
    the other folds' patients, training seed); evaluate ActionPolicy(q_fn) vs the guideline on the held-out fold.
    The same as ``run_fold`` for k = 0 … folds − 1 (in any processes) then ``pool_folds``."""
    plan = plan_cross_validation(pack, n_patients, days, seed, folds)
    task = progress.add_task(f"{pack.id}: {folds}-fold CV", total=folds) if progress is not None else None
    results: list[FoldResult] = []
    for k in range(folds):
        results.append(run_fold(pack, plan, k, trainer_fn, progress, policy_name))
        if progress is not None and task is not None:
            progress.update(task, advance=1)
    return pool_folds(pack, plan, results, policy_name)


# --- the DQN learner as a trainer_fn --------------------------------------------------------------------------------------
DQN_CONFIGS: tuple[str, ...] = ("quick", "full", "smoke")
"""quick = ``Args.quick`` (the ``--quick`` budget); full = ``Args`` defaults; smoke = a few thousand steps to check the
pipeline end to end (its policy means nothing)."""
SMOKE_OVERRIDES: dict[str, Any] = {"total_steps": 4_000, "learning_starts": 1_000, "buffer_size": 10_000}


def dqn_trainer_fn(config: str = "quick", **overrides: Any) -> TrainerFn:
    """``trainer_fn`` that trains Double DQN (dosewise_trainer.algorithms.dqn) on the training patients only:
    ``train(args, cohort=train_cohort)`` samples no patients of its own when given a cohort. ``overrides`` go to ``Args``.
    torch is imported here, on first use, so evaluation without training never loads it."""
    if config not in DQN_CONFIGS:
        raise ValueError(f"unknown DQN config {config!r}; known: {', '.join(DQN_CONFIGS)}")
    from dosewise_trainer.algorithms import dqn
    from dosewise_trainer.algorithms.networks import torch_q_fn

    def fn(pack: TherapyPack, cohort: Cohort, seed: int) -> QFn:
        kw: dict[str, Any] = {"seed": seed, "progress": False, **(SMOKE_OVERRIDES if config == "smoke" else {}), **overrides}
        args = dqn.Args(therapy=pack.id, **kw) if config == "full" else dqn.Args.quick(pack.id, **kw)
        return torch_q_fn(dqn.train(args, cohort=cohort, pack=pack).q_network)

    return fn
