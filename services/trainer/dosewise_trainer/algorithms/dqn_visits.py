"""Double DQN at clinic-visit cadence: the learner of ``dqn.py`` on ``clinic.clinic_rollout`` episodes of a twin family.

What changes against the daily learner, and why:

- **One step = one visit** (``visit_env``): each episode is one clinic rollout, the protocol evaluation and serving use,
  cut into visit-level transitions; the action is a regimen change held until the next visit, the reward the sum of the
  daily rewards over the interval minus the reversal penalty (issue #25).
- **Discount per day**: a transition of d days is discounted γ_day^d (``Args.gamma_per_day``), the same horizon whatever
  the cadence; the replay buffer already stores each transition's own discount.
- **n-step returns per patient** (``Args.n_step`` visits): patients visit on different days, so each patient's window is
  its own visits (``visit_transitions``), every step discounted by the days since the decision.
- **Episodes from a family of twins**: each episode draws fresh patients from one training twin model at one of the
  pack's cadences (every pair in turn, ``episode_plan``), so no single model's parameters or cadence are learned.
- **Collect, then learn**: an episode runs with the network of its start (ε-greedy); its transitions then train it. An
  episode is one batch of patients over the course, as the daily learner's vectorized step is one batch over a day.
- **Updates per transition**: ``gradient_steps`` · ``batch_size`` / ``num_patients`` of the daily learner becomes
  ``replay_ratio`` (samples drawn per transition collected).

The guardrail mask restricts exploration and the target's max exactly as in the daily learner (``allowed_actions``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from dosewise.therapies.base import Cohort, TherapyPack
from dosewise.therapies.clinic import ActionVisitPolicy, ClinicNoise, ClinicTwin, Schedule, clinic_rollout
from dosewise_trainer.algorithms.common import Curves, episode_days, linear_schedule
from dosewise_trainer.algorithms.networks import QNetwork, build_q_network, torch_q_fn
from dosewise_trainer.visit_env import (
    ExploringVisitPolicy,
    TwinFactory,
    VisitTransitions,
    pack_simulator_family,
    visit_transitions,
)

if TYPE_CHECKING:
    from dosewise.therapies.twin_models import TwinModel
    from dosewise_trainer.algorithms.dqn import Args, ReplayBuffer


@dataclass
class FamilyMember:
    """One training twin model: its name (for the card) and how to draw n of its twins."""

    name: str
    make: TwinFactory


def _boot(rng: np.random.Generator, n: int, heads: int, p: float) -> np.ndarray:
    return (rng.random((n, heads)) < p).astype(np.float32)


def _to_buffer(tr: VisitTransitions) -> dict[str, np.ndarray]:
    return {"obs": tr.obs, "actions": tr.actions, "returns": tr.reward.astype(np.float32), "next_obs": tr.next_obs,
            "next_mask": tr.next_mask,
            "terminated": np.zeros(tr.n, np.float32),  # twins have no terminal state
            "discount": tr.discount.astype(np.float32)}


@dataclass
class VisitTrainStats:
    """What the card and the report say about a visit-level run."""

    transitions: int
    episodes: int
    gradient_steps: int
    mean_interval_days: float
    reversal_rate: float  # share of learned decisions penalized as reversals (all of training, exploration included)


def episode_plan(family: list[FamilyMember], schedules: list[Schedule], episode: int) -> tuple[FamilyMember, Schedule]:
    """Episode k's twin model and cadence: every (model, cadence) pair in turn."""
    pairs = [(m, s) for m in family for s in schedules]
    return pairs[episode % len(pairs)]


