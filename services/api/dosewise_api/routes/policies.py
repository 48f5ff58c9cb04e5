from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from dosewise import registry
from dosewise.therapies.registry import PACKS
from dosewise_api.deps import SessionsDep

router = APIRouter(tags=["policies"])
_PROBLEM = {"content": {"application/problem+json": {}}}


def _by(request: Request) -> str:
    caller = getattr(request.state, "caller", None)
    return getattr(caller, "id", None) or "api"


@router.get("/v1/policies", summary="The policy registry, newest first")
async def list_policies(sessions: SessionsDep, therapy: str | None = None) -> dict[str, Any]:
    data = [registry.public(p) for p in await registry.list_policies(sessions, therapy)]
    return {"data": data, "count": len(data)}


@router.post("/v1/policies/{policy_id}/activate", summary="Make a policy version the active one of its therapy",
             responses={404: {"description": "Unknown policy", **_PROBLEM}, 409: {"description": "Rejected policy", **_PROBLEM}})
async def activate(policy_id: str, request: Request, sessions: SessionsDep) -> dict[str, Any]:
    try:
        p = await registry.activate(sessions, request.app.state.queue, policy_id, by=_by(request))
    except registry.RegistryError as e:
        raise HTTPException(e.status, str(e)) from None
    return registry.public(p)


@router.post("/v1/therapies/{therapy}/rollback", summary="Bring back the previously active policy of a therapy",
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
