"""What the gateway refuses before any route, dependency or query sees a request (dosewise_api.middleware.RequestGuard), on
the real app with a real database (SQLite and PostgreSQL):

- a key twice in one JSON object, at any depth, on every route → 422 naming each (Python kept the last copy: a duplicated
  ``pregnant`` decided whether the pregnancy hold applied);
- a control character in a path or query parameter → 422 naming the parameter (a NUL reached PostgreSQL and came back as a
  503 logged as a database outage), and a NUL in any string of a JSON body → 422 naming the field;
- and the body is parsed once: the routes get the guard's parse, not a second one;
- a value PostgreSQL refuses that gets past every check anyway is a 500 logged as such, not a 503 logged as an outage.

Inference is not running: every request here is answered before it would be reached (or by a route that does not need it).
The transport side (413 for a chunked body, 408 for one that trickles) needs a real server: tests/e2e/test_request_transport.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from dosewise import apikeys
from dosewise.apikeys import Role
from dosewise.schemas import PATIENT_STATE_EXAMPLE
from dosewise.settings import Settings
from dosewise.storage.db import make_engine, make_sessionmaker
from dosewise.storage.migrate import upgrade
from dosewise.storage.models import ApiKey
from dosewise_api.app import create_app
from dosewise_api.middleware import parse_strictly

UNUSED_PORT_URL = "http://127.0.0.1:9"  # inference is not running: nothing here may reach it
JSON = {"Content-Type": "application/json"}


@dataclass
class Gateway:
    client: TestClient
    headers: dict[str, dict[str, str]]  # role → Authorization header
    db_url: str


def _mint(db_url: str) -> dict[str, apikeys.NewKey]:
    async def go() -> dict[str, apikeys.NewKey]:
        engine = make_engine(Settings(DATABASE_URL=db_url))
        try:
            sessions = make_sessionmaker(engine)
            return {r.value: await apikeys.create(sessions, name=f"guard-{r.value}", role=r, actor="test", actor_role="admin")
                    for r in Role}
        finally:
            await engine.dispose()

    return asyncio.run(go())


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def gateway(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if request.param == "sqlite":
        db_url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('guard') / 'dosewise.db'}"
        upgrade(db_url)
    else:
        db_url = request.getfixturevalue("pg_url")
    keys = _mint(db_url)
    settings = Settings(DATABASE_URL=db_url, DOSEWISE_INFERENCE_URL=UNUSED_PORT_URL, DOSEWISE_INFERENCE_CONNECT_RETRIES=0,
                        DOSEWISE_RATE_LIMIT_BURST=100_000)  # the rate limit has its own tests
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Gateway(client, {r: {"Authorization": f"Bearer {k.token}"} for r, k in keys.items()}, db_url)


def key_count(db_url: str) -> int:
    async def go() -> int:
        engine = make_engine(Settings(DATABASE_URL=db_url))
        try:
            async with make_sessionmaker(engine)() as s:
                return int((await s.execute(select(func.count()).select_from(ApiKey))).scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(go())


def fields(r: Any) -> dict[str, str]:
    """field → error type of a 422 problem."""
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
    return {e["field"]: e["type"] for e in r.json()["errors"]}


def state_json(**replace: str) -> str:
    """The example patient as JSON text, with the value of each named top-level key replaced by the raw JSON given."""
    text = json.dumps(PATIENT_STATE_EXAMPLE)
    for key, raw in replace.items():
        text = text.replace(f'"{key}": {json.dumps(PATIENT_STATE_EXAMPLE[key])}', f'"{key}": {raw}')
    return text


@pytest.fixture()
def no_outage_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The test's requests leave no 'database unavailable' (or any other error) in the gateway's log."""
    with caplog.at_level(logging.WARNING, logger="dosewise"):
        yield
    errors = [r.getMessage() for r in caplog.records if r.name.startswith("dosewise") and r.levelno >= logging.WARNING]
    assert not errors, errors


