"""The CDS Hooks use cases (issue 26): a hook call → cards, a card's feedback → the outcome loop.

A hook call goes through the exact flow of POST /v1/fhir/recommendations: its prefetch (and what is read from
``fhirServer`` for the keys the client left out) becomes one Bundle, ``map_bundle`` makes the PatientState, the coalescer
validates, infers, applies the final guardrails, stores the recommendation with its audit event under the caller, and the
card is built from what was stored.

**One card per order, not one per hook.** A client calls order-select while the clinician picks the drug and order-sign when
they sign: the same draft order (its id) for the same patient data. Both hooks get the *same* recommendation (its idempotency
key is the order and the data, not the hook: nothing is stored twice), and the first hook that cards it is remembered in
``cds_cards`` (by caller, order and recommendation; the order id only hashed). The other hook answers without that card; a
retry of the same hook gets the same card again (same uuid). Remembering it in the database, rather than deriving it from
the hook alone, is what tells "order-sign after order-select" from "order-sign retried", and it is also where feedback finds
the recommendation a card came from. New data between the two hooks (a new INR) is a new recommendation and a new card.

**Feedback is an outcome.** ``accepted`` (the suggestion's uuid among ``acceptedSuggestions``) records that the recommended
dose was given; ``overridden`` records the drafted dose (a patient-view card: the current dose) as given, with the coded
``overrideReason`` and the ``userComment``. Both go through ``outcomes.record_outcomes``: idempotent (the key is the card:
the client may send it twice), owned (only the caller whose card it is), audited, announced to the trainer.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise.cds import cards
from dosewise.cds.prefetch import DraftOrder, HookRequestError, bundle_of, draft_order, missing, patient_id
from dosewise.cds.services import ORDER_HOOKS, Service, render
from dosewise.erasure import is_tombstone
from dosewise.fhir import BundleError, map_bundle
from dosewise.schemas import Recommendation
from dosewise.storage import models
from dosewise.storage.db import transaction
from dosewise.storage.repositories import CdsCardRepository, RecommendationRepository
from dosewise_api import outcomes
from dosewise_api.auth import Caller
from dosewise_api.coalescer import RecommendationCoalescer
from dosewise_api.fhir_client import FetchError, FhirReader, checked_server
from dosewise_api.ratelimit import Admission

CARD_NAMESPACE = uuid.UUID("9d3c1f0e-5b4a-4c2e-8f6d-7a1b2c3d4e5f")  # uuid5 namespace of our card and suggestion ids
USER_COMMENT_MAX = 500  # outcomes.Feedback.reason
# A feedback's outcomeTimestamp up to this much before the decision it answers, or after our now, is the client's clock (or
# a timestamp to the second): read as the decision time, or now. Beyond that, the outcome loop refuses it (an outcome
# follows its decision and is in the past).
CLOCK_SKEW = timedelta(minutes=5)


class FhirAuthorization(BaseModel):
    model_config = ConfigDict(extra="allow")
    access_token: str = Field(max_length=8192)
    token_type: str = "Bearer"
    expires_in: int | None = None
    scope: str | None = None
    subject: str | None = None


class HookRequest(BaseModel):
    """A CDS Hooks 2.0 request (§Calling a CDS Service): ``context`` per hook, ``prefetch`` per the service's templates."""

    model_config = ConfigDict(extra="allow")  # extensions
    hook: str
    hookInstance: str = Field(min_length=1, max_length=128)
    fhirServer: str | None = Field(None, max_length=2048)
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None


class Coding(BaseModel):
    model_config = ConfigDict(extra="allow")
    system: str | None = None
    code: str | None = None
    display: str | None = None


class OverrideReason(BaseModel):
    model_config = ConfigDict(extra="allow")
    reason: Coding | None = None
    userComment: str | None = None


class AcceptedSuggestion(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str


class FeedbackItem(BaseModel):
    """One card's outcome (§Feedback)."""

    model_config = ConfigDict(extra="allow")
    card: uuid.UUID
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] = Field(default_factory=list, max_length=10)
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: datetime


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=50)


