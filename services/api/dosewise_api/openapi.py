"""The OpenAPI document says what the gateway really answers, so clients (and the schemathesis fuzzer) can rely on it.

FastAPI documents a 422 ``application/json`` ``HTTPValidationError`` that this gateway never sends; every error here is an RFC
9457 ``application/problem+json``. This module rewrites the generated document once: a ``Problem`` schema for every error
response, and the statuses every protected route can answer (401 with ``WWW-Authenticate``, 403, 429 with ``Retry-After``) and
every route with a body (400, 413, 415).

It also states every constraint the server enforces on a clinical body that JSON Schema can say (``clinical_schemas``), so a
request the schema accepts is not refused for its units or ranges: the unit spellings of each field and, per unit, the value
range its conversion to the canonical unit allows; the observation kinds and dose units of each therapy (a ``PatientState``
is a ``oneOf`` of one variant per therapy, by ``therapy``; an ``Observation`` one per kind, by ``kind``); the lower bound of
every clinical time. What JSON Schema cannot say is in the descriptions: a time not in the future, the order of a state's
times (nothing after ``as_of``, no dose before ``therapy_started``, nothing before the patient's birth, one result per kind
and time), and an outcome's rules that need its recommendation (the therapy's units, times after the decision).
"""

from __future__ import annotations

import copy
import math
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from dosewise import units
from dosewise.problems import PROBLEM_JSON
from dosewise.schemas import HEIGHT_CM, OBSERVATION_KINDS, PAST_DATETIME_JSON_SCHEMA, WEIGHT_KG
from dosewise.therapies import registry
from dosewise.therapies.base import DOSE_IMPLAUSIBLE_FACTOR, TherapyPack
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
    clinical_schemas(schemas)
    free_text(doc)
    openapi_examples.add(schemas)
    return doc


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _range_in(low: float, high: float, factor: float) -> tuple[float, float]:
    """The range of values in a unit of ``factor`` (canonical = value · factor) that the server's check
    ``low <= value * factor <= high`` accepts, to the last float (``low / factor`` may round either way). A lower bound of
    0 stays 0: the few negative subnormals whose conversion rounds to −0 are accepted too, and no schema needs to say so."""
    lo, hi = low / factor, high / factor
    while lo * factor < low:
        lo = math.nextafter(lo, math.inf)
    while low != 0 and math.nextafter(lo, -math.inf) * factor >= low:
        lo = math.nextafter(lo, -math.inf)
    while hi * factor > high:
        hi = math.nextafter(hi, -math.inf)
    while math.nextafter(hi, math.inf) * factor <= high:
        hi = math.nextafter(hi, math.inf)
    return lo, hi


def _by_factor(quantity: str) -> list[tuple[float, list[str]]]:
    """The unit spellings of ``quantity`` grouped by their factor to the canonical unit (one value range per group)."""
    groups: dict[float, list[str]] = {}
    for spelling, factor in units.spellings(quantity).items():
        groups.setdefault(factor, []).append(spelling)
    return list(groups.items())


_UNIT_NOTE = "Units match case-insensitively, surrounding spaces ignored; listed as UCUM writes them."


def _measure(quantity: str, low: float, high: float, description: str, value_name: str = "value") -> dict[str, Any]:
    """A number with its unit, one ``oneOf`` branch per group of units of one factor, each with its value range."""
    branches = []
    for factor, spellings in _by_factor(quantity):
        lo, hi = _range_in(low, high, factor)
        branches.append({"type": "object", "additionalProperties": False, "required": [value_name, "unit"],
                         "properties": {value_name: {"type": "number", "minimum": lo, "maximum": hi},
                                        "unit": {"type": "string", "enum": spellings}}})
    return {"description": f"{description} {_UNIT_NOTE}", "oneOf": branches}


def _observation(kind: str, time: dict[str, Any]) -> dict[str, Any]:
    k = OBSERVATION_KINDS[kind]
    cu = units.canonical_unit(k.quantity)
    schema = _measure(k.quantity, k.low, k.high, f"{k.description or kind}: {k.low:g}–{k.high:g} {cu} (stored in {cu}).")
    for branch in schema["oneOf"]:
        branch["required"] = ["kind", "unit", "value", "time"]
        branch["properties"] = {"kind": {"const": kind}, **branch["properties"], "time": time}
    return schema | {"title": f"Observation_{kind}"}


