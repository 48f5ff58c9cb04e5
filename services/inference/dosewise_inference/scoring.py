"""Turn Q-values into a decision: guardrail mask applied before the argmax, never after."""

from __future__ import annotations

import numpy as np


def masked_argmax(q: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Per row, the best allowed action; −1 where the mask allows nothing (the caller must then hold / refer)."""
    if mask is None:
        return np.argmax(q, axis=1)
    allowed = mask.any(axis=1)
    best = np.argmax(np.where(mask, q, -np.inf), axis=1)
    return np.where(allowed, best, -1)


def behaviour_probability(actions: np.ndarray) -> np.ndarray:
    """Probability the serving policy gave its chosen action. Serving is greedy (deterministic), so 1.0 for every decision
    made; 0.0 where no action was allowed. Logged with each recommendation for off-policy evaluation."""
    return np.where(actions >= 0, 1.0, 0.0)


def serving_distribution(q: np.ndarray, mask: np.ndarray | None, mode: str, epsilon: float = 0.1,
                         temperature: float = 0.5) -> np.ndarray:
    """(batch, A) probabilities the serving policy gives each action; zero on masked actions, so guardrails still bind.

    - ``off``: all mass on the masked argmax (greedy).
    - ``epsilon``: 1 − ε on the best allowed action, ε spread evenly over the m allowed actions (the best included), so
      P(best) = 1 − ε + ε/m and P(other allowed) = ε/m.
    - ``softmax``: exp(Q/T) normalized over the allowed actions.
    A row whose mask allows nothing is all zeros.
    """
    allowed = np.ones(q.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    any_allowed = allowed.any(axis=1, keepdims=True)
    if mode == "softmax":
        z = np.where(allowed, q / temperature, -np.inf)
        z = z - np.where(any_allowed, z.max(axis=1, keepdims=True), 0.0)
        w = np.where(allowed, np.exp(z), 0.0)
        return np.where(any_allowed, w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300), 0.0)
    greedy = np.zeros(q.shape)
    best = masked_argmax(q, allowed)
    rows = np.flatnonzero(best >= 0)
    greedy[rows, best[rows]] = 1.0
    if mode == "off":
        return greedy
    if mode != "epsilon":
        raise ValueError(f"unknown exploration mode {mode!r}; use off, epsilon or softmax")
    uniform = allowed / np.maximum(allowed.sum(axis=1, keepdims=True), 1)
    return (1.0 - epsilon) * greedy + epsilon * uniform


def choose(q: np.ndarray, mask: np.ndarray | None, mode: str, rng: np.random.Generator, epsilon: float = 0.1,
           temperature: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Sample one action per row from ``serving_distribution`` and return (actions, their probabilities): the probability is
    the TRUE behaviour probability logged for off-policy evaluation. −1 (probability 0) where nothing is allowed.
    Greedy mode draws no random numbers and equals ``masked_argmax``."""
    if mode == "off":
        actions = masked_argmax(q, mask)
        return actions, behaviour_probability(actions)
    probs = serving_distribution(q, mask, mode, epsilon, temperature)
    cdf = probs.cumsum(axis=1)
    u = rng.random(q.shape[0]) * cdf[:, -1]  # scaled by the row total: rounding can never land past the last allowed action
    actions = np.where(cdf[:, -1] > 0, (cdf > u[:, None]).argmax(axis=1), -1)
    chosen = probs[np.arange(q.shape[0]), np.maximum(actions, 0)]
    return actions, np.where(actions >= 0, chosen, 0.0)
