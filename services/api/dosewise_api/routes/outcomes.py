"""``POST /v1/outcomes`` and ``POST /v1/outcomes:batch``: glue around the outcome use case (``dosewise_api.outcomes``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Response

from dosewise_api import outcomes
from dosewise_api.deps import ClinicalCaller, SessionsDep
from dosewise_api.middleware import ParsedBodyRoute
from dosewise_api.outcomes import OutcomeBatchRequest, OutcomeBatchResponse, OutcomeCreate, OutcomeRecord

router = APIRouter(prefix="/v1/outcomes", tags=["outcomes"], route_class=ParsedBodyRoute)

_PROBLEM = {"content": {"application/problem+json": {}}}
REPLAYED_HEADER = "Idempotent-Replayed"
# The ownership rule, stated where clients read it (the use case's docstring has the why).
_OWNERSHIP = ("Only the caller that made a recommendation records its outcome: the same API key, or the same JWT subject, "
              "the rule `GET /v1/recommendations/{id}` follows (there is no organisation rule: a colleague's key or a new key "
              "of the same integration is another caller). A recommendation of another caller is answered exactly like an "
              "unknown id, with nothing written and nothing of the recommendation shown; so is an idempotent replay of an "
              "outcome whose recommendation is not the caller's.")
_RESPONSES = {
    404: {"description": "Unknown recommendation, or one made by another caller (the two are not told apart)", **_PROBLEM},
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
    operation_id="outcomes_create",
    summary="Record what happened after a recommendation (idempotent; announced to the trainer)",
    description=_OWNERSHIP,
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
    operation_id="outcomes_create_batch",
    summary="Record up to 1,000 outcomes in one transaction (each with its own idempotency_key)",
    description=_OWNERSHIP + " In a batch, such an item is a 422 entry of type `not_found` at "
                "`outcomes.<i>.recommendation_id` (the entry an unknown id gets), and nothing of the batch is written.",
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