def train_visits(args: Args, pack: TherapyPack, family: list[FamilyMember], schedules: list[Schedule],
                 noise: ClinicNoise, rng: np.random.Generator) -> tuple[QNetwork, Curves, VisitTrainStats]:
    """Learn a visit-level Q-network; ``args`` is a ``dqn.Args`` (its clinic fields are documented there). Each episode is
    one ``clinic_rollout`` of ``args.num_patients`` fresh twins with the network of the episode's start, ε-greedy; its
    transitions then train the network (``replay_ratio`` samples per transition)."""
    from dosewise_trainer.algorithms.dqn import ReplayBuffer

    q_network = build_q_network(pack, args.hidden_sizes, args.n_heads, args.dueling)
    optimizer = torch.optim.Adam(q_network.parameters(), lr=args.learning_rate)
    target_network = build_q_network(pack, args.hidden_sizes, args.n_heads, args.dueling)
    target_network.load_state_dict(q_network.state_dict())
    rb = ReplayBuffer(args.buffer_size, pack.n_features, pack.n_actions, args.n_heads, rng)
    curves = Curves()
    horizon = round(episode_days(pack, args.episode_days))
    q_fn = torch_q_fn(q_network)

    start_time = time.time()
    global_step = grad_steps = episodes = 0
    days_sum = reversals = 0.0
    owed = 0.0  # gradient steps earned by collected transitions and not yet taken
    epsilon = args.start_e
    bar = tqdm(total=args.total_steps, disable=not args.progress, unit="visits", desc=f"dqn-visits {pack.id}")
    while global_step < args.total_steps:
        member, schedule = episode_plan(family, schedules, episodes)
        epsilon = linear_schedule(args.start_e, args.end_e, int(args.exploration_fraction * args.total_steps), global_step)
        policy = ExploringVisitPolicy(pack, q_fn, epsilon, rng)
        twin = member.make(args.num_patients, int(rng.integers(2**31 - 1)))
        traj = clinic_rollout(pack, twin, policy, schedule, horizon, noise, seed=int(rng.integers(2**31 - 1)))
        tr = visit_transitions(pack, traj, policy.record, args.gamma_per_day, args.reversal_penalty, n_step=args.n_step)
        rb.add(**_to_buffer(tr), boot=_boot(rng, tr.n, args.n_heads, args.bootstrap_p))
        global_step += tr.n
        bar.update(tr.n)
        days_sum += float(tr.days.sum())
        reversals += float(tr.reversal.sum())
        if global_step > args.learning_starts:
            owed += tr.n * args.replay_ratio / args.batch_size
        while owed >= 1.0:
            owed -= 1.0
            loss, q_mean = _gradient_step(q_network, target_network, optimizer, rb, args)
            grad_steps += 1
            if grad_steps % args.target_network_frequency == 0:
                for tp, p in zip(target_network.parameters(), q_network.parameters(), strict=True):
                    tp.data.copy_(args.tau * p.data + (1.0 - args.tau) * tp.data)
            if grad_steps % args.log_every == 0:
                curves.log("losses/td_loss", loss, global_step)
                curves.log("losses/q_values", q_mean, global_step)
                curves.log("charts/epsilon", epsilon, global_step)
                curves.log("charts/SPS", global_step / (time.time() - start_time), global_step)
        episodes += 1
        per_patient = np.bincount(tr.patient, weights=tr.one_step_reward, minlength=traj.n)
        curves.log("charts/episodic_return", float(per_patient.mean()), global_step)
        curves.log("charts/reversal_rate", float(tr.reversal.mean()) if tr.n else 0.0, global_step)
        bar.set_postfix(ret=f"{per_patient.mean():.1f}", eps=f"{epsilon:.2f}", model=member.name)
    bar.close()
    q_network.eval()
    stats = VisitTrainStats(transitions=global_step, episodes=episodes, gradient_steps=grad_steps,
                            mean_interval_days=days_sum / max(global_step, 1),
                            reversal_rate=reversals / max(global_step, 1))
    return q_network, curves, stats


