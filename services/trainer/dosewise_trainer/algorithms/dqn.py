"""Double DQN with an ensemble of bootstrapped Q-heads, learned on a therapy pack's vectorized digital twins.

Read it like cleanrl's ``dqn.py``: ``Args`` (every field documented) → replay buffer → n-step window → ``train``.

- Double DQN (van Hasselt et al. 2016): the online network picks the next action, the target network values it.
- n-step returns (Sutton & Barto 2018, §7.1); the horizon end is a *truncation*, so the target bootstraps through it, and
  only a course that ended inside the model (``terminated``) stops bootstrapping.
- Guardrail masks from ``pack.guardrails(view).mask`` restrict exploration AND the target's max to allowed actions, so the
  policy never learns to want an unsafe action.
- K heads on a shared torso, each trained on its own bootstrap sample of transitions (Osband et al. 2016); the policy's Q
  is their mean and their spread is exported as uncertainty.

Use from Python (evaluation / cross-validation)::

    from dosewise_trainer.algorithms.dqn import Args, train
    result = train(Args(therapy="warfarin", seed=3), cohort=pack.sample_cohort(4000, 11).take(train_idx))
    q_fn = torch_q_fn(result.q_network)      # dosewise_trainer.algorithms.networks
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from dosewise.therapies.base import Cohort, TherapyPack
from dosewise.therapies.clinic import ClinicNoise
from dosewise.therapies.registry import get_pack
from dosewise_trainer.algorithms.common import (
    Curves,
    EpisodeSampler,
    allowed_actions,
    cohort_hash,
    episode_days,
    epsilon_greedy,
    linear_schedule,
    steps_per_episode,
    training_cohort,
)
from dosewise_trainer.algorithms.networks import QNetwork, build_q_network

if TYPE_CHECKING:
    from dosewise_trainer.algorithms.dqn_visits import FamilyMember

TRAIN_COHORT_SEED_OFFSET = 100_000  # default training population = sample_cohort(train_patients, 100_000 + seed), far from
# the small seeds evaluation uses, so a default training population never overlaps a default evaluation cohort.


@dataclass
class Args:
    therapy: str = "warfarin"
    """the therapy pack to learn (a key of dosewise.therapies.registry.PACKS)"""
    seed: int = 1
    """seed of python, numpy, torch and every cohort/simulator draw: same seed → identical policy weights"""
    threads: int = 1
    """torch CPU threads (the machine is shared; one is enough for these small networks)"""
    total_steps: int = 600_000
    """patient-decisions to collect; one vectorized step of N patients counts N"""
    num_patients: int = 64
    """patients the simulator steps together (N); each vectorized step yields N transitions"""
    episode_days: float | None = None
    """days per episode (None: the pack's ``episode_days`` if it declares one, else 90); then fresh patients and simulator
    seed. The end is a truncation, not a termination: the last steps still bootstrap"""
    train_patients: int = 4000
    """size of the training population when train() gets no cohort (drawn with cohort_seed)"""
    cohort_seed: int | None = None
    """seed of the training population; None → TRAIN_COHORT_SEED_OFFSET + seed"""
    learning_rate: float = 5e-4
    """Adam learning rate"""
    buffer_size: int = 300_000
    """replay memory size (transitions)"""
    gamma: float = 0.95
    """discount factor per decision step"""
    n_step: int = 3
    """steps summed in each return before bootstrapping (1 = one-step TD)"""
    tau: float = 1.0
    """target network update rate (1.0 = hard copy)"""
    target_network_frequency: int = 500
    """gradient steps between target network updates"""
    batch_size: int = 256
    """transitions per gradient step"""
    gradient_steps: int = 2
    """gradient steps per vectorized environment step (replay ratio = gradient_steps·batch_size / num_patients)"""
    start_e: float = 1.0
    """starting exploration ε"""
    end_e: float = 0.05
    """final exploration ε"""
    exploration_fraction: float = 0.3
    """fraction of total_steps over which ε decays linearly from start_e to end_e"""
    learning_starts: int = 10_000
    """patient-decisions collected before learning starts"""
    hidden_sizes: tuple[int, ...] = (128, 128)
    """widths of the shared MLP torso"""
    n_heads: int = 5
    """ensemble size K (Q-heads on the shared torso)"""
    bootstrap_p: float = 0.5
    """probability that a transition trains a given head (its bootstrap mask); 1.0 = every head sees every transition"""
    dueling: bool = True
    """dueling heads: Q = V + A − mean(A)"""
    max_grad_norm: float = 10.0
    """gradient clipping (global L2 norm)"""
    log_every: int = 100
    """gradient steps between scalar logs"""
    progress: bool = True
    """show a tqdm progress bar"""
    out_dir: str | None = None
    """if set: write training curves (CSV, PNG), policy.onnx and model_card.json here"""
    protocol: str | None = None
    """"clinic": one decision per visit at the pack's cadences (dqn_visits.py, visit_env.py); "daily": one a day on the
    pack's simulator; None: "clinic" for a pack that declares cadences, else "daily"."""
    cadences: tuple[str, ...] | None = None
    """clinic protocol: the visit cadences to train for (keys of clinic.SCHEDULES); None: the pack's own cadences"""
    twin_models: tuple[str, ...] | None = None
    """clinic protocol: the twin models to train on (twin_models registry); None: every model with role "train", or the
    pack's own simulator with widened parameters (``parameter_sd``) when the registry has none"""
    parameter_sd: float = 0.3
    """clinic protocol, simulator fallback: log-SD of the multiplicative noise on each continuous twin parameter"""
    gamma_per_day: float = 0.97
    """clinic protocol: discount per day; a visit interval of d days is discounted gamma_per_day**d"""
    reversal_penalty: float = 1.0
    """clinic protocol: reward subtracted for a reversal without new evidence (visit_env.is_reversal; product choice)"""
    replay_ratio: float = 16.0
    """clinic protocol: transitions sampled for learning per transition collected"""
    # The clinic noise of training defaults to the clinic evaluation's (evaluation/clinic.py DEFAULT_NOISE: our
    # assumptions of a realistic clinic), so the policy learns under the conditions it is judged in.
    assay_cv: float = 0.05
    """clinic protocol: assay noise of the primary measurement (log-normal CV)"""
    adherence: float = 0.9
    """clinic protocol: probability each day's dose is taken"""
    late_visit_prob: float = 0.1
    """clinic protocol: probability a visit is 1–3 days late"""
    missed_visit_prob: float = 0.05
    """clinic protocol: probability a visit does not happen (the plan runs on to the next one)"""
    result_delay_prob: float = 0.3
    """clinic protocol: probability a decision reads a result 1–2 days old (a lab INR reviewed the next day)"""

    @classmethod
    def for_therapy(cls, therapy: str, **overrides: Any) -> Args:
        """The full budget with the pack's simulator-specific settings (``TherapyPack.training_defaults``), then
        ``overrides``. Under the clinic protocol, CLINIC_SETTINGS replace the daily learner's budget."""
        clinic = resolve_protocol(therapy, overrides.get("protocol")) == "clinic"
        base = {**CLINIC_SETTINGS, "protocol": "clinic"} if clinic else dict(_pack_defaults(therapy))
        return cls(therapy=therapy, **{**base, **overrides})

    @classmethod
    def quick(cls, therapy: str, **overrides: Any) -> Args:
        """The ``--quick`` budget (a few minutes of one core at most), tuned on the training family only."""
        clinic = resolve_protocol(therapy, overrides.get("protocol")) == "clinic"
        return cls.for_therapy(therapy, **{**(CLINIC_QUICK_BUDGET if clinic else QUICK_BUDGET), **overrides})


def clinic_noise(args: Args) -> ClinicNoise:
    """The clinic noise the visit-level learner trains under (and its feature statistics are taken under)."""
    return ClinicNoise(assay_cv=args.assay_cv, adherence=args.adherence, late_visit_prob=args.late_visit_prob,
                       missed_visit_prob=args.missed_visit_prob, result_delay_prob=args.result_delay_prob)


def resolve_protocol(therapy: str, protocol: str | None) -> str:
    """"clinic" or "daily": ``protocol`` if given, else "clinic" for a pack that declares visit cadences."""
    if protocol is not None:
        if protocol not in ("clinic", "daily"):
            raise ValueError(f"protocol must be 'clinic' or 'daily', not {protocol!r}")
        return protocol
    try:
        pack = get_pack(therapy)
    except KeyError:  # a pack outside the registry (tests): ``train`` decides from the pack it is given
        return "daily"
    return "clinic" if pack.cadences else "daily"


def _pack_defaults(therapy: str) -> Mapping[str, Any]:
    """The pack's own training defaults (e.g. insulin's twin is slow per step, so it steps more patients at once); none
    for a pack outside the registry (tests train such packs with explicit Args)."""
    try:
        return get_pack(therapy).training_defaults
    except KeyError:
        return {}


# --quick: a quarter of the full budget (measured on warfarin and insulin_t2d: see the README for the held-out numbers).
QUICK_BUDGET: dict[str, Any] = {"total_steps": 150_000, "learning_starts": 5_000, "buffer_size": 150_000}
# The clinic protocol counts visits, not days: a 90-day course is 10–30 visits, so the budgets are in visits. The twins are
# stepped day by day for every patient whatever the cadence, so more patients per episode cost little more (numpy).
CLINIC_SETTINGS: dict[str, Any] = {"total_steps": 200_000, "num_patients": 256, "learning_starts": 5_000,
                                   "buffer_size": 200_000, "target_network_frequency": 250}
CLINIC_QUICK_BUDGET: dict[str, Any] = {"total_steps": 50_000, "learning_starts": 3_000, "buffer_size": 50_000}


@dataclass
class TrainResult:
    """What ``train`` returns: the trained network, its curves and config, and where files went (if anywhere)."""

    q_network: QNetwork
    curves: Curves
    args: Args
    cohort_hash: str
    seconds: float
    out_dir: Path | None = None


class ReplayBuffer:
    """Uniform replay over n-step transitions, numpy arrays, filled a batch of patients at a time."""

    def __init__(self, capacity: int, n_features: int, n_actions: int, n_heads: int, rng: np.random.Generator) -> None:
        self.capacity, self.rng, self.pos, self.full = capacity, rng, 0, False
        self.obs = np.zeros((capacity, n_features), np.float32)
        self.next_obs = np.zeros((capacity, n_features), np.float32)
        self.next_mask = np.zeros((capacity, n_actions), bool)
        self.actions = np.zeros(capacity, np.int64)
        self.returns = np.zeros(capacity, np.float32)
        self.discount = np.zeros(capacity, np.float32)  # γ^m for an m-step return
        self.terminated = np.zeros(capacity, np.float32)
        self.boot = np.zeros((capacity, n_heads), np.float32)  # which heads learn from this transition

    def __len__(self) -> int:
        return self.capacity if self.full else self.pos

    def add(self, **batch: np.ndarray) -> None:
        n = len(batch["actions"])
        idx = (self.pos + np.arange(n)) % self.capacity
        for name, values in batch.items():
            getattr(self, name)[idx] = values
        self.full = self.full or self.pos + n >= self.capacity
        self.pos = (self.pos + n) % self.capacity

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        idx = self.rng.integers(len(self), size=batch_size)
        names = ("obs", "next_obs", "next_mask", "actions", "returns", "discount", "terminated", "boot")
        return {k: torch.from_numpy(getattr(self, k)[idx]) for k in names}


class NStepWindow:
    """The last n decision steps of N patients; each ``pop`` emits the oldest step's m-step transition (m = window length).

    ``live`` says a patient's course had not ended before the step; rewards after a termination never count.
    """

    def __init__(self, n: int, gamma: float) -> None:
        self.n, self.gamma = n, gamma
        self.steps: deque[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = deque()

    def push(self, obs: np.ndarray, actions: np.ndarray, reward: np.ndarray, terminated: np.ndarray, live: np.ndarray) -> None:
        self.steps.append((obs, actions, reward, terminated, live))

    @property
    def ready(self) -> bool:
        return len(self.steps) >= self.n

    def pop(self, next_obs: np.ndarray, next_mask: np.ndarray) -> dict[str, np.ndarray]:
        """The oldest step's transition, for the patients live at that step. ``next_obs`` = state after the newest step."""
        m = len(self.steps)
        obs, actions, _, _, live0 = self.steps[0]
        returns = sum(self.gamma**k * r * live for k, (_, _, r, _, live) in enumerate(self.steps))
        _, _, _, term_last, live_last = self.steps[-1]
        ended = ~(live_last & ~term_last)
        self.steps.popleft()
        keep = live0
        return {"obs": obs[keep], "actions": actions[keep], "returns": np.asarray(returns)[keep].astype(np.float32),
                "next_obs": next_obs[keep], "next_mask": next_mask[keep], "terminated": ended[keep].astype(np.float32),
                "discount": np.full(int(keep.sum()), self.gamma**m, np.float32)}


def double_dqn_target(q_network: QNetwork, target_network: QNetwork, data: dict[str, torch.Tensor]) -> torch.Tensor:
    """y_k = G + γ^m · Q_target,k(s', argmax_{a allowed in s'} Q_online,k(s', a)) · (1 − terminated), per head: (B, K).

    The online head picks the best ALLOWED next action and the target head values it (Double DQN); masked actions never
    enter the max, so an unsafe action's value cannot leak into the policy's estimates.
    """
    with torch.no_grad():
        next_online = q_network(data["next_obs"]).masked_fill(~data["next_mask"][:, None, :], -torch.inf)
        next_actions = next_online.argmax(dim=-1, keepdim=True)
        next_q = target_network(data["next_obs"]).gather(-1, next_actions).squeeze(-1)
        return data["returns"][:, None] + data["discount"][:, None] * next_q * (1 - data["terminated"][:, None])


def seed_everything(seed: int, threads: int) -> np.random.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    return np.random.default_rng(seed)


def train(args: Args, cohort: Cohort | None = None, pack: TherapyPack | None = None,
          family: list[FamilyMember] | None = None) -> TrainResult:
    """Learn a dosing policy. ``cohort``: the training patients (e.g. four cross-validation folds); default: a population
    of ``args.train_patients`` drawn with ``args.cohort_seed``. ``pack``: defaults to ``get_pack(args.therapy)``.
    ``family``: clinic protocol only, the twin models to train on (default ``dqn_visits.training_family``)."""
    pack = pack if pack is not None else get_pack(args.therapy)
    rng = seed_everything(args.seed, args.threads)
    cohort_seed = args.cohort_seed if args.cohort_seed is not None else TRAIN_COHORT_SEED_OFFSET + args.seed
    population = training_cohort(pack, cohort, args.train_patients, cohort_seed)
    if (args.protocol or ("clinic" if pack.cadences else "daily")) == "clinic":
        return _train_clinic(args, pack, population, cohort, cohort_seed, rng, family)
    sampler = EpisodeSampler(pack, population, args.num_patients, rng)
    horizon = steps_per_episode(pack, episode_days(pack, args.episode_days))

    q_network = build_q_network(pack, args.hidden_sizes, args.n_heads, args.dueling)
    optimizer = torch.optim.Adam(q_network.parameters(), lr=args.learning_rate)
    target_network = build_q_network(pack, args.hidden_sizes, args.n_heads, args.dueling)
    target_network.load_state_dict(q_network.state_dict())
    rb = ReplayBuffer(args.buffer_size, pack.n_features, pack.n_actions, args.n_heads, rng)
    curves = Curves()

    start_time = time.time()
    global_step, grad_steps = 0, 0
    bar = tqdm(total=args.total_steps, disable=not args.progress, unit="decisions", desc=f"dqn {pack.id}")
    while global_step < args.total_steps:
        # A fresh episode: new patients from the training population, new simulator seed, the guideline's starting regimen.
        sim = sampler.next_episode()
        view = sim.reset()
        obs, mask = pack.features(view), allowed_actions(pack.guardrails(view).mask)
        live = np.ones(args.num_patients, bool)
        episodic_return = np.zeros(args.num_patients)
        window = NStepWindow(args.n_step, args.gamma)
        for t in range(horizon):
            # ALGO LOGIC: ε-greedy over the actions the guardrails allow
            epsilon = linear_schedule(args.start_e, args.end_e, int(args.exploration_fraction * args.total_steps), global_step)
            with torch.no_grad():
                q = q_network.q_values(torch.from_numpy(obs)).numpy()
            actions = epsilon_greedy(q, mask, epsilon, rng)
            given, regimen = pack.apply_actions(view.current_dose, actions)
            res = sim.step(given, regimen)
            view = res.view
            next_obs, next_mask = pack.features(view), allowed_actions(pack.guardrails(view).mask)
            terminated = np.asarray(res.terminated, bool)
            episodic_return += np.where(live, res.reward, 0.0)

            # n-step transitions into the replay memory, each with its heads' bootstrap mask
            window.push(obs, actions, np.asarray(res.reward, np.float64), terminated, live.copy())
            last_step = t == horizon - 1 or bool(np.all(res.truncated)) or not np.any(live & ~terminated)
            while window.ready or (last_step and window.steps):
                batch = window.pop(next_obs, next_mask)
                boot = (rng.random((len(batch["actions"]), args.n_heads)) < args.bootstrap_p).astype(np.float32)
                rb.add(**batch, boot=boot)
            global_step += int(live.sum())
            bar.update(int(live.sum()))
            live &= ~terminated
            obs, mask = next_obs, next_mask

            # ALGO LOGIC: training
            if global_step > args.learning_starts:
                for _ in range(args.gradient_steps):
                    data = rb.sample(args.batch_size)
                    td_target = double_dqn_target(q_network, target_network, data)
                    taken = data["actions"][:, None, None].expand(-1, args.n_heads, 1)
                    old_val = q_network(data["obs"]).gather(-1, taken).squeeze(-1)  # (B, K)
                    per_head = F.smooth_l1_loss(old_val, td_target, reduction="none") * data["boot"]
                    loss = per_head.sum() / data["boot"].sum().clamp(min=1.0)

                    optimizer.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(q_network.parameters(), args.max_grad_norm)
                    optimizer.step()
                    grad_steps += 1

                    if grad_steps % args.target_network_frequency == 0:
                        for target_param, param in zip(target_network.parameters(), q_network.parameters(), strict=True):
                            target_param.data.copy_(args.tau * param.data + (1.0 - args.tau) * target_param.data)
                    if grad_steps % args.log_every == 0:
                        curves.log("losses/td_loss", loss.item(), global_step)
                        curves.log("losses/q_values", old_val.mean().item(), global_step)
                        curves.log("charts/epsilon", epsilon, global_step)
                        curves.log("charts/SPS", global_step / (time.time() - start_time), global_step)
            if last_step:
                break
        curves.log("charts/episodic_return", float(episodic_return.mean()), global_step)
        bar.set_postfix(ret=f"{episodic_return.mean():.2f}", eps=f"{epsilon:.2f}")
    bar.close()

    q_network.eval()
    result = TrainResult(q_network=q_network, curves=curves, args=args, cohort_hash=cohort_hash(population),
                         seconds=time.time() - start_time)
    if args.out_dir:
        from dosewise_trainer.export import export_policy

        out = Path(args.out_dir)
        curves.write(out)
        run_only = ("out_dir", "progress")  # where and how this run printed, not what it learned
        config = {"algorithm": "double_dqn_bootstrap_ensemble",
                  **{k: v for k, v in dataclasses.asdict(args).items() if k not in run_only},
                  "cohort_seed": cohort_seed if cohort is None else None,
                  "training_patients": population.n, "train_seconds": round(result.seconds, 1)}
        export_policy(q_network, pack, out, config, result.cohort_hash)
        result.out_dir = out
    return result


def _train_clinic(args: Args, pack: TherapyPack, population: Cohort, cohort: Cohort | None, cohort_seed: int,
                  rng: np.random.Generator, family: list[FamilyMember] | None) -> TrainResult:
    """``train`` under the clinic protocol: one decision per visit on the training family (dqn_visits.py)."""
    from dosewise_trainer.algorithms.dqn_visits import FamilyMember, schedules_for, train_visits, training_family
    from dosewise_trainer.visit_env import pack_simulator_family

    schedules = schedules_for(pack, args.cadences)
    if family is None and cohort is not None and not args.twin_models:
        # Training patients given (e.g. cross-validation folds): those patients only, on the pack's own simulator, so no
        # registered model's own draws leak patients of the held-out fold into training.
        family = [FamilyMember(f"{pack.id}-simulator-cohort-widened-sd{args.parameter_sd:g}",
                               pack_simulator_family(pack, population, args.parameter_sd))]
    if family is None:
        family = training_family(pack, population, args.parameter_sd, args.twin_models)
    noise = clinic_noise(args)
    start_time = time.time()
    q_network, curves, stats = train_visits(args, pack, family, schedules, noise, rng)
    result = TrainResult(q_network=q_network, curves=curves, args=args, cohort_hash=cohort_hash(population),
                         seconds=time.time() - start_time)
    if args.out_dir:
        from dosewise_trainer.export import export_policy

        out = Path(args.out_dir)
        curves.write(out)
        run_only = ("out_dir", "progress")
        config = {"algorithm": "double_dqn_bootstrap_ensemble_visits",
                  **{k: v for k, v in dataclasses.asdict(args).items() if k not in run_only},
                  "protocol": "clinic", "cohort_seed": cohort_seed if cohort is None else None,
                  "training_patients": population.n, "train_seconds": round(result.seconds, 1),
                  "visit_stats": dataclasses.asdict(stats)}
        clinic = {"protocol": "clinic",
                  "cadences": [{"name": s.name, "description": s.description} for s in schedules],
                  "twin_models": [m.name for m in family],
                  "noise": dataclasses.asdict(noise),
                  "gamma_per_day": args.gamma_per_day, "reversal_penalty": args.reversal_penalty}
        export_policy(q_network, pack, out, config, result.cohort_hash, clinic=clinic)
        result.out_dir = out
    return result
