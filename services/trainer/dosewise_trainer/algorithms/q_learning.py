"""Tabular Q-learning (Watkins 1989; Sutton & Barto 2018 §6.5) on a discretized clinic view — a comparator for the DQN.

The state is what a clinician glances at, for any pack: the latest primary observation in bins around the target band,
its trend, whether it was measured today, the current dose, and the phase of therapy. No covariates: a table cannot
personalize by genotype or weight, which is exactly what the comparison with the DQN shows.

    Q(s, a) ← Q(s, a) + α · (r + γ · max_{a' allowed in s'} Q(s', a') · (1 − terminated) − Q(s, a))

N patients step together; updates that hit the same (s, a) in one step are averaged. Guardrail masks restrict both the
ε-greedy choice and the max. ``train(args).policy()`` is a ``DosingPolicy`` for ``rollout.rollout``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from dosewise.therapies.base import ClinicView, Cohort, TherapyPack
from dosewise.therapies.registry import get_pack
from dosewise_trainer.algorithms.common import (
    Curves,
    EpisodeSampler,
    allowed_actions,
    cohort_hash,
    episode_days,
    epsilon_greedy,
    linear_schedule,
    masked_argmax,
    steps_per_episode,
    training_cohort,
)

TRAIN_COHORT_SEED_OFFSET = 100_000  # as dqn.py: training populations never reuse the small seeds evaluation draws with


@dataclass
class Args:
    therapy: str = "warfarin"
    """the therapy pack to learn (a key of dosewise.therapies.registry.PACKS)"""
    seed: int = 1
    """seed of every random draw: same seed → same table"""
    total_steps: int = 1_000_000
    """patient-decisions to collect; one vectorized step of N patients counts N"""
    num_patients: int = 256
    """patients the simulator steps together"""
    episode_days: float | None = None
    """days per episode (None: the pack's ``episode_days`` if it declares one, else 90); then fresh patients and simulator
    seed. The end is a truncation, not a termination: the last steps still bootstrap"""
    train_patients: int = 4000
    """size of the training population when train() gets no cohort"""
    cohort_seed: int | None = None
    """seed of the training population; None → TRAIN_COHORT_SEED_OFFSET + seed"""
    learning_rate: float = 0.1
    """α, the step size of each table update"""
    gamma: float = 0.95
    """discount factor per decision step"""
    start_e: float = 1.0
    """starting exploration ε"""
    end_e: float = 0.05
    """final exploration ε"""
    exploration_fraction: float = 0.5
    """fraction of total_steps over which ε decays linearly"""
    progress: bool = True
    """show a tqdm progress bar"""


class Discretizer:
    """ClinicView → one integer state per patient. Bins are relative to the pack's target band and maximum dose."""

    BAND_EDGES = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)  # in band widths from the band's low end: 8 bins (+1 "none yet")
    DOSE_EDGES = (0.1, 0.2, 0.3, 0.4, 0.6, 0.8)  # fractions of max_dose: 7 bins
    PHASE_EDGES_DAYS = (7.0, 14.0)  # first week, second week, after: 3 bins

    def __init__(self, pack: TherapyPack) -> None:
        self.pack = pack
        low, high = pack.target_band
        self.obs_edges = low + (high - low) * np.array(self.BAND_EDGES)
        self.trend_step = 0.1 * (high - low)
        self.dose_edges = pack.max_dose * np.array(self.DOSE_EDGES)
        self.shape = (len(self.obs_edges) + 2, 3, 2, len(self.dose_edges) + 1, len(self.PHASE_EDGES_DAYS) + 1)
        self.n_states = int(np.prod(self.shape))

    def __call__(self, view: ClinicView) -> np.ndarray:
        obs = view.obs[self.pack.observation_kinds[0]]
        latest, previous = obs[:, 0], obs[:, 1]
        level = np.where(np.isnan(latest), len(self.obs_edges) + 1, np.digitize(np.nan_to_num(latest), self.obs_edges))
        change = np.nan_to_num(latest - previous)  # unknown trend counts as steady
        trend = np.where(change < -self.trend_step, 0, np.where(change > self.trend_step, 2, 1))
        age = view.obs_age_days[self.pack.observation_kinds[0]][:, 0]
        fresh = (np.nan_to_num(age, nan=np.inf) <= self.pack.decision_interval_days).astype(int)
        dose = np.digitize(view.current_dose, self.dose_edges)
        phase = np.digitize(view.day, self.PHASE_EDGES_DAYS)
        return np.ravel_multi_index((level, trend, fresh, dose, phase), self.shape)


