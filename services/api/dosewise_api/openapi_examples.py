"""One example for every request and response body of the OpenAPI document, keyed by its component schema.

They are what the gateway really sends and answers: taken from a run of the stack on ``PATIENT_STATE_EXAMPLE`` (numbers
rounded, lists shortened where noted), so an integrator (and a generated client's docs) sees a whole body, not a field at a
time. ``tests/unit/test_openapi_client.py`` validates each against its schema in the served document, so an example that
drifts from its model fails there. They live here, beside the document's shaping (``openapi.shape``), rather than on the
models, because the models are spread over the shared library and the routes; a model's own ``examples`` win over these.
"""

from __future__ import annotations

import copy
from typing import Any

from dosewise.cds.example import CDS_ORDER_SIGN_EXAMPLE
from dosewise.schemas import DISCLAIMER, PATIENT_STATE_EXAMPLE

_REC_ID = "f1b49bf9-af55-431d-8c50-2df542466e96"
_PSEUDONYM = "pz_a49d4d9ebbdf4e417b9db09b9cab442efc215437"  # what PATIENT_STATE_EXAMPLE's patient_ref is stored as
_POLICY = {"id": "55b24e3e1e014eeb9fb45b96cdc64cdd", "therapy": "warfarin", "version": "guideline", "status": "active",
           "sha256": "d839410bd034905dadb756481a640cf9dce2f8b89dca023dd6dfb6cb16ab34c8"}
# The warfarin pack's eleven actions: id, label, score (the guideline, which serves while no network ships: 0 for its own
# action, -1 for the others; dosewise.controllers) on PATIENT_STATE_EXAMPLE.
_ACTIONS = [("hold2-15%", "Hold 2 doses, then lower the weekly dose by 15 %", -1.0),
            ("hold2-12.5%", "Hold 2 doses, then lower the weekly dose by 12.5 %", -1.0),
            ("hold1-10%", "Hold 1 dose, then lower the weekly dose by 10 %", -1.0),
            ("-20%", "Lower the weekly dose by 20 %", -1.0), ("-10%", "Lower the weekly dose by 10 %", -1.0),
            ("-7.5%", "Lower the weekly dose by 7.5 %", -1.0), ("keep", "Keep the weekly dose", 0.0),
            ("+7.5%", "Raise the weekly dose by 7.5 %", -1.0), ("+10%", "Raise the weekly dose by 10 %", -1.0),
            ("+15%", "Raise the weekly dose by 15 %", -1.0), ("+20%", "Raise the weekly dose by 20 %", -1.0)]
_SCORE = {"hyperscore": 173.61, "v": 0.7164, "needs_review": False, "review_reasons": [],
          "sub_scores": {"consistency": 1.0, "forecast": 0.4286, "novelty": None, "impact": 0.7207, "reproducibility": None,
                         "value": None},
          "score_range": [100.0, 194.03], "review_below": 125.0, "review_novelty_below": 0.01}
