"""Conservative offline RL on logged transitions: discrete CQL on Double DQN, warm-started from the active policy, with the
logged data mixed with digital-twin rollouts.

Read it like ``dqn.py``: ``CQLArgs`` → data (``OfflineData``, logged and twin) → warm start → ``train``.

- Loss per ensemble head k (Kumar et al. 2020, "Conservative Q-Learning for Offline RL", discrete form as in d3rlpy's
  DiscreteCQL; ../shared/clinical.md §5):  L = Huber(Q_k(s, a) − y_k) + α · w · (logsumexp_{a' allowed in s} Q_k(s, a')
  − Q_k(s, a)), with the Double-DQN target y_k of ``dqn.double_dqn_target`` (online head picks the best ALLOWED next action,
  target head values it). The penalty pushes down actions the data never took and up the ones it did, so the policy stays
  near the evidence; guardrail-masked actions are outside the logsumexp because nobody may take them anyway.
- ``w`` = ``override_weight`` for transitions where a clinician overrode the recommendation: overrides are evidence of what a
  clinician judged better, so the penalty anchors to them more strongly (our choice; 1 treats them like any logged action).
- Warm start: the active policy's weights (``policy.pt`` next to its ONNX, written by ``save_weights``; failing that, the ONNX
  initializers when they reproduce the ONNX outputs exactly). Without either we train from scratch and say so.
- Twin rollouts: the pack's guideline and the active policy, each with ε-random ALLOWED actions, on twins drawn with seeds no
  evaluation uses. Each batch draws ``logged_fraction`` of its samples from logged data (when there is any), so a few
  thousand logged transitions are not drowned by tens of thousands of simulated ones.

Hyper-parameters: d3rlpy's DiscreteCQL defaults are α = 1, lr 6.25e-5, batch 32, γ 0.99 (tuned for Atari pixels). We keep
α = 1 and use the DQN learner's γ = 0.95 and a larger lr and batch for these small tabular-feature networks and short runs.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dosewise.therapies.base import DosingPolicy, TherapyPack
from dosewise.therapies.rollout import ActionPolicy
from dosewise_trainer.algorithms.common import Curves, allowed_actions, steps_per_episode
from dosewise_trainer.algorithms.dqn import double_dqn_target, seed_everything
from dosewise_trainer.algorithms.networks import QNetwork, build_q_network

WEIGHTS_FILE = "policy.pt"
TWIN_SEED_OFFSET = 5_000_000  # twin cohorts for retraining: far from evaluation (small seeds) and DQN training (100_000+)


@dataclass
class CQLArgs:
    therapy: str = "warfarin"
    """the therapy pack (a key of dosewise.therapies.registry.PACKS)"""
    seed: int = 1
    """seed of torch, numpy and every twin draw: same data and seed → identical weights"""
    threads: int = 1
    """torch CPU threads (the machine is shared)"""
    gradient_steps: int = 3000
    """gradient steps over the offline data"""
    batch_size: int = 256
    """transitions per gradient step"""
    learning_rate: float = 3e-4
    """Adam learning rate (lower when warm-started: see ``warm_learning_rate``)"""
    warm_learning_rate: float = 1e-4
    """Adam learning rate when warm-started from the active policy: refine it, do not overwrite it"""
    gamma: float = 0.95
    """discount per decision step (as dqn.Args)"""
    alpha: float = 1.0
    """weight of the CQL penalty (d3rlpy default)"""
    override_weight: float = 2.0
    """penalty weight of transitions where the clinician overrode the recommendation (1 = like any logged action)"""
    target_network_frequency: int = 250
    """gradient steps between hard target-network copies"""
    max_grad_norm: float = 10.0
    """gradient clipping (global L2 norm)"""
    bootstrap_p: float = 0.5
    """probability that a sample trains a given ensemble head (keeps the heads' spread meaningful)"""
    hidden_sizes: tuple[int, ...] = (128, 128)
    """torso widths when training from scratch (a warm start keeps the active network's shape)"""
    n_heads: int = 5
    """ensemble heads when training from scratch"""
    dueling: bool = True
    """dueling heads when training from scratch"""
    logged_fraction: float = 0.5
    """share of each batch drawn from logged transitions when there are any (the rest from twin rollouts)"""
    twin_patients: int = 256
    """twins per behaviour policy in the rollouts mixed into training (0: logged data only)"""
    twin_days: float = 60.0
    """days per twin rollout"""
    twin_epsilon: float = 0.3
    """probability of a random allowed action in twin rollouts (coverage of the action space)"""
    log_every: int = 100
    """gradient steps between scalar logs"""


@dataclass
class OfflineData:
    """Transitions as arrays: obs (N, F) float32, actions (N,), rewards (N,), next_obs, masks (N, A), terminated (N,),
    weight (N,) — the CQL penalty weight (``override_weight`` for overrides, else 1) — and behaviour_prob (N,), the
    logging policy's probability of the action (NaN when unknown: a clinician's override)."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    mask: np.ndarray
    next_mask: np.ndarray
    terminated: np.ndarray
    weight: np.ndarray
    behaviour_prob: np.ndarray

    def __len__(self) -> int:
        return int(self.actions.shape[0])

    @classmethod
    def empty(cls, n_features: int, n_actions: int) -> OfflineData:
        f, a = np.zeros((0, n_features), np.float32), np.zeros((0, n_actions), bool)
        return cls(f, np.zeros(0, np.int64), np.zeros(0, np.float32), f.copy(), a, a.copy(), np.zeros(0, np.float32),
                   np.zeros(0, np.float32), np.zeros(0))

    @classmethod
    def from_rows(cls, rows: Sequence[Any], override_weight: float = 1.0) -> OfflineData:
        """From stored transitions (anything with the ``Transition`` attributes)."""
        return cls(
            obs=np.asarray([r.features for r in rows], np.float32), actions=np.asarray([r.action_index for r in rows], np.int64),
            rewards=np.asarray([r.reward for r in rows], np.float32),
            next_obs=np.asarray([r.next_features for r in rows], np.float32),
            mask=np.asarray([r.mask for r in rows], bool), next_mask=np.asarray([r.next_mask for r in rows], bool),
            terminated=np.asarray([r.terminated for r in rows], np.float32),
            weight=np.asarray([override_weight if r.feedback == "overridden" else 1.0 for r in rows], np.float32),
            behaviour_prob=np.asarray([np.nan if r.behaviour_probability is None else r.behaviour_probability
                                       for r in rows], float),
        )

    def take(self, idx: np.ndarray) -> OfflineData:
        return OfflineData(*(getattr(self, f.name)[idx] for f in dataclasses.fields(self)))

    @staticmethod
    def concat(parts: Sequence[OfflineData]) -> OfflineData:
        return OfflineData(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(OfflineData)))


# ------------------------------------------------------------------------------------------------------------ twin data
def twin_transitions(pack: TherapyPack, behaviour: DosingPolicy, n_patients: int, days: float, epsilon: float,
                     seed: int) -> OfflineData:
    """Roll ``behaviour`` on fresh twins with ε-random allowed actions; its doses are mapped onto the action set so every
    transition's action is one the learner can choose."""
    from dosewise_trainer.transitions import nearest_action

    rng = np.random.default_rng(seed)
    sim = pack.simulator(pack.sample_cohort(n_patients, seed), seed + 1)
    view = sim.reset()
    behaviour.reset(n_patients)
    parts: list[OfflineData] = []
    live = np.ones(n_patients, bool)
    for _ in range(steps_per_episode(pack, days)):
        obs, mask = pack.features(view), allowed_actions(pack.guardrails(view).mask)
        given, regimen = behaviour.act(view)
        chosen = nearest_action(pack, view.current_dose, np.asarray(given, float), np.asarray(regimen, float))
        chosen = np.where(mask[np.arange(n_patients), chosen], chosen, 0)
        random_allowed = np.argmax(np.where(mask, rng.random(mask.shape), -1.0), axis=1)
        actions = np.where(rng.random(n_patients) < epsilon, random_allowed, chosen)
        mu = (1.0 - epsilon) * (actions == chosen) + epsilon / mask.sum(axis=1)  # ε-greedy around the behaviour's choice
        res = sim.step(*pack.apply_actions(view.current_dose, actions))
        next_obs, next_mask = pack.features(res.view), allowed_actions(pack.guardrails(res.view).mask)
        term = np.asarray(res.terminated, bool)
        parts.append(OfflineData(obs[live], actions[live], np.asarray(res.reward, np.float32)[live], next_obs[live],
                                 mask[live], next_mask[live], term[live].astype(np.float32),
                                 np.ones(int(live.sum()), np.float32), mu[live]))
        live &= ~term
        view = res.view
        if not live.any():
            break
    return OfflineData.concat(parts)


# ----------------------------------------------------------------------------------------------------------- warm start
def save_weights(q_network: QNetwork, out_dir: Path) -> Path:
    """``policy.pt`` next to ``policy.onnx``: the torch state_dict and network config a later run warm-starts from."""
    path = Path(out_dir) / WEIGHTS_FILE
    torch.save({"config": q_network.config, "state_dict": q_network.state_dict()}, path)
    return path


def _network_from_config(pack: TherapyPack, config: dict[str, Any]) -> QNetwork:
    if config.get("n_features") != pack.n_features or config.get("n_actions") != pack.n_actions:
        raise ValueError("the active network's shape does not match the pack's features and actions")
    return build_q_network(pack, tuple(config["hidden"]), int(config["n_heads"]), bool(config["dueling"]))


def _from_onnx(pack: TherapyPack, onnx_path: Path) -> QNetwork:
    """Rebuild the torch network from the ONNX initializers, and prove it: its Q-values must equal the ONNX file's."""
    import onnx
    from onnx import numpy_helper

    from dosewise_trainer.export import load_onnx_q_fn, read_model_card

    net = _network_from_config(pack, read_model_card(onnx_path)["network"])
    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(onnx_path)).graph.initializer}
    state = {k: torch.from_numpy(np.array(inits[f"q_network.{k}"])) for k in net.state_dict()}
    net.load_state_dict(state)
    probe = np.random.default_rng(0).normal(size=(64, pack.n_features)).astype(np.float32)
    probe = probe * np.array([s.scale for s in pack.feature_specs], np.float32) + np.array([s.loc for s in pack.feature_specs],
                                                                                            np.float32)
    with torch.no_grad():
        mine = net.q_values(torch.from_numpy(probe)).numpy()
    if not np.allclose(mine, load_onnx_q_fn(onnx_path)(probe), atol=1e-4):
        raise ValueError("weights recovered from the ONNX initializers do not reproduce its outputs")
    return net


