"""Policy registry operations shared by the gateway's admin routes and `dosewise policies`.

Activation is one database transaction (the new version becomes ``active``, the old one ``retired``); after it commits, a
"policy activated" event goes to the ``policies`` stream and every inference replica loads the new version in the background and
swaps it in atomically. The event is a nudge, not the truth: inference also re-reads the registry every
``DOSEWISE_POLICY_REFRESH_S`` seconds, so a lost event delays a swap by at most that long and never loses it.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise.audit_chain import Action
from dosewise.queue.base import POLICIES_STREAM, Queue
from dosewise.storage.db import transaction
from dosewise.storage.models import Policy
from dosewise.storage.repositories import AuditRepository, PolicyRepository

log = logging.getLogger(__name__)


class RegistryError(Exception):
    """A registry request that cannot be done; ``status`` is the HTTP status that describes it."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def public(p: Policy) -> dict[str, Any]:
    """A registry row as the API shows it (the model card included, the artifact's server path not)."""
    return {
        "id": p.id, "therapy": p.therapy, "version": p.version, "status": p.status, "sha256": p.sha256,
        "created_at": p.created_at, "activated_at": p.activated_at, "activated_by": p.activated_by, "model_card": p.model_card,
    }


async def list_policies(sessions: async_sessionmaker[AsyncSession], therapy: str | None = None) -> list[Policy]:
    async with sessions() as s:
        return list(await PolicyRepository(s).list(therapy))


async def get_policy(sessions: async_sessionmaker[AsyncSession], policy_id: str) -> Policy | None:
    async with sessions() as s:
        return await PolicyRepository(s).get(policy_id)


async def _announce(queue: Queue | None, p: Policy, by: str) -> None:
    if queue is None:
        return
    try:
        await queue.publish(POLICIES_STREAM, {"event": "policy_activated", "therapy": p.therapy, "policy_id": p.id,
                                              "version": p.version, "by": by})
    except Exception as e:  # the registry already changed; replicas pick it up on their next refresh
        log.warning("policy event not published", extra={"error": type(e).__name__, "therapy": p.therapy})


def failed_clinic_aims(card: dict[str, Any] | None) -> bool:
    """The version's own card records that it did not meet issue #25's held-out aims (``clinic_evaluation.targets_met``
    False): such a learned policy or MPC may not serve ("the guideline is the floor"). A card without that evidence is
    judged where it was made (the retraining gate, the bootstrap)."""
    evidence = (card or {}).get("clinic_evaluation")
    return isinstance(evidence, dict) and evidence.get("targets_met") is False


async def activate(sessions: async_sessionmaker[AsyncSession], queue: Queue | None, policy_id: str, by: str,
                   role: str = "admin", action: Action = Action.POLICY_ACTIVATE) -> Policy:
    """Activate and audit in one transaction (the audit event names who, the version and the policy id). A version whose
    card shows the held-out aims not met is refused (409), whoever asks."""
    existing = await get_policy(sessions, policy_id)
    if existing is not None and failed_clinic_aims(existing.model_card):
        raise RegistryError(f"{existing.therapy}/{existing.version} did not meet the held-out clinic aims its model card "
                            "records; the guideline (or a version that met them) serves instead", 409)
    try:
        async with transaction(sessions) as s:
            p = await PolicyRepository(s).activate(policy_id, by=by)
            await AuditRepository(s).append(actor=by, role=role, action=action, policy_version=p.version, subject_id=p.id)
    except LookupError as e:
        raise RegistryError(str(e), 404) from None
    except ValueError as e:
        raise RegistryError(str(e), 409) from None
    await _announce(queue, p, by)
    return p


async def rollback(sessions: async_sessionmaker[AsyncSession], queue: Queue | None, therapy: str, by: str,
                   role: str = "admin") -> Policy:
    """Re-activate the most recently retired policy of a therapy."""
    async with sessions() as s:
        previous = await PolicyRepository(s).previous_active(therapy)
    if previous is None:
        raise RegistryError(f"{therapy} has no previously active policy to roll back to", 409)
    return await activate(sessions, queue, previous.id, by, role, Action.POLICY_ROLLBACK)
