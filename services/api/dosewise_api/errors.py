"""Every error is RFC 9457 problem+json: field-level 422s, 413 for large bodies, 503 with a reason, and never a traceback."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from dosewise import problems
from dosewise.fhir import BundleError
from dosewise_api.inference_client import InferenceUnavailable

log = logging.getLogger("dosewise.api")


def problem_response(body: dict, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=body["status"], media_type=problems.PROBLEM_JSON, headers=headers)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def refused_value(exc: Exception) -> str | None:
    """The SQLSTATE of a PostgreSQL "data exception" (class 22: a NUL in text 22021, in jsonb 22P05, a value out of range
    22003 …), None for anything else (a connection refused, a timeout: an outage)."""
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return sqlstate if isinstance(sqlstate, str) and sqlstate.startswith("22") else None


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(problems.validation_problem(exc.errors()))

    @app.exception_handler(ValidationError)
    async def _invalid_model(_: Request, exc: ValidationError) -> JSONResponse:
        return problem_response(problems.validation_problem(exc.errors(), ()))

    @app.exception_handler(BundleError)
    async def _bundle(_: Request, exc: BundleError) -> JSONResponse:
        # Each entry names the resource ("Observation/abc"), the element and what was expected (dosewise/fhir/bundle.py).
        return problem_response(problems.validation_problem(exc.errors, ()))

    @app.exception_handler(InferenceUnavailable)
    async def _inference(_: Request, exc: InferenceUnavailable) -> JSONResponse:
        log.warning("inference unavailable", extra={"reason": str(exc)})
        return problem_response(problems.problem(503, "Inference unavailable", f"{exc}; nothing was stored, retry later",
                                                 "inference-unavailable"), {"Retry-After": "5"})

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    @app.exception_handler(OSError)
    async def _database(_: Request, exc: Exception) -> JSONResponse:
        if sqlstate := refused_value(exc):
            # Not an outage, and retrying cannot help: a value got past validation that the database will not store.
            log.error("database refused a value", extra={"error": type(exc).__name__, "sqlstate": sqlstate})
            return problem_response(problems.problem(500, "Internal error", "the database refused a value of this request; "
                                                     "nothing was stored; it has been logged", "internal"))
        log.error("database unavailable", extra={"error": type(exc).__name__})
        return problem_response(problems.problem(503, "Database unavailable", "the database could not be reached; nothing "
                                                 "was stored, retry later", "database-unavailable"), {"Retry-After": "5"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # RFC 9457 §3.1.4: the title does not change from occurrence to occurrence (the status's phrase); the detail
        # says what happened this time (an id, a conflict).
        return problem_response(problems.problem(exc.status_code, _phrase(exc.status_code), str(exc.detail),
                                                 f"http-{exc.status_code}"),
                                exc.headers)  # e.g. 405's Allow

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", extra={"error": type(exc).__name__})
        return problem_response(problems.problem(500, "Internal error", "an unexpected error occurred; it has been logged",
                                                 "internal"))