class TestDuplicateKeys:
    def test_a_duplicated_pregnant_flag_is_refused_not_read_as_its_last_copy(self, gateway: Gateway) -> None:
        body = state_json(pregnant="true, \"pregnant\": false")
        assert body.count('"pregnant"') == 2
        r = gateway.client.post("/v1/recommendations", content=body, headers=gateway.headers["clinician"] | JSON)
        assert fields(r) == {"pregnant": "duplicate_key"}
        assert "2 times" in r.json()["errors"][0]["message"]

    def test_each_duplicate_is_named_by_its_path_nested_objects_and_arrays_included(self, gateway: Gateway) -> None:
        second = state_json(weight='{"value": 70, "unit": "kg", "value": 80}',
                            genotype='{"cyp2c9": "*1/*1", "vkorc1": "G/G", "cyp2c9": "*1/*3"}')
        body = f'{{"patients": [{json.dumps(PATIENT_STATE_EXAMPLE)}, {second}]}}'
        r = gateway.client.post("/v1/recommendations:batch", content=body, headers=gateway.headers["clinician"] | JSON)
        assert fields(r) == {"patients.1.weight.value": "duplicate_key", "patients.1.genotype.cyp2c9": "duplicate_key"}
        assert [e["path"] for e in r.json()["errors"]] == [["patients", 1, "weight", "value"],
                                                          ["patients", 1, "genotype", "cyp2c9"]]

    def test_a_body_the_route_would_accept_is_refused_and_stores_nothing(self, gateway: Gateway) -> None:
        """Without the check this mints a key named by the last copy."""
        before = key_count(gateway.db_url)
        r = gateway.client.post("/v1/keys", content='{"name": "dup-a", "role": "auditor", "name": "dup-b"}',
                                headers=gateway.headers["admin"] | JSON)
        assert fields(r) == {"name": "duplicate_key"}
        assert key_count(gateway.db_url) == before
        ok = gateway.client.post("/v1/keys", content='{"name": "dup-c", "role": "auditor"}',
                                 headers=gateway.headers["admin"] | JSON)
        assert ok.status_code == 201, ok.text

    def test_every_route_that_takes_a_post_refuses_them(self, gateway: Gateway) -> None:
        """One check for every body, whatever the route (and whether or not it reads one)."""
        spec = gateway.client.get("/openapi.json").json()
        posts = [p for p, item in spec["paths"].items() if "post" in item]
        assert len(posts) >= 6, posts
        for path in posts:
            url = path.replace("{policy_id}", "warfarin-v1").replace("{therapy}", "warfarin")
            role = "admin" if path.startswith(("/v1/keys", "/v1/policies", "/v1/therapies")) else "clinician"
            r = gateway.client.post(url, content='{"a": {"b": 1, "b": 2}}', headers=gateway.headers[role] | JSON)
            assert fields(r) == {"a.b": "duplicate_key"}, (path, r.text)

    def test_the_same_key_in_two_objects_is_not_a_duplicate(self) -> None:
        parsed, errors = parse_strictly(b'{"a": {"value": 1}, "b": {"value": 2}, "c": [{"value": 3}, {"value": 4}]}')
        assert errors == [] and parsed["c"][1] == {"value": 4}


class TestControlCharacters:
    @pytest.mark.parametrize(("role", "method", "url", "field"), [
        ("auditor", "GET", "/v1/audit?caller=a%00b", "query.caller"),
        ("auditor", "GET", "/v1/audit?patient_ref=ward7%0D%0Abed12", "query.patient_ref"),
        ("auditor", "GET", "/v1/audit?caller=%C2%85", "query.caller"),  # U+0085, a C1 control (NEXT LINE)
        ("admin", "POST", "/v1/policies/a%00b/activate", "path.policy_id"),
        ("admin", "POST", "/v1/therapies/war%00farin/rollback", "path.therapy"),
        ("clinician", "GET", f"/v1/recommendations/{uuid.uuid4()}?x=%07", "query.x"),
    ])
    def test_in_a_parameter_is_a_422_naming_it_and_no_outage(self, gateway: Gateway, no_outage_logged: None, role: str,
                                                              method: str, url: str, field: str) -> None:
        r = gateway.client.request(method, url, headers=gateway.headers[role])
        assert fields(r) == {field: "control_character"}
        assert "control character U+00" in r.json()["errors"][0]["message"]

    def test_in_a_query_parameter_s_name_too(self, gateway: Gateway, no_outage_logged: None) -> None:
        r = gateway.client.get("/v1/audit?call%00er=a", headers=gateway.headers["auditor"])
        assert fields(r) == {"query.call\x00er": "control_character"}

    def test_every_bad_parameter_is_named_at_once(self, gateway: Gateway, no_outage_logged: None) -> None:
        r = gateway.client.post("/v1/policies/a%00b/activate?why=%1b", headers=gateway.headers["admin"])
        assert fields(r) == {"path.policy_id": "control_character", "query.why": "control_character"}

    def test_plain_parameters_still_reach_the_route(self, gateway: Gateway, no_outage_logged: None) -> None:
        assert gateway.client.get("/v1/audit?caller=key%3Aabc&limit=5", headers=gateway.headers["auditor"]).status_code == 200
        r = gateway.client.post("/v1/policies/no%20such%20policy/activate", headers=gateway.headers["admin"])
        assert r.status_code == 404, r.text

    def test_a_nul_in_any_string_of_a_body_is_a_422_naming_the_field(self, gateway: Gateway, no_outage_logged: None) -> None:
        body = state_json(comorbidities='["atrial fibrillation", "heart\\u0000failure"]',
                          genotype='{"cyp2c9": "*1/*2", "vkorc1": "G/A", "no\\u0000te": "x"}')
        r = gateway.client.post("/v1/recommendations", content=body, headers=gateway.headers["clinician"] | JSON)
        assert fields(r) == {"comorbidities.1": "nul_character", "genotype.no\x00te": "nul_character"}

    def test_an_escaped_backslash_before_u0000_is_text_not_a_nul(self) -> None:
        parsed, errors = parse_strictly(b'{"note": "C:\\\\u0000"}')
        assert errors == [] and parsed == {"note": "C:\\u0000"}


