"""Inference's answer to POST /v1/recommend is serialized from plain dicts (recommend.response_json): it must be the very
bytes the RecommendResponse models would give, so the gateway and the OpenAPI schema can rely on the models."""

from __future__ import annotations

import math

from dosewise.schemas import PolicyRef, RecommendItem, RecommendResponse
from dosewise_inference.recommend import response_json

POLICY = PolicyRef(id="p-1", therapy="warfarin", version="dqn-v1", status="active", sha256="ab" * 32)


def item(q: list[float], heads: list[list[float]] | None, action: int, probability: float) -> dict:
    return {"q_values": q, "head_q_values": heads, "action": action, "behaviour_probability": probability,
            "action_mask": [v > 0 for v in q],
            "score": {"hyperscore": 131.25, "v": 0.6123, "needs_review": False,
                      "sub_scores": {"forecast": None, "novelty": 0.25}, "rationale": "Keep the dose — INR 2.4."}}


def test_the_dict_answer_is_byte_for_byte_the_models_answer() -> None:
    items = [item([0.1, -2.5, 1e-7, 12345.678], [[0.1, 0.2, 0.3, 0.4], [1.0, 2.0, 3.0, 4.0]], 3, 1.0),
             item([1.0, 2.0, 3.0, 4.0], None, -1, 0.0)]
    models = RecommendResponse(therapy="warfarin", policy=POLICY, items=[RecommendItem(**it) for it in items])
    assert response_json("warfarin", POLICY, items) == models.model_dump_json().encode()


def test_a_non_finite_number_is_null_as_the_models_write_it() -> None:
    items = [item([math.nan, math.inf, 1.0, 2.0], None, 2, math.nan)]
    models = RecommendResponse(therapy="warfarin", policy=POLICY, items=[RecommendItem(**it) for it in items])
    assert response_json("warfarin", POLICY, items) == models.model_dump_json().encode()
    assert b"NaN" not in response_json("warfarin", POLICY, items)
