"""PPO with masked logits (Schulman et al. 2017, clipped objective; GAE, Schulman et al. 2016) — the actor-critic comparator.

Read like cleanrl's ``ppo.py``: ``Args`` → ``train``. One rollout = one episode of N patients (the horizon end is a
truncation: GAE bootstraps from V(s_T)); guardrail masks set disallowed logits to a large negative number, so the policy
puts no probability on unsafe actions and its entropy counts allowed actions only. ``torch_q_fn(result.network)`` gives the
masked-argmax-ready logits for ``rollout.ActionPolicy`` (the greedy policy).
"""

from __future__ import annotations

import dataclasses
import random
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.distributions import Categorical
from tqdm import tqdm

from dosewise.therapies.base import Cohort, TherapyPack
from dosewise.therapies.registry import get_pack
from dosewise_trainer.algorithms.common import (
    Curves,
    EpisodeSampler,
    allowed_actions,
    cohort_hash,
    episode_days,
    steps_per_episode,
    training_cohort,
)
from dosewise_trainer.algorithms.networks import ActorCritic

TRAIN_COHORT_SEED_OFFSET = 100_000  # as dqn.py
MASKED_LOGIT = -1e9  # not −inf: 0·log 0 must stay 0 in the entropy


@dataclass
class Args:
    therapy: str = "warfarin"
    """the therapy pack to learn (a key of dosewise.therapies.registry.PACKS)"""
    seed: int = 1
    """seed of python, numpy, torch and every cohort/simulator draw"""
    threads: int = 1
    """torch CPU threads"""
    total_steps: int = 1_000_000
    """patient-decisions to collect; one vectorized step of N patients counts N"""
    num_patients: int = 128
    """patients per rollout (one rollout = one episode)"""
    episode_days: float | None = None
    """days per episode (None: the pack's ``episode_days`` if it declares one, else 90); then fresh patients and simulator
    seed. The end is a truncation, not a termination: the last steps still bootstrap"""
    train_patients: int = 4000
    """size of the training population when train() gets no cohort"""
    cohort_seed: int | None = None
    """seed of the training population; None → TRAIN_COHORT_SEED_OFFSET + seed"""
    learning_rate: float = 1e-3
    """Adam learning rate"""
    gamma: float = 0.95
    """discount factor per decision step"""
    gae_lambda: float = 0.95
    """λ of generalized advantage estimation"""
    update_epochs: int = 4
    """passes over each rollout"""
    num_minibatches: int = 8
    """minibatches per pass"""
    clip_coef: float = 0.2
    """PPO ratio clipping"""
    ent_coef: float = 0.01
    """entropy bonus"""
    vf_coef: float = 0.5
    """value-loss weight"""
    max_grad_norm: float = 0.5
    """gradient clipping (global L2 norm)"""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """widths of the actor's and the critic's MLPs"""
    progress: bool = True
    """show a tqdm progress bar"""


@dataclass
class ActorCriticResult:
    network: ActorCritic
    curves: Curves
    args: Args
    cohort_hash: str
    seconds: float


