from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from dosewise import registry
from dosewise.schemas import PolicyStatus
from dosewise.therapies.registry import PACKS
from dosewise_api.deps import SessionsDep
from dosewise_api.routes.audit import UtcDatetime

router = APIRouter(tags=["policies"])
_PROBLEM = {"content": {"application/problem+json": {}}}


class PolicyPublic(BaseModel):
    """A registry row: one policy version of a therapy (its artifact's server path is not shown)."""

    id: str
    therapy: str
    version: str
    status: PolicyStatus = Field(
        description="At most one active policy per therapy; inference serves the active one (or the untrained network).")
    sha256: str = Field(description="Of the ONNX artifact; inference verifies it on every load.")
    created_at: UtcDatetime
    activated_at: UtcDatetime | None
    activated_by: str | None
    model_card: dict[str, Any] = Field(description="Training data, algorithm, evaluation and the gate's report.")


class PoliciesPublic(BaseModel):
    data: list[PolicyPublic]
    count: int


def _by(request: Request) -> str:
    caller = getattr(request.state, "caller", None)
    return getattr(caller, "id", None) or "api"


@router.get("/v1/policies", response_model=PoliciesPublic, summary="The policy registry, newest first",
            operation_id="policies_list")
async def list_policies(sessions: SessionsDep, therapy: str | None = None) -> dict[str, Any]:
    data = [registry.public(p) for p in await registry.list_policies(sessions, therapy)]
    return {"data": data, "count": len(data)}


@router.get("/v1/policies/{policy_id}", response_model=PolicyPublic, operation_id="policies_get",
            summary="One policy version: its model card and the gate's report (where CDS Hooks cards point)",
            responses={404: {"description": "Unknown policy", **_PROBLEM}})
async def get_policy(policy_id: str, sessions: SessionsDep) -> dict[str, Any]:
    p = await registry.get_policy(sessions, policy_id)
    if p is None:
        raise HTTPException(404, f"unknown policy {policy_id!r}")
    return registry.public(p)


@router.post("/v1/policies/{policy_id}/activate", response_model=PolicyPublic, operation_id="policies_activate",
             summary="Make a policy version the active one of its therapy",
             responses={404: {"description": "Unknown policy", **_PROBLEM}, 409: {"description": "Rejected policy", **_PROBLEM}})
async def activate(policy_id: str, request: Request, sessions: SessionsDep) -> dict[str, Any]:
    try:
        p = await registry.activate(sessions, request.app.state.queue, policy_id, by=_by(request))
    except registry.RegistryError as e:
        raise HTTPException(e.status, str(e)) from None
    return registry.public(p)


@router.post("/v1/therapies/{therapy}/rollback", response_model=PolicyPublic, operation_id="policies_rollback",
             summary="Bring back the previously active policy of a therapy",
             responses={404: {"description": "Unknown therapy", **_PROBLEM},
                        409: {"description": "Nothing to roll back to", **_PROBLEM}})
async def rollback(therapy: str, request: Request, sessions: SessionsDep) -> dict[str, Any]:
    if therapy not in PACKS:
        raise HTTPException(404, f"unknown therapy {therapy!r}")
    try:
        p = await registry.rollback(sessions, request.app.state.queue, therapy, by=_by(request))
    except registry.RegistryError as e:
        raise HTTPException(e.status, str(e)) from None
    return registry.public(p)
