"""The OpenAPI document says what the gateway really answers, so clients (and the schemathesis fuzzer) can rely on it.

FastAPI documents a 422 ``application/json`` ``HTTPValidationError`` that this gateway never sends; every error here is an RFC
9457 ``application/problem+json``. This module rewrites the generated document once: a ``Problem`` schema for every error
response, and the statuses every protected route can answer (401 with ``WWW-Authenticate``, 403, 429 with ``Retry-After``) and
every route with a body (400, 413, 415).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from dosewise.problems import PROBLEM_JSON
from dosewise_api import openapi_examples

# A component of its own (not inline in Problem) so that a generated client parses each entry into a typed object.
FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "title": "FieldError",
    "description": "One invalid field of a 422 (dosewise.problems.validation_problem).",
    "type": "object",
    "required": ["field", "path", "message"],
    "properties": {
        "field": {"type": "string", "description": "The field's path, dotted (`(body)` for the body as a whole)."},
        "path": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                 "description": "The same path as a JSON array of keys and indexes."},
        "message": {"type": "string", "description": "What is wrong, in words."},
        "type": {"type": ["string", "null"], "description": "The kind of error, e.g. less_than_equal, missing, not_found."},
        "allowed": {"type": "string", "description": "What is allowed, when it can be said (bounds, choices, a pattern)."},
    },
    "examples": [{"field": "age_years", "path": ["age_years"], "message": "Input should be less than or equal to 120",
                  "type": "less_than_equal", "allowed": "le 120.0"}],
}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details. 422s add `errors`: one entry per invalid field.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
    },
    "examples": [
        {"type": "https://dosewise.dev/problems/validation", "title": "Invalid request", "status": 422,
         "detail": "1 invalid field: age_years", "errors": FIELD_ERROR_SCHEMA["examples"]},
        {"type": "https://dosewise.dev/problems/http-404", "title": "Not Found", "status": 404,
         "detail": "recommendation not found"},
    ],
}
_REF = {"$ref": "#/components/schemas/Problem"}
_CONTENT = {PROBLEM_JSON: {"schema": _REF}}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}
PROTECTED_RESPONSES: dict[str, dict[str, Any]] = {
    "401": {"description": "No credential, or not a valid one (see WWW-Authenticate)", "content": _CONTENT,
            "headers": {"WWW-Authenticate": {"description": "Bearer challenge", "schema": {"type": "string"}}}},
    "403": {"description": "The credential's role may not do this", "content": _CONTENT},
    "429": {"description": "Rate limit of this caller exceeded", "content": _CONTENT, "headers": _RETRY_AFTER},
}
BODY_RESPONSES: dict[str, dict[str, Any]] = {
    "400": {"description": "Body is not UTF-8 JSON", "content": _CONTENT},
    "408": {"description": "The body did not arrive in full within DOSEWISE_BODY_READ_TIMEOUT_S; the connection is closed",
            "content": _CONTENT},
    "413": {"description": "Body too large", "content": _CONTENT},
    "415": {"description": "Body is not JSON (send Content-Type: application/json)", "content": _CONTENT},
}
VALIDATION_RESPONSE = {"description": "Invalid request: one entry per invalid field", "content": _CONTENT}
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
# The gateway refuses a control character in any path or query parameter (middleware.RequestGuard): every string parameter
# that no pattern, format or enum already confines says so.
PLAIN_TEXT_PATTERN = r"^[^\u0000-\u001F\u007F-\u009F]*$"


def _plain_text_parameters(op: dict[str, Any]) -> None:
    for param in op.get("parameters", []):
        if param.get("in") not in ("path", "query"):
            continue
        schema = param.get("schema", {})
        for branch in schema.get("anyOf", [schema]):
            if branch.get("type") == "string" and not {"pattern", "format", "enum", "const"} & branch.keys():
                branch["pattern"] = PLAIN_TEXT_PATTERN


def shape(doc: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a FastAPI-generated document in place (see the module docstring) and return it."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"], schemas["FieldError"] = PROBLEM_SCHEMA, FIELD_ERROR_SCHEMA
    for item in doc.get("paths", {}).values():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            responses: dict[str, Any] = op.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = {**VALIDATION_RESPONSE, "description": responses["422"].get("description") or
                                    VALIDATION_RESPONSE["description"]}
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    response["content"] = _CONTENT
            if op.get("security"):
                for status, response in PROTECTED_RESPONSES.items():
                    responses.setdefault(status, response)
            _plain_text_parameters(op)
            if "requestBody" in op:
                for status, response in BODY_RESPONSES.items():
                    responses.setdefault(status, response)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    openapi_examples.add(schemas)
    return doc


def install(app: FastAPI) -> None:
    """Serve the shaped document at /openapi.json (built once, on first request)."""

    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = shape(get_openapi(title=app.title, version=app.version, description=app.description,
                                                   routes=app.routes, tags=app.openapi_tags, servers=app.servers))
        return app.openapi_schema

    app.openapi = custom_openapi  # type: ignore[method-assign]
