"""Audit events written by gateway use cases, inside the same transaction as the change they record.

Usage, in a use case that already holds the request's transaction ``s``::

    await audit.record(s, caller, Action.OUTCOME_RECORD, patient_ref=row.patient_ref, subject_id=str(row.id),
                       payload=row.payload)

An event stores who (caller id and acting role), when, what (the action and the id of the thing it touched), the pseudonymous
patient, the policy version, and sha256 of the input's canonical JSON — never the input itself, so the trail carries no
clinical content and survives erasure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dosewise.audit_chain import Action, sha256_json
from dosewise.storage.models import AuditEvent
from dosewise.storage.repositories import AuditRepository
from dosewise_api.auth import Caller

__all__ = ["Action", "AuditEntry", "event_fields", "record", "record_many"]


def _role(caller: Caller) -> str:
    return str(caller.role) if caller.role is not None else ",".join(sorted(caller.roles))[:32] or "none"


class AuditEntry:
    """One event to append; ``payload`` is hashed, not stored (or ``input_hash`` is its ``sha256_json``, made earlier).
    ``caller``: whose act it was, when not ``record_many``'s (coalesced requests of several callers share one
    transaction)."""

    def __init__(self, action: Action, *, patient_ref: str | None = None, policy_version: str | None = None,
                 subject_id: str | None = None, payload: Any = None, input_hash: str | None = None,
                 caller: Caller | None = None) -> None:
        if payload is not None and input_hash is not None:
            raise ValueError("give the payload or its hash, not both")
        self.action, self.patient_ref, self.policy_version, self.subject_id = action, patient_ref, policy_version, subject_id
        self.input_hash = input_hash if payload is None else sha256_json(payload)
        self.caller = caller


def event_fields(caller: Caller, entries: Sequence[AuditEntry]) -> list[dict[str, Any]]:
    """The ``AuditEvent`` fields of each entry (``repositories.append_audit_events`` chains and stores them)."""
    return [{"actor": (e.caller or caller).id, "role": _role(e.caller or caller), "action": e.action.value,
             "patient_ref": e.patient_ref, "policy_version": e.policy_version, "subject_id": e.subject_id,
             "input_hash": e.input_hash} for e in entries]


async def record_many(session: AsyncSession, caller: Caller, entries: Sequence[AuditEntry]) -> list[AuditEvent]:
    """Append events in order under one chain lock (a batch of 1,000 recommendations is one lock, not 1,000)."""
    return await AuditRepository(session).append_many(event_fields(caller, entries))


async def record(session: AsyncSession, caller: Caller, action: Action, *, patient_ref: str | None = None,
                 policy_version: str | None = None, subject_id: str | None = None, payload: Any = None) -> AuditEvent:
    entry = AuditEntry(action, patient_ref=patient_ref, policy_version=policy_version, subject_id=subject_id, payload=payload)
    return (await record_many(session, caller, [entry]))[0]
