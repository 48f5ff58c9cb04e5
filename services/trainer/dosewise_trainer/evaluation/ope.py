"""Off-policy evaluation on logged transitions: what would a policy have achieved on the patients the clinic actually saw?

- **Weighted importance sampling** (WIS): re-weight each logged reward by π_e(a|s) / μ(a|s), the evaluated policy's
  probability of the logged action over the behaviour policy's (logged by inference with every recommendation), and
  normalize by the weights' sum. ``weighted_importance_sampling`` treats each decision on its own (the contextual-bandit
  estimate of the immediate reward); ``trajectory_wis`` multiplies the ratios along each patient's course (the sequential
  estimate, whose weights degenerate quickly). Decisions whose behaviour probability is unknown (a clinician's override)
  are left out. Following Komorowski et al. 2018 (the AI Clinician) the estimate comes with a bootstrap 95 % interval.
- **Effective sample size** (Kish): ESS = (Σw)² / Σw². Gottesman et al. 2019 ("Guidelines for reinforcement learning in
  healthcare") ask for it with every IS estimate: a WIS value resting on an ESS of a handful of decisions means nothing.
  ../shared/clinical.md §5.
- **Fitted Q evaluation** (Le, Voloshin & Yue 2019, "Batch Policy Learning under Constraints"): regress Q^π by repeated
  supervised fits to r + γ·(1 − terminated)·Q_prev(s', π(s')), with π's action at s' restricted to what the guardrails allow
  there; the policy's value is the mean of Q^π(s, π(s)) over the logged states. No importance weights, so no ESS collapse,
  but it trusts a model: the two estimates check each other.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

QFn = Callable[[np.ndarray], np.ndarray]


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's ESS of non-negative weights: n when all are equal, 1 when one weight carries everything, 0 when all are 0."""
    w = np.asarray(weights, dtype=np.float64)
    total, squares = float(w.sum()), float((w**2).sum())
    return 0.0 if squares == 0.0 else total * total / squares


def greedy_probabilities(q: np.ndarray, mask: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """π_e(a_logged | s) for a greedy policy over the allowed actions: 1 where its choice equals the logged action, else 0."""
    best = np.argmax(np.where(mask, q, -np.inf), axis=1)
    return (best == np.asarray(actions)).astype(np.float64)


@dataclass(frozen=True)
class WISResult:
    """A WIS estimate with its effective sample size. ``n`` decisions were offered, ``n_used`` had a known behaviour
    probability, ``n_matched`` got a non-zero weight. ``behaviour_value``: the plain mean reward of the used decisions (what
    the behaviour policy itself achieved there)."""

    value: float
    ess: float
    n: int
    n_used: int
    n_matched: int
    behaviour_value: float
    ci95: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        return {"value": _num(self.value), "ess": round(self.ess, 2), "n": self.n, "n_used": self.n_used,
                "n_matched": self.n_matched, "behaviour_value": _num(self.behaviour_value),
                "ci95": [_num(self.ci95[0]), _num(self.ci95[1])]}


def _wis(values: np.ndarray, w: np.ndarray) -> float:
    total = w.sum()
    return float((w * values).sum() / total) if total > 0 else math.nan


def _bootstrap_ci(values: np.ndarray, w: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    """Percentile interval of the WIS estimate over resampled decisions (or courses)."""
    if n_boot <= 0 or len(values) < 2 or w.sum() == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(len(values), size=(n_boot, len(values)))
    ws, vs = w[idx], values[idx]
    totals = ws.sum(axis=1)
    est = np.where(totals > 0, (ws * vs).sum(axis=1) / np.where(totals > 0, totals, 1.0), np.nan)
    est = est[np.isfinite(est)]
    if est.size == 0:
        return math.nan, math.nan
    return float(np.percentile(est, 2.5)), float(np.percentile(est, 97.5))


def weighted_importance_sampling(rewards: np.ndarray, target_prob: np.ndarray, behaviour_prob: np.ndarray,
                                 n_boot: int = 200, seed: int = 0) -> WISResult:
    """Per-decision WIS of the expected immediate reward under the target policy.

    ``behaviour_prob`` NaN or ≤ 0 marks a decision whose propensity is unknown (it is left out)."""
    r = np.asarray(rewards, dtype=np.float64)
    pt = np.asarray(target_prob, dtype=np.float64)
    pb = np.asarray(behaviour_prob, dtype=np.float64)
    used = np.isfinite(pb) & (pb > 0)
    w = np.where(used, pt / np.where(used, pb, 1.0), 0.0)[used]
    values = r[used]
    return WISResult(value=_wis(values, w), ess=effective_sample_size(w), n=len(r), n_used=int(used.sum()),
                     n_matched=int((w > 0).sum()), behaviour_value=float(values.mean()) if values.size else math.nan,
                     ci95=_bootstrap_ci(values, w, n_boot, seed))


def trajectory_wis(episodes: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], gamma: float, n_boot: int = 200,
                   seed: int = 0) -> WISResult:
    """Trajectory-wise WIS of the discounted return. Each episode is (rewards, target probs, behaviour probs) along one
    course; its weight is Π_t π_e/μ. A course with any unknown behaviour probability is left out."""
    returns, weights, behaviour = [], [], []
    for r, pt, pb in episodes:
        r, pt, pb = (np.asarray(x, dtype=np.float64) for x in (r, pt, pb))
        g = float((gamma ** np.arange(len(r)) * r).sum())
        if not (np.all(np.isfinite(pb)) and np.all(pb > 0)):
            continue
        returns.append(g)
        weights.append(float(np.prod(pt / pb)))
        behaviour.append(g)
    v, w = np.asarray(returns), np.asarray(weights)
    return WISResult(value=_wis(v, w) if v.size else math.nan, ess=effective_sample_size(w), n=len(episodes),
                     n_used=int(v.size), n_matched=int((w > 0).sum()),
                     behaviour_value=float(np.mean(behaviour)) if behaviour else math.nan,
                     ci95=_bootstrap_ci(v, w, n_boot, seed) if v.size else (math.nan, math.nan))


# ------------------------------------------------------------------------------------------------- fitted Q evaluation
@dataclass
class FQEArgs:
    iterations: int = 40
    """supervised fits (each regresses onto the previous fit's bootstrapped target; the error of the horizon shrinks as
    γ^iterations: 0.95^40 ≈ 0.13)"""
    steps_per_iteration: int = 80
    """gradient steps per fit"""
    batch_size: int = 256
    """transitions per gradient step"""
    learning_rate: float = 1e-3
    """Adam learning rate"""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """torso widths of the evaluator's Q-network (features normalized by the pack's specs)"""
    seed: int = 0
    """seed of the evaluator's weights and batches"""
    threads: int = 1
    """torch CPU threads (the machine is shared; more threads only contend)"""


@dataclass
class FQEResult:
    value: float  # mean over the logged states of Q^π(s, π(s))
    initial_value: float | None  # the same over the first state of each course, when known
    n: int
    final_loss: float
    losses: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"value": _num(self.value), "initial_value": None if self.initial_value is None else _num(self.initial_value),
                "n": self.n, "final_loss": _num(self.final_loss)}


