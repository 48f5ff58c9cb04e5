"""Policies compared under the clinic protocol (``dosewise evaluate --protocol clinic``): every policy drives the same twins
of a named twin model (dosewise.therapies.twin_models) through the same visits with the same clinic noise, and each
non-guideline policy is compared with the pack's visit-level guideline on every clinic metric (the pack's
``clinic_metrics``) and in every patient group (the pack's ``clinic_groups``): each arm's mean, SD and BCa bootstrap 95 % CI
(dosewise.stats), the difference with its Welch CI, Welch and paired p (statistics.compare).

"The same patients and the same noise": each policy gets its own twins built by the model's builder from the same seed
(the same covariates and hidden parameters), and the rollout's noise (assay error, doses missed, visits late or missed) is
drawn per patient and day from the same seed (clinic.clinic_rollout), so the comparison is paired patient by patient.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dosewise import controllers, shield
from dosewise.artifacts import artifact_problem
from dosewise.stats import Summary, summarize
from dosewise.therapies.base import FloatArray, IntArray, TherapyPack
from dosewise.therapies.clinic import (
    SCHEDULES,
    ActionVisitPolicy,
    ClinicNoise,
    ClinicTrajectory,
    VisitPolicy,
    clinic_rollout,
    get_schedule,
)
from dosewise.therapies.registry import get_pack
from dosewise.therapies.twin_models import TwinModel, get_twin_model
from dosewise_trainer.evaluation.statistics import Comparison, compare

GUIDELINE, MPC = "guideline", "mpc"
ROLE_ORDER = ("train", "heldout")  # reports list the training models first
# What the evaluation's clinic adds to every twin unless told otherwise. Our assumptions, not literature values, chosen to
# be a realistic but not a harsh clinic: INR assays vary with a CV of 5–15 % (../shared/clinical.md; the low end, a lab
# assay), and a glucose meter by about 5 % (insulin_t2d/simulator.py; ISO 15197:2013 allows up to ≈ 7.7 %); one dose in
# ten forgotten; one visit in ten 1–3 days late and one in twenty missed.
# Product choices, each within what clinics report: INR assay CV 5 % (5–15 %, issue #25), 90 % of doses taken, one visit in
# ten 1–3 days late, one in twenty missed, and three decisions in ten made on a result 1–2 days old (a lab INR reviewed
# the next day; a glucose log read before the morning's reading).
DEFAULT_NOISE = ClinicNoise(assay_cv=0.05, adherence=0.9, late_visit_prob=0.10, missed_visit_prob=0.05,
                            result_delay_prob=0.3)
# Which metrics each group is compared on besides the first two (efficacy, adverse) of the pack's clinic_metrics, where the
# pack reports them: those issue #25's aims read per group, and the oscillation it asks to report.
GROUP_EXTRA_METRICS = ("adverse_event_days", "nights_below_70", "direction_changes")


class PolicyUnavailable(Exception):
    """A named policy that cannot be built (the pack has no visit guideline yet, no MPC, a bad artifact)."""


# --- policies ----------------------------------------------------------------------------------------------------------
def artifact_policy(pack: TherapyPack, path: Path, load_q_fn: Callable[[Path], Callable[[np.ndarray], np.ndarray]],
                    name: str) -> VisitPolicy:
    """A Q-function artifact (policy.onnx or its directory) as a visit policy, after checking its input and output widths
    against the pack; a directory whose manifest is a shield's (dosewise.controllers.SHIELD) gives its network behind the
    shield (dosewise.shield.ShieldedPolicy)."""
    shielded = False
    manifest_file = path / controllers.MANIFEST_FILE
    if path.is_dir() and manifest_file.is_file():
        try:
            manifest = controllers.read_manifest(manifest_file)
        except (ValueError, OSError) as e:
            raise PolicyUnavailable(str(e)) from e
        if manifest["kind"] != controllers.SHIELD:
            raise PolicyUnavailable(f"{path} is a {manifest['kind']} controller: name it ({manifest['kind']}), not its folder")
        if problem := artifact_problem(path / manifest["network"]["file"], manifest["network"]["sha256"]):
            raise PolicyUnavailable(f"{path}: its shielded network: {problem}")
        shielded, path = True, path / manifest["network"]["file"]
    onnx_file = path / "policy.onnx" if path.is_dir() else path
    if not onnx_file.is_file():
        raise PolicyUnavailable(f"no ONNX policy at {onnx_file}")
    q_fn = load_q_fn(onnx_file)
    try:
        q = np.asarray(q_fn(np.zeros((1, pack.n_features), dtype=np.float32)))
    except Exception as e:  # onnxruntime raises its own types for a wrong input width
        raise PolicyUnavailable(f"{onnx_file} does not accept {pack.n_features} {pack.id} features: {e}") from e
    if q.shape != (1, pack.n_actions):
        raise PolicyUnavailable(f"{onnx_file} outputs Q-values of shape {q.shape}, the pack has {pack.n_actions} actions")
    if shielded:
        if not shield.has_shield(pack):
            raise PolicyUnavailable(f"the {pack.id} pack has no shield")
        return shield.ShieldedPolicy(pack, q_fn, name=name)
    return ActionVisitPolicy(pack, q_fn, name=name)


def named_policy(pack: TherapyPack, spec: str,
                 artifact: Callable[[TherapyPack, str], VisitPolicy] | None = None,
                 cadence: str | None = None) -> VisitPolicy:
    """``guideline`` (the pack's visit guideline; ``cadence``: the one for that visit schedule, where the pack's guideline
    depends on it — insulin's does — else its default), ``mpc`` (dosewise.mpc), or an artifact by ``artifact(pack, spec)``."""
    if spec == GUIDELINE:
        try:
            return pack.visit_guideline_policy() if cadence is None else pack.visit_guideline_policy(cadence)
        except (NotImplementedError, KeyError) as e:  # KeyError: no guideline for that cadence
            raise PolicyUnavailable(str(e)) from e
    if spec == MPC:
        try:
            from dosewise.mpc import MpcPolicy
        except ImportError as e:
            raise PolicyUnavailable(f"the MPC is not available ({e})") from e
        return MpcPolicy(pack)
    if artifact is None:
        raise PolicyUnavailable(f"unknown policy {spec!r}: give guideline, mpc or an artifact directory")
    return artifact(pack, spec)


# --- results -----------------------------------------------------------------------------------------------------------
@dataclass
class GroupComparison:
    """One patient group's comparisons of a policy with the guideline."""

    dimension: str
    label: str
    n: int
    comparisons: list[Comparison]

    def to_dict(self) -> dict[str, Any]:
        return {"dimension": self.dimension, "label": self.label, "n": self.n,
                "comparisons": [c.to_dict() for c in self.comparisons]}


@dataclass
class ClinicEvaluation:
    """Every policy on one twin model under one schedule; comparisons with the guideline overall and per group."""

    therapy: str
    twin_model: str
    role: str
    citation: str
    schedule: str
    n_patients: int
    days: int
    seed: int
    noise: ClinicNoise
    policies: list[str]  # names, the guideline first
    metrics: dict[str, dict[str, FloatArray]]  # policy → metric → (n,)
    summaries: dict[str, dict[str, Summary]]  # policy → metric → summary
    comparisons: dict[str, list[Comparison]]  # non-guideline policy → every metric vs the guideline
    groups: dict[str, list[GroupComparison]]  # non-guideline policy → per group
    group_sizes: dict[str, dict[str, int]]  # dimension → label → n
    notes: list[str] = field(default_factory=list)
    trajectories: dict[str, ClinicTrajectory] = field(default_factory=dict, repr=False)

    @property
    def metric_names(self) -> list[str]:
        return list(self.metrics[self.policies[0]])

    @property
    def efficacy_metric(self) -> str:
        return self.metric_names[0]

    @property
    def adverse_metric(self) -> str:
        return self.metric_names[1]

    def to_dict(self) -> dict[str, Any]:
        n = self.noise
        return {
            "therapy": self.therapy, "twin_model": self.twin_model, "role": self.role, "citation": self.citation,
            "schedule": self.schedule, "n_patients": self.n_patients, "days": self.days, "seed": self.seed,
            "noise": {"assay_cv": n.assay_cv, "adherence": n.adherence, "late_visit_prob": n.late_visit_prob,
                      "result_delay_prob": n.result_delay_prob,
                      "missed_visit_prob": n.missed_visit_prob},
            "policies": self.policies, "efficacy_metric": self.efficacy_metric, "adverse_metric": self.adverse_metric,
            "summaries": {p: {m: s.to_dict() for m, s in ms.items()} for p, ms in self.summaries.items()},
            "comparisons": {p: [c.to_dict() for c in cs] for p, cs in self.comparisons.items()},
            "groups": {p: [g.to_dict() for g in gs] for p, gs in self.groups.items()},
            "group_sizes": self.group_sizes, "notes": self.notes,
        }


def _group_comparisons(pack: TherapyPack, groups: dict[str, IntArray], policy: dict[str, FloatArray],
                       guideline: dict[str, FloatArray], metrics: Sequence[str]) -> list[GroupComparison]:
    out = []
    for dim, codes in groups.items():
        labels = pack.clinic_group_labels.get(dim, ())
        for code in sorted(set(int(c) for c in codes) - {-1}):
            idx = np.flatnonzero(codes == code)
            label = labels[code] if code < len(labels) else str(code)
            cs = [compare(m, policy[m][idx], guideline[m][idx], paired=True) for m in metrics]
            out.append(GroupComparison(dim, label, int(idx.size), cs))
    return out


def evaluate_clinic(
    model: TwinModel | str,
    policies: Sequence[VisitPolicy],
    schedule: str,
    patients: int,
    days: int,
    seed: int,
    noise: ClinicNoise = DEFAULT_NOISE,
    progress: Any | None = None,
    keep_trajectories: bool = False,
) -> ClinicEvaluation:
    """Run every policy (the guideline first: the others are compared with it) on ``patients`` twins of ``model`` for
    ``days`` days at ``schedule``'s visits, all with the same patients and noise (module docstring)."""
    tm = get_twin_model(model) if isinstance(model, str) else model
    pack = get_pack(tm.therapy)
    sched = get_schedule(schedule)
    if not policies:
        raise ValueError("no policy to evaluate")
    names = [p.name for p in policies]
    if len(set(names)) != len(names):
        raise ValueError(f"two policies share a name: {names}")
    metrics: dict[str, dict[str, FloatArray]] = {}
    trajectories: dict[str, ClinicTrajectory] = {}
    groups: dict[str, IntArray] = {}
    notes: list[str] = []
    for policy in policies:
        twin, hidden = tm.build(patients, seed)
        task = None
        if progress is not None:
            task = progress.add_task(f"{tm.name} · {sched.name} · {policy.name}", total=days)
        traj = clinic_rollout(pack, twin, policy, sched, days, noise, seed,
                              progress=None if task is None else (lambda d, t=task: progress.update(t, completed=d)))
        metrics[policy.name] = pack.clinic_metrics(traj)
        if keep_trajectories:
            trajectories[policy.name] = traj
        if not groups:
            groups = pack.clinic_groups(twin.covariates, hidden)
        notes += [x for x in pack.clinic_notes(traj) if x not in notes]
    guideline_name = names[0]
    g = metrics[guideline_name]
    summaries = {p: {m: summarize(v) for m, v in ms.items()} for p, ms in metrics.items()}
    comparisons = {p: [compare(m, metrics[p][m], g[m], paired=True) for m in g] for p in names[1:]}
    metric_list = list(g)
    group_metrics = [*metric_list[:2], *(m for m in GROUP_EXTRA_METRICS if m in g and m not in metric_list[:2])]
    by_group = {p: _group_comparisons(pack, groups, metrics[p], g, group_metrics) for p in names[1:]}
    sizes = {dim: {(pack.clinic_group_labels.get(dim, ()) + tuple(str(i) for i in range(100)))[int(c)]:
                   int((codes == c).sum()) for c in sorted(set(int(x) for x in codes) - {-1})}
             for dim, codes in groups.items()}
    return ClinicEvaluation(
        therapy=tm.therapy, twin_model=tm.name, role=tm.role, citation=tm.citation, schedule=sched.name,
        n_patients=patients, days=days, seed=seed, noise=noise, policies=names, metrics=metrics, summaries=summaries,
        comparisons=comparisons, groups=by_group, group_sizes=sizes, notes=notes, trajectories=trajectories,
    )


def default_schedules(pack: TherapyPack) -> tuple[str, ...]:
    """The schedules a pack's decisions are defined for (``pack.cadences``), else weekly and recheck visits."""
    known = tuple(c for c in pack.cadences if c in SCHEDULES)
    return known or ("weekly", "recheck")


def finite_mean(x: FloatArray) -> float:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else math.nan