@dataclass
class TabularPolicy:
    """Greedy over the learned table among the actions the guardrails allow (a ``DosingPolicy``)."""

    pack: TherapyPack
    discretizer: Discretizer
    q_table: np.ndarray
    name: str = "q_learning"

    def reset(self, n: int) -> None:
        self.last_actions: np.ndarray | None = None

    def act(self, view: ClinicView) -> tuple[np.ndarray, np.ndarray]:
        mask = allowed_actions(self.pack.guardrails(view).mask)
        self.last_actions = masked_argmax(self.q_table[self.discretizer(view)], mask)
        return self.pack.apply_actions(view.current_dose, self.last_actions)


@dataclass
class TabularResult:
    q_table: np.ndarray
    discretizer: Discretizer
    pack: TherapyPack
    curves: Curves
    args: Args
    cohort_hash: str
    seconds: float
    visited_states: int

    def policy(self) -> TabularPolicy:
        return TabularPolicy(self.pack, self.discretizer, self.q_table)


def train(args: Args, cohort: Cohort | None = None, pack: TherapyPack | None = None) -> TabularResult:
    """Learn a Q-table on the pack's twins; ``cohort``: the training patients (default: drawn with ``args.cohort_seed``)."""
    pack = pack if pack is not None else get_pack(args.therapy)
    rng = np.random.default_rng(args.seed)
    cohort_seed = args.cohort_seed if args.cohort_seed is not None else TRAIN_COHORT_SEED_OFFSET + args.seed
    population = training_cohort(pack, cohort, args.train_patients, cohort_seed)
    sampler = EpisodeSampler(pack, population, args.num_patients, rng)
    horizon = steps_per_episode(pack, episode_days(pack, args.episode_days))
    discretize = Discretizer(pack)
    q_table = np.zeros((discretize.n_states, pack.n_actions))
    visits = np.zeros(discretize.n_states, dtype=np.int64)
    curves = Curves()

    start_time = time.time()
    global_step = 0
    bar = tqdm(total=args.total_steps, disable=not args.progress, unit="decisions", desc=f"q-learning {pack.id}")
    while global_step < args.total_steps:
        sim = sampler.next_episode()
        view = sim.reset()
        state, mask = discretize(view), allowed_actions(pack.guardrails(view).mask)
        live = np.ones(args.num_patients, bool)
        episodic_return = np.zeros(args.num_patients)
        for _ in range(horizon):
            epsilon = linear_schedule(args.start_e, args.end_e, int(args.exploration_fraction * args.total_steps), global_step)
            actions = epsilon_greedy(q_table[state], mask, epsilon, rng)
            res = sim.step(*pack.apply_actions(view.current_dose, actions))
            view = res.view
            next_state, next_mask = discretize(view), allowed_actions(pack.guardrails(view).mask)
            terminated = np.asarray(res.terminated, bool)

            # ALGO LOGIC: one-step Q-learning target, max over allowed next actions; same-cell updates averaged
            next_value = np.where(next_mask, q_table[next_state], -np.inf).max(axis=1)
            td_target = res.reward + args.gamma * next_value * (1.0 - terminated)
            td_error = (td_target - q_table[state, actions])[live]
            cell = state[live] * pack.n_actions + actions[live]
            total = np.bincount(cell, weights=td_error, minlength=q_table.size)
            count = np.bincount(cell, minlength=q_table.size)
            q_table.flat += args.learning_rate * total / np.maximum(count, 1)
            np.add.at(visits, state[live], 1)

            episodic_return += np.where(live, res.reward, 0.0)
            global_step += int(live.sum())
            bar.update(int(live.sum()))
            live &= ~terminated
            state, mask = next_state, next_mask
            if not live.any():
                break
        curves.log("charts/episodic_return", float(episodic_return.mean()), global_step)
        curves.log("charts/epsilon", epsilon, global_step)
        curves.log("charts/SPS", global_step / (time.time() - start_time), global_step)
    bar.close()
    return TabularResult(q_table, discretize, pack, curves, args, cohort_hash(population), time.time() - start_time,
                         int((visits > 0).sum()))
