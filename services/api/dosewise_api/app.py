"""Gateway: validates, forwards to inference over HTTP, persists every recommendation before answering."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from dosewise import metrics, problems
from dosewise.apikeys import Role
from dosewise.gc_pauses import startup_heap_frozen
from dosewise.keepalive import SERVER_KEEP_ALIVE_S
from dosewise.logs import configure
from dosewise.metrics_asgi import HttpMetrics
from dosewise.queue.factory import make_queue
from dosewise.schemas import DISCLAIMER
from dosewise.settings import Settings, get_settings
from dosewise.storage.db import make_engine, make_sessionmaker
from dosewise_api import auth, docs, errors, openapi, security, ui
from dosewise_api.cds_auth import CdsJwtVerifier
from dosewise_api.coalescer import RecommendationCoalescer
from dosewise_api.fhir_client import FhirReader
from dosewise_api.inference_client import InferenceClient
from dosewise_api.middleware import RequestGuard
from dosewise_api.recommendations import IdempotencyKeyReused, RecommendationErased
from dosewise_api.routes import audit, cds_hooks, fhir, health, keys, outcomes, policies, recommendations, therapies

DESCRIPTION = f"""Dosewise recommends personalized dose adjustments learned with reinforcement learning on digital twins.

**{DISCLAIMER}**

Every number carries its unit. Errors are RFC 9457 `application/problem+json`."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings)
        app.state.engine, app.state.sessions = engine, make_sessionmaker(engine)
        app.state.inference = InferenceClient(settings.inference_url, settings.inference_timeout_s,
                                              settings.inference_connect_retries)
        app.state.settings = settings
        app.state.queue = make_queue(settings, app.state.sessions)
        app.state.coalescer = RecommendationCoalescer(app.state.inference, app.state.sessions, settings.pseudonym_key)
        app.state.fhir_reader = FhirReader(settings.cds_fetch_timeout_s, settings.cds_fhir_servers)
        app.state.cds_verifier = CdsJwtVerifier(settings)
        app.state.backlog = metrics.BacklogCollector(asyncio.get_running_loop(), app.state.queue, app.state.sessions)
        with startup_heap_frozen():
            yield
        await app.state.coalescer.aclose()
        await app.state.fhir_reader.aclose()
        await app.state.cds_verifier.aclose()
        await app.state.queue.close()
        await app.state.inference.aclose()
        await engine.dispose()

    # docs_url/redoc_url None: FastAPI's pages load their scripts from a CDN; docs.install serves them from the package.
    app = FastAPI(title="Dosewise", version="0.1.0", description=DESCRIPTION, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(RequestGuard, max_bytes=settings.max_body_bytes, read_timeout_s=settings.body_read_timeout_s,
                       routes=app.router.routes)
    security.install(app, settings)  # after RequestGuard: access log and security headers wrap even a 413
    app.add_middleware(HttpMetrics)  # outermost: times and counts everything, the 413s and 401s too
    errors.install(app)
    auth.install(app, settings)
    for r in (health.router, therapies.router, recommendations.router, fhir.router, outcomes.router, audit.router,
              keys.router, cds_hooks.router):
        app.include_router(r)
    app.include_router(policies.router, dependencies=[Depends(auth.requires(Role.ADMIN))])  # policy changes: admin only

    # Public like the probes (auth.PUBLIC_PATHS): scraped inside the cluster, and its labels carry no patient data.
    @app.get("/metrics", include_in_schema=False)
    async def _metrics(request: Request) -> Response:
        body, content_type = await metrics.scrape(request.app.state.backlog)
        return Response(body, media_type=content_type)

    @app.exception_handler(RecommendationErased)
    async def _erased(_: Request, exc: RecommendationErased) -> JSONResponse:
        body = problems.problem(410, "Erased", "this recommendation's clinical content was erased on the patient's request",
                                "erased")
        return JSONResponse(body, status_code=410, media_type=problems.PROBLEM_JSON)

    @app.exception_handler(IdempotencyKeyReused)
    async def _reused(_: Request, exc: IdempotencyKeyReused) -> JSONResponse:
        body = problems.problem(422, "Idempotency-Key reused", f"{exc}; send a new key", "idempotency-key-reused")
        return JSONResponse(body, status_code=422, media_type=problems.PROBLEM_JSON)

    docs.install(app)  # /docs, /redoc and their assets: public (auth.PUBLIC_PATHS)
    ui.install(app)  # the clinician UI at / (last: it wraps the error handlers above so its pages never show raw JSON)
    auth.check_every_route_declares_roles(app.routes)
    openapi.install(app)
    return app


def main() -> None:
    import uvicorn

    settings = get_settings()
    configure("api", settings.log_level, settings.log_format)
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, log_config=None,
                timeout_keep_alive=SERVER_KEEP_ALIVE_S)