def train(args: Args, cohort: Cohort | None = None, pack: TherapyPack | None = None) -> ActorCriticResult:
    """Learn a masked stochastic policy with PPO; ``cohort``: the training patients (default: drawn with cohort_seed)."""
    pack = pack if pack is not None else get_pack(args.therapy)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    cohort_seed = args.cohort_seed if args.cohort_seed is not None else TRAIN_COHORT_SEED_OFFSET + args.seed
    population = training_cohort(pack, cohort, args.train_patients, cohort_seed)
    sampler = EpisodeSampler(pack, population, args.num_patients, rng)
    T, N = steps_per_episode(pack, episode_days(pack, args.episode_days)), args.num_patients

    agent = ActorCritic(pack.feature_specs, pack.n_actions, args.hidden_sizes)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)
    curves = Curves()
    obs = torch.zeros(T, N, pack.n_features)
    masks = torch.zeros(T, N, pack.n_actions, dtype=torch.bool)
    actions = torch.zeros(T, N, dtype=torch.long)
    logprobs, rewards, values = torch.zeros(T, N), torch.zeros(T, N), torch.zeros(T, N)
    terminated, live = torch.zeros(T, N), torch.zeros(T, N, dtype=torch.bool)

    start_time = time.time()
    global_step = 0
    bar = tqdm(total=args.total_steps, disable=not args.progress, unit="decisions", desc=f"ppo {pack.id}")
    while global_step < args.total_steps:
        # Collect one episode with the current policy.
        sim = sampler.next_episode()
        view = sim.reset()
        alive = np.ones(N, bool)
        for t in range(T):
            obs[t] = torch.from_numpy(pack.features(view))
            masks[t] = torch.from_numpy(allowed_actions(pack.guardrails(view).mask))
            live[t] = torch.from_numpy(alive)
            with torch.no_grad():
                logits, values[t] = agent(obs[t])
                dist = Categorical(logits=logits.masked_fill(~masks[t], MASKED_LOGIT))
                actions[t] = dist.sample()
                logprobs[t] = dist.log_prob(actions[t])
            res = sim.step(*pack.apply_actions(view.current_dose, actions[t].numpy()))
            view = res.view
            rewards[t] = torch.as_tensor(res.reward, dtype=torch.float32)
            terminated[t] = torch.as_tensor(res.terminated, dtype=torch.float32)
            global_step += int(alive.sum())
            alive &= ~np.asarray(res.terminated, bool)
        bar.update(int(live.sum()))
        curves.log("charts/episodic_return", float((rewards * live).sum(0).mean()), global_step)

        # ALGO LOGIC: GAE; the horizon end bootstraps from V(s_T) (truncation), a termination does not
        with torch.no_grad():
            next_value = agent(torch.from_numpy(pack.features(view)))[1]
            advantages = torch.zeros(T, N)
            last_gae = torch.zeros(N)
            for t in reversed(range(T)):
                nonterminal = 1.0 - terminated[t]
                v_next = next_value if t == T - 1 else values[t + 1]
                delta = rewards[t] + args.gamma * v_next * nonterminal - values[t]
                last_gae = delta + args.gamma * args.gae_lambda * nonterminal * last_gae
                advantages[t] = last_gae
            returns = advantages + values

        # ALGO LOGIC: clipped surrogate over the live transitions of this episode
        keep = live.reshape(-1)
        b_obs, b_masks, b_actions = obs.reshape(-1, pack.n_features)[keep], masks.reshape(-1, pack.n_actions)[keep], \
            actions.reshape(-1)[keep]
        b_logprobs, b_adv, b_returns = logprobs.reshape(-1)[keep], advantages.reshape(-1)[keep], returns.reshape(-1)[keep]
        batch = len(b_actions)
        minibatch = max(1, batch // args.num_minibatches)
        for _ in range(args.update_epochs):
            order = torch.from_numpy(rng.permutation(batch))
            for start in range(0, batch, minibatch):
                mb = order[start:start + minibatch]
                logits, value = agent(b_obs[mb])
                dist = Categorical(logits=logits.masked_fill(~b_masks[mb], MASKED_LOGIT))
                ratio = (dist.log_prob(b_actions[mb]) - b_logprobs[mb]).exp()
                adv = b_adv[mb]
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef)).mean()
                v_loss = 0.5 * ((value - b_returns[mb]) ** 2).mean()
                entropy = dist.entropy().mean()
                loss = pg_loss - args.ent_coef * entropy + args.vf_coef * v_loss
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()
        curves.log("losses/policy_loss", pg_loss.item(), global_step)
        curves.log("losses/value_loss", v_loss.item(), global_step)
        curves.log("losses/entropy", entropy.item(), global_step)
        curves.log("charts/SPS", global_step / (time.time() - start_time), global_step)
    bar.close()
    agent.eval()
    return ActorCriticResult(agent, curves, dataclasses.replace(args), cohort_hash(population), time.time() - start_time)
