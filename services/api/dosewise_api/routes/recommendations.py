from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool

from dosewise.forecast_chart import forecast_svg
from dosewise.schemas import (
    INSULIN_STATE_EXAMPLE,
    MAX_BATCH,
    PATIENT_STATE_EXAMPLE,
    BatchRecommendationRequest,
    BatchRecommendationResponse,
    PatientState,
    Recommendation,
)
from dosewise_api import recommendations
from dosewise_api.deps import ClinicalCaller, CoalescerDep, InferenceDep, SessionsDep, SettingsDep
from dosewise_api.fhir_out import FHIR_ANSWER_DESCRIPTION, fhir_response, wants_fhir
from dosewise_api.middleware import ParsedBodyRoute
from dosewise_api.ratelimit import Admission

router = APIRouter(prefix="/v1/recommendations", tags=["recommendations"], route_class=ParsedBodyRoute)

_PROBLEM = {"content": {"application/problem+json": {}}}
_RETRY_AFTER = {"headers": {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}}
_SHARE = {429: {"description": "This caller is over its share (requests or patients per minute, or patients in flight); "
                               "nothing stored, retry after Retry-After seconds", **_RETRY_AFTER, **_PROBLEM},
          503: {"description": "Inference or database unreachable, or the gateway already has as much work in flight as it "
                               "can answer within the inference timeout; nothing stored, retry after Retry-After seconds",
                **_RETRY_AFTER, **_PROBLEM}}


async def _single_admission(request: Request, caller: ClinicalCaller) -> Admission:
    """Refuse a single recommendation the caller may not have now (429, 503) before its body is validated."""
    admission: Admission = request.app.state.auth.admission
    admission.check(caller.id, 1, single=True)
    return admission


async def _batch_admission(request: Request, caller: ClinicalCaller) -> Admission:
    """Refuse a batch the caller may not send now (429, 503) before its body is validated: validating 1,000 patients holds
    the event loop tens of milliseconds that a refused request should not take from the others. Its size is read from the
    already parsed JSON; an invalid one is left to validation (422). The route admits it again, validated."""
    admission: Admission = request.app.state.auth.admission
    try:
        body = await request.json()  # parsed once already, before any dependency ran: this returns that parse
    except ValueError:  # no body at all (nothing for RequestGuard to parse): validation answers it with a 422
        return admission
    patients = body.get("patients") if isinstance(body, dict) else None
    if isinstance(patients, list) and 1 <= len(patients) <= MAX_BATCH:
        admission.check(caller.id, len(patients), single=False)
    return admission


@router.post(
    "",
    response_model=Recommendation,
    operation_id="recommendations_create",
    summary="Recommend the next dose for one patient (stored before it is returned)",
    responses={422: {"description": "Invalid patient state, one entry per field", **_PROBLEM},
               413: {"description": "Body too large", **_PROBLEM}, **_SHARE},
)
async def create_recommendation(
    state: Annotated[PatientState, Body(openapi_examples={
        "warfarin": {"summary": "Warfarin, end of the first week", "value": PATIENT_STATE_EXAMPLE},
        "insulin_t2d": {"summary": "Basal insulin, type 2 diabetes, second week", "value": INSULIN_STATE_EXAMPLE}})],
    caller: ClinicalCaller,
    admission: Annotated[Admission, Depends(_single_admission)],
    coalescer: CoalescerDep,
    idempotency_key: Annotated[str | None, Header(max_length=128, description="Retry-safe key: the same key returns the "
                                                  "same recommendation and stores nothing new")] = None,
) -> Recommendation:
    # Concurrent requests share one batch (coalescer.py); each answer is what this request alone would get.
    with admission.admitted(caller.id, 1, single=True):
        answer = await coalescer.recommend(state, caller, idempotency_key)
    # Its JSON as stored (FastAPI would re-validate the whole explanation, then serialize it again).
    return Response(answer.json, media_type="application/json")  # type: ignore[return-value]


@router.post(
    ":batch",
    response_model=BatchRecommendationResponse,
    operation_id="recommendations_create_batch",
    summary="Recommend for up to 1,000 patients in one call (one batched policy run per therapy; all stored before answering)",
    responses={422: {"description": "Invalid patient state, one entry per field (path starts with patients.<i>)", **_PROBLEM},
               413: {"description": "Body too large", **_PROBLEM}, **_SHARE},
)
async def create_recommendations_batch(
    body: Annotated[BatchRecommendationRequest, Body(openapi_examples={"two patients": {
        "summary": "Two warfarin patients",
        "value": {"patients": [PATIENT_STATE_EXAMPLE, PATIENT_STATE_EXAMPLE | {"patient_ref": "ward7-bed14-ep1"}]}}})],
    caller: ClinicalCaller,
    admission: Annotated[Admission, Depends(_batch_admission)],
    client: InferenceDep,
    sessions: SessionsDep,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(max_length=120, description="Retry-safe key for the whole batch")] = None,
) -> BatchRecommendationResponse:
    with admission.admitted(caller.id, len(body.patients), single=False):
        request = recommendations.RecommendationRequest(tuple(body.patients), caller, idempotency_key, batch=True)
        answers = await recommendations.recommend(request, client, sessions, settings.pseudonym_key)
    return Response(recommendations.batch_json(answers), media_type="application/json")  # type: ignore[return-value]


@router.get("/{recommendation_id}", response_model=Recommendation, summary="One of the caller's stored recommendations",
            operation_id="recommendations_get",
            description=FHIR_ANSWER_DESCRIPTION + " Its subject is the stored pseudonym.",
            responses={404: {"description": "Not found (or made by another caller)", **_PROBLEM},
                       410: {"description": "Erased on the patient's request", **_PROBLEM}})
async def get_recommendation(recommendation_id: uuid.UUID, caller: ClinicalCaller, sessions: SessionsDep,
                             request: Request) -> Recommendation:
    rec = await recommendations.get(sessions, recommendation_id, caller_id=caller.id)  # erased: 410 (see app.py)
    if rec is None:
        raise HTTPException(404, "recommendation not found")
    if wants_fhir(request):
        return fhir_response(rec)  # type: ignore[return-value]
    return rec


@router.get("/{recommendation_id}/forecast.svg", response_class=Response, operation_id="recommendations_get_forecast_chart",
            summary="The recommendation's twin forecast as a chart (recommended vs keeping the dose, target band)",
            responses={200: {"content": {"image/svg+xml": {}}, "description": "An SVG chart"},
                       404: {"description": "Not found, made by another caller, or without a forecast (batch "
                                            "recommendations carry no explanation)", **_PROBLEM},
                       410: {"description": "Erased on the patient's request", **_PROBLEM}})
async def get_forecast_chart(recommendation_id: uuid.UUID, caller: ClinicalCaller, sessions: SessionsDep) -> Response:
    rec = await recommendations.get(sessions, recommendation_id, caller_id=caller.id)
    if rec is None:
        raise HTTPException(404, "recommendation not found")
    if rec.explanation is None or rec.explanation.forecast is None:
        raise HTTPException(404, "this recommendation has no forecast (batch recommendations carry no explanation, and "
                                 "a recommendation the final guardrail check overrode has none)")
    # Rendering takes tens of milliseconds of CPU: off the event loop.
    svg = await run_in_threadpool(forecast_svg, rec.explanation.forecast, rec.action_label)
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})  # a patient's data