def _dose_range(pack: TherapyPack) -> tuple[float, float]:
    """What ``TherapyPack.dose_problem`` lets through, in the pack's dose unit."""
    return 0.0, DOSE_IMPLAUSIBLE_FACTOR * pack.max_dose


def _retarget(schema: dict[str, Any], name: str, target: dict[str, Any]) -> None:
    """Point the property ``name`` of an object schema (a ``$ref``, possibly in an ``anyOf`` with null) at ``target``,
    keeping its description."""
    prop = schema["properties"][name]
    if "anyOf" in prop:
        prop["anyOf"] = [target if "$ref" in branch else branch for branch in prop["anyOf"]]
    else:
        prop.pop("$ref", None)
        prop.update(target)


def clinical_schemas(schemas: dict[str, Any]) -> None:
    """Rewrite the generated clinical request schemas in place so they state what the server enforces (module docstring)."""
    base = schemas.get("PatientState")
    if base is None or "oneOf" in base:
        return
    _use_clinical_time(schemas)
    schemas["ClinicalTime"] = {"title": "ClinicalTime", **PAST_DATETIME_JSON_SCHEMA}
    # The kinds some therapy uses: every therapy refuses the others (an outcome's observations too, by its recommendation's
    # therapy), though schemas.OBSERVATION_KINDS knows them.
    kinds = list(dict.fromkeys(kind for pack in registry.PACKS.values() for kind in pack.observation_kinds))
    observation = schemas["Observation"]
    for kind in kinds:
        schemas[f"Observation_{kind}"] = _observation(kind, observation["properties"]["time"])
    schemas["Observation"] = {
        "title": "Observation", "description": observation.get("description", "") + " One variant per kind a therapy "
        "uses (by `kind`); an outcome's observations must be of its recommendation's therapy (a field-level 422 otherwise).",
        "oneOf": [_ref(f"Observation_{kind}") for kind in kinds],
        "discriminator": {"propertyName": "kind",
                          "mapping": {kind: f"#/components/schemas/Observation_{kind}" for kind in kinds}}}
    schemas["Weight"] = _measure("mass", *WEIGHT_KG, f"Body weight, {WEIGHT_KG[0]:g}–{WEIGHT_KG[1]:g} kg (stored in kg).")
    schemas["Height"] = _measure("length", *HEIGHT_CM, f"Height, {HEIGHT_CM[0]:g}–{HEIGHT_CM[1]:g} cm (stored in cm).")
    variants: dict[str, str] = {}
    for therapy, pack in registry.PACKS.items():
        low, high = _dose_range(pack)
        unit = pack.dose_unit
        schemas[f"Dose_{therapy}"] = _measure(pack.dose_quantity, low, high,
                                              f"A dose of {therapy}, {low:g}–{high:g} {unit} (stored in {unit}).")
        dose_event = _measure(pack.dose_quantity, low, high, f"A dose of {therapy} given, {low:g}–{high:g} {unit} "
                              f"(stored in {unit}), at a time.", value_name="amount")
        for branch in dose_event["oneOf"]:
            branch["required"] = ["amount", "unit", "time"]
            branch["properties"]["time"] = schemas["DoseEvent"]["properties"]["time"]
        schemas[f"DoseEvent_{therapy}"] = dose_event
        variant = copy.deepcopy({k: v for k, v in base.items() if k not in ("examples", "title", "description")})
        props = variant["properties"]
        props["therapy"] = {"const": therapy, "description": props["therapy"].get("description", "")}
        _retarget(variant, "weight", _ref("Weight"))
        _retarget(variant, "height", _ref("Height"))
        _retarget(variant, "current_dose", _ref(f"Dose_{therapy}"))
        own = [_ref(f"Observation_{kind}") for kind in pack.observation_kinds]
        props["observations"]["items"] = own[0] if len(own) == 1 else {"oneOf": own}
        props["doses"]["items"] = _ref(f"DoseEvent_{therapy}")
        name = f"PatientState_{therapy}"
        schemas[name] = {"title": name, **variant}
        variants[therapy] = f"#/components/schemas/{name}"
    schemas["PatientState"] = {
        "title": "PatientState",
        "description": base.get("description", "") + " One variant per therapy (by `therapy`): its dose units and range, "
        "its observation kinds. Not expressible in the schema, refused with a field-level 422: a time in the future; an "
        "observation or dose after `as_of`; a dose before `therapy_started`; a time before the patient's birth (`as_of` "
        "minus `age_years` + 1 years); two results of one kind at the same time.",
        "oneOf": [{"$ref": ref} for ref in variants.values()],
        "discriminator": {"propertyName": "therapy", "mapping": variants},
        **({"examples": base["examples"]} if "examples" in base else {}),
    }
    dose = {"description": "A daily dose in the unit family of the recommendation's therapy (checked against it; a 422 "
                           "names the field otherwise).", "anyOf": [_ref(f"Dose_{t}") for t in registry.PACKS]}
    schemas["DoseGiven"] = dose
    for name in ("OutcomeCreate", "OutcomeBatchItem"):
        if name in schemas:
            for field in ("dose_given", "regimen"):
                _retarget(schemas[name], field, _ref("DoseGiven"))
    if "Feedback" in schemas:
        # Feedback's model validator: an override says why, in words or as a code.
        schemas["Feedback"]["if"] = {"properties": {"decision": {"const": "overridden"}}, "required": ["decision"]}
        schemas["Feedback"]["then"] = {"anyOf": [{"properties": {field: {"not": {"type": "null"}}}, "required": [field]}
                                                 for field in ("reason", "reason_code")]}
    for unused in ("Measure", "DoseEvent"):
        if not _referenced(schemas, unused):
            schemas.pop(unused, None)


