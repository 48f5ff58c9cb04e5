from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from dosewise.storage.db import ping
from dosewise_api.deps import InferenceDep

router = APIRouter(tags=["health"])

QUEUE_PING_TIMEOUT_S = 1.0  # a Redis behind a dropped route would otherwise hold the probe until the kubelet gives up
DEGRADED = "degraded: outbox not draining"


@router.get("/healthz", summary="Alive", operation_id="health_alive")
async def healthz() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/readyz", operation_id="health_ready",
            summary="Ready: database and inference reachable (Redis down: ready, degraded)")
async def readyz(request: Request, client: InferenceDep) -> JSONResponse:
    """503 when this replica cannot answer traffic (database or inference unreachable), else 200 — also with Redis down.

    Redis (``REDIS_URL``) is off the request path: recommendations never touch it, and outcomes commit to the outbox table
    in the database (``dosewise.outbox``); only the trainer's relay needs Redis, to announce them. A Kubernetes readiness
    probe that failed on Redis would take every gateway replica out of its Service at once — they share the one Redis — and
    turn a delay in learning into an outage of dosing advice. So a Redis outage answers 200 with ``status`` "degraded:
    outbox not draining" and the reason in ``checks.queue``, for dashboards and alerts to see; ``ready`` stays true.
    """
    checks: dict[str, str] = {}
    try:
        await ping(request.app.state.engine)
        checks["database"] = "ok"
    except Exception as e:
        checks["database"] = f"unreachable ({type(e).__name__})"
    checks["inference"] = "ok" if await client.ready() else "not ready"
    ready = all(v == "ok" for v in checks.values())
    status = "ready" if ready else "not ready"
    if request.app.state.settings.redis_url:  # without it the queue is a table in the database, checked above
        try:
            await asyncio.wait_for(request.app.state.queue.ping(), QUEUE_PING_TIMEOUT_S)
            checks["queue"] = "ok"
        except Exception as e:  # any failure to answer is "unreachable"; the type says which
            checks["queue"] = f"unreachable ({type(e).__name__})"
            status = DEGRADED if ready else status
    return JSONResponse({"ready": ready, "status": status, "checks": checks}, status_code=200 if ready else 503)
