"""Audit events of the gateway's use cases: who acted, as the gateway knows its callers, written inside the same
transaction as the change they record.

Usage, in a use case that already holds the request's transaction ``s``::

    await audit.record(s, [audit.entry(caller, Action.OUTCOME_RECORD, patient_ref=row.patient_ref, subject_id=str(row.id),
                                       payload=row.payload)])

The event itself (``AuditEntry``) and its one writer (``repositories.append_audit_events``) are the platform's; a use case
writing through ``db.run_transaction`` hands the same entries to that writer directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dosewise.audit_chain import Action, AuditEntry, sha256_json
from dosewise.storage.models import AuditEvent
from dosewise.storage.repositories import AuditRepository
from dosewise_api.auth import Caller

__all__ = ["Action", "AuditEntry", "entry", "record"]


def _role(caller: Caller) -> str:
    return str(caller.role) if caller.role is not None else ",".join(sorted(caller.roles))[:32] or "none"


def entry(caller: Caller, action: Action, *, patient_ref: str | None = None, policy_version: str | None = None,
          subject_id: str | None = None, payload: Any = None, input_hash: str | None = None) -> AuditEntry:
    """``caller``'s act: ``payload`` is hashed, not stored (or ``input_hash`` is its ``sha256_json``, made earlier)."""
    if payload is not None and input_hash is not None:
        raise ValueError("give the payload or its hash, not both")
    return AuditEntry(actor=caller.id, role=_role(caller), action=action.value, patient_ref=patient_ref,
                      policy_version=policy_version, subject_id=subject_id,
                      input_hash=input_hash if payload is None else sha256_json(payload))


async def record(session: AsyncSession, entries: Sequence[AuditEntry]) -> list[AuditEvent]:
    """Append events in order under one chain lock (a batch of 1,000 outcomes is one lock, not 1,000)."""
    return await AuditRepository(session).append_many(entries)
