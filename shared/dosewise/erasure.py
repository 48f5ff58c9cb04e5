"""Erase one patient's clinical data on request (``dosewise patients erase REF``) without breaking the audit trail.

What goes: every outcome row of the patient and the learner's transitions built from them, and the state, features and
response body of every recommendation (the row stays as a tombstone: id, pseudonymous reference, policy, action and time,
so the audit events that point at it still resolve).
What stays: audit events. They hold only the pseudonym, ids and hashes — no clinical content — so rewriting them is neither
needed nor allowed; the chain verifies before and after. The erasure itself is audited (``patient.erase``), in the same
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise.audit_chain import Action
from dosewise.privacy import PSEUDONYM_PREFIX
from dosewise.storage.db import transaction
from dosewise.storage.models import utcnow
from dosewise.storage.repositories import AuditRepository, PatientDataRepository

ERASED = "erased"  # key of a tombstone payload: {"erased": true, "erased_at": ...}


@dataclass(frozen=True)
class Erasure:
    recommendations: int
    outcomes: int
    audit_event_id: int


def is_tombstone(payload: object) -> bool:
    return isinstance(payload, dict) and payload.get(ERASED) is True


async def erase_patient(sessions: async_sessionmaker[AsyncSession], pseudonym: str, *, actor: str, actor_role: str) -> Erasure:
    """Erase by the stored (pseudonymous) reference; the caller pseudonymizes a raw reference with the configured key."""
    if not pseudonym.startswith(PSEUDONYM_PREFIX):
        raise ValueError("erase takes the stored pseudonym (pz_…); pseudonymize a caller's reference first")
    tombstone = {ERASED: True, "erased_at": utcnow().isoformat()}
    async with transaction(sessions) as s:
        event = await AuditRepository(s).append(actor=actor, role=actor_role, action=Action.PATIENT_ERASE,
                                                patient_ref=pseudonym)
        recs, outcomes = await PatientDataRepository(s).erase(pseudonym, tombstone)
    assert event.id is not None
    return Erasure(recommendations=recs, outcomes=outcomes, audit_event_id=event.id)
