"""Plumbing every learner shares: training patients, episodes, action masks, curves, and a held-out check.

Kept apart from the algorithms so each algorithm file reads top to bottom as the algorithm.
"""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dosewise.therapies.base import Cohort, DosingPolicy, TherapyPack, VectorSimulator
from dosewise.therapies.rollout import rollout

# ---------------------------------------------------------------------------------------------------------------- masks


def allowed_actions(mask: np.ndarray) -> np.ndarray:
    """The guardrail mask with action 0 (every pack's safest action: hold) allowed wherever nothing else is.

    Mirrors ``rollout.ActionPolicy``, which holds the dose when no action is allowed, so learning and acting agree.
    """
    mask = np.asarray(mask, dtype=bool).copy()
    mask[~mask.any(axis=1), 0] = True
    return mask


def masked_argmax(q: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """argmax over allowed actions only, per row."""
    return np.argmax(np.where(mask, q, -np.inf), axis=1)


def epsilon_greedy(q: np.ndarray, mask: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """Greedy over allowed actions; with probability ε a uniformly random ALLOWED action (a masked one is never tried)."""
    greedy = masked_argmax(q, mask)
    random_scores = np.where(mask, rng.random(mask.shape), -1.0)
    explore = rng.random(mask.shape[0]) < epsilon
    return np.where(explore, np.argmax(random_scores, axis=1), greedy)


def linear_schedule(start_e: float, end_e: float, duration: int, t: int) -> float:
    slope = (end_e - start_e) / max(duration, 1)
    return max(slope * t + start_e, end_e)


# ------------------------------------------------------------------------------------------------------------- patients


def training_cohort(pack: TherapyPack, cohort: Cohort | None, size: int, seed: int) -> Cohort:
    """The training population: the cohort given (e.g. four cross-validation folds), or ``size`` patients drawn with ``seed``."""
    return cohort if cohort is not None else pack.sample_cohort(size, seed)


def cohort_hash(cohort: Cohort) -> str:
    """sha256 over the cohort's seed and every covariate and hidden array (sorted by name): identifies the training data."""
    h = hashlib.sha256(f"seed={cohort.seed};n={cohort.n}".encode())
    for group, arrays in (("covariates", cohort.covariates), ("hidden", cohort.hidden)):
        for name in sorted(arrays):
            h.update(f"{group}.{name}".encode())
            h.update(np.ascontiguousarray(np.asarray(arrays[name], dtype=np.float64)).tobytes())
    return h.hexdigest()




def episode_days(pack: TherapyPack, days: float | None) -> float:
    """``days`` if given, else the pack's own ``episode_days`` (e.g. immune: 30; the default 90)."""
    return float(days) if days is not None else float(pack.episode_days)


def steps_per_episode(pack: TherapyPack, episode_days: float) -> int:
    """Decision steps in an episode of ``episode_days`` days at the pack's decision interval."""
    return max(1, round(episode_days / pack.decision_interval_days))


@dataclass
class EpisodeSampler:
    """Each episode: ``num_patients`` patients drawn from the training population and a fresh simulator seed."""

    pack: TherapyPack
    population: Cohort
    num_patients: int
    rng: np.random.Generator

    def next_episode(self) -> VectorSimulator:
        n = self.population.n
        replace = self.num_patients > n
        idx = np.sort(self.rng.choice(n, size=self.num_patients, replace=replace))
        return self.pack.simulator(self.population.take(idx), int(self.rng.integers(2**31 - 1)))


# --------------------------------------------------------------------------------------------------------------- curves


@dataclass
class Curves:
    """Scalars logged under fixed names (``charts/episodic_return``, ``losses/td_loss``, ...) against the global step."""

    rows: dict[str, list[tuple[int, float]]] = field(default_factory=lambda: defaultdict(list))

    def log(self, tag: str, value: float, step: int) -> None:
        self.rows[tag].append((int(step), float(value)))

    def last(self, tag: str) -> float | None:
        return self.rows[tag][-1][1] if self.rows.get(tag) else None

    def write(self, out_dir: Path, prefix: str = "training_curves") -> tuple[Path, Path]:
        """``<prefix>.csv`` (global_step, tag, value) and ``<prefix>.png`` (one panel per tag), matplotlib Agg."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out_dir.mkdir(parents=True, exist_ok=True)
        csv_path, png_path = out_dir / f"{prefix}.csv", out_dir / f"{prefix}.png"
        with csv_path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["global_step", "tag", "value"])
            for tag in sorted(self.rows):
                w.writerows((s, tag, f"{v:.6g}") for s, v in self.rows[tag])
        tags = sorted(self.rows, key=lambda t: (t != "charts/episodic_return", t))
        fig, axes = plt.subplots(len(tags) or 1, 1, figsize=(7, 2.2 * max(len(tags), 1)), squeeze=False)
        for ax, tag in zip(axes[:, 0], tags, strict=False):
            steps, values = zip(*self.rows[tag], strict=True)
            ax.plot(steps, values, lw=1)
            ax.set_ylabel(tag, fontsize=8)
        axes[-1, 0].set_xlabel("global step (patient-decisions)")
        fig.tight_layout()
        fig.savefig(png_path, dpi=90)
        plt.close(fig)
        return csv_path, png_path


# ------------------------------------------------------------------------------------------------------------- held out


def held_out_means(pack: TherapyPack, policy: DosingPolicy, n_patients: int, days: float, seed: int) -> dict[str, float]:
    """Mean of every pack metric for ``policy`` on a cohort drawn with ``seed`` (use a seed no training cohort used).

    A quick check for training runs and benches; the statistics (CIs, t-tests, folds) live in ``dosewise evaluate``.
    """
    cohort = pack.sample_cohort(n_patients, seed)
    traj = rollout(pack, cohort, policy, steps_per_episode(pack, days), seed=seed + 1)
    return {k: float(np.nanmean(v)) for k, v in pack.metrics(traj).items()}
