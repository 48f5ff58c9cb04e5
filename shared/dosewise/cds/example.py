"""The one complete CDS Hooks example: an order-sign call for the FHIR example's patient (dosewise.fhir.example), every
prefetch key filled, a draft warfarin order in its context. The OpenAPI document shows it; docs/cds-hooks.md's curl example
sends it."""

from __future__ import annotations

from typing import Any

from dosewise.cds.services import prefetch_templates
from dosewise.fhir.example import FHIR_BUNDLE_EXAMPLE

_RESOURCES = [e["resource"] for e in FHIR_BUNDLE_EXAMPLE["entry"]]
_BY_KEY = {"series": ("Observation", "inr-"), "measurements": ("Observation", ""), "medications": ("MedicationRequest", ""),
           "statements": ("MedicationStatement", ""), "administrations": ("MedicationAdministration", ""),
           "conditions": ("Condition", "")}


def _searchset(rtype: str, prefix: str) -> dict[str, Any]:
    found = [r for r in _RESOURCES if r["resourceType"] == rtype and r["id"].startswith(prefix)
             and not (rtype == "Observation" and not prefix and r["id"].startswith("inr-"))]
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in found]}


CDS_DRAFT_ORDER: dict[str, Any] = {
    "resourceType": "MedicationRequest", "id": "warfarin-draft-1", "status": "draft", "intent": "order",
    "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "855332",
                                              "display": "Warfarin Sodium 5 MG Oral Tablet"}]},
    "subject": {"reference": "Patient/ward7-bed12"},
    "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                           "doseAndRate": [{"doseQuantity": {"value": 5, "unit": "mg",
                                                             "system": "http://unitsofmeasure.org", "code": "mg"}}]}],
}

CDS_ORDER_SIGN_EXAMPLE: dict[str, Any] = {
    "hook": "order-sign",
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "context": {"userId": "Practitioner/dr-ortiz", "patientId": "ward7-bed12",
                "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": CDS_DRAFT_ORDER}]}},
    "prefetch": {"patient": next(r for r in _RESOURCES if r["resourceType"] == "Patient"),
                 **{k: _searchset(*_BY_KEY[k]) for k in prefetch_templates("warfarin") if k in _BY_KEY}},
}
