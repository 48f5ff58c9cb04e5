"""CDS Hooks 2.0 (HL7 cds-hooks v2.0.1): discovery, the hook endpoints, feedback. Glue around ``dosewise_api.cds``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request

from dosewise.cds.example import CDS_ORDER_SIGN_EXAMPLE
from dosewise.cds.services import SERVICES, Service
from dosewise_api import cds, outcomes
from dosewise_api.auth import Caller
from dosewise_api.cds_auth import cds_caller, discovery_caller
from dosewise_api.deps import CoalescerDep, SessionsDep
from dosewise_api.middleware import ParsedBodyRoute
from dosewise_api.ratelimit import Admission

router = APIRouter(prefix="/cds-services", tags=["cds-hooks"], route_class=ParsedBodyRoute)
CdsCaller = Annotated[Caller, Depends(cds_caller)]
_PROBLEM = {"content": {"application/problem+json": {}}}
_AUTH = ("A CDS client authenticates with its JWT (CDS Hooks 2.0 §Trusting CDS Clients: `iss` on DOSEWISE_CDS_ISSUERS, "
         "`aud` this endpoint's URL, `exp`, `iat`, `jti` once); an integration may use a clinician or integrator API key.")


_EXAMPLES = {"order-sign": {"summary": "order-sign, prefetch filled, a draft warfarin order",
                            "value": CDS_ORDER_SIGN_EXAMPLE}}


def _service(service_id: str) -> Service:
    service = SERVICES.get(service_id)
    if service is None:
        raise HTTPException(404, f"no CDS Service {service_id!r} (GET /cds-services lists them)")
    return service


def _base(request: Request) -> str:
    return (request.app.state.settings.public_url or str(request.base_url)).rstrip("/")


async def _admission(request: Request, caller: CdsCaller) -> Admission:
    admission: Admission = request.app.state.auth.admission
    admission.check(caller.id, 1, single=True)
    return admission


def _refuse(e: cds.HookProblem | outcomes.OutcomeError) -> HTTPException:
    return HTTPException(e.status, e.detail)


@router.get("", operation_id="cds_discovery", summary="CDS Hooks discovery: one service per therapy and hook",
            description="Each service's `prefetch` holds R4 search templates (`_sort=-date`) for the patient, the "
                        "therapy's observations (LOINC) and medication records. " + _AUTH)
async def discovery(caller: Annotated[Caller | None, Depends(discovery_caller)]) -> dict[str, Any]:
    return {"services": [s.discovery() for s in SERVICES.values()]}


@router.post("/{service_id}", operation_id="cds_hook", summary="Call a CDS Service: cards for the hook",
             description="patient-view: an info card with a SMART link to the patient in Dosewise; order-select / "
                         "order-sign with a draft order of the therapy's drug: a card whose suggestion updates the draft "
                         "to the recommended dose (shown at the first of the two hooks only). The recommendation is "
                         "stored and audited as POST /v1/fhir/recommendations stores it. Prefetch keys left out are read "
                         "from `fhirServer`; without one, 412. " + _AUTH,
             responses={400: {"description": "Malformed hook request", **_PROBLEM},
                        404: {"description": "Unknown service", **_PROBLEM},
                        412: {"description": "Prefetch missing and not readable from fhirServer", **_PROBLEM}})
async def call_service(service_id: str, body: Annotated[cds.HookRequest, Body(openapi_examples=_EXAMPLES)],
                       request: Request, caller: CdsCaller,
                       admission: Annotated[Admission, Depends(_admission)], coalescer: CoalescerDep,
                       sessions: SessionsDep) -> dict[str, Any]:
    deps = cds.HookDeps(sessions, coalescer, request.app.state.fhir_reader, admission, _base(request))
    try:
        return await cds.answer_hook(_service(service_id), body, caller, deps)
    except cds.HookProblem as e:
        raise _refuse(e) from None


@router.post("/{service_id}/feedback", operation_id="cds_feedback", summary="Feedback on cards: into the outcome loop",
             description="`accepted` (the suggestion's uuid in `acceptedSuggestions`) records that the recommended dose "
                         "was given; `overridden` records the drafted dose, with the coded `overrideReason` and the "
                         "`userComment`. Idempotent per card; only the caller the card was shown to. " + _AUTH,
             responses={400: {"description": "Malformed feedback", **_PROBLEM},
                        404: {"description": "Unknown card, or one shown to another caller", **_PROBLEM},
                        409: {"description": "The recommendation already has another outcome", **_PROBLEM}})
async def feedback(service_id: str, body: cds.FeedbackRequest, caller: CdsCaller, sessions: SessionsDep) -> dict[str, Any]:
    _service(service_id)
    try:
        done = await cds.record_feedback(body, caller, sessions)
    except (cds.HookProblem, outcomes.OutcomeError) as e:
        raise _refuse(e) from None
    return {"outcomes": [{"outcome_id": str(d.record.outcome_id), "recommendation_id": str(d.record.recommendation_id),
                          "replayed": d.replayed} for d in done]}
