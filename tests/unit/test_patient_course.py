"""A patient's course on one time axis, from the stored recommendations and their outcomes (dosewise.course)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from dosewise import course
from dosewise.erasure import ERASED
from dosewise.storage.models import Outcome, Recommendation


def _inr(day: int, value: float) -> dict[str, object]:
    return {"kind": "inr", "value": value, "unit": "{INR}", "time": f"2026-11-{day:02d}T08:00:00+00:00"}


def _dose(day: int, mg: float) -> dict[str, object]:
    return {"amount": mg, "unit": "mg", "time": f"2026-11-{day:02d}T20:00:00+00:00"}


def _rec(day: int, observations: list[dict[str, object]], doses: list[dict[str, object]], recommended: float) -> Recommendation:
    return Recommendation(
        id=uuid.uuid4(), caller_id="key:a", therapy="warfarin", patient_ref="pz_x", policy_id="p", policy_version="v1",
        policy_status="active", action_index=0, action_id="keep", current_dose=5.0, recommended_dose=recommended,
        dose_unit="mg", behaviour_probability=1.0, features=[],
        state={"as_of": f"2026-11-{day:02d}T09:00:00+00:00", "observations": observations, "doses": doses},
        response={"action_label": "Keep the weekly dose"}, created_at=datetime(2026, 11, day, 9, tzinfo=UTC))


def _outcome(rec: Recommendation, decision: str, given: float, day: int, **feedback: str) -> Outcome:
    record = {"feedback": {"decision": decision, **feedback}, "dose_given": {"value": given, "unit": "mg"},
              "given_at": f"2026-11-{day:02d}T20:00:00+00:00", "observations": [_inr(day + 3, 2.6)]}
    return Outcome(idempotency_key=uuid.uuid4().hex, recommendation_id=rec.id, therapy="warfarin", patient_ref="pz_x",
                   payload={"record": record})


def test_doses_and_measurements_sent_again_in_later_states_appear_once() -> None:
    first = _rec(20, [_inr(16, 1.8), _inr(19, 2.1)], [_dose(18, 5), _dose(19, 5)], 5.0)
    second = _rec(23, [_inr(16, 1.8), _inr(19, 2.1), _inr(22, 2.4)], [_dose(19, 5), _dose(22, 5)], 4.5)
    c = course.build([(first, _outcome(first, "overridden", 4.0, 20, reason_code="bleeding_risk")), (second, None)])
    assert [p.value for p in c.measurements] == [1.8, 2.1, 2.4, 2.6]  # the last one reported with the outcome
    assert [(p.time.day, p.value, p.source) for p in c.doses] == [(18, 5, "record"), (19, 5, "record"),
                                                                  (20, 4.0, "outcome"), (22, 5, "record")]
    assert [(d.status, d.dose_given, d.reason_code) for d in c.decisions] == [("overridden", 4.0, "bleeding_risk"),
                                                                             ("pending", None, None)]
    assert c.start == datetime(2026, 11, 16, 8, tzinfo=UTC)


def test_an_accepted_recommendation_and_an_erased_one() -> None:
    kept = _rec(20, [_inr(19, 2.5)], [], 5.0)
    erased = _rec(23, [], [], 5.0)
    erased.state = erased.response = {ERASED: True}
    c = course.build([(kept, _outcome(kept, "accepted", 5.0, 20)), (erased, None)])
    assert [d.status for d in c.decisions] == ["accepted", "erased"]
    assert [p.value for p in c.measurements] == [2.5, 2.6]  # nothing of the erased one