# Free text in a request body (dosewise/text.py, which every contract's text fields go through) refuses control characters,
# as parameters do (PLAIN_TEXT_PATTERN). What it also does — remove invisible format characters and normalize to NFKC
# before the length limits count — no pattern can state; the description says it.
_FREE_TEXT_NOTE = ("Free text: control characters (U+0000–U+001F, U+007F–U+009F, newlines included) are refused; invisible "
                   "format characters are removed and the text normalized to NFKC before its length is counted.")


def free_text(doc: dict[str, Any]) -> None:
    """Give every free-text string of a request body (a string without enum, const, pattern or format) the pattern the
    server enforces, in the components that request bodies reach (a response's strings hold what was stored)."""
    schemas = doc.get("components", {}).get("schemas", {})
    todo = [ref for item in doc.get("paths", {}).values() for method in _METHODS if method in item
            for ref in _refs(item[method].get("requestBody", {}))]
    reached: set[str] = set()
    while todo:
        name = todo.pop().removeprefix("#/components/schemas/")
        if name not in reached and name in schemas:
            reached.add(name)
            todo.extend(_refs(schemas[name]))
    for name in reached:
        _mark_free_text(schemas[name])


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if isinstance(node.get("$ref"), str) else []) + [r for v in node.values() for r in _refs(v)]
    return [r for v in node for r in _refs(v)] if isinstance(node, list) else []


def _mark_free_text(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "string" and not {"enum", "const", "pattern", "format"} & node.keys():
            node["pattern"] = PLAIN_TEXT_PATTERN
            node["description"] = f"{node['description']} {_FREE_TEXT_NOTE}" if node.get("description") else _FREE_TEXT_NOTE
        for key, value in node.items():
            if key not in ("examples", "default"):
                _mark_free_text(value)
    elif isinstance(node, list):
        for value in node:
            _mark_free_text(value)


def _use_clinical_time(node: Any) -> None:
    """Every inline clinical time (``schemas.PastDatetime``) becomes a reference to ``ClinicalTime``, its field's own
    title and description kept beside it."""
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in list(children):
        if isinstance(value, dict) and all(value.get(k) == PAST_DATETIME_JSON_SCHEMA[k] for k in ("format", "pattern")):
            own = {k: v for k, v in value.items() if k in ("title", "description") and v != PAST_DATETIME_JSON_SCHEMA.get(k)}
            node[key] = _ref("ClinicalTime") | own
        else:
            _use_clinical_time(value)


def _referenced(node: Any, name: str) -> bool:
    ref = f"#/components/schemas/{name}"
    if isinstance(node, dict):
        return node.get("$ref") == ref or any(_referenced(v, name) for v in node.values())
    return isinstance(node, list) and any(_referenced(v, name) for v in node)


def install(app: FastAPI) -> None:
    """Serve the shaped document at /openapi.json (built once, on first request)."""

    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = shape(get_openapi(title=app.title, version=app.version, description=app.description,
                                                   routes=app.routes, tags=app.openapi_tags, servers=app.servers))
        return app.openapi_schema

    app.openapi = custom_openapi  # type: ignore[method-assign]