_EXPLANATION = {
    "q_values": [{"action": a, "label": label, "q": q, "allowed": True, "chosen": a == "keep", "q_sd_across_heads": None}
                 for a, label, q in _ACTIONS],
    "attributions": {
        "method": "not available: a guideline controller; the guideline's rule decides, not a learned function of the "
                  "features",
        "target": "score(keep)", "baseline": None, "q_at_features": 0.0, "q_at_baseline": None, "sum": 0.0, "top": []},
    "forecast": {  # the 80 % bands left out
        "observation": "inr", "unit": "INR", "target_band": [2.0, 3.0],
        "days_after_decision": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        "recommended": [3.08, 3.3, 3.5, 3.68, 3.83, 3.96, 4.07], "keep_dose": [3.08, 3.3, 3.5, 3.68, 3.83, 3.96, 4.07],
        "personalization": {"parameter": "EC50", "scale": 0.452, "log_sd": 0.158, "observations_used": 2},
        "mean_daily_reward": {"recommended": -0.1429, "keep_dose": -0.1429, "worst_best": [-1.0, 1.0]},
        "measured": {"days_after_decision": [-7.0, -4.0, -1.0], "values": [1.6, 1.9, 2.4], "used_in_fit": [False, True, True]},
        "score": 0.4286},
    "rationale": "Recommendation: keep the weekly dose (5 → 5 mg/day). Of the 11 actions the guardrails allow, policy "
                 "guideline values this one highest (Q 0.00). […] Guardrails: none fired. HyperScore 174 (range 100–194).",
}
RECOMMENDATION: dict[str, Any] = {
    "recommendation_id": _REC_ID, "therapy": "warfarin", "patient_ref": _PSEUDONYM, "policy": _POLICY,
    "current_dose": {"value": 5.0, "unit": "mg"}, "recommended_dose": {"value": 5.0, "unit": "mg"},
    "plan": {"hold_doses": 0, "dose_per_day": {"value": 5.0, "unit": "mg"}, "dose_per_week": {"value": 35.0, "unit": "mg"},
             "recheck_in_days": 3.0, "recheck_on": "2026-11-26", "started": False,
             "cadences": ["early-then-weekly", "every-3-days"]},
    "action": "keep", "action_label": "Keep the weekly dose",
    "action_values": [{"action": a, "label": label, "q_value": q, "allowed": True} for a, label, q in _ACTIONS],
    "guardrails": [], "warnings": ["Co-medication 'metoprolol' was not recognized; interactions with it were not checked."],
    "score": _SCORE, "explanation": _EXPLANATION, "created_at": "2026-11-23T08:00:01.212751Z", "disclaimer": DISCLAIMER,
}
OUTCOME_CREATE: dict[str, Any] = {
    "recommendation_id": _REC_ID, "dose_given": {"value": 5, "unit": "mg"}, "feedback": {"decision": "accepted"},
    "observations": [{"kind": "inr", "value": 2.5, "unit": "{INR}", "time": "2026-11-26T08:00:00Z"}],
}
OUTCOME_OVERRIDDEN: dict[str, Any] = {
    "recommendation_id": _REC_ID, "dose_given": {"value": 5.5, "unit": "mg"}, "regimen": {"value": 5.5, "unit": "mg"},
    "given_at": "2026-11-23T20:00:00Z",
    "feedback": {"decision": "overridden", "reason_code": "thrombosis_risk", "reason": "mechanical valve, aim higher"},
    "adverse_events": [{"kind": "minor_bleeding", "severity": "mild", "time": "2026-11-25T10:00:00Z"}],
}
OUTCOME_RECORD: dict[str, Any] = {
    "outcome_id": "89cde001-8e16-481a-8940-386586cdc7b4", "recommendation_id": _REC_ID, "therapy": "warfarin",
    "patient_ref": _PSEUDONYM, "policy_version": "guideline", "recommended_dose": {"value": 5.0, "unit": "mg"},
    "dose_given": {"value": 5.0, "unit": "mg"}, "regimen": {"value": 5.0, "unit": "mg"}, "given_at": "2026-11-23T08:00:00Z",
    "feedback": {"decision": "accepted", "reason_code": None, "reason": None},
    "observations": [{"kind": "inr", "unit": "{INR}", "value": 2.5, "time": "2026-11-26T08:00:00Z"}],
    "adverse_events": [], "course_ended": False, "created_at": "2026-11-26T09:00:00.747757Z",
}
THERAPY: dict[str, Any] = {  # three of the eleven actions, three of the features
    "id": "warfarin", "name": "Warfarin (INR 2–3)", "dose_unit": "mg", "max_dose_per_day": 15.0, "decision_interval_days": 1.0,
    "cadences": ["early-then-weekly", "every-3-days"],
    "observation_kinds": {"inr": {"quantity": "inr", "low": 0.5, "high": 15.0, "loinc": "6301-6",
                                  "description": "INR of prothrombin time", "label": "INR"}},
    "target_band": [2.0, 3.0],
    "actions": [{"id": "hold2-15%", "label": "Hold 2 doses, then lower the weekly dose by 15 %", "kind": "hold",
                 "delta": -15.0, "hold_doses": 2},
                {"id": "-10%", "label": "Lower the weekly dose by 10 %", "kind": "scale", "delta": -10.0, "hold_doses": 0},
                {"id": "keep", "label": "Keep the weekly dose", "kind": "scale", "delta": 0.0, "hold_doses": 0}],
    "features": [{"name": "age_years", "unit": "years", "description": "Age"},
                 {"name": "female", "unit": "0/1", "description": "Sex is female"},
                 {"name": "weight_kg", "unit": "kg", "description": "Body weight"}],
    "required_state_fields": ["therapy", "patient_ref", "age_years", "sex", "weight", "height", "current_dose",
                              "observations", "doses"],
}
POLICY: dict[str, Any] = {  # its model card shortened to a few of its fields
    "id": _POLICY["id"], "therapy": "warfarin", "version": "guideline", "status": "active", "sha256": _POLICY["sha256"],
    "created_at": "2026-11-29T00:50:42Z", "activated_at": "2026-11-29T00:50:42.309723Z", "activated_by": "bootstrap",
    "model_card": {"schema_version": 1, "therapy": "warfarin", "kind": "guideline", "status": "candidate", "dose_unit": "mg",
                   "artifact": {"file": "controller.json", "sha256": _POLICY["sha256"]},
                   "cadences": ["early-then-weekly", "every-3-days"]},
}
API_KEY: dict[str, Any] = {"id": "0af34e2cd227", "name": "epic-integration", "role": "clinician",
                           "created_at": "2026-11-20T09:15:17.556120Z", "created_by": "key:3daf2165a881",
                           "expires_at": "2027-11-20T09:15:17.556120Z", "revoked_at": None, "revoked_by": None}
