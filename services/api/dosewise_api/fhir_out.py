"""Content negotiation for FHIR answers: ``Accept: application/fhir+json`` → the recommendation as a MedicationRequest."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request, Response

from dosewise.fhir import FHIR_JSON, medication_request
from dosewise.schemas import Recommendation

# How the OpenAPI document states the FHIR answer: in the description only. A second content type for the 200 made the
# generated client type every answer of the route as an untyped object instead of a Recommendation.
FHIR_ANSWER_DESCRIPTION = ("With `Accept: application/fhir+json` the answer is the recommendation as a FHIR R4 "
                           "MedicationRequest (intent `proposal`, status `draft`): the recommended dose in "
                           "`dosageInstruction[0].doseAndRate[0]`, the rationale in `note`, the HyperScore, policy version "
                           "and recommendation id as extensions (docs/fhir.md).")


def wants_fhir(request: Request) -> bool:
    """Whether the caller asked for FHIR (``Accept: application/fhir+json``, with or without parameters)."""
    accept = request.headers.get("accept", "")
    return any(part.split(";", 1)[0].strip().lower() == FHIR_JSON for part in accept.split(","))


def fhir_response(rec: Recommendation, subject: str | None = None, medication: dict[str, Any] | None = None) -> Response:
    body = medication_request(rec, subject, medication)
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), media_type=FHIR_JSON)