class HookProblem(Exception):
    """A refusal with the spec's status: 400 (a malformed request), 412 (data missing and not readable)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass(frozen=True)
class HookDeps:
    sessions: async_sessionmaker[AsyncSession]
    coalescer: RecommendationCoalescer
    reader: FhirReader
    admission: Admission
    base_url: str  # the gateway's URL as the client reaches it


def _sha(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _links(rec: Recommendation, base: str) -> cards.Links:
    # The UI's page, not the admin API route: a link opened from the EHR's browser carries no API key.
    return cards.Links(policy_url=f"{base}/ui/policies/{rec.policy.id}/card",
                       patient_url=f"{base}/ui/patients/{rec.patient_ref}")


async def _data(service: Service, req: HookRequest, reader: FhirReader) -> tuple[dict[str, Any], list[str]]:
    """The prefetch, with every key the client left out read from its FHIR server (and what of it was not read: a page
    elsewhere or beyond the caps, fhir_client); 412 when that cannot be done."""
    templates = service.prefetch
    data = {k: v for k, v in (req.prefetch or {}).items() if k in templates}
    wanted = missing(req.prefetch, templates)
    if not wanted:
        return data, []
    if not req.fhirServer:
        raise HookProblem(412, f"prefetch {', '.join(wanted)} missing and no fhirServer to read it from")
    queries = {}
    for k in wanted:
        q = render(templates[k], req.context)
        if q is None:
            raise HookProblem(412, f"prefetch {k} missing, and the context lacks what its query needs")
        queries[k] = q
    try:
        base = checked_server(req.fhirServer, reader.allowed)
        token = req.fhirAuthorization.access_token if req.fhirAuthorization else None
        fetched, unread = await reader.read_many(base, queries, token)
    except FetchError as e:
        raise HookProblem(412, f"prefetch {', '.join(wanted)} missing and not readable: {e}") from None
    return data | fetched, unread


def _not_recommended(e: BundleError, card_id: str) -> dict[str, Any]:
    """A card saying what the record lacks, instead of a recommendation (nothing is stored)."""
    problems = [f"- {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors[:10]]
    first = str(e.errors[0]["msg"]) if e.errors else "the record cannot be read"
    text = f"Dosewise cannot recommend a dose: {first}"
    return {"uuid": card_id, "indicator": "warning",
            "summary": text if len(text) <= cards.SUMMARY_MAX else text[: cards.SUMMARY_MAX - 1] + "…",
            "detail": "**What the record lacks or what cannot be read:**\n" + "\n".join(problems),
            "source": {"label": "Dosewise"}}


async def _remember(sessions: async_sessionmaker[AsyncSession], card: models.CdsCard) -> models.CdsCard:
    try:
        async with transaction(sessions) as s:
            stored = await CdsCardRepository(s).first_shown(card)
            return models.CdsCard.model_validate(stored.model_dump())
    except IntegrityError:  # a concurrent call showed it first
        async with sessions() as s:
            found = await CdsCardRepository(s).get(card.id, card.caller_id)
        assert found is not None
        return found


async def answer_hook(service: Service, req: HookRequest, caller: Caller, deps: HookDeps) -> dict[str, Any]:
    """The CDS response (§CDS Service Response) of one hook call."""
    if req.hook != service.hook:
        raise HookProblem(400, f"service {service.id} answers the hook {service.hook}, not {req.hook}")
    try:
        pid = patient_id(req.context)
        draft: DraftOrder | None = None
        if service.hook in ORDER_HOOKS:
            draft = draft_order(req.context, service.therapy)
            if draft is None:
                return {"cards": []}  # not an order of this therapy's drug: nothing to say
    except HookRequestError as e:
        raise HookProblem(400, str(e)) from None
    data, unread = await _data(service, req, deps.reader)
    try:
        mapped = await run_in_threadpool(map_bundle, bundle_of(data), service.therapy)
    except BundleError as e:
        return {"cards": [_not_recommended(e, str(uuid.uuid5(CARD_NAMESPACE, f"missing:{req.hookInstance}")))]}
    state = mapped.state
    fingerprint = _sha(state.model_dump_json(exclude={"as_of"}))
    order_key = _sha(pid, draft.id) if draft is not None else None
    # One recommendation per order and data (both order hooks), per hook instance for patient-view.
    key = f"cds:{service.therapy}:" + _sha(order_key or f"{service.id}:{req.hookInstance}", fingerprint)
    with deps.admission.admitted(caller.id, 1, single=True):
        answer = await deps.coalescer.recommend(state, caller, key, (*unread, *mapped.warnings))
    rec = answer.recommendation
    card_id = uuid.uuid5(CARD_NAMESPACE, f"{rec.recommendation_id}:{order_key or 'patient-view'}")
    suggestion_id = uuid.uuid5(CARD_NAMESPACE, f"{card_id}:update") if draft is not None else None
    drafted = draft.dose_per_day if draft is not None else rec.current_dose.value
    shown = await _remember(deps.sessions, models.CdsCard(
        id=card_id, caller_id=caller.id, recommendation_id=rec.recommendation_id, hook=service.hook, order_key=order_key,
        suggestion_id=suggestion_id, drafted_dose=drafted))
    if shown.hook != service.hook:
        return {"cards": []}  # this order's card was shown at the other order hook
    links = _links(rec, deps.base_url)
    if draft is None:
        return {"cards": [cards.patient_view_card(rec, state, str(card_id), links)]}
    return {"cards": [cards.order_card(rec, state, str(card_id), str(suggestion_id), draft.resource, links)]}


def _outcome(item: FeedbackItem, card: models.CdsCard, rec: Recommendation) -> outcomes.OutcomeCreate:
    unit = rec.recommended_dose.unit
    if item.outcome == "accepted":
        if card.suggestion_id is not None and str(card.suggestion_id) not in {s.id for s in item.acceptedSuggestions}:
            raise HookProblem(400, f"card {item.card}: acceptedSuggestions must name its suggestion {card.suggestion_id}")
        regimen = rec.plan.dose_per_day.value if rec.plan else rec.recommended_dose.value
        return outcomes.OutcomeCreate.model_validate({
            "recommendation_id": rec.recommendation_id, "dose_given": {"value": rec.recommended_dose.value, "unit": unit},
            "regimen": {"value": regimen, "unit": unit}, "given_at": item.outcomeTimestamp,
            "feedback": {"decision": "accepted"}})
    why = item.overrideReason
    code = cards.reason_code(why.reason.model_dump() if why and why.reason else None) or "other"
    comment = " ".join((why.userComment or "").split())[:USER_COMMENT_MAX] if why else ""
    given = card.drafted_dose if card.drafted_dose is not None else rec.current_dose.value
    return outcomes.OutcomeCreate.model_validate({
        "recommendation_id": rec.recommendation_id, "dose_given": {"value": given, "unit": unit},
        "given_at": item.outcomeTimestamp,
        "feedback": {"decision": "overridden", "reason_code": code, **({"reason": comment} if len(comment) >= 3 else {})}})


async def record_feedback(req: FeedbackRequest, caller: Caller,
                          sessions: async_sessionmaker[AsyncSession]) -> list[outcomes.Recorded]:
    """Each card's feedback as the outcome of its recommendation (idempotent per card); 404 for a card not the caller's."""
    done = []
    for item in req.feedback:
        async with sessions() as s:
            card = await CdsCardRepository(s).get(item.card, caller.id)
            row = (await RecommendationRepository(s).owned_by(caller.id, [card.recommendation_id])).get(
                card.recommendation_id) if card is not None else None
        if card is None or row is None:
            raise outcomes.OutcomeError(404, f"card {item.card} {outcomes.NOT_FOUND}")
        if is_tombstone(row.response):
            raise outcomes.OutcomeError(410, f"card {item.card}: its patient's data was erased")
        rec = Recommendation.model_validate(row.response)
        decided = datetime.fromisoformat(row.state["as_of"]) if row.state.get("as_of") else row.created_at
        now = models.utcnow()
        if decided - CLOCK_SKEW <= item.outcomeTimestamp < decided:  # the card preceded its feedback: a clock apart
            item = item.model_copy(update={"outcomeTimestamp": decided})
        elif now < item.outcomeTimestamp <= now + CLOCK_SKEW:  # the client's clock is ahead of ours
            item = item.model_copy(update={"outcomeTimestamp": now})
        body = _outcome(item, card, rec)
        [recorded] = await outcomes.record_outcomes([body], [f"cds-feedback:{item.card}"], caller, sessions, batch=False)
        done.append(recorded)
    return done
