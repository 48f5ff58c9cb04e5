"""``feature_stats.json``: the training distribution of a policy's features, for the HyperScore's novelty sub-score.

Written next to ``policy.onnx``. The states come from a rollout of the pack's guideline (or of any DosingPolicy, e.g. the
learned one) on a sampled cohort — the kind of patient-days the policy was trained on; for a policy trained at visits,
from the visits of the visit guideline on the training twin models at the trained cadences
(``compute_visit_feature_stats``). The format and the distance live in ``dosewise.hyperscore.FeatureStats`` so that
inference reads what the trainer writes without importing the trainer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from dosewise.hyperscore import FeatureStats
from dosewise.therapies.base import ClinicView, DosingPolicy, TherapyPack
from dosewise.therapies.clinic import ClinicNoise, ClinicTwin, Schedule, VisitPlan, VisitPolicy, clinic_rollout
from dosewise.therapies.rollout import rollout

STATS_COHORT_SEED = 200_000  # away from training (100_000 + seed) and evaluation (small seeds) cohorts


def compute_feature_stats(
    pack: TherapyPack, n_patients: int = 500, days: float = 90.0, seed: int = STATS_COHORT_SEED,
    policy: DosingPolicy | None = None,
) -> FeatureStats:
    """Roll ``policy`` (default: the pack's guideline) over ``n_patients`` for ``days`` and fit FeatureStats on every
    recorded decision state."""
    policy = policy or pack.guideline_policy()
    steps = max(1, round(days / pack.decision_interval_days))
    cohort = pack.sample_cohort(n_patients, seed)
    traj = rollout(pack, cohort, policy, steps, seed, record_features=True)
    assert traj.features is not None
    x = traj.features.reshape(-1, pack.n_features).astype(float)
    source = f"{policy.name} rollout: {n_patients} patients × {steps} decisions, cohort seed {seed}"
    return FeatureStats.from_features(x[np.isfinite(x).all(axis=1)], pack, source=source)


def write_feature_stats(pack: TherapyPack, policy_dir: Path | str, stats: FeatureStats | None = None,
                        **kwargs: object) -> Path:
    """Save ``policy_dir/feature_stats.json`` (``stats``, default ``compute_feature_stats(pack, **kwargs)``)."""
    stats = stats if stats is not None else compute_feature_stats(pack, **kwargs)  # type: ignore[arg-type]
    policy_dir = Path(policy_dir)
    policy_dir.mkdir(parents=True, exist_ok=True)
    return stats.save(policy_dir)


class _RecordingVisitPolicy:
    """A clinic.VisitPolicy that keeps the features of every visit it plans, then plans as ``inner`` does."""

    def __init__(self, pack: TherapyPack, inner: VisitPolicy) -> None:
        self.pack, self.inner, self.name = pack, inner, inner.name
        self.rows: list[np.ndarray] = []

    def reset(self, n: int) -> None:
        self.inner.reset(n)

    def plan(self, view: ClinicView) -> VisitPlan:
        self.rows.append(self.pack.features(view))
        return self.inner.plan(view)


def compute_visit_feature_stats(
    pack: TherapyPack, twins: Sequence[tuple[str, Callable[[int, int], ClinicTwin]]], schedules: Sequence[Schedule],
    n_patients: int = 500, days: int = 90, seed: int = STATS_COHORT_SEED, policy: VisitPolicy | None = None,
    noise: ClinicNoise | None = None,
) -> FeatureStats:
    """FeatureStats of the states a visit-level policy is trained on: every visit of ``policy`` (default: the pack's visit
    guideline) on ``n_patients`` twins of each training model at each cadence (clinic.clinic_rollout), under the clinic
    ``noise`` the policy trained with (its delayed results and late visits are states it knows)."""
    policy = policy or pack.visit_guideline_policy()
    rows: list[np.ndarray] = []
    for k, ((_, make), schedule) in enumerate((t, s) for t in twins for s in schedules):
        recording = _RecordingVisitPolicy(pack, policy)
        clinic_rollout(pack, make(n_patients, seed + k), recording, schedule, days, noise, seed=seed + k)
        rows += recording.rows
    x = np.concatenate(rows).astype(float)
    names = ", ".join(sorted({name for name, _ in twins}))
    source = (f"{policy.name} at visits ({', '.join(s.name for s in schedules)}): {n_patients} twins of each of {names}, "
              f"{days} days, seed {seed}")
    return FeatureStats.from_features(x[np.isfinite(x).all(axis=1)], pack, source=source)
