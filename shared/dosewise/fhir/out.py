"""A stored Recommendation → a FHIR R4 MedicationRequest, ``intent: proposal``, ``status: draft``, validated with
fhir.resources R4B before it leaves.

- ``dosageInstruction[0]``: the recommended dose today (0 during a hold, for ``plan.hold_doses`` doses), in
  ``doseAndRate[0]`` of type ``calculated`` with a UCUM ``doseQuantity``; ``dosageInstruction[1]``, after a hold, the
  regimen that follows. Each lasts until the recheck (``timing.repeat.boundsDuration``).
- ``note``: the rationale, the guardrails that fired and the warnings.
- Extensions (extensions.py): the HyperScore, whether it asks for review, the policy id and version, the recommendation id.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.medicationrequest import MedicationRequest

from dosewise.fhir import codes, extensions
from dosewise.schemas import Recommendation

FHIR_JSON = "application/fhir+json"
DOSE_RATE_TYPE = "http://terminology.hl7.org/CodeSystem/dose-rate-type"
# Insulin doses in UCUM: the international unit [IU] (insulin's USP unit equals it); UCUM's "U" is the enzyme unit.
_UCUM = {"mg": ("mg", "mg"), "U": ("U", "[IU]")}
THERAPY_MEDICATION: dict[str, dict[str, Any]] = {
    "warfarin": {"coding": [{"system": codes.RXNORM, "code": "11289", "display": "warfarin"}], "text": "warfarin"},
    "insulin_t2d": {"text": "basal insulin"},
}


def _dose(value: float, unit: str) -> dict[str, Any]:
    shown, code = _UCUM.get(unit, (unit, unit))
    return {"value": round(value, 4), "unit": shown, "system": codes.UCUM, "code": code}


def _dosage(seq: int, text: str, value: float, unit: str, days: float | None, count: int | None) -> dict[str, Any]:
    repeat: dict[str, Any] = {"frequency": 1, "period": 1, "periodUnit": "d"}
    if count:
        repeat["count"] = count
    elif days:
        repeat["boundsDuration"] = {"value": days, "unit": "d", "system": codes.UCUM, "code": "d"}
    return {"sequence": seq, "text": text, "timing": {"repeat": repeat}, "doseAndRate": [{
        "type": {"coding": [{"system": DOSE_RATE_TYPE, "code": "calculated", "display": "Calculated"}]},
        "doseQuantity": _dose(value, unit)}]}


def medication_request(rec: Recommendation, subject: str | None = None,
                       medication: dict[str, Any] | None = None) -> dict[str, Any]:
    """The recommendation as a proposed MedicationRequest (JSON). ``subject``: the FHIR Patient it was asked for
    ("Patient/abc"); without it the subject is the stored pseudonym. ``medication``: the therapy's drug as the EHR coded
    it; without it the therapy's (THERAPY_MEDICATION)."""
    unit = rec.recommended_dose.unit
    plan = rec.plan
    days = plan.recheck_in_days if plan else None
    if plan and plan.hold_doses:
        dosages = [_dosage(1, f"Hold: no dose for {plan.hold_doses} dose(s) ({rec.action_label})", 0.0, unit, None,
                           plan.hold_doses),
                   _dosage(2, f"Then {plan.dose_per_day.value:g} {unit} a day until the recheck",
                           plan.dose_per_day.value, unit, days, None)]
    else:
        dosages = [_dosage(1, f"{rec.recommended_dose.value:g} {unit} a day ({rec.action_label})",
                           rec.recommended_dose.value, unit, days, None)]
    notes = [rec.explanation.rationale] if rec.explanation else [rec.action_label]
    notes += [f"Guardrail {g.rule}: {g.message}" for g in rec.guardrails]
    notes += [f"Warning: {w}" for w in rec.warnings]
    notes.append(rec.disclaimer)
    ext: list[dict[str, Any]] = []
    if rec.score is not None:
        ext += [{"url": extensions.HYPERSCORE, "valueDecimal": round(rec.score.hyperscore, 2)},
                {"url": extensions.NEEDS_REVIEW, "valueBoolean": rec.score.needs_review}]
    ext += [{"url": extensions.POLICY_ID, "valueString": rec.policy.id},
            {"url": extensions.POLICY_VERSION, "valueString": rec.policy.version},
            {"url": extensions.RECOMMENDATION_ID, "valueUuid": f"urn:uuid:{rec.recommendation_id}"}]
    body: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": str(rec.recommendation_id),
        "extension": ext,
        "identifier": [{"system": extensions.RECOMMENDATION_SYSTEM, "value": str(rec.recommendation_id)}],
        "status": "draft",
        "intent": "proposal",
        "medicationCodeableConcept": medication or THERAPY_MEDICATION.get(rec.therapy, {"text": rec.therapy}),
        "subject": ({"reference": subject} if subject else
                    {"identifier": {"system": extensions.PATIENT_PSEUDONYM_SYSTEM, "value": rec.patient_ref}}),
        "authoredOn": rec.created_at.isoformat(),
        "note": [{"text": n} for n in notes if n],
        "dosageInstruction": dosages,
    }
    MedicationRequest.model_validate(body)  # raises if we ever build an invalid resource
    return body
