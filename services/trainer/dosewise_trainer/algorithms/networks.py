"""Torch networks for the learned dosing policies.

Every network takes features in the RAW units of ``pack.feature_specs`` and normalizes them itself with each spec's
``loc``/``scale``, so the exported ONNX graph, the trainer and the inference service feed it exactly the same numbers.

- ``QNetwork``: shared MLP torso + K (dueling) Q-heads — the ensemble whose mean is the policy's Q and whose spread is the
  uncertainty the inference service reports (bootstrapped DQN, Osband et al. 2016, "Deep Exploration via Bootstrapped DQN").
- ``ActorCritic``: the same torso shape with a logits head and a value head, for the actor-critic comparator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from dosewise.therapies.base import FeatureSpec, TherapyPack


class Normalize(nn.Module):
    """(x − loc) / scale with the pack's constants baked in as buffers (they travel with the weights and into ONNX)."""

    def __init__(self, specs: Sequence[FeatureSpec]) -> None:
        super().__init__()
        self.register_buffer("loc", torch.tensor([s.loc for s in specs], dtype=torch.float32))
        self.register_buffer("scale", torch.tensor([s.scale if s.scale else 1.0 for s in specs], dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.loc) / self.scale


def mlp(n_in: int, hidden: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(n_in, h), nn.ReLU()]
        n_in = h
    return nn.Sequential(*layers)


class QNetwork(nn.Module):
    """Raw features (batch, F) → Q-values of every ensemble head (batch, K, A).

    Dueling heads (Wang et al. 2016): Q_k(s, a) = V_k(s) + A_k(s, a) − mean_a A_k(s, a); all K heads in one linear layer.
    """

    def __init__(self, specs: Sequence[FeatureSpec], n_actions: int, hidden: Sequence[int] = (128, 128), n_heads: int = 5,
                 dueling: bool = True) -> None:
        super().__init__()
        self.config: dict[str, Any] = {"n_features": len(specs), "n_actions": n_actions, "hidden": list(hidden),
                                       "n_heads": n_heads, "dueling": dueling}
        self.n_actions, self.n_heads, self.dueling = n_actions, n_heads, dueling
        self.normalize = Normalize(specs)
        self.torso = mlp(len(specs), hidden)
        width = hidden[-1] if hidden else len(specs)
        self.heads = nn.Linear(width, n_heads * (n_actions + 1 if dueling else n_actions))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = self.heads(self.torso(self.normalize(features)))
        if not self.dueling:
            return out.view(-1, self.n_heads, self.n_actions)
        out = out.view(-1, self.n_heads, self.n_actions + 1)
        value, advantage = out[..., :1], out[..., 1:]
        return value + advantage - advantage.mean(dim=-1, keepdim=True)

    def q_values(self, features: torch.Tensor) -> torch.Tensor:
        """The policy's Q: the ensemble mean, (batch, A)."""
        return self.forward(features).mean(dim=1)


class ExportedPolicy(nn.Module):
    """The graph that goes into ONNX: features → ("q_values" = ensemble mean (batch, A), "q_heads" (batch, K, A))."""

    def __init__(self, q_network: QNetwork) -> None:
        super().__init__()
        self.q_network = q_network

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        heads = self.q_network(features)
        return heads.mean(dim=1), heads


class ActorCritic(nn.Module):
    """Raw features → (action logits (batch, A), state value (batch,)). Masking happens outside, on the logits."""

    def __init__(self, specs: Sequence[FeatureSpec], n_actions: int, hidden: Sequence[int] = (128, 128)) -> None:
        super().__init__()
        self.config: dict[str, Any] = {"n_features": len(specs), "n_actions": n_actions, "hidden": list(hidden)}
        self.normalize = Normalize(specs)
        width = hidden[-1] if hidden else len(specs)
        self.actor_torso, self.critic_torso = mlp(len(specs), hidden), mlp(len(specs), hidden)
        self.logits_head, self.value_head = nn.Linear(width, n_actions), nn.Linear(width, 1)
        nn.init.orthogonal_(self.logits_head.weight, gain=0.01)  # near-uniform start (cleanrl ppo.py layer_init std=0.01)
        nn.init.zeros_(self.logits_head.bias)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.normalize(features)
        return self.logits_head(self.actor_torso(x)), self.value_head(self.critic_torso(x)).squeeze(-1)


def build_q_network(pack: TherapyPack, hidden: Sequence[int] = (128, 128), n_heads: int = 5, dueling: bool = True) -> QNetwork:
    """A Q-network sized from the pack's feature and action specs."""
    return QNetwork(pack.feature_specs, pack.n_actions, hidden, n_heads, dueling)


def torch_q_fn(module: QNetwork | ActorCritic) -> Callable[[np.ndarray], np.ndarray]:
    """``features (n, F) → scores (n, A)`` as numpy, for ``rollout.ActionPolicy``: the ensemble-mean Q, or the logits."""

    def q_fn(features: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            x = torch.as_tensor(np.asarray(features, dtype=np.float32))
            out = module.q_values(x) if isinstance(module, QNetwork) else module(x)[0]
        return out.numpy().astype(np.float64)

    return q_fn
