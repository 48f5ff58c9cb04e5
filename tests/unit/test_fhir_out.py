"""A Recommendation as FHIR (dosewise/fhir/out.py): a proposed, draft MedicationRequest that validates with fhir.resources
R4B, the dose where an EHR looks for it, our extensions, the rationale in note."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from fhir.resources.R4B.medicationrequest import MedicationRequest

from dosewise.fhir import extensions, medication_request
from dosewise.schemas import (
    ActionValue,
    DosePlan,
    DoseQuantity,
    Explanation,
    GuardrailFiring,
    HyperScoreOut,
    PolicyRef,
    Recommendation,
)

REC_ID = uuid.UUID("6f1c2a8e-3b7d-4c5e-9a1f-2d3e4f5a6b7c")  # a version-4 UUID, as the gateway makes them
POLICY = PolicyRef(id="p-7", therapy="warfarin", version="dqn-v3", status="active", sha256="cd" * 32)


def recommendation(given: float, regimen: float, hold_doses: int = 0, unit: str = "mg",
                   therapy: str = "warfarin") -> Recommendation:
    return Recommendation(
        recommendation_id=REC_ID, therapy=therapy, patient_ref="pseudonym-42", policy=POLICY,
        current_dose=DoseQuantity(value=5.0, unit=unit), recommended_dose=DoseQuantity(value=given, unit=unit),
        plan=DosePlan(hold_doses=hold_doses, dose_per_day=DoseQuantity(value=regimen, unit=unit),
                      dose_per_week=DoseQuantity(value=7 * regimen, unit=unit), recheck_in_days=7.0,
                      recheck_on=date(2026, 11, 30), started=False, cadences=["weekly"]),
        action="a", action_label="Change the dose", action_values=[ActionValue(action="a", label="x", q_value=1.0,
                                                                               allowed=True)],
        guardrails=[GuardrailFiring(rule="inr_high", message="INR above 4: hold")], warnings=["read eGFR in 'mL/min'"],
        score=HyperScoreOut(hyperscore=151.25, v=0.6, needs_review=False, sub_scores={"consistency": 0.9}),
        explanation=Explanation(q_values=[], attributions={}, forecast=None, rationale="INR 2.6 is in range."),
        created_at=datetime(2026, 11, 23, 8, 0, tzinfo=UTC))


def extension(body: dict[str, Any], url: str) -> Any:
    found = [e for e in body["extension"] if e["url"] == url]
    assert len(found) == 1, url
    return next(v for k, v in found[0].items() if k.startswith("value"))


def test_a_dose_change_is_a_draft_proposal_that_validates_with_r4b() -> None:
    body = medication_request(recommendation(5.5, 5.5), "Patient/ac-pt-1042")
    MedicationRequest.model_validate(body)
    assert (body["resourceType"], body["status"], body["intent"]) == ("MedicationRequest", "draft", "proposal")
    rate = body["dosageInstruction"][0]["doseAndRate"][0]
    assert rate["type"]["coding"][0]["code"] == "calculated"
    assert rate["doseQuantity"] == {"value": 5.5, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}
    assert body["dosageInstruction"][0]["timing"]["repeat"]["boundsDuration"]["value"] == 7.0, "until the recheck"
    assert body["subject"] == {"reference": "Patient/ac-pt-1042"}
    assert body["medicationCodeableConcept"]["coding"][0]["code"] == "11289"


def test_score_policy_and_id_are_our_extensions() -> None:
    body = medication_request(recommendation(5.5, 5.5))
    assert extension(body, extensions.HYPERSCORE) == 151.25
    assert extension(body, extensions.NEEDS_REVIEW) is False
    assert extension(body, extensions.POLICY_VERSION) == "dqn-v3"
    assert extension(body, extensions.RECOMMENDATION_ID) == f"urn:uuid:{REC_ID}"
    assert all(e["url"].startswith("https://dosewise.org/fhir/StructureDefinition/") for e in body["extension"])
    assert body["subject"]["identifier"] == {"system": extensions.PATIENT_PSEUDONYM_SYSTEM, "value": "pseudonym-42"}


def test_the_rationale_guardrails_and_warnings_are_notes() -> None:
    notes = [n["text"] for n in medication_request(recommendation(5.5, 5.5))["note"]]
    assert notes[0] == "INR 2.6 is in range."
    assert "Guardrail inr_high: INR above 4: hold" in notes and "Warning: read eGFR in 'mL/min'" in notes


def test_a_hold_is_zero_for_its_doses_then_the_regimen() -> None:
    body = medication_request(recommendation(0.0, 4.25, hold_doses=2))
    MedicationRequest.model_validate(body)
    first, then = body["dosageInstruction"]
    assert first["doseAndRate"][0]["doseQuantity"]["value"] == 0.0 and first["timing"]["repeat"]["count"] == 2
    assert then["doseAndRate"][0]["doseQuantity"]["value"] == 4.25 and then["sequence"] == 2


def test_insulin_units_are_ucum_international_units() -> None:
    body = medication_request(recommendation(22.0, 22.0, unit="U", therapy="insulin_t2d"),
                              medication={"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": "274783"}]})
    MedicationRequest.model_validate(body)
    assert body["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"] == {
        "value": 22.0, "unit": "U", "system": "http://unitsofmeasure.org", "code": "[IU]"}
    assert body["medicationCodeableConcept"]["coding"][0]["code"] == "274783"
