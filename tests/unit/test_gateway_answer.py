"""The gateway sends each recommendation's JSON as it was made and stored (recommendations.Answer), and a batch's envelope
around those texts (recommendations.batch_json): they must be the very bytes the response models would give."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from dosewise.schemas import ActionValue, BatchRecommendationResponse, DoseQuantity, PolicyRef, Recommendation
from dosewise_api.recommendations import Answer, batch_json

POLICY = PolicyRef(id="p-1", therapy="warfarin", version="dqn-v1", status="active", sha256="ab" * 32)


def recommendation(i: int) -> Recommendation:
    return Recommendation(
        recommendation_id=uuid.UUID(int=i), therapy="warfarin", patient_ref=f"pseudonym-{i}", policy=POLICY,
        current_dose=DoseQuantity(value=5.0, unit="mg"), recommended_dose=DoseQuantity(value=5.5 + i, unit="mg"),
        action="+10%", action_label="Raise the weekly dose by 10 %",
        action_values=[ActionValue(action="hold2-15%", label="Hold 2 doses, then lower the weekly dose by 15 %",
                                   q_value=-1.25, allowed=False),
                       ActionValue(action="+10%", label="Raise the weekly dose by 10 %", q_value=3.0e-7 * i, allowed=True)],
        warnings=["Ünïcode is kept as it is"], created_at=datetime(2026, 11, 28, 12, 0, i, 123456, tzinfo=UTC))


def test_a_batch_answer_is_byte_for_byte_the_models_answer() -> None:
    answers = [Answer.of(recommendation(i)) for i in range(3)]
    models = BatchRecommendationResponse(data=[a.recommendation for a in answers], count=3)
    assert batch_json(answers) == models.model_dump_json()
    assert BatchRecommendationResponse.model_validate_json(batch_json(answers)) == models


def test_one_answer_is_its_models_json_and_an_empty_batch_is_valid_json() -> None:
    rec = recommendation(7)
    assert Answer.of(rec).json == rec.model_dump_json()
    assert json.loads(batch_json([])) == {"data": [], "count": 0}