def load_warm_start(pack: TherapyPack, onnx_path: Path | None) -> tuple[QNetwork | None, str]:
    """(network, where it came from): ``policy.pt`` next to the ONNX, else the ONNX initializers, else (None, why not)."""
    if onnx_path is None:
        return None, "no active policy"
    weights = Path(onnx_path).parent / WEIGHTS_FILE
    if weights.is_file():
        saved = torch.load(weights, map_location="cpu", weights_only=True)
        net = _network_from_config(pack, saved["config"])
        net.load_state_dict(saved["state_dict"])
        return net, str(weights)
    try:
        return _from_onnx(pack, Path(onnx_path)), f"{onnx_path} (initializers)"
    except Exception as e:  # no card, another exporter's layout, a shape change: train from scratch
        return None, f"not warm-startable ({type(e).__name__}: {e})"


# ---------------------------------------------------------------------------------------------------------------- train
@dataclass
class CQLResult:
    q_network: QNetwork
    curves: Curves
    args: CQLArgs
    seconds: float
    warm_start: str  # where the initial weights came from, or why there were none
    n_logged: int
    n_twin: int


def _batch(data: OfflineData, idx: np.ndarray, gamma: float) -> dict[str, torch.Tensor]:
    part = data.take(idx)
    return {"obs": torch.from_numpy(part.obs), "actions": torch.from_numpy(part.actions),
            "returns": torch.from_numpy(part.rewards), "next_obs": torch.from_numpy(part.next_obs),
            "mask": torch.from_numpy(part.mask), "next_mask": torch.from_numpy(part.next_mask),
            "terminated": torch.from_numpy(part.terminated), "weight": torch.from_numpy(part.weight),
            "discount": torch.full((len(idx),), gamma, dtype=torch.float32)}


