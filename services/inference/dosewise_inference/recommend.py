"""Inference's recommendation use case: patient states → features and guardrail masks (shared code) → one batched
onnxruntime run → masked choice → HyperScore, and for single requests the full explanation.

The gateway sends states already pseudonymized. The guardrail mask computed here is the second of its three applications
(training, here before the argmax, and the gateway's final check).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dosewise import decision
from dosewise.schemas import PatientState
from dosewise_inference.explain import score_and_explain_many, score_rows
from dosewise_inference.policy_store import LoadedPolicy
from dosewise_inference.scoring import choose


def recommend(policy: LoadedPolicy, states: list[PatientState], explain: bool, exploration: str,
              rng: np.random.Generator, epsilon: float, temperature: float) -> list[dict[str, Any]]:
    prep = decision.prepare(states)
    q, heads = policy.q_values(prep.features)
    actions, probability = choose(q, prep.guard.mask, exploration, rng, epsilon, temperature)
    if explain:
        scores = score_and_explain_many(prep.pack, policy, prep.view, prep.features, prep.guard.mask, actions, q, heads,
                                        policy.hyperscore, policy.feature_stats, guard=prep.guard,
                                        policy_version=policy.ref.version)
    else:  # the batch path: HyperScore and sub-scores, no attributions or rationale
        scored, _ = score_rows(prep.pack, prep.view, prep.features, prep.guard, actions, q, heads, policy.hyperscore,
                               policy.feature_stats)
        scores = [scored.row(i) for i in range(len(states))]
    return [
        {"q_values": q[i].tolist(), "head_q_values": None if heads is None else heads[i].tolist(), "action": int(actions[i]),
         "behaviour_probability": float(probability[i]), "action_mask": prep.guard.mask[i].tolist(), "score": scores[i]}
        for i in range(len(states))
    ]
