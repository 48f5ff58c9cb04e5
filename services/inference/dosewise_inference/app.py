"""Inference service: ONNX dosing policies behind HTTP. Imports onnxruntime, never torch."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from dosewise import controllers, metrics, problems
from dosewise.gc_pauses import startup_heap_frozen
from dosewise.inference_contract import MalformedView, RecommendRequest
from dosewise.keepalive import SERVER_KEEP_ALIVE_S
from dosewise.logs import configure
from dosewise.metrics_asgi import HttpMetrics
from dosewise.queue.factory import make_queue
from dosewise.schemas import InferRequest, InferResponse, RecommendResponse
from dosewise.settings import Settings, get_settings
from dosewise.storage.db import make_engine, make_sessionmaker, ping
from dosewise.therapies.registry import PACKS
from dosewise_inference.policy_store import PolicyStore, PolicyUnavailable, follow_policy_events
from dosewise_inference.recommend import recommend, response_json
from dosewise_inference.scoring import choose

log = logging.getLogger("dosewise.inference")


def _problem(status: int, body: dict) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=problems.PROBLEM_JSON)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # Exploration (DOSEWISE_EXPLORATION, off by default): sampled among allowed actions, true probability logged.
    explore_rng = np.random.default_rng()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        store = PolicyStore(sessions, settings.policy_dir, list(PACKS))
        try:
            await store.refresh()
        except Exception as e:  # start anyway; /readyz says why we cannot serve
            log.error("initial registry read failed", extra={"error": type(e).__name__})
        queue = make_queue(settings, sessions)
        replica = uuid.uuid4().hex[:12]
        tasks = [asyncio.create_task(store.run_refresher(settings.policy_refresh_s)),
                 asyncio.create_task(follow_policy_events(store, queue, f"inference-{replica}", replica,
                                                          settings.queue_block_ms))]
        app.state.engine, app.state.store = engine, store
        with startup_heap_frozen():
            yield
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await queue.close()
        await engine.dispose()

    app = FastAPI(title="Dosewise inference", version="0.1.0", lifespan=lifespan)
    app.add_middleware(HttpMetrics)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _problem(422, problems.validation_problem(exc.errors()))

    @app.exception_handler(PolicyUnavailable)
    async def _no_policy(_: Request, exc: PolicyUnavailable) -> JSONResponse:
        return _problem(503, problems.problem(503, "No policy available", str(exc), "policy-unavailable"))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        store: PolicyStore = request.app.state.store
        checks: dict[str, str] = {}
        try:
            await ping(request.app.state.engine)
            checks["database"] = "ok"
        except Exception as e:
            checks["database"] = f"unreachable ({type(e).__name__})"
        for therapy in PACKS:
            try:
                p = store.get(therapy)
                checks[f"policy:{therapy}"] = f"{p.ref.version} ({p.ref.status})"
                if failed := store.load_error(therapy):  # still serving: say what the registry chose and why it is not
                    checks[f"policy:{therapy}"] += f"; the registry's newer choice is not loaded: {failed}"
            except PolicyUnavailable as e:
                checks[f"policy:{therapy}"] = f"unavailable: {e}"
        ready = all(v == "ok" or not v.startswith(("unreachable", "unavailable")) for v in checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def _metrics() -> Response:
        body, content_type = await metrics.scrape()
        return Response(body, media_type=content_type)

    @app.get("/v1/policies/loaded")
    async def loaded(request: Request) -> dict[str, dict]:
        return {t: p.ref.model_dump() for t, p in request.app.state.store.loaded.items()}

    @app.post("/v1/infer", response_model=InferResponse)
    async def infer(body: InferRequest, request: Request) -> InferResponse | JSONResponse:
        pack = PACKS.get(body.therapy)
        if pack is None:
            return _problem(422, problems.validation_problem(
                [{"loc": ("therapy",), "msg": f"unknown therapy; allowed: {', '.join(PACKS)}", "type": "therapy"}], ()))
        policy = request.app.state.store.get(body.therapy)  # one version answers the whole request, even mid-swap
        if not policy.is_network or policy.kind == controllers.SHIELD:  # the shield forecasts from the patient's record
            what = "network behind the model shield" if policy.is_network else f"{policy.kind} controller"
            return _problem(422, problems.validation_problem(
                [{"loc": ("features",), "msg": f"the serving {body.therapy} policy is a {what}: it decides "
                  "from patient states (POST /v1/recommend), not from features", "type": "policy_kind"}], ()))
        x = np.asarray(body.features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != policy.n_features or not np.isfinite(x).all():
            return _problem(422, problems.validation_problem(
                [{"loc": ("features",), "msg": f"expected finite rows of {policy.n_features} features", "type": "shape"}], ()))
        mask = None
        if body.action_mask is not None:
            mask = np.asarray(body.action_mask, dtype=bool)
            if mask.shape != (x.shape[0], policy.n_actions):
                return _problem(422, problems.validation_problem(
                    [{"loc": ("action_mask",), "msg": f"expected {x.shape[0]}×{policy.n_actions} booleans", "type": "shape"}],
                    ()))
        q, heads = policy.q_values(x)
        actions, probability = choose(q, mask, settings.exploration, explore_rng, settings.exploration_epsilon,
                                      settings.exploration_temperature)
        return InferResponse(
            therapy=body.therapy, policy=policy.ref, q_values=q.tolist(),
            head_q_values=None if heads is None else np.transpose(heads, (1, 0, 2)).tolist(),
            actions=actions.tolist(), behaviour_probability=probability.tolist(),
        )

    @app.post("/v1/recommend", response_model=RecommendResponse,
              responses={422: {"description": "Unknown therapy, or a view that is not the therapy's (its columns, or a "
                                              "value no validated patient state can give: each named)"}})
    async def recommend_views(body: RecommendRequest, request: Request) -> RecommendResponse | Response:
        """Patients' views (inference_contract.py) → guardrail-masked choice, HyperScore and (single requests)
        explanation, all by ONE policy version (held for the whole request, even if a swap happens meanwhile)."""
        pack = PACKS.get(body.therapy)
        if pack is None:
            return _problem(422, problems.validation_problem(
                [{"loc": ("therapy",), "msg": f"unknown therapy; allowed: {', '.join(PACKS)}", "type": "therapy"}], ()))
        try:
            view = body.clinic_view(pack)
        except MalformedView as e:
            return _problem(422, problems.validation_problem(e.errors, ()))
        policy = request.app.state.store.get(body.therapy)
        items = await asyncio.to_thread(recommend, policy, pack, view, body.explain, settings.exploration, explore_rng,
                                        settings.exploration_epsilon, settings.exploration_temperature)
        # The RecommendResponse schema, serialized straight from the dicts recommend() built (validating them into models
        # first cost ~4 % of a 1,000-patient batch); ``response_json`` is byte for byte what the models would serialize to.
        return Response(response_json(body.therapy, policy.ref, items), media_type="application/json")

    return app


def main() -> None:
    import uvicorn

    settings = get_settings()
    configure("inference", settings.log_level, settings.log_format)
    uvicorn.run(create_app(settings), host=settings.inference_host, port=settings.inference_port, log_config=None,
                timeout_keep_alive=SERVER_KEEP_ALIVE_S)
