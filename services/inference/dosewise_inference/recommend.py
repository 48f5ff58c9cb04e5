"""Inference's recommendation use case: the patients' view (checked, inference_contract.py) → features and guardrail
masks (shared code) → one batched onnxruntime run → masked choice → HyperScore, and for single requests the full
explanation.

The gateway validated the patients' states and sends only their view: what a policy may see, no reference. The guardrail
mask computed here is the second of its three applications (training, here before the argmax, and the gateway's final
check).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic_core import to_json

from dosewise import decision
from dosewise.schemas import PolicyRef
from dosewise.therapies.base import ClinicView, TherapyPack
from dosewise_inference.explain import score_and_explain_many, score_rows
from dosewise_inference.policy_store import LoadedPolicy
from dosewise_inference.scoring import choose


def recommend(policy: LoadedPolicy, pack: TherapyPack, view: ClinicView, explain: bool, exploration: str,
              rng: np.random.Generator, epsilon: float, temperature: float) -> list[dict[str, Any]]:
    prep = decision.from_view(pack, view)
    q, heads = policy.action_values(prep.pack, prep.view, prep.features)
    guard = policy.narrow(prep.pack, prep.view, prep.guard)  # a shielded network chooses within the shield's mask
    actions, probability = choose(q, guard.mask, exploration, rng, epsilon, temperature)
    if explain:
        scores = score_and_explain_many(prep.pack, policy, prep.view, prep.features, guard.mask, actions, q, heads,
                                        policy.hyperscore, policy.feature_stats, guard=guard,
                                        policy_version=policy.ref.version)
    else:  # the batch path: HyperScore and sub-scores, no attributions or rationale
        scored, _ = score_rows(prep.pack, prep.view, prep.features, guard, actions, q, heads, policy.hyperscore,
                               policy.feature_stats)
        scores = scored.rows()
    # Whole arrays to Python lists once: indexing numpy row by row costs more than the conversion itself.
    q_l, mask_l, action_l, prob_l = q.tolist(), guard.mask.tolist(), actions.tolist(), probability.tolist()
    heads_l = None if heads is None else heads.tolist()
    return [
        {"q_values": q_l[i], "head_q_values": None if heads_l is None else heads_l[i], "action": action_l[i],
         "behaviour_probability": prob_l[i], "action_mask": mask_l[i], "score": scores[i]}
        for i in range(view.n)
    ]


def response_json(therapy: str, policy: PolicyRef, items: list[dict[str, Any]]) -> bytes:
    """A ``RecommendResponse`` as JSON, from ``recommend``'s items without building models of them (NaN and infinities as
    null, as the models serialize them)."""
    return to_json({"therapy": therapy, "policy": policy, "items": items}, inf_nan_mode="null")
