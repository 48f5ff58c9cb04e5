"""Who may call what: every route of the OpenAPI document against every role (and none), API keys and JWTs, the rate limit,
CORS and security headers — on the real app with a real database (SQLite and PostgreSQL).

Inference is not running here on purpose: authorization is decided before any route reaches it, so admitted callers get
the route's own answer to an empty or unknown input (422, 404, 200), which the table states exactly.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from sqlalchemy import select

from dosewise import apikeys
from dosewise.apikeys import Role
from dosewise.settings import DEV_PSEUDONYM_KEY, Settings
from dosewise.storage.db import make_engine, make_sessionmaker, transaction
from dosewise.storage.migrate import upgrade
from dosewise.storage.models import ApiKey, AuditEvent, utcnow
from dosewise_api.app import create_app
from tests.jwt_issuer import AUDIENCE, ISSUER, TestIssuer

CLINICAL = frozenset({Role.CLINICIAN, Role.INTEGRATOR})
AUDITOR = frozenset({Role.AUDITOR})
ADMIN = frozenset({Role.ADMIN})
ANY = frozenset(Role)
PUBLIC = None  # no credential needed
UNUSED_PORT_URL = "http://127.0.0.1:9"  # inference is not running: nothing here may reach it


@dataclass(frozen=True)
class Row:
    """One route: who it admits, the concrete URL the test calls, the body it sends, the status an admitted caller gets."""

    roles: frozenset[Role] | None
    url: str
    admitted: int
    body: dict | None = None


# The explicit table. A route that appears in the OpenAPI document but not here fails the test: declare who may call it.
ROLE_TABLE: dict[tuple[str, str], Row] = {
    ("GET", "/healthz"): Row(PUBLIC, "/healthz", 200),
    ("GET", "/readyz"): Row(PUBLIC, "/readyz", 503),  # inference is down in this test
    ("GET", "/v1/therapies"): Row(ANY, "/v1/therapies", 200),
    ("POST", "/v1/recommendations"): Row(CLINICAL, "/v1/recommendations", 422, {}),
    ("POST", "/v1/recommendations:batch"): Row(CLINICAL, "/v1/recommendations:batch", 422, {}),
    ("POST", "/v1/fhir/recommendations"): Row(CLINICAL, "/v1/fhir/recommendations", 422, {}),
    ("GET", "/v1/recommendations/{recommendation_id}"): Row(CLINICAL, f"/v1/recommendations/{uuid.uuid4()}", 404),
    ("GET", "/v1/recommendations/{recommendation_id}/forecast.svg"): Row(
        CLINICAL, f"/v1/recommendations/{uuid.uuid4()}/forecast.svg", 404),
    ("POST", "/v1/outcomes"): Row(CLINICAL, "/v1/outcomes", 422, {}),
    ("POST", "/v1/outcomes:batch"): Row(CLINICAL, "/v1/outcomes:batch", 422, {}),
    ("GET", "/v1/audit"): Row(AUDITOR, "/v1/audit", 200),
    ("GET", "/v1/keys"): Row(ADMIN, "/v1/keys", 200),
    ("POST", "/v1/keys"): Row(ADMIN, "/v1/keys", 422, {}),
    ("DELETE", "/v1/keys/{key_id}"): Row(ADMIN, "/v1/keys/0123456789ab", 404),
    ("GET", "/v1/policies"): Row(ADMIN, "/v1/policies", 200),
    ("POST", "/v1/policies/{policy_id}/activate"): Row(ADMIN, "/v1/policies/no-such-policy/activate", 404),
    ("POST", "/v1/therapies/{therapy}/rollback"): Row(ADMIN, "/v1/therapies/no-such-therapy/rollback", 404),
    ("GET", "/v1/policies/{policy_id}"): Row(ADMIN, "/v1/policies/no-such-policy", 404),
    # CDS Hooks: a CDS client's own JWT (tests/e2e/test_cds_hooks.py), or a clinician's or integrator's credential.
    ("GET", "/cds-services"): Row(CLINICAL, "/cds-services", 200),
    ("POST", "/cds-services/{service_id}"): Row(CLINICAL, "/cds-services/dosewise-warfarin-order-sign", 422, {}),
    ("POST", "/cds-services/{service_id}/feedback"): Row(CLINICAL, "/cds-services/dosewise-warfarin-order-sign/feedback",
                                                        422, {}),
}
DOC_PAGES = ("/openapi.json", "/docs", "/redoc")  # public, outside the OpenAPI document itself


@dataclass
class Gateway:
    client: TestClient
    headers: dict[str, dict[str, str]]  # role → Authorization header
    key_ids: dict[str, str]
    db_url: str
    issuer: TestIssuer


def _mint(db_url: str) -> dict[str, apikeys.NewKey]:
    async def go() -> dict[str, apikeys.NewKey]:
        engine = make_engine(Settings(DATABASE_URL=db_url))
        try:
            sessions = make_sessionmaker(engine)
            return {r.value: await apikeys.create(sessions, name=f"roles-{r.value}", role=r, actor="test", actor_role="admin")
                    for r in Role}
        finally:
            await engine.dispose()

    return asyncio.run(go())


def settings_for(db_url: str, issuer: TestIssuer, **extra: str) -> Settings:
    return Settings(DATABASE_URL=db_url, DOSEWISE_INFERENCE_URL=UNUSED_PORT_URL, DOSEWISE_INFERENCE_CONNECT_RETRIES=0,
                    **issuer.env(), **extra)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def gateway(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp(f"roles-{request.param}")
    if request.param == "sqlite":
        db_url = f"sqlite+aiosqlite:///{tmp / 'dosewise.db'}"
        upgrade(db_url)
    else:
        db_url = request.getfixturevalue("pg_url")
    keys = _mint(db_url)
    issuer = TestIssuer(tmp)
    with TestClient(create_app(settings_for(db_url, issuer)), raise_server_exceptions=False) as client:
        yield Gateway(client, {r: {"Authorization": f"Bearer {k.token}"} for r, k in keys.items()},
                      {r: k.key.id for r, k in keys.items()}, db_url, issuer)


def call(gw: Gateway, method: str, row: Row, headers: dict[str, str]) -> int:
    return gw.client.request(method, row.url, headers=headers, json=row.body).status_code


class TestRoleTable:
    def test_the_table_covers_exactly_the_routes_of_the_openapi_document(self, gateway: Gateway) -> None:
        spec = gateway.client.get("/openapi.json").json()
        documented = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
        assert documented == set(ROLE_TABLE), (
            f"undeclared: {sorted(documented - set(ROLE_TABLE))}; gone: {sorted(set(ROLE_TABLE) - documented)}")

    def test_every_route_with_every_role_and_none(self, gateway: Gateway) -> None:
        """401 without a credential, 403 with the wrong role, the route's own answer with a right one; public routes ignore
        credentials. Each key is an API key of exactly one role."""
        got: dict[tuple[str, str, str], int] = {}
        want: dict[tuple[str, str, str], int] = {}
        for (method, path), row in ROLE_TABLE.items():
            for who in ["none", *Role]:
                headers = {} if who == "none" else gateway.headers[who]
                if row.roles is PUBLIC:
                    expected = row.admitted
                elif who == "none":
                    expected = 401
                else:
                    expected = row.admitted if who in row.roles else 403
                got[(method, path, str(who))] = call(gateway, method, row, headers)
                want[(method, path, str(who))] = expected
        mismatches = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
        assert not mismatches, f"(got, expected): {mismatches}"
        print(f"role table: {len(want)} route×caller cells, {len(ROLE_TABLE)} routes × {1 + len(Role)} callers, all as "
              f"declared")

    def test_the_same_table_holds_for_jwt_callers(self, gateway: Gateway) -> None:
        for (method, path), row in ROLE_TABLE.items():
            if row.roles is PUBLIC:
                continue
            for role in Role:
                token = gateway.issuer.token(sub=f"jwt-{role}", roles=[role.value])
                status = call(gateway, method, row, {"Authorization": f"Bearer {token}"})
                assert status == (row.admitted if role in row.roles else 403), (method, path, role)

    def test_an_api_route_without_a_role_requirement_stops_the_app_from_starting(self) -> None:
        """Nothing is open by omission: the check create_app runs finds a route that declares no role."""
        from fastapi import APIRouter, FastAPI

        from dosewise_api.auth import check_every_route_declares_roles

        router = APIRouter(prefix="/v1/forgotten")

        @router.get("")
        async def forgotten() -> dict[str, str]:
            return {}

        app = FastAPI()
        app.include_router(router)
        with pytest.raises(RuntimeError, match="/v1/forgotten"):
            check_every_route_declares_roles(app.routes)

    @pytest.mark.parametrize("page", DOC_PAGES)
    def test_documentation_is_public(self, gateway: Gateway, page: str) -> None:
        assert gateway.client.get(page).status_code == 200

    def test_401_is_a_problem_with_a_bearer_challenge(self, gateway: Gateway) -> None:
        r = gateway.client.get("/v1/therapies")
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        assert r.headers["www-authenticate"].startswith("Bearer") and r.json()["status"] == 401
        bad = gateway.client.get("/v1/therapies", headers={"Authorization": "Bearer dwk_0123456789ab_nope"})
        assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]

    def test_403_names_the_role_needed_not_internals(self, gateway: Gateway) -> None:
        r = gateway.client.get("/v1/audit", headers=gateway.headers["clinician"])
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
        assert "auditor" in r.json()["detail"] and "Traceback" not in r.text


class TestApiKeys:
    def test_only_a_hash_of_the_secret_is_stored(self, gateway: Gateway) -> None:
        created = gateway.client.post("/v1/keys", json={"name": "hash-check", "role": "auditor"},
                                      headers=gateway.headers["admin"])
        assert created.status_code == 201, created.text
        token = created.json()["token"]
        key_id, secret = apikeys.parse_token(token)  # type: ignore[misc]

        async def row() -> ApiKey | None:
            engine = make_engine(Settings(DATABASE_URL=gateway.db_url))
            try:
                async with make_sessionmaker(engine)() as s:
                    return await s.get(ApiKey, key_id)
            finally:
                await engine.dispose()

        stored = asyncio.run(row())
        assert stored is not None and stored.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in repr(stored.model_dump())
        listed = gateway.client.get("/v1/keys", headers=gateway.headers["admin"]).json()["data"]
        assert key_id in {k["id"] for k in listed} and all("token" not in k for k in listed)

    def test_a_revoked_key_is_refused_from_then_on_and_both_changes_are_audited(self, gateway: Gateway) -> None:
        admin = gateway.headers["admin"]
        created = gateway.client.post("/v1/keys", json={"name": "short-lived", "role": "clinician"}, headers=admin).json()
        mine = {"Authorization": f"Bearer {created['token']}"}
        assert gateway.client.get("/v1/therapies", headers=mine).status_code == 200
        revoked = gateway.client.delete(f"/v1/keys/{created['id']}", headers=admin)
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        assert gateway.client.get("/v1/therapies", headers=mine).status_code == 401
        assert gateway.client.delete(f"/v1/keys/{created['id']}", headers=admin).status_code == 409
        events = gateway.client.get("/v1/audit", params={"caller": f"key:{gateway.key_ids['admin']}"},
                                    headers=gateway.headers["auditor"]).json()["data"]
        mine_events = [(e["action"], e["role"]) for e in events if e["subject_id"] == created["id"]]
        assert mine_events == [("key.create", "admin"), ("key.revoke", "admin")]

    @pytest.mark.parametrize("cache_s", [0.0, 0.5])
    def test_a_key_revoked_elsewhere_is_refused_within_the_key_cache_time(self, gateway: Gateway, cache_s: float) -> None:
        """The CLI (or another replica) revokes in the database; this replica re-reads a key it has cached within
        DOSEWISE_API_KEY_CACHE_S (0: at once)."""
        async def mint() -> apikeys.NewKey:
            engine = make_engine(Settings(DATABASE_URL=gateway.db_url))
            try:
                return await apikeys.create(make_sessionmaker(engine), name=f"cached-{cache_s}", role=Role.CLINICIAN,
                                            actor="test", actor_role="admin")
            finally:
                await engine.dispose()

        async def revoke_as_the_cli(key_id: str) -> None:
            engine = make_engine(Settings(DATABASE_URL=gateway.db_url))
            try:
                await apikeys.revoke(make_sessionmaker(engine), key_id, actor="cli", actor_role="admin")
            finally:
                await engine.dispose()

        new = asyncio.run(mint())
        mine = {"Authorization": f"Bearer {new.token}"}
        settings = settings_for(gateway.db_url, gateway.issuer, DOSEWISE_API_KEY_CACHE_S=str(cache_s))
        with TestClient(create_app(settings), raise_server_exceptions=False) as replica:
            assert replica.get("/v1/therapies", headers=mine).status_code == 200  # read, and cached when cache_s > 0
            asyncio.run(revoke_as_the_cli(new.key.id))
            if cache_s:
                time.sleep(cache_s)
            assert replica.get("/v1/therapies", headers=mine).status_code == 401

    def test_an_admin_cannot_revoke_the_key_it_calls_with(self, gateway: Gateway) -> None:
        r = gateway.client.delete(f"/v1/keys/{gateway.key_ids['admin']}", headers=gateway.headers["admin"])
        assert r.status_code == 409
        assert gateway.client.get("/v1/keys", headers=gateway.headers["admin"]).status_code == 200

    def test_an_expired_key_is_refused(self, gateway: Gateway) -> None:
        async def expired() -> str:
            engine = make_engine(Settings(DATABASE_URL=gateway.db_url))
            try:
                sessions = make_sessionmaker(engine)
                new = await apikeys.create(sessions, name="expired", role=Role.CLINICIAN, actor="test", actor_role="admin",
                                           expires_in=timedelta(days=1))
                async with transaction(sessions) as s:
                    key = (await s.execute(select(ApiKey).where(ApiKey.id == new.key.id))).scalar_one()
                    key.expires_at = utcnow() - timedelta(seconds=1)
                return new.token
            finally:
                await engine.dispose()

        token = asyncio.run(expired())
        assert gateway.client.get("/v1/therapies", headers={"Authorization": f"Bearer {token}"}).status_code == 401

    @pytest.mark.parametrize("token", ["dwk_", "dwk_0123456789ab_", "dwk_ZZZZZZZZZZZZ_secret", "x" * 9000, "Basic abc"])
    def test_malformed_credentials_are_401(self, gateway: Gateway, token: str) -> None:
        assert gateway.client.get("/v1/therapies", headers={"Authorization": f"Bearer {token}"}).status_code == 401

    @pytest.mark.parametrize("value", [
        "dwk_0123456789ab_s3cr3t dwk_0123456789ab_other",  # two tokens
        "key id: 0123456789ab   role: clinician   name: me",  # a line of `keys create` text instead of the key
        "dwk_0123456789ab_s3cr\u00e9t",  # non-ASCII (sent as UTF-8 bytes)
        "dwk_0123456789ab_\"s3cr3t\"",  # quoted
        "dwk_0123456789ab",  # no secret part
    ])
    def test_a_malformed_credential_is_a_401_that_says_so_without_quoting_it(self, gateway: Gateway, value: str) -> None:
        r = gateway.client.get("/v1/therapies", headers={"Authorization": f"Bearer {value}".encode()})
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        assert 'error="invalid_token"' in r.headers["www-authenticate"]
        detail = r.json()["detail"]
        assert detail.startswith("malformed credential: expected `Authorization: Bearer dwk_…`"), detail
        assert "s3cr" not in detail and "0123456789ab" not in detail

    def test_well_formed_credentials_are_not_called_malformed(self, gateway: Gateway) -> None:
        unknown = gateway.client.get("/v1/therapies", headers={"Authorization": "Bearer dwk_0123456789ab_nope"})
        assert unknown.status_code == 401 and unknown.json()["detail"] == "unknown, revoked or expired API key"
        key = gateway.headers["clinician"]["Authorization"].removeprefix("Bearer ")
        two_spaces = gateway.client.get("/v1/therapies", headers={"Authorization": f"Bearer  {key}"})
        assert two_spaces.status_code == 200  # RFC 9110 allows more than one space after the scheme

    def test_strict_body_no_string_to_number_coercion(self, gateway: Gateway) -> None:
        r = gateway.client.post("/v1/keys", json={"name": "k", "role": "auditor", "expires_in_days": "30"},
                                headers=gateway.headers["admin"])
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "expires_in_days"


class TestJwt:
    def test_a_valid_token_acts_in_its_role_and_is_named_by_its_subject(self, gateway: Gateway) -> None:
        token = gateway.issuer.token(sub="dr-house", roles="auditor")
        r = gateway.client.get("/v1/audit", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200

    @pytest.mark.parametrize("change", ["expired", "wrong-audience", "wrong-issuer", "no-exp", "other-key", "alg-none",
                                        "hs256-with-public-key", "unknown-kid"])
    def test_tokens_that_must_be_refused(self, gateway: Gateway, change: str) -> None:
        iss = gateway.issuer
        if change == "expired":
            token = iss.token(roles=["clinician"], lifetime_s=-120)  # beyond the 30 s leeway
        elif change == "wrong-audience":
            token = iss.token(roles=["clinician"], aud="another-app")
        elif change == "wrong-issuer":
            token = iss.token(roles=["clinician"], iss="https://evil.invalid")
        elif change == "no-exp":
            token = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "roles": ["clinician"]}, iss.private_key,
                               algorithm="RS256", headers={"kid": iss.kid})
        elif change == "other-key":
            token = iss.token(roles=["clinician"], key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
        elif change == "alg-none":
            token = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": 4102444800, "roles": ["clinician"]},
                               None, algorithm="none", headers={"kid": iss.kid})
        elif change == "hs256-with-public-key":  # the classic confusion: the public key used as an HMAC secret
            pem = iss.private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                            serialization.PublicFormat.SubjectPublicKeyInfo)
            import hmac as _hmac  # PyJWT itself refuses to sign HS256 with a PEM key; build the token by hand
            import json as _json
            from base64 import urlsafe_b64encode

            def b64(b: bytes) -> str:
                return urlsafe_b64encode(b).rstrip(b"=").decode()

            head = b64(_json.dumps({"alg": "HS256", "typ": "JWT", "kid": iss.kid}).encode())
            body = b64(_json.dumps({"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": 4102444800,
                                    "roles": ["clinician"]}).encode())
            sig = b64(_hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest())
            token = f"{head}.{body}.{sig}"
        else:
            token = iss.token(roles=["clinician"], headers={"kid": "rotated-away"})
        r = gateway.client.get("/v1/therapies", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, (change, r.text)

    def test_a_token_without_a_dosewise_role_is_authenticated_but_forbidden(self, gateway: Gateway) -> None:
        token = gateway.issuer.token(roles=["nurse", "superuser"])
        assert gateway.client.get("/v1/therapies", headers={"Authorization": f"Bearer {token}"}).status_code == 403

    def test_symmetric_algorithms_cannot_be_configured(self) -> None:
        with pytest.raises(ValueError, match="asymmetric"):
            Settings(DOSEWISE_JWT_JWKS_URL="/x.json", DOSEWISE_JWT_ISSUER="i", DOSEWISE_JWT_AUDIENCE="a",
                     DOSEWISE_JWT_ALGORITHMS="RS256,HS256")
        with pytest.raises(ValueError, match="ISSUER"):
            Settings(DOSEWISE_JWT_JWKS_URL="/x.json")


class TestRateLimit:
    def test_a_caller_over_its_burst_gets_429_with_retry_after_and_others_are_unaffected(
        self, tmp_path: Path, sqlite_url: str
    ) -> None:
        keys = _mint(sqlite_url)
        issuer = TestIssuer(tmp_path)
        app = create_app(settings_for(sqlite_url, issuer, DOSEWISE_RATE_LIMIT_BURST="3", DOSEWISE_RATE_LIMIT_PER_MINUTE="1"))
        clin = {"Authorization": f"Bearer {keys['clinician'].token}"}
        other = {"Authorization": f"Bearer {keys['integrator'].token}"}
        with TestClient(app) as client:
            statuses = [client.get("/v1/therapies", headers=clin).status_code for _ in range(4)]
            assert statuses == [200, 200, 200, 429]
            r = client.get("/v1/therapies", headers=clin)
            assert r.status_code == 429 and r.headers["content-type"] == "application/problem+json"
            assert 1 <= int(r.headers["retry-after"]) <= 60  # one request per minute: the next token is < 60 s away
            assert client.get("/v1/therapies", headers=other).status_code == 200  # per key, not global
            assert client.get("/healthz").status_code == 200  # probes are never limited


class TestBrowserHardening:
    def test_security_headers_on_api_answers_and_on_the_docs_page(self, gateway: Gateway) -> None:
        api = gateway.client.get("/v1/therapies", headers=gateway.headers["clinician"]).headers
        assert api["x-content-type-options"] == "nosniff" and api["x-frame-options"] == "DENY"
        assert api["content-security-policy"].startswith("default-src 'none'") and api["cache-control"] == "no-store"
        assert api["referrer-policy"] == "no-referrer"
        docs = gateway.client.get("/docs").headers
        directives = [d.strip() for d in docs["content-security-policy"].split(";")]
        assert "frame-ancestors 'none'" in directives and "connect-src 'self'" in directives
        assert next(d for d in directives if d.startswith("script-src")) == "script-src 'self' 'unsafe-inline'"  # no CDN
        assert gateway.client.get("/v1/therapies").headers["x-frame-options"] == "DENY"  # errors too

    def test_cors_is_closed_by_default(self, gateway: Gateway) -> None:
        r = gateway.client.options("/v1/therapies", headers={"Origin": "https://evil.example",
                                                              "Access-Control-Request-Method": "GET"})
        assert "access-control-allow-origin" not in r.headers

    def test_cors_admits_only_the_configured_origin(self, tmp_path: Path, sqlite_url: str) -> None:
        app = create_app(settings_for(sqlite_url, TestIssuer(tmp_path), DOSEWISE_CORS_ORIGINS="https://ehr.example"))
        with TestClient(app) as client:
            pre = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
            ok = client.options("/v1/recommendations", headers={"Origin": "https://ehr.example", **pre})
            assert ok.headers.get("access-control-allow-origin") == "https://ehr.example"
            assert "access-control-allow-credentials" not in ok.headers
            evil = client.options("/v1/recommendations", headers={"Origin": "https://evil.example", **pre})
            assert "access-control-allow-origin" not in evil.headers

    def test_cds_discovery_is_open_only_when_configured(self, tmp_path: Path, sqlite_url: str) -> None:
        """CDS Hooks discovery lists no patient data; a hospital may leave it open (the hook endpoints never are)."""
        app = create_app(settings_for(sqlite_url, TestIssuer(tmp_path), DOSEWISE_CDS_DISCOVERY_OPEN="true"))
        with TestClient(app) as client:
            assert client.get("/cds-services").status_code == 200
            assert client.post("/cds-services/dosewise-warfarin-patient-view", json={}).status_code == 401

    def test_405_lists_every_method_of_the_path(self, gateway: Gateway) -> None:
        r = gateway.client.put("/v1/keys", headers=gateway.headers["admin"])
        assert r.status_code == 405 and set(r.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


class TestSecretsAndDevelopmentKey:
    def test_placeholder_secrets_refuse_to_start_outside_development(self) -> None:
        with pytest.raises(ValueError, match="PSEUDONYM_KEY"):
            Settings(DOSEWISE_ENV="production")
        with pytest.raises(ValueError, match="PSEUDONYM_KEY"):
            Settings(DOSEWISE_ENV="production", DOSEWISE_PSEUDONYM_KEY="short")
        with pytest.raises(ValueError, match="CORS"):
            Settings(DOSEWISE_ENV="production", DOSEWISE_PSEUDONYM_KEY="k" * 40, DOSEWISE_CORS_ORIGINS="*")
        with pytest.raises(ValueError, match="DATABASE_URL"):
            Settings(DOSEWISE_ENV="production", DOSEWISE_PSEUDONYM_KEY="k" * 40)
        production = Settings(DOSEWISE_ENV="production", DOSEWISE_PSEUDONYM_KEY="k" * 40,
                              DATABASE_URL="postgresql+asyncpg://db.example/dosewise")
        assert production.pseudonym_key != DEV_PSEUDONYM_KEY

    def test_a_refused_secret_is_not_echoed(self) -> None:
        with pytest.raises(ValueError) as err:
            Settings(DOSEWISE_ENV="production", DOSEWISE_PSEUDONYM_KEY="my-short-secret")
        assert "my-short-secret" not in str(err.value)

    def test_keys_create_prints_the_key_alone_on_stdout(self, sqlite_url: str) -> None:
        """So that `export DOSEWISE_KEY=$(dosewise keys create ...)` captures a usable key: the words go to stderr."""
        env = os.environ | {"DATABASE_URL": sqlite_url}
        cmd = [sys.executable, "-m", "dosewise.cli.main", "keys", "create", "--name", "me", "--role", "clinician"]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        assert done.stdout.endswith("\n") and done.stdout.count("\n") == 1
        key = done.stdout.strip()
        assert apikeys.parse_token(key) is not None and "\x1b" not in key
        assert "role: clinician" in done.stderr and "Shown once" in done.stderr and key not in done.stderr

    def test_make_run_mints_a_development_admin_key_once_and_prints_it(self, sqlite_url: str) -> None:
        env = os.environ | {"DATABASE_URL": sqlite_url, "DOSEWISE_ENV": "development"}
        cmd = [sys.executable, "-m", "dosewise.cli.main", "keys", "ensure-dev-admin"]
        first = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        assert first.count("dwk_") == 1 and "dwk_" not in second
        other_env = subprocess.run(cmd, env=env | {"DOSEWISE_ENV": "test"}, capture_output=True, text=True, check=True)
        assert "dwk_" not in other_env.stdout

        async def admins() -> list[tuple[str, str]]:
            engine = make_engine(Settings(DATABASE_URL=sqlite_url))
            try:
                async with make_sessionmaker(engine)() as s:
                    keys = (await s.execute(select(ApiKey.role, ApiKey.name))).all()
                    events = (await s.execute(select(AuditEvent.action))).scalars().all()
            finally:
                await engine.dispose()
            assert events == ["key.create"]
            return [tuple(k) for k in keys]

        assert asyncio.run(admins()) == [("admin", apikeys.DEV_ADMIN_NAME)]
