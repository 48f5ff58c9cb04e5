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
