"""The OpenAPI document states what the gateway enforces (services/api/dosewise_api/openapi.py): a request body generated from
the document itself is never refused as invalid (422). Bodies come from the app's own /openapi.json (schemathesis, refs
resolved) and are posted in-process to a real app on SQLite, seeded: 30 per route, 10 per batch route (a batch's items are
the single route's bodies, already covered).

What JSON Schema cannot say — the document says it in its descriptions — is kept by the generator here, not by the schema:

- a clinical time is an instant in the past (``ClinicalTime``): date-times are drawn from the last year;
- the order of a patient state's times: ``as_of`` is moved to the state's latest time, ``therapy_started`` to its first
  dose, and a second result of one kind at the same time is dropped (``keep_time_rules``);
- an outcome batch's items carry distinct idempotency keys.

Everything else (therapies, unit spellings, value ranges per unit, observation kinds per therapy, the feedback rule, key
expiry bounds) must come from the document. The other answers are the ones expected without inference and without the
recommendations an outcome names: 503 (inference down), 404 / a 422 naming only ``recommendation_id`` (no such
recommendation), 409 (two outcomes of one batch answer one recommendation).
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from schemathesis.specs.openapi.formats import STRING_FORMATS

from dosewise import apikeys, units
from dosewise.apikeys import Role
from dosewise.schemas import HEIGHT_CM, OBSERVATION_KINDS, PATIENT_STATE_EXAMPLE, WEIGHT_KG, PatientState
from dosewise.settings import Settings
from dosewise.storage.db import make_engine, make_sessionmaker
from dosewise.storage.migrate import upgrade
from dosewise.therapies import registry
from dosewise_api.app import create_app
from dosewise_api.routes.keys import ApiKeyCreate

MAX_EXAMPLES = 30
MAX_BATCH_EXAMPLES = 10  # a batch's items are the single route's bodies; what a batch adds is its list
UNUSED_PORT_URL = "http://127.0.0.1:9"  # inference is not running: a valid state answers 503, never 422
NOW = datetime.now(UTC)
OFFSETS = [UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)), timezone(timedelta(hours=5, minutes=30))]
# Wall-clock bounds: an offset moves the instant by up to 14 h, so the latest lies a day back to stay in the past.
PAST_TIMES = st.datetimes(min_value=(NOW - timedelta(days=365)).replace(tzinfo=None),
                          max_value=(NOW - timedelta(days=1)).replace(tzinfo=None),
                          timezones=st.sampled_from(OFFSETS)).map(lambda t: t.isoformat())


def _parse(t: str) -> datetime:
    return datetime.fromisoformat(t)


def keep_time_rules(state: dict[str, Any]) -> dict[str, Any]:
    """A generated patient state made to keep the rules on its times that JSON Schema cannot state (PatientState's
    description lists them); nothing else is changed."""
    seen: set[tuple[str, datetime]] = set()
    observations = []
    for o in state.get("observations", []):
        if (o["kind"], _parse(o["time"])) not in seen:
            seen.add((o["kind"], _parse(o["time"])))
            observations.append(o)
    state = state | {"observations": observations} if "observations" in state else state
    doses = [_parse(d["time"]) for d in state.get("doses", [])]
    if state.get("therapy_started") is not None and doses and min(doses) < _parse(state["therapy_started"]):
        state = state | {"therapy_started": min(doses).isoformat()}
    if state.get("as_of") is not None:
        times = [_parse(state["as_of"]), *doses, *(_parse(o["time"]) for o in observations)]
        if state.get("therapy_started") is not None:
            times.append(_parse(state["therapy_started"]))
        state = state | {"as_of": max(times).isoformat()}
    return state


def prepare(path: str, body: Any) -> Any:
    if path == "/v1/recommendations":
        return keep_time_rules(body)
    if path == "/v1/recommendations:batch":
        return body | {"patients": [keep_time_rules(p) for p in body["patients"]]}
    if path == "/v1/outcomes:batch":
        return body | {"outcomes": [o | {"idempotency_key": f"{i}-{o['idempotency_key']}"[:100]}
                                    for i, o in enumerate(body["outcomes"])]}
    return body


def refused_as_invalid(path: str, status: int, problem: dict[str, Any]) -> list[dict[str, Any]]:
    """The 422 errors that say the body is invalid (an outcome batch names an unknown recommendation with a 422 too)."""
    if status != 422:
        return []
    errors = problem.get("errors") or [{"field": "(body)", "message": problem.get("detail")}]
    if path == "/v1/outcomes:batch":
        errors = [e for e in errors if not e["field"].endswith(".recommendation_id")]
    return errors


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[Role, str]]]:
    tmp: Path = tmp_path_factory.mktemp("openapi-contract")
    db_url = f"sqlite+aiosqlite:///{tmp / 'dosewise.db'}"
    upgrade(db_url)

    async def mint() -> dict[Role, str]:
        engine = make_engine(Settings(DATABASE_URL=db_url))
        try:
            sessions = make_sessionmaker(engine)
            return {r: (await apikeys.create(sessions, name=f"contract-{r.value}", role=r, actor="test",
                                             actor_role="admin")).token for r in (Role.CLINICIAN, Role.ADMIN)}
        finally:
            await engine.dispose()

    tokens = asyncio.run(mint())
    settings_ = Settings(DATABASE_URL=db_url, DOSEWISE_VAR_DIR=str(tmp), DOSEWISE_INFERENCE_URL=UNUSED_PORT_URL,
                         DOSEWISE_INFERENCE_CONNECT_RETRIES=0, DOSEWISE_RATE_LIMIT_PER_MINUTE=1_000_000,
                         DOSEWISE_RATE_LIMIT_BURST=100_000)
    with TestClient(create_app(settings_), raise_server_exceptions=False) as client:
        yield client, tokens


@pytest.fixture()
def past_date_times() -> Iterator[None]:
    """The date-time format generates past instants while a test runs (schemathesis keeps formats in one registry)."""
    before = STRING_FORMATS.get("date-time")
    schemathesis.openapi.format("date-time", PAST_TIMES)
    yield
    if before is None:
        STRING_FORMATS.pop("date-time", None)
    else:
        STRING_FORMATS["date-time"] = before


ROUTES = [("/v1/recommendations", Role.CLINICIAN, {503}), ("/v1/recommendations:batch", Role.CLINICIAN, {503}),
          ("/v1/outcomes", Role.CLINICIAN, {404}), ("/v1/outcomes:batch", Role.CLINICIAN, {409, 422}),
          ("/v1/keys", Role.ADMIN, {201})]


@pytest.mark.parametrize(("path", "role", "expected"), ROUTES, ids=[r[0] for r in ROUTES])
def test_a_body_generated_from_the_document_is_never_refused_as_invalid(
    gateway: tuple[TestClient, dict[Role, str]], past_date_times: None, path: str, role: Role, expected: set[int]
) -> None:
    client, tokens = gateway
    operation = schemathesis.openapi.from_dict(client.get("/openapi.json").json())[path]["POST"]
    statuses: dict[int, int] = {}
    refused: list[tuple[Any, list[dict[str, Any]]]] = []

    @settings(max_examples=MAX_BATCH_EXAMPLES if path.endswith(":batch") else MAX_EXAMPLES, derandomize=True, database=None,
              deadline=None, phases=[Phase.generate],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
    @given(case=operation.as_strategy())
    def post(case: schemathesis.Case) -> None:
        body = prepare(path, case.body)
        headers = {"Authorization": f"Bearer {tokens[role]}", "Idempotency-Key": f"contract-{sum(statuses.values())}"}
        r = client.post(path, json=body, headers=headers)
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        if errors := refused_as_invalid(path, r.status_code, r.json()):
            refused.append((body, errors))

    post()
    why = sorted({(re.sub(r"\.\d+", ".<i>", e["field"]), e.get("type") or e["message"]) for _, errors in refused for e in errors})
    assert not refused, f"{len(refused)} generated bodies refused ({why}); the first: {refused[0]}"
    assert set(statuses) <= expected | {422}, statuses  # 422 only as an outcome batch's unknown recommendations


@pytest.fixture(scope="module")
def schemas(gateway: tuple[TestClient, dict[Role, str]]) -> dict[str, Any]:
    return gateway[0].get("/openapi.json").json()["components"]["schemas"]


class TestRangesAreExact:
    """Each unit's range in the document is the server's to the last float: its ends accepted, the next float out refused.
    A range narrower than the server's would let negative tests (schema-invalid bodies) be accepted."""

    @staticmethod
    def _branches(schemas: dict[str, Any], name: str, value: str = "value") -> list[tuple[list[str], float, float]]:
        return [(b["properties"]["unit"]["enum"], b["properties"][value]["minimum"], b["properties"][value]["maximum"])
                for b in schemas[name]["oneOf"]]

    @staticmethod
    def _valid(**changes: Any) -> bool:
        try:
            PatientState.model_validate(PATIENT_STATE_EXAMPLE | changes)
        except ValidationError:
            return False
        return True

    def _check(self, branches: list[tuple[list[str], float, float]], make: Any) -> None:
        assert branches
        for spellings, low, high in branches:
            for unit in spellings:
                assert self._valid(**make(low, unit)) and self._valid(**make(high, unit)), (unit, low, high)
                if low != 0:  # a dose of −5e-324 µg converts to −0 mg, which is no negative dose (openapi._range_in)
                    assert not self._valid(**make(math.nextafter(low, -math.inf), unit)), (unit, low)
                assert not self._valid(**make(math.nextafter(high, math.inf), unit)), (unit, high)

    def test_weight_and_height(self, schemas: dict[str, Any]) -> None:
        self._check(self._branches(schemas, "Weight"), lambda v, u: {"weight": {"value": v, "unit": u}})
        self._check(self._branches(schemas, "Height"), lambda v, u: {"height": {"value": v, "unit": u}})
        assert schemas["Weight"]["oneOf"][0]["properties"]["value"] == {"type": "number", "minimum": WEIGHT_KG[0],
                                                                        "maximum": WEIGHT_KG[1]}
        assert {u for b in self._branches(schemas, "Height") for u in b[0]} == set(units.spellings("length"))
        assert HEIGHT_CM == (20.0, 250.0)

    def test_warfarin_doses(self, schemas: dict[str, Any]) -> None:
        self._check(self._branches(schemas, "Dose_warfarin"), lambda v, u: {"current_dose": {"value": v, "unit": u}})
        self._check(self._branches(schemas, "DoseEvent_warfarin", "amount"), lambda v, u: {
            "doses": [{"amount": v, "unit": u, "time": "2026-11-22T20:00:00Z"}]})

    def test_observations_of_each_kind(self, schemas: dict[str, Any]) -> None:
        used = {kind: t for t, p in registry.PACKS.items() for kind in p.observation_kinds}
        assert {name.removeprefix("Observation_") for name in schemas if name.startswith("Observation_")} == set(used)
        assert set(used) <= set(OBSERVATION_KINDS)
        for kind, therapy in used.items():
            self._check(self._branches(schemas, f"Observation_{kind}"), lambda v, u, kind=kind, therapy=therapy: {
                **(PATIENT_STATE_EXAMPLE if therapy == "warfarin" else _state_of(therapy)),
                "observations": [{"kind": kind, "value": v, "unit": u, "time": "2026-11-22T08:00:00Z"}]})

    def test_key_expiry(self, schemas: dict[str, Any]) -> None:
        [bounded, _] = schemas["ApiKeyCreate"]["properties"]["expires_in_days"]["anyOf"]
        assert bounded == {"type": "integer", "minimum": 1, "maximum": 3650}
        for days, ok in ((1, True), (3650, True), (0, False), (3651, False)):
            try:
                ApiKeyCreate.model_validate({"name": "k", "role": "admin", "expires_in_days": days})
            except ValidationError:
                assert not ok, days
            else:
                assert ok, days


def _state_of(therapy: str) -> dict[str, Any]:
    """The example state moved to another therapy: its own dose unit, no observations or doses of warfarin."""
    pack = registry.PACKS[therapy]
    return PATIENT_STATE_EXAMPLE | {"therapy": therapy, "current_dose": {"value": 0, "unit": pack.dose_unit}, "doses": [],
                                    "genotype": None}