AUDIT_EVENT: dict[str, Any] = {
    "id": 42, "occurred_at": "2026-11-23T08:00:01.212751Z", "actor": "key:0af34e2cd227", "role": "clinician",
    "action": "recommendation.create", "patient_ref": _PSEUDONYM, "policy_version": "guideline", "subject_id": _REC_ID,
    "input_hash": "f46b17beba2592df98289946702c2cba76bbc60d1e07d2bd9ba6e45236ef49b4",
    "prev_hash": "06619017e803bc579607feb1b67abf62b2e3ac7f16ccc9bd3f32f667290082c0",
    "hash": "3d1c16d51363108d312db7cb4dee5fdb5587a6f98aa173740830c6496210e6df",
}


def _second_patient() -> dict[str, Any]:
    return copy.deepcopy(PATIENT_STATE_EXAMPLE) | {"patient_ref": "ward7-bed14-ep1"}


def _batch_item() -> dict[str, Any]:
    return {k: v for k, v in RECOMMENDATION.items() if k != "explanation"}  # a batch carries no explanation


EXAMPLES: dict[str, list[Any]] = {
    # Requests
    "BatchRecommendationRequest": [{"patients": [PATIENT_STATE_EXAMPLE, _second_patient()]}],
    "OutcomeCreate": [OUTCOME_CREATE, OUTCOME_OVERRIDDEN],
    "OutcomeBatchRequest": [{"outcomes": [OUTCOME_CREATE | {"idempotency_key": "ward7-round-2026-11-26-bed12"}]}],
    "ApiKeyCreate": [{"name": "epic-integration", "role": "clinician", "expires_in_days": 365}],
    "HookRequest": [CDS_ORDER_SIGN_EXAMPLE],
    "FeedbackRequest": [{"feedback": [{
        "card": "e13084b6-710f-5c92-89f2-f7d4c058c1ff", "outcome": "overridden", "outcomeTimestamp": "2026-12-07T14:31:05Z",
        "overrideReason": {"reason": {"system": "https://dosewise.org/fhir/CodeSystem/override-reason",
                                      "code": "bleeding_risk", "display": "Bleeding risk"},
                           "userComment": "Recent GI bleed: keep 5 mg"}}]}],
    # Responses
    "Recommendation": [RECOMMENDATION],
    "BatchRecommendationResponse": [{"data": [_batch_item()], "count": 1}],
    "OutcomeRecord": [OUTCOME_RECORD],
    "OutcomeBatchResponse": [{"data": [OUTCOME_RECORD], "count": 1}],
    "TherapiesPublic": [{"data": [THERAPY], "count": 1}],
    "PolicyPublic": [POLICY],
    "PoliciesPublic": [{"data": [POLICY], "count": 1}],
    "ApiKeyPublic": [API_KEY],
    "ApiKeyCreated": [API_KEY | {"token": "dwk_0af34e2cd227_EXAMPLEonly-not-a-real-secret-0123456789abc"}],
    "ApiKeysPublic": [{"data": [API_KEY], "count": 1}],
    "AuditEventPublic": [AUDIT_EVENT],
    "AuditEventsPublic": [{"data": [AUDIT_EVENT], "count": 1, "next_after_id": None}],
}


def add(schemas: dict[str, Any]) -> None:
    """Give each component schema of ``EXAMPLES`` its examples, unless its model declared its own."""
    for name, examples in EXAMPLES.items():
        if name in schemas:
            schemas[name].setdefault("examples", copy.deepcopy(examples))