def _gradient_step(q_network: QNetwork, target_network: QNetwork, optimizer: torch.optim.Optimizer, rb: ReplayBuffer,
                   args: Args) -> tuple[float, float]:
    """One Double-DQN step on a replay sample, each head on its bootstrap share (as in ``dqn.train``)."""
    from dosewise_trainer.algorithms.dqn import double_dqn_target

    data = rb.sample(args.batch_size)
    td_target = double_dqn_target(q_network, target_network, data)
    taken = data["actions"][:, None, None].expand(-1, args.n_heads, 1)
    old_val = q_network(data["obs"]).gather(-1, taken).squeeze(-1)
    per_head = F.smooth_l1_loss(old_val, td_target, reduction="none") * data["boot"]
    loss = per_head.sum() / data["boot"].sum().clamp(min=1.0)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(q_network.parameters(), args.max_grad_norm)
    optimizer.step()
    return loss.item(), old_val.mean().item()


def compare_on_family(pack: TherapyPack, q_fn: Callable[[np.ndarray], np.ndarray], member: FamilyMember,
                      schedule: Schedule, noise: ClinicNoise, n: int, days: int, seed: int) -> dict[str, dict[str, float]]:
    """Means of the pack's clinic metrics for the greedy learned policy (``clinic.ActionVisitPolicy``) and the pack's visit
    guideline on the same ``n`` twins of one TRAINING model, same seed: for tuning on the training family only."""
    out: dict[str, dict[str, float]] = {}
    twin_seed = int(np.random.default_rng(seed).integers(2**31 - 1))
    for name, policy in (("learned", ActionVisitPolicy(pack, q_fn)), ("guideline", pack.visit_guideline_policy())):
        traj = clinic_rollout(pack, member.make(n, twin_seed), policy, schedule, days, noise, seed=seed)
        out[name] = {k: float(np.nanmean(v)) for k, v in pack.clinic_metrics(traj).items()}
    return out


def schedules_for(pack: TherapyPack, names: tuple[str, ...] | None = None) -> list[Schedule]:
    """The visit cadences to train for: ``names`` (keys of clinic.SCHEDULES), default the pack's own ``cadences``."""
    from dosewise.therapies.clinic import SCHEDULES

    names = tuple(names) if names else tuple(pack.cadences)
    if not names:
        raise ValueError(f"{pack.id} declares no visit cadences (pack.cadences): train it with the daily protocol")
    missing = [c for c in names if c not in SCHEDULES]
    if missing:
        raise ValueError(f"{pack.id}: unknown cadences {missing}; known: {sorted(SCHEDULES)}")
    return [SCHEDULES[c] for c in names]


def training_family(pack: TherapyPack, population: Cohort, parameter_sd: float,
                    names: tuple[str, ...] | None = None) -> list[FamilyMember]:
    """The twin models to train on: ``names`` (twin_models registry), default every model the registry lists for the pack
    with role "train". While that is the pack's own simulator alone (no family registered yet), the same simulator on
    ``population`` with every continuous parameter widened by ``parameter_sd`` (log-normal; 0 leaves it out) joins it.
    A held-out model is never trained on: naming one is an error."""
    family: list[FamilyMember] = []
    try:
        from dosewise.therapies import twin_models as registry
    except ImportError:  # no registry in this checkout: the widened simulator alone
        registry = None
    if registry is not None:
        models = ([registry.get_twin_model(n) for n in names] if names
                  else registry.twin_models(pack.id, role="train"))
        for m in models:
            if m.role != "train" or m.therapy != pack.id:
                raise ValueError(f"twin model {m.name!r} is a {m.role} model of {m.therapy}: not a training model of {pack.id}")
            family.append(FamilyMember(m.name, _registry_factory(m)))
    elif names:
        raise ValueError(f"{pack.id}: no twin-model registry to draw {list(names)} from")
    if not family or (not names and len(family) == 1 and parameter_sd > 0):
        family.append(FamilyMember(f"{pack.id}-simulator-widened-sd{parameter_sd:g}",
                                   pack_simulator_family(pack, population, parameter_sd)))
    return family


def _registry_factory(model: TwinModel) -> TwinFactory:
    def make(n: int, seed: int) -> ClinicTwin:
        twin, _groups = model.build(n, seed)
        return twin

    return make
