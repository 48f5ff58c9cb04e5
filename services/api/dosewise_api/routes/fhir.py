"""FHIR R4 in: a Bundle → the JSON route's recommendation flow (validate, infer, guardrails, persist, audit), unchanged.

The mapping is domain logic (dosewise/fhir); this route reads the query, maps the bundle off the event loop, and hands the
PatientState to the same coalescer POST /v1/recommendations uses. With ``Accept: application/fhir+json`` the answer is the
recommendation as a proposed MedicationRequest (dosewise/fhir/out.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from dosewise.fhir import map_bundle
from dosewise.fhir.example import FHIR_BUNDLE_EXAMPLE
from dosewise.schemas import Recommendation
from dosewise_api.deps import ClinicalCaller, CoalescerDep
from dosewise_api.fhir_out import FHIR_ANSWER_DESCRIPTION, fhir_response, wants_fhir
from dosewise_api.middleware import ParsedBodyRoute
from dosewise_api.ratelimit import Admission
from dosewise_api.routes.recommendations import _PROBLEM, _SHARE, _single_admission

router = APIRouter(prefix="/v1/fhir", tags=["fhir"], route_class=ParsedBodyRoute)

@router.post(
    "/recommendations",
    response_model=Recommendation,
    operation_id="fhir_recommendations_create",
    summary="Recommend the next dose from a FHIR R4 Bundle (stored before it is returned)",
    description="The body is a FHIR R4 Bundle, sent as `application/fhir+json` or `application/json`. Its Patient, "
                "Observations (LOINC), Conditions and medication resources (RxNorm) become the PatientState of POST "
                "/v1/recommendations (docs/fhir.md has the mapping); every normalization is listed in the answer's "
                "`warnings`. " + FHIR_ANSWER_DESCRIPTION,
    responses={422: {"description": "What the bundle lacks or what cannot be read, one entry per resource and element "
                                    "(`field` starts with the resource, e.g. `Observation/abc.valueQuantity.unit`)",
                     **_PROBLEM},
               413: {"description": "Body too large", **_PROBLEM}, **_SHARE},
)
async def create_from_bundle(
    request: Request,
    bundle: Annotated[dict[str, Any], Body(description="A FHIR R4 Bundle (application/fhir+json or application/json).",
                                           openapi_examples={"warfarin": {"summary": "Warfarin, INR series and order",
                                                                          "value": FHIR_BUNDLE_EXAMPLE}})],
    caller: ClinicalCaller,
    admission: Annotated[Admission, Depends(_single_admission)],
    coalescer: CoalescerDep,
    therapy: Annotated[Literal["warfarin", "insulin_t2d"] | None, Query(
        description="Therapy pack id; default: inferred from the active MedicationRequest's RxNorm code.")] = None,
    idempotency_key: Annotated[str | None, Header(max_length=128, description="Retry-safe key: the same key returns the "
                                                  "same recommendation and stores nothing new")] = None,
) -> Recommendation:
    # Parsing a large bundle takes tens of milliseconds of CPU: off the event loop.
    mapped = await run_in_threadpool(map_bundle, bundle, therapy)  # BundleError → 422 (errors.py)
    with admission.admitted(caller.id, 1, single=True):
        answer = await coalescer.recommend(mapped.state, caller, idempotency_key, mapped.warnings)
    if wants_fhir(request):
        return fhir_response(answer.recommendation, mapped.patient, mapped.medication)  # type: ignore[return-value]
    return Response(answer.json, media_type="application/json")  # type: ignore[return-value]
