from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from dosewise.therapies.registry import PACKS
from dosewise_api.deps import AnyCaller

router = APIRouter(prefix="/v1/therapies", tags=["therapies"])


@router.get("", summary="Registered therapies with their action sets, features (with units) and required state fields")
async def list_therapies(caller: AnyCaller) -> dict[str, Any]:
    data = [p.describe() for p in PACKS.values()]
    return {"data": data, "count": len(data)}
