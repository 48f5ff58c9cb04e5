"""GET /readyz (services/api/dosewise_api/routes/health.py): 503 only when this replica cannot answer traffic; with
``REDIS_URL`` set and Redis down the gateway still serves recommendations and stores outcomes through the outbox, so it stays
ready (200) and says "degraded: outbox not draining". Real database (SQLite and PostgreSQL), real Redis or a closed port;
inference is a loopback HTTP server answering its readiness as the real one would."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from dosewise.settings import Settings
from dosewise_api.app import create_app
from dosewise_api.routes.health import DEGRADED
from tests.e2e.conftest import free_port

CLOSED_REDIS = "redis://127.0.0.1:1/0"  # port 1: nothing listens (tcpmux is never run)


@pytest.fixture()
async def ready_inference() -> AsyncIterator[str]:
    """An inference stand-in whose /readyz answers 200."""
    app = web.Application()

    async def ready(_: web.Request) -> web.Response:
        return web.json_response({"ready": True})

    app.router.add_get("/readyz", ready)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


Probe = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture()
def probe(db_url: str, tmp_path: Path) -> Probe:
    async def get(inference_url: str, **env: Any) -> httpx.Response:
        settings = Settings(DATABASE_URL=db_url, DOSEWISE_VAR_DIR=str(tmp_path), DOSEWISE_ENV="test",
                            DOSEWISE_INFERENCE_URL=inference_url, DOSEWISE_INFERENCE_CONNECT_RETRIES=0, **env)
        app = create_app(settings)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
            return await client.get("/readyz")

    return get


async def test_redis_down_is_ready_but_degraded(probe: Probe, ready_inference: str) -> None:
    r = await probe(ready_inference, REDIS_URL=CLOSED_REDIS)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ready"] is True and body["status"] == DEGRADED == "degraded: outbox not draining"
    assert body["checks"]["database"] == body["checks"]["inference"] == "ok"
    assert body["checks"]["queue"].startswith("unreachable (")


async def test_redis_up_is_ready(probe: Probe, ready_inference: str, redis_url: str) -> None:
    r = await probe(ready_inference, REDIS_URL=redis_url)
    assert r.status_code == 200, r.text
    assert r.json() == {"ready": True, "status": "ready", "checks": {"database": "ok", "inference": "ok", "queue": "ok"}}


async def test_without_redis_url_the_queue_is_the_database_and_not_checked_twice(probe: Probe, ready_inference: str) -> None:
    r = await probe(ready_inference)
    assert r.status_code == 200 and r.json() == {"ready": True, "status": "ready",
                                                 "checks": {"database": "ok", "inference": "ok"}}


async def test_inference_down_is_not_ready_whatever_redis_says(probe: Probe) -> None:
    r = await probe(f"http://127.0.0.1:{free_port()}", REDIS_URL=CLOSED_REDIS)
    assert r.status_code == 503
    body = r.json()
    assert body["ready"] is False and body["status"] == "not ready"
    assert body["checks"]["inference"] == "not ready" and body["checks"]["queue"].startswith("unreachable (")
