"""``GET /v1/audit``: the audit trail for auditors, filtered by time, patient and caller, oldest first, keyset-paginated."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict

from dosewise.audit_chain import Action
from dosewise.privacy import pseudonymize
from dosewise.schemas import require_iso_8601
from dosewise.storage.repositories import AuditRepository
from dosewise_api.deps import AuditorCaller, SessionsDep, SettingsDep

router = APIRouter(prefix="/v1/audit", tags=["audit"])
MAX_ID = 2**63 - 1  # BIGINT


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]  # SQLite reads timestamps back naive (they are UTC)
IsoDatetime = Annotated[AwareDatetime, BeforeValidator(require_iso_8601)]  # never "0.5" read as Unix time


class AuditEventPublic(BaseModel):
    """One audit event exactly as stored, hashes included, so a reader can re-verify the chain around it."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    occurred_at: UtcDatetime
    actor: str
    role: str
    action: str
    patient_ref: str | None
    policy_version: str | None
    subject_id: str | None
    input_hash: str | None
    prev_hash: str
    hash: str


class AuditEventsPublic(BaseModel):
    data: list[AuditEventPublic]
    count: int
    next_after_id: int | None  # pass as after_id for the next page; null on the last page


def _utc(moment: datetime | None, name: str) -> datetime | None:
    try:
        return None if moment is None else moment.astimezone(UTC)
    except OverflowError:
        raise HTTPException(422, f"{name} is out of range") from None


@router.get("", response_model=AuditEventsPublic, summary="Audit events, oldest first (auditor)", operation_id="audit_list")
async def list_events(
    caller: AuditorCaller,
    sessions: SessionsDep,
    settings: SettingsDep,
    since: Annotated[IsoDatetime | None, Query(description="Events at or after this instant (with time zone).")] = None,
    until: Annotated[IsoDatetime | None, Query(description="Events before this instant (with time zone).")] = None,
    patient_ref: Annotated[str | None, Query(min_length=4, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$",
                                             description="A caller's patient reference (pseudonymized here first).")] = None,
    pseudonym: Annotated[str | None, Query(pattern=r"^pz_[0-9a-f]{40}$",
                                           description="A stored pseudonymous reference (pz_…); with patient_ref, events "
                                           "must match both.")] = None,
    caller_id: Annotated[str | None, Query(alias="caller", min_length=1, max_length=128,
                                           description="Caller id, e.g. key:1a2b3c4d5e6f or jwt:<subject>.")] = None,
    action: Annotated[Action | None, Query(description="Only this kind of event.")] = None,
    after_id: Annotated[int, Query(ge=0, le=MAX_ID, description="Cursor: events with a larger id.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditEventsPublic:
    refs = {pseudonymize(patient_ref, settings.pseudonym_key) if patient_ref is not None else None, pseudonym} - {None}
    if len(refs) > 1:  # both filters, naming two different patients: nothing can match both
        return AuditEventsPublic(data=[], count=0, next_after_id=None)
    ref = next(iter(refs), None)
    async with sessions() as s:
        rows = await AuditRepository(s).search(since=_utc(since, "since"), until=_utc(until, "until"), patient_ref=ref,
                                               actor=caller_id, action=action, after_id=after_id, limit=limit)
    data = [AuditEventPublic.model_validate(r) for r in rows]
    return AuditEventsPublic(data=data, count=len(data), next_after_id=data[-1].id if len(data) == limit else None)