def fitted_q_evaluation(pack: Any, policy_q_fn: QFn, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
                        next_obs: np.ndarray, mask: np.ndarray, next_mask: np.ndarray, terminated: np.ndarray, gamma: float,
                        args: FQEArgs | None = None, initial: np.ndarray | None = None) -> FQEResult:
    """FQE of the greedy policy behind ``policy_q_fn`` (features → Q) on logged transitions (arrays as in OfflineData)."""
    import torch
    import torch.nn.functional as F

    from dosewise_trainer.algorithms.networks import build_q_network

    args = args or FQEArgs()
    n = len(actions)
    if n == 0:
        return FQEResult(math.nan, None, 0, math.nan)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    q_net = build_q_network(pack, args.hidden_sizes, n_heads=1, dueling=False)
    opt = torch.optim.Adam(q_net.parameters(), lr=args.learning_rate)

    def greedy(q: np.ndarray, m: np.ndarray) -> np.ndarray:
        return np.argmax(np.where(m, q, -np.inf), axis=1)

    next_pi = greedy(np.asarray(policy_q_fn(next_obs)), next_mask)
    pi = greedy(np.asarray(policy_q_fn(obs)), mask)
    t_obs, t_next = torch.from_numpy(np.asarray(obs, np.float32)), torch.from_numpy(np.asarray(next_obs, np.float32))
    t_act, t_next_pi = torch.from_numpy(np.asarray(actions, np.int64)), torch.from_numpy(next_pi)
    t_r = torch.from_numpy(np.asarray(rewards, np.float32))
    t_cont = torch.from_numpy(1.0 - np.asarray(terminated, np.float32))
    losses: list[float] = []
    for _ in range(args.iterations):
        with torch.no_grad():  # ALGO LOGIC: the regression target of this fit, from the previous fit
            target = t_r + gamma * t_cont * q_net.q_values(t_next).gather(1, t_next_pi[:, None]).squeeze(1)
        for _ in range(args.steps_per_iteration):
            idx = torch.from_numpy(rng.integers(n, size=min(args.batch_size, n)))
            pred = q_net.q_values(t_obs[idx]).gather(1, t_act[idx][:, None]).squeeze(1)
            loss = F.mse_loss(pred, target[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        losses.append(float(loss.detach()))
    with torch.no_grad():
        v = q_net.q_values(t_obs).gather(1, torch.from_numpy(pi)[:, None]).squeeze(1).numpy()
    init = float(v[initial].mean()) if initial is not None and np.any(initial) else None
    return FQEResult(value=float(v.mean()), initial_value=init, n=n, final_loss=losses[-1], losses=losses)