class TestParsedOnce:
    @pytest.fixture()
    def parses(self, monkeypatch: pytest.MonkeyPatch) -> Callable[[bytes], int]:
        """How many times json.loads was given this body (as bytes or text) since the fixture started."""
        calls: list[bytes] = []
        loads = json.loads

        def counting(s: str | bytes, *args: Any, **kwargs: Any) -> Any:
            calls.append(s.encode() if isinstance(s, str) else bytes(s))
            return loads(s, *args, **kwargs)

        monkeypatch.setattr(json, "loads", counting)
        return lambda body: calls.count(body)

    def test_every_route_with_a_json_body_gets_the_guard_s_parse_not_a_second_one(
            self, gateway: Gateway, parses: Callable[[bytes], int]) -> None:
        spec = gateway.client.get("/openapi.json").json()
        with_body = [(p, m) for p, item in spec["paths"].items() for m, op in item.items() if "requestBody" in op]
        assert len(with_body) >= 5, with_body
        for path, method in with_body:
            role = "admin" if path.startswith("/v1/keys") else "clinician"
            body = json.dumps({"probe": path}).encode()
            r = gateway.client.request(method, path, content=body, headers=gateway.headers[role] | JSON)
            assert r.status_code == 422, (path, r.text)  # the schema's answer: the route did receive the body
            assert parses(body) == 1, (path, parses(body))

    def test_a_body_that_is_not_json_is_left_to_the_route_which_says_where(self, gateway: Gateway) -> None:
        r = gateway.client.post("/v1/keys", content=b'{"name": "x",', headers=gateway.headers["admin"] | JSON)
        [error] = r.json()["errors"]
        assert error["type"] == "json_invalid" and "at character 13" in error["message"], error


    @pytest.mark.parametrize("body", [b"", b"{", b"[]", b"null"], ids=["empty", "broken", "array", "null"])
    def test_a_body_route_sent_nothing_usable_answers_422_never_500(self, gateway: Gateway, body: bytes) -> None:
        """The batch route's admission check reads the parse before validation: with nothing parsed it must leave the
        answer to validation (an empty body once raised JSONDecodeError there: a 500)."""
        for path in ("/v1/recommendations", "/v1/recommendations:batch", "/v1/outcomes", "/v1/outcomes:batch"):
            r = gateway.client.post(path, content=body,
                                    headers=gateway.headers["clinician"] | JSON | {"Idempotency-Key": "k-empty"})
            assert r.status_code == 422, (path, body, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json"), (path, body)

class TestDatabaseRefusals:
    def test_a_value_postgresql_refuses_is_a_500_not_an_outage(self, pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
        app = create_app(Settings(DATABASE_URL=pg_url, DOSEWISE_INFERENCE_URL=UNUSED_PORT_URL))

        async def slips_a_nul_past_every_check(request: Request) -> None:
            async with request.app.state.engine.connect() as conn:
                await conn.execute(text("SELECT CAST(:v AS text)"), {"v": "a\x00b"})

        app.add_api_route("/test/nul", slips_a_nul_past_every_check)
        with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR, logger="dosewise"):
            r = client.get("/test/nul")
        assert r.status_code == 500 and r.json()["type"].endswith("/internal") and "Retry-After" not in r.headers, r.text
        logged = {rec.getMessage(): getattr(rec, "sqlstate", None) for rec in caplog.records if rec.name == "dosewise.api"}
        assert logged == {"database refused a value": "22021"}, logged

    def test_a_database_that_cannot_be_reached_is_still_a_503_outage(self, caplog: pytest.LogCaptureFixture) -> None:
        app = create_app(Settings(DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:9/none",
                                  DOSEWISE_INFERENCE_URL=UNUSED_PORT_URL))
        with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR, logger="dosewise"):
            r = client.get("/v1/therapies", headers={"Authorization": "Bearer dwk_0123456789ab_" + "s" * 43})
        assert r.status_code == 503 and r.headers["Retry-After"] == "5", r.text
        assert "database unavailable" in [rec.getMessage() for rec in caplog.records]
