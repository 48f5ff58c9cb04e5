"""``feature_stats.json``: the training distribution of a policy's features, for the HyperScore's novelty sub-score.

Written next to ``policy.onnx``. The states come from a rollout of the pack's guideline (or of any DosingPolicy, e.g. the
learned one) on a sampled cohort — the kind of patient-days the policy was trained on. The format and the distance live in
``dosewise.hyperscore.FeatureStats`` so that inference reads what the trainer writes without importing the trainer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dosewise.hyperscore import FeatureStats
from dosewise.therapies.base import DosingPolicy, TherapyPack
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


def write_feature_stats(pack: TherapyPack, policy_dir: Path | str, **kwargs: object) -> Path:
    """Compute and save ``policy_dir/feature_stats.json``; returns its path."""
    stats = compute_feature_stats(pack, **kwargs)  # type: ignore[arg-type]
    policy_dir = Path(policy_dir)
    policy_dir.mkdir(parents=True, exist_ok=True)
    return stats.save(policy_dir)
