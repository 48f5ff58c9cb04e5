from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from dosewise.storage.db import ping
from dosewise_api.deps import InferenceDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Alive")
async def healthz() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/readyz", summary="Ready: database and inference reachable")
async def readyz(request: Request, client: InferenceDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        await ping(request.app.state.engine)
        checks["database"] = "ok"
    except Exception as e:
        checks["database"] = f"unreachable ({type(e).__name__})"
    checks["inference"] = "ok" if await client.ready() else "not ready"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)