def cql_loss(q_network: QNetwork, target_network: QNetwork, data: dict[str, torch.Tensor], alpha: float,
             boot: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Double-DQN Huber TD loss + α·(logsumexp over allowed actions − Q of the logged action), per head, bootstrap-masked."""
    td_target = double_dqn_target(q_network, target_network, data)  # (B, K)
    q_all = q_network(data["obs"])  # (B, K, A)
    n_heads = q_all.shape[1]
    taken = q_all.gather(-1, data["actions"][:, None, None].expand(-1, n_heads, 1)).squeeze(-1)  # (B, K)
    td = F.smooth_l1_loss(taken, td_target, reduction="none")
    lse = torch.logsumexp(q_all.masked_fill(~data["mask"][:, None, :], -torch.inf), dim=-1)
    penalty = (lse - taken) * data["weight"][:, None]
    per_head = (td + alpha * penalty) * boot
    loss = per_head.sum() / boot.sum().clamp(min=1.0)
    with torch.no_grad():
        parts = {"td": float((td * boot).sum() / boot.sum().clamp(min=1.0)),
                 "cql_penalty": float((penalty * boot).sum() / boot.sum().clamp(min=1.0)), "q_taken": float(taken.mean())}
    return loss, parts


def train(args: CQLArgs, pack: TherapyPack, logged: OfflineData, twins: OfflineData,
          warm: tuple[QNetwork | None, str] = (None, "not requested"),
          progress: Callable[[int], None] | None = None) -> CQLResult:
    """Learn from ``logged`` (and ``twins``) only: no simulator interaction here. Same inputs and seed → same weights."""
    rng = seed_everything(args.seed, args.threads)
    start = time.time()
    warm_net, warm_from = warm
    if warm_net is not None:
        q_network, lr = warm_net, args.warm_learning_rate
    else:
        q_network, lr = build_q_network(pack, args.hidden_sizes, args.n_heads, args.dueling), args.learning_rate
    q_network.train()
    target_network = _network_from_config(pack, q_network.config)
    target_network.load_state_dict(q_network.state_dict())
    optimizer = torch.optim.Adam(q_network.parameters(), lr=lr)
    if len(logged) + len(twins) == 0:
        raise ValueError("no data to learn from")
    n_logged = round(args.batch_size * args.logged_fraction) if len(logged) and len(twins) else (
        args.batch_size if len(logged) else 0)
    curves = Curves()
    for step in range(1, args.gradient_steps + 1):
        # ALGO LOGIC: a mixed batch, logged evidence first
        parts = []
        if n_logged:
            parts.append(_batch(logged, rng.integers(len(logged), size=n_logged), args.gamma))
        if args.batch_size - n_logged:
            parts.append(_batch(twins, rng.integers(len(twins), size=args.batch_size - n_logged), args.gamma))
        data = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        boot = (torch.rand(args.batch_size, q_network.n_heads) < args.bootstrap_p).float()
        loss, parts_log = cql_loss(q_network, target_network, data, args.alpha, boot)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(q_network.parameters(), args.max_grad_norm)
        optimizer.step()
        if step % args.target_network_frequency == 0:
            target_network.load_state_dict(q_network.state_dict())
        if step % args.log_every == 0:
            curves.log("losses/loss", float(loss.detach()), step)
            curves.log("losses/td_loss", parts_log["td"], step)
            curves.log("losses/cql_penalty", parts_log["cql_penalty"], step)
            curves.log("losses/q_values", parts_log["q_taken"], step)
        if progress is not None:
            progress(step)
    q_network.eval()
    return CQLResult(q_network, curves, args, time.time() - start, warm_from, len(logged), len(twins))


def twin_mix(pack: TherapyPack, args: CQLArgs, active_q_fn: Callable[[np.ndarray], np.ndarray] | None) -> OfflineData:
    """Twin rollouts of the guideline and (when there is one) the active policy, ε-explored, on fresh twin cohorts."""
    if args.twin_patients <= 0:
        return OfflineData.empty(pack.n_features, pack.n_actions)
    seed = TWIN_SEED_OFFSET + 1000 * args.seed
    parts = [twin_transitions(pack, pack.guideline_policy(), args.twin_patients, args.twin_days, args.twin_epsilon, seed)]
    if active_q_fn is not None:
        parts.append(twin_transitions(pack, ActionPolicy(pack, active_q_fn, name="active"), args.twin_patients,
                                      args.twin_days, args.twin_epsilon, seed + 1))
    return OfflineData.concat(parts)
