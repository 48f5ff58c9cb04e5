"""The one complete FHIR example: the OpenAPI document shows it and docs/fhir.md's curl example sends it (the JSON
route's PATIENT_STATE_EXAMPLE as a FHIR R4 Bundle)."""

from __future__ import annotations

from typing import Any

_SUBJECT = {"reference": "Patient/ward7-bed12"}


def _obs(oid: str, loinc: str, display: str, value: float, ucum: str, time: str) -> dict[str, Any]:
    return {"resource": {
        "resourceType": "Observation", "id": oid, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc, "display": display}]}, "subject": _SUBJECT,
        "effectiveDateTime": time,
        "valueQuantity": {"value": value, "unit": ucum, "system": "http://unitsofmeasure.org", "code": ucum}}}


FHIR_BUNDLE_EXAMPLE: dict[str, Any] = {
    "resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "ward7-bed12", "gender": "female", "birthDate": "1959-03-14"}},
        _obs("weight", "29463-7", "Body weight", 172, "[lb_av]", "2026-11-16T08:00:00Z"),
        _obs("height", "8302-2", "Body height", 165, "cm", "2026-11-16T08:00:00Z"),
        _obs("inr-1", "6301-6", "INR in Platelet poor plasma by Coagulation assay", 1.6, "{INR}", "2026-11-16T08:00:00Z"),
        _obs("inr-2", "6301-6", "INR in Platelet poor plasma by Coagulation assay", 1.9, "{INR}", "2026-11-19T08:00:00Z"),
        _obs("inr-3", "6301-6", "INR in Platelet poor plasma by Coagulation assay", 2.4, "{INR}", "2026-11-22T08:00:00Z"),
        {"resource": {
            "resourceType": "MedicationRequest", "id": "warfarin-order", "status": "active", "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": "855332", "display": "Warfarin Sodium 5 MG Oral Tablet"}]},
            "subject": _SUBJECT, "authoredOn": "2026-11-15T18:00:00Z",
            "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                                   "doseAndRate": [{"doseQuantity": {"value": 5, "unit": "mg",
                                                                     "system": "http://unitsofmeasure.org",
                                                                     "code": "mg"}}]}]}},
    ]}
