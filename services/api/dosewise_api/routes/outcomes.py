"""``POST /v1/outcomes`` and ``POST /v1/outcomes:batch``: glue around the outcome use case (``dosewise_api.outcomes``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Response

from dosewise_api import outcomes
from dosewise_api.deps import ClinicalCaller, SessionsDep
from dosewise_api.outcomes import OutcomeBatchRequest, OutcomeBatchResponse, OutcomeCreate, OutcomeRecord

router = APIRouter(prefix="/v1/outcomes", tags=["outcomes"])

_PROBLEM = {"content": {"application/problem+json": {}}}
REPLAYED_HEADER = "Idempotent-Replayed"
_RESPONSES = {
    404: {"description": "Unknown recommendation", **_PROBLEM},
    409: {"description": "The recommendation already has an outcome (under another key)", **_PROBLEM},
    410: {"description": "The recommendation's patient data was erased", **_PROBLEM},
    413: {"description": "Body too large", **_PROBLEM},
    422: {"description": "Invalid outcome (one entry per field), or an idempotency key reused with a different body",
          **_PROBLEM},
    503: {"description": "Database unreachable; nothing stored. Retryable: retry after Retry-After seconds with the same "
                         "Idempotency-Key", **_PROBLEM},
}


def _refuse(e: outcomes.OutcomeError) -> HTTPException:
    return HTTPException(e.status, e.detail)


@router.post(
    "",
    status_code=201,
    response_model=OutcomeRecord,
    summary="Record what happened after a recommendation (idempotent; announced to the trainer)",
    responses=_RESPONSES,
)
async def create_outcome(
    body: OutcomeCreate,
    caller: ClinicalCaller,
    sessions: SessionsDep,
    response: Response,
    idempotency_key: Annotated[str, Header(min_length=1, max_length=100, description="Required. Retrying with the same key "
                                           "returns the stored outcome and writes nothing new")],
) -> OutcomeRecord:
    try:
        [done] = await outcomes.record_outcomes([body], [idempotency_key], caller, sessions, batch=False)
    except outcomes.OutcomeError as e:
        raise _refuse(e) from None
    if done.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return done.record


@router.post(
    ":batch",
    response_model=OutcomeBatchResponse,
    summary="Record up to 1,000 outcomes in one transaction (each with its own idempotency_key)",
    responses={k: v for k, v in _RESPONSES.items() if k not in (404, 410)},
)
async def create_outcomes_batch(body: OutcomeBatchRequest, caller: ClinicalCaller, sessions: SessionsDep,
                                response: Response) -> OutcomeBatchResponse:
    keys = [item.idempotency_key for item in body.outcomes]
    try:
        done = await outcomes.record_outcomes(body.outcomes, keys, caller, sessions, batch=True)
    except outcomes.OutcomeError as e:
        raise _refuse(e) from None
    if done and all(d.replayed for d in done):
        response.headers[REPLAYED_HEADER] = "true"
    return OutcomeBatchResponse(data=[d.record for d in done], count=len(done))
