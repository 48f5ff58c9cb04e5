"""Our Double DQN vs stable-baselines3's DQN on the same therapy, the same budget of environment steps, judged on the same
held-out cohort by the same rollout and metrics code. Prints return reached and wall-clock side by side.

    .venv/bin/python bench/sb3_dqn.py --therapy warfarin --steps 150000
    .venv/bin/python bench/sb3_dqn.py --therapy warfarin --steps 150000 --comparators   # + tabular Q-learning and PPO

stable-baselines3 is a benchmark-only dependency:  .venv/bin/pip install stable-baselines3
(it accepts the installed torch 2.13.0; check with ``pip install --dry-run`` that no other torch would be pulled).

Fairness notes (read them with the table):
- SB3 steps ONE patient at a time (``dosewise.therapies.gym_env.make_env``); ours steps ``num_patients`` at once.
- SB3 sees the same features, normalized with the same ``pack.feature_specs`` loc/scale (a TransformObservation wrapper),
  the same γ, n-step, learning rate, network widths and ε schedule; its replay/update cadence is SB3's default
  (train_freq 4, batch 32), as a user would run it.
- SB3's DQN knows no action masks: it explores unsafe actions in training. At evaluation every policy goes through
  ``rollout.ActionPolicy``, which applies the pack's guardrails, so the held-out numbers compare like with like.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from dosewise.therapies.base import DosingPolicy, TherapyPack
from dosewise.therapies.registry import get_pack
from dosewise.therapies.rollout import ActionPolicy, rollout
from dosewise_trainer.algorithms import actor_critic, dqn, q_learning
from dosewise_trainer.algorithms.common import episode_days, steps_per_episode
from dosewise_trainer.algorithms.networks import torch_q_fn

HOLDOUT_SEED = 2_024_001  # the held-out cohort: a seed no training population uses (dqn.TRAIN_COHORT_SEED_OFFSET + seed)


@dataclass
class Row:
    name: str
    train_seconds: float
    env_steps: int
    metrics: dict[str, float]


def evaluate(pack: TherapyPack, policy: DosingPolicy, n: int, days: float) -> dict[str, float]:
    """Mean return per patient and mean of every pack metric on the held-out cohort (same cohort, same seed for all)."""
    traj = rollout(pack, pack.sample_cohort(n, HOLDOUT_SEED), policy, steps_per_episode(pack, days), seed=HOLDOUT_SEED + 1)
    return {"return": float(traj.reward.sum(axis=1).mean()), **{k: float(np.nanmean(v)) for k, v in pack.metrics(traj).items()}}


def train_sb3(pack: TherapyPack, args: dqn.Args, steps: int) -> tuple[Callable[[np.ndarray], np.ndarray], float]:
    """SB3 DQN on the pack's Gymnasium env; returns (q_fn on raw features, wall-clock seconds)."""
    try:
        from stable_baselines3 import DQN
    except ModuleNotFoundError:
        sys.exit("stable-baselines3 is not installed: .venv/bin/pip install stable-baselines3")
    import gymnasium as gym
    from gymnasium.wrappers import TransformObservation

    from dosewise.therapies.gym_env import make_env

    loc = np.array([f.loc for f in pack.feature_specs], np.float32)
    scale = np.array([f.scale or 1.0 for f in pack.feature_specs], np.float32)
    base = make_env(pack, max_episode_steps=steps_per_episode(pack, episode_days(pack, args.episode_days)))
    space = gym.spaces.Box(-np.inf, np.inf, shape=(pack.n_features,), dtype=np.float32)
    env = TransformObservation(base, lambda obs: ((obs - loc) / scale).astype(np.float32), space)
    torch.set_num_threads(args.threads)
    model = DQN(
        "MlpPolicy", env, learning_rate=args.learning_rate, buffer_size=min(args.buffer_size, steps),
        learning_starts=args.learning_starts, gamma=args.gamma, n_steps=args.n_step,
        exploration_fraction=args.exploration_fraction, exploration_final_eps=args.end_e,
        policy_kwargs={"net_arch": list(args.hidden_sizes)}, seed=args.seed, device="cpu", verbose=0,
    )
    start = time.time()
    model.learn(total_timesteps=steps, progress_bar=False)
    seconds = time.time() - start

    def q_fn(features: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            x = torch.as_tensor((np.asarray(features, np.float32) - loc) / scale)
            return model.q_net(x).numpy().astype(np.float64)

    return q_fn, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--therapy", default="warfarin")
    parser.add_argument("--steps", type=int, default=None, help="env steps (patient-decisions) for every learner; "
                        "default: our quick budget")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--patients", type=int, default=1000, help="held-out cohort size")
    parser.add_argument("--days", type=float, default=None, help="evaluation horizon; default: the training episode's")
    parser.add_argument("--comparators", action="store_true",
                        help="also tabular Q-learning and PPO, each at its own default budget (Args.total_steps)")
    opts = parser.parse_args()
    pack = get_pack(opts.therapy)
    args = dqn.Args.quick(opts.therapy, seed=opts.seed, progress=False)
    if opts.steps is not None:
        args.total_steps = opts.steps
    opts.days = opts.days if opts.days is not None else episode_days(pack, args.episode_days)
    steps = args.total_steps
    rows = [Row("guideline", 0.0, 0, evaluate(pack, pack.guideline_policy(), opts.patients, opts.days))]

    ours = dqn.train(args, pack=pack)
    rows.append(Row("dosewise double DQN (ensemble, masks)", ours.seconds, steps,
                    evaluate(pack, ActionPolicy(pack, torch_q_fn(ours.q_network)), opts.patients, opts.days)))
    sb3_q_fn, sb3_seconds = train_sb3(pack, args, steps)
    rows.append(Row("stable-baselines3 DQN", sb3_seconds, steps,
                    evaluate(pack, ActionPolicy(pack, sb3_q_fn), opts.patients, opts.days)))
    if opts.comparators:
        # On-policy and tabular learners need more samples than a replay-based DQN; each runs at its own default budget.
        table = q_learning.train(q_learning.Args(therapy=opts.therapy, seed=opts.seed, progress=False), pack=pack)
        rows.append(Row("tabular Q-learning", table.seconds, table.args.total_steps,
                        evaluate(pack, table.policy(), opts.patients, opts.days)))
        ppo = actor_critic.train(actor_critic.Args(therapy=opts.therapy, seed=opts.seed, progress=False), pack=pack)
        rows.append(Row("PPO (masked logits)", ppo.seconds, ppo.args.total_steps,
                        evaluate(pack, ActionPolicy(pack, torch_q_fn(ppo.network)), opts.patients, opts.days)))

    efficacy, adverse = pack.primary_metrics()
    print(f"\n{pack.id}: held-out cohort {opts.patients} patients × {opts.days:g} days (seed {HOLDOUT_SEED}), "
          f"torch threads {args.threads}; return = mean summed reward per patient")
    print(f"{'policy':40s} {'env steps':>10s} {'train s':>8s} {'return':>8s} {efficacy:>26s} {adverse:>20s}")
    for r in rows:
        print(f"{r.name:40s} {r.env_steps:10d} {r.train_seconds:8.0f} {r.metrics['return']:8.2f} "
              f"{r.metrics[efficacy]:26.2f} {r.metrics[adverse]:20.3f}")


if __name__ == "__main__":
    main()
