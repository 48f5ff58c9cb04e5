"""One lower bound for every clinical time of the gateway's contracts (``schemas.EARLIEST_CLINICAL_TIME``, 1900-01-01Z):
recommendations and outcomes, single and batch, refuse a time before it with the same field-level 422 — the field's path, one
message, the bound as ``allowed`` — before anything is looked up, computed or stored."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dosewise import apikeys
from dosewise.apikeys import Role
from dosewise.schemas import PATIENT_STATE_EXAMPLE
from dosewise.settings import Settings
from dosewise_api.app import create_app

PLACEHOLDER = "1899-12-30T00:00:00Z"  # OLE Automation / Excel day 0: what a spreadsheet export writes for "no date"
UNUSED_PORT_URL = "http://127.0.0.1:9"  # inference: a refused request must never reach it


@pytest.fixture()
async def client(sqlite_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(DATABASE_URL=sqlite_url, DOSEWISE_VAR_DIR=str(tmp_path), DOSEWISE_ENV="test",
                        DOSEWISE_INFERENCE_URL=UNUSED_PORT_URL)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        key = await apikeys.create(app.state.sessions, name="times-test", role=Role.CLINICIAN, actor="test",
                                   actor_role="admin")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway",
                                     headers={"Authorization": f"Bearer {key.token}"}) as c:
            yield c


def state(**changes: Any) -> dict[str, Any]:
    return PATIENT_STATE_EXAMPLE | changes


def outcome(**changes: Any) -> dict[str, Any]:
    return {"recommendation_id": str(uuid.uuid4()), "dose_given": {"value": 5, "unit": "mg"},
            "feedback": {"decision": "accepted"}} | changes


INR = {"kind": "inr", "value": 2.4, "unit": "{INR}", "time": PLACEHOLDER}
CASES = [
    ("/v1/recommendations", state(observations=[INR]), "observations.0.time"),
    ("/v1/recommendations", state(doses=[{"amount": 5, "unit": "mg", "time": PLACEHOLDER}]), "doses.0.time"),
    ("/v1/recommendations", state(therapy_started=PLACEHOLDER), "therapy_started"),
    ("/v1/recommendations", state(as_of=PLACEHOLDER, observations=[], doses=[]), "as_of"),
    ("/v1/recommendations:batch", {"patients": [state(), state(observations=[INR])]}, "patients.1.observations.0.time"),
    ("/v1/outcomes", outcome(observations=[INR]), "observations.0.time"),
    ("/v1/outcomes", outcome(given_at=PLACEHOLDER), "given_at"),
    ("/v1/outcomes", outcome(adverse_events=[{"kind": "major_bleeding", "severity": "severe", "time": PLACEHOLDER}]),
     "adverse_events.0.time"),
    ("/v1/outcomes:batch", {"outcomes": [outcome(idempotency_key="o-1", observations=[INR])]},
     "outcomes.0.observations.0.time"),
]


@pytest.mark.parametrize(("path", "body", "field"), CASES, ids=[f"{p} {f}" for p, _, f in CASES])
async def test_a_time_before_1900_is_the_same_field_error_everywhere(client: httpx.AsyncClient, path: str,
                                                                     body: dict[str, Any], field: str) -> None:
    r = await client.post(path, json=body, headers={"Idempotency-Key": f"times-{uuid.uuid4()}"})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    [error] = r.json()["errors"]
    assert error == {
        "field": field, "path": [int(p) if p.isdigit() else p for p in field.split(".")], "type": "time_too_early",
        "message": "time lies before 1900-01-01, the earliest accepted (0001-01-01 or 1899-12-30 is a placeholder for an "
                   "unknown date: send the real time, or leave the entry out)",
        "allowed": "ge 1900-01-01T00:00:00Z",
    }
