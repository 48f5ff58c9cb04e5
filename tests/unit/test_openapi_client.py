"""What an integrator's generated client rests on: every operation has a stable ``operationId`` and a tag (they name the
client's modules and functions, so renaming one breaks every client built on it), every request and response body has an
example that its own schema accepts, errors are the problem+json the server sends, and the committed document and Python
client (``clients/``) are exactly what ``make openapi`` writes now."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from dosewise.problems import PROBLEM_JSON
from dosewise.settings import Settings
from dosewise_api.app import create_app

REPO = Path(__file__).resolve().parents[2]
CLIENTS = REPO / "clients"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# The contract: a new route adds its id here (and operation_id= in its decorator); an id once published is never renamed.
OPERATION_IDS = {
    ("get", "/healthz"): "health_alive",
    ("get", "/readyz"): "health_ready",
    ("get", "/v1/therapies"): "therapies_list",
    ("post", "/v1/recommendations"): "recommendations_create",
    ("post", "/v1/recommendations:batch"): "recommendations_create_batch",
    ("post", "/v1/fhir/recommendations"): "fhir_recommendations_create",
    ("get", "/v1/recommendations/{recommendation_id}"): "recommendations_get",
    ("get", "/v1/recommendations/{recommendation_id}/forecast.svg"): "recommendations_get_forecast_chart",
    ("post", "/v1/outcomes"): "outcomes_create",
    ("post", "/v1/outcomes:batch"): "outcomes_create_batch",
    ("get", "/v1/audit"): "audit_list",
    ("get", "/v1/keys"): "keys_list",
    ("post", "/v1/keys"): "keys_create",
    ("delete", "/v1/keys/{key_id}"): "keys_revoke",
    ("get", "/v1/policies/{policy_id}"): "policies_get",
    ("get", "/cds-services"): "cds_discovery",
    ("post", "/cds-services/{service_id}"): "cds_hook",
    ("post", "/cds-services/{service_id}/feedback"): "cds_feedback",
    ("get", "/v1/policies"): "policies_list",
    ("post", "/v1/policies/{policy_id}/activate"): "policies_activate",
    ("post", "/v1/therapies/{therapy}/rollback"): "policies_rollback",
}
_REF = "#/components/schemas/"


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The document the gateway serves (no server: the app builds it)."""
    return create_app(Settings(DOSEWISE_VAR_DIR=str(tmp_path_factory.mktemp("openapi")))).openapi()


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m, path): op for path, item in doc["paths"].items() for m, op in item.items() if m in METHODS}


def body_schemas(doc: dict[str, Any]) -> set[str]:
    """The component schemas that are a request or response body (or a list of them) of some operation."""
    names: set[str] = set()
    for op in operations(doc).values():
        contents = [op.get("requestBody", {}).get("content", {})] + [r.get("content", {}) for r in op["responses"].values()]
        for content in contents:
            for media in content.values():
                schema = media.get("schema", {})
                ref = schema.get("$ref") or schema.get("items", {}).get("$ref")
                if ref:
                    names.add(ref.removeprefix(_REF))
    return names


def test_every_operation_has_its_stable_operation_id_and_a_tag(doc: dict[str, Any]) -> None:
    ops = operations(doc)
    ids = {key: op.get("operationId") for key, op in ops.items()}
    assert ids == OPERATION_IDS, "a route without operation_id=, or a changed one (list new ids in OPERATION_IDS)"
    assert len(set(ids.values())) == len(ids)
    assert not [key for key, op in ops.items() if not op.get("tags")], "every operation needs a tag (the client's module)"


def test_every_request_and_response_body_has_an_example_its_schema_accepts(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    names = body_schemas(doc)
    assert {"PatientState", "Recommendation", "OutcomeCreate", "OutcomeRecord", "Problem"} <= names  # the walk finds them
    assert not sorted(n for n in names if not schemas[n].get("examples")), "bodies without an example"
    registry = Registry().with_resource("urn:dosewise", Resource(contents=doc, specification=DRAFT202012))
    rejected = {}
    for name in sorted(names | {"FieldError"}):
        validator = Draft202012Validator({"$ref": f"urn:dosewise{_REF}{name}"}, registry=registry,
                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        for i, example in enumerate(schemas[name]["examples"]):
            if errors := [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(example)]:
                rejected[f"{name}[{i}]"] = errors[:3]
    assert not rejected, rejected


def test_a_422_is_documented_as_the_problem_with_typed_field_errors_that_the_server_sends(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    problem = {PROBLEM_JSON: {"schema": {"$ref": f"{_REF}Problem"}}}
    with_422 = {key: op["responses"]["422"] for key, op in operations(doc).items() if "422" in op["responses"]}
    assert ("post", "/v1/recommendations") in with_422 and ("post", "/v1/outcomes") in with_422
    assert {key: r["content"] for key, r in with_422.items() if r["content"] != problem} == {}
    assert schemas["Problem"]["properties"]["errors"]["items"] == {"$ref": f"{_REF}FieldError"}
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas  # FastAPI's default, never sent


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.slow
def test_the_committed_document_and_client_are_what_make_openapi_writes(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, str(CLIENTS / "generate.py"), "--out", str(tmp_path)], capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    fresh = {"openapi.json": (tmp_path / "openapi.json").read_bytes()} | {
        f"python/dosewise_client/{k}": v for k, v in _files(tmp_path / "python" / "dosewise_client").items()}
    committed = {"openapi.json": (CLIENTS / "openapi.json").read_bytes()} | {
        f"python/dosewise_client/{k}": v for k, v in _files(CLIENTS / "python" / "dosewise_client").items()}
    stale = sorted(k for k in fresh.keys() | committed.keys() if fresh.get(k) != committed.get(k))
    assert not stale, f"clients/ is out of date ({len(stale)} files differ, e.g. {', '.join(stale[:5])}): run make openapi"
