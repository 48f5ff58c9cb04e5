"""Who is calling, and may they? Every route but health and the API docs needs a bearer credential and declares its roles.

Two kinds of bearer credential:
- API keys ``dwk_<id>_<secret>`` (``dosewise keys create``): looked up by id, secret checked in constant time against its hash.
- OAuth2 JWTs from the hospital's identity provider: signature checked against the configured JWKS (asymmetric algorithms
  only, so the public JWKS can never mint a token), ``iss``, ``aud``, ``exp`` (and ``sub``) required; the role comes from a
  configured claim.

No credential or a bad one → 401 with ``WWW-Authenticate: Bearer``; a valid one without the route's role → 403. Both are
problem+json. Authenticated callers are then rate limited per key/subject (429 + Retry-After).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Depends, FastAPI, Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dosewise import apikeys, problems
from dosewise.apikeys import Role
from dosewise.settings import Settings
from dosewise_api.ratelimit import Admission, Refused, TokenBucketLimiter

log = logging.getLogger("dosewise.api.auth")

# Routes anyone may call: liveness and readiness probes, Prometheus metrics (no patient data in them; keep /metrics off the
# public ingress), the API's own documentation, and the clinician UI's entry, sign-in, sign-out and EHR launch pages (its
# other pages declare roles: dosewise_api/ui/session.py).
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
                          "/", "/ui/sign-in", "/ui/sign-out", "/ui/launch", "/ui/launch/callback"})
ROLE_PRECEDENCE = (Role.CLINICIAN, Role.INTEGRATOR, Role.AUDITOR, Role.ADMIN)  # acting role when a JWT carries several
JWKS_TTL_S = 600.0  # how long fetched signing keys are trusted before re-reading the JWKS
JWKS_MIN_REFETCH_S = 30.0  # an unknown ``kid`` triggers a re-read at most this often (key rotation without a DoS lever)
JWT_LEEWAY_S = 30  # clock skew tolerated on exp/nbf/iat
MAX_TOKEN_CHARS = 8192
# RFC 6750 §2.1 b64token: what a bearer credential may consist of. API keys (base64url) and JWTs (dot-separated base64url)
# both fit; a value with spaces, quotes or non-ASCII text in it is no credential at all (typically a whole copied line).
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
MALFORMED = "malformed credential: expected `Authorization: Bearer dwk_…` (an API key) or `Bearer <JWT>`"

bearer = HTTPBearer(auto_error=False, scheme_name="bearer",
                    description="An API key (`dwk_…`, from `dosewise keys create`) or an OAuth2 access token (JWT).")


@dataclass(frozen=True)
class Caller:
    """An authenticated caller. ``role`` is the role this request acts in (set once a route's requirement admitted it)."""

    id: str  # "key:<key id>" or "jwt:<sub>": what the audit trail and the recommendations table record
    roles: frozenset[Role]
    role: Role | None = None


class AuthProblem(Exception):
    """A 401/403/429 rendered as problem+json, with the headers the status needs."""

    def __init__(self, status: int, title: str, detail: str, kind: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.kind, self.headers = status, title, detail, kind, headers or {}


def unauthorized(detail: str, invalid: bool = False) -> AuthProblem:
    challenge = 'Bearer realm="dosewise"' + (', error="invalid_token"' if invalid else "")
    return AuthProblem(401, "Unauthorized", detail, "unauthorized", {"WWW-Authenticate": challenge})


# Which token algorithms each asymmetric key type can verify; symmetric ("oct") keys are never loaded from a JWKS.
_ALGORITHMS_BY_KTY = {"RSA": ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"), "EC": ("ES256", "ES384", "ES512"),
                      "OKP": ("EdDSA",)}


@dataclass(frozen=True)
class _SigningKey:
    jwk: jwt.PyJWK
    kty: str
    declared_alg: str | None

    def admits(self, alg: str) -> bool:
        """A key that names its algorithm verifies only that one; otherwise only its key type's algorithms."""
        return alg == self.declared_alg if self.declared_alg else alg in _ALGORITHMS_BY_KTY.get(self.kty, ())


def _signing_key(data: object) -> tuple[str, _SigningKey] | None:
    """(kid, key) of a JWKS entry usable for verifying signatures, or None (symmetric, encryption-only, malformed)."""
    if not isinstance(data, dict) or data.get("kty") not in _ALGORITHMS_BY_KTY or data.get("use", "sig") != "sig":
        return None
    try:
        jwk = jwt.PyJWK.from_dict(data)
    except jwt.PyJWTError:
        return None
    return str(data.get("kid") or ""), _SigningKey(jwk, str(data["kty"]), data.get("alg"))


class Jwks:
    """Signing keys read from a JWKS at an https URL or in a file, cached and re-read on key rotation.

    PyJWT parses and holds each key (``PyJWK``); its JWKS client, ``PyJWKClient`` (2.15, evaluated for issue #23), does not
    replace this cache, because on the gateway it would change what the settings promise:
    - it reads only http(s) URLs; DOSEWISE_JWT_JWKS_URL and DOSEWISE_CDS_ISSUERS also take a file (the tests' issuers);
    - its fetch is blocking urllib: on the event loop a re-read after the cache time would stall every request for up to
      its timeout, so each lookup would have to go through a thread: ~200 µs a request instead of ~2 µs here
      (bench/jwks_lookup.py, keys cached);
    - once its cache time has passed and the provider is down, it raises: every JWT caller would be refused until the
      provider is back, where this keeps the keys it last read;
    - it drops keys without ``kid``: a single-key JWKS may omit it.
    Its unknown-``kid`` cooldown is the same rule as JWKS_MIN_REFETCH_S. tests/unit/test_jwks.py holds these behaviours."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._keys: dict[str, _SigningKey] = {}
        self._loaded_at = -JWKS_TTL_S
        self._lock = asyncio.Lock()

    async def _read_jwks(self) -> dict[str, Any]:
        if self.source.startswith(("https://", "http://")):
            async with httpx.AsyncClient(timeout=5.0) as client:  # httpx follows no redirect unless asked
                resp = await client.get(self.source)
                resp.raise_for_status()
                return dict(resp.json())
        return dict(json.loads(Path(self.source.removeprefix("file://")).read_text()))

    async def _refresh(self, force: bool) -> None:
        async with self._lock:
            age = time.monotonic() - self._loaded_at
            if age < (JWKS_MIN_REFETCH_S if force else JWKS_TTL_S):
                return
            try:
                raw = (await self._read_jwks()).get("keys")
            except (OSError, ValueError, httpx.HTTPError) as e:
                raw = None
                log.warning("JWKS unavailable", extra={"error": type(e).__name__})
            if not isinstance(raw, list):
                if not self._keys:
                    raise unauthorized("the identity provider's signing keys are unavailable", invalid=True)
                return  # keep serving with the keys we have
            self._keys = dict(k for k in map(_signing_key, raw) if k is not None)
            self._loaded_at = time.monotonic()

    async def key_for(self, kid: str) -> _SigningKey:
        await self._refresh(force=False)
        if kid not in self._keys:
            await self._refresh(force=True)
        key = self._keys.get(kid)
        if key is None and not kid and len(self._keys) == 1:
            key = next(iter(self._keys.values()))  # a single-key JWKS may omit kid
        if key is None:
            raise unauthorized("token signed with an unknown key", invalid=True)
        return key


class JwtVerifier:
    """Verifies bearer JWTs against the identity provider's JWKS (``Jwks``)."""

    def __init__(self, settings: Settings) -> None:
        assert settings.jwt_jwks_url and settings.jwt_issuer and settings.jwt_audience  # Settings refuses anything less
        self.source, self.issuer, self.audience = settings.jwt_jwks_url, settings.jwt_issuer, settings.jwt_audience
        self.algorithms = settings.jwt_algorithms
        self.role_claim = settings.jwt_role_claim.split(".")
        self.jwks = Jwks(settings.jwt_jwks_url)

    def _roles(self, claims: dict[str, Any]) -> frozenset[Role]:
        value: Any = claims
        for part in self.role_claim:
            value = value.get(part) if isinstance(value, dict) else None
        values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        return frozenset(Role(v) for v in values if isinstance(v, str) and v in Role.__members__.values())

    async def verify(self, token: str) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise unauthorized("malformed bearer token", invalid=True) from None
        alg = header.get("alg")
        if alg not in self.algorithms:  # checked before any key is touched: no "none", no HS* with a public key
            raise unauthorized("token algorithm not accepted", invalid=True)
        key = await self.jwks.key_for(str(header.get("kid") or ""))
        if not key.admits(alg):
            raise unauthorized("token algorithm does not match its key", invalid=True)
        try:
            claims = jwt.decode(token, key=key.jwk.key, algorithms=[alg], audience=self.audience, issuer=self.issuer,
                                leeway=JWT_LEEWAY_S, options={"require": ["exp", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise unauthorized("token expired", invalid=True) from None
        except jwt.PyJWTError as e:
            raise unauthorized(f"token rejected ({type(e).__name__})", invalid=True) from None
        sub = claims.get("sub")
        if not isinstance(sub, str) or not 0 < len(sub) <= 120:
            raise unauthorized("token subject missing or too long", invalid=True)
        return Caller(id=f"jwt:{sub}", roles=self._roles(claims))


@dataclass
class Authenticator:
    """The per-process authentication state: recently read API keys, the JWT verifier, the rate limiter, and admission
    control of the recommendation routes (patients per minute and in flight, ratelimit.py)."""

    settings: Settings
    limiter: TokenBucketLimiter
    jwt_verifier: JwtVerifier | None
    keys: apikeys.KeyCache
    admission: Admission

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        return cls(settings=settings,
                   limiter=TokenBucketLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst),
                   jwt_verifier=JwtVerifier(settings) if settings.jwt_jwks_url else None,
                   keys=apikeys.KeyCache(settings.api_key_cache_s),
                   admission=Admission(settings.admission_caller_batch_patients, settings.admission_batch_patients,
                                       settings.admission_singles, settings.rate_limit_patients_per_minute,
                                       settings.rate_limit_patient_burst))


def malformed(token: str) -> str | None:
    """Why ``token`` cannot be a credential, or None. Says what is wrong with it without ever quoting it (it may be a
    secret, or most of one)."""
    if _B64TOKEN.fullmatch(token):
        if token.startswith(apikeys.TOKEN_PREFIX) and apikeys.parse_token(token) is None:
            return f"an API key is {apikeys.TOKEN_PREFIX}<{2 * apikeys.KEY_ID_BYTES} hex digits>_<secret>"
        return None
    if any(c.isspace() for c in token):
        return "this one has spaces in it (two values, or a whole line of text pasted around the key?)"
    if not token.isascii():
        return "this one has characters that are not ASCII"
    return "this one has characters no API key or JWT has"


async def authenticate(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
) -> Caller:
    """The caller behind the request's bearer credential, rate limited; 401 without a valid one."""
    if credentials is None:
        raise unauthorized("send 'Authorization: Bearer <API key or access token>'")
    token = credentials.credentials
    if len(token) > MAX_TOKEN_CHARS:
        raise unauthorized("bearer token too long", invalid=True)
    problem = malformed(token)
    if problem is not None:
        raise unauthorized(f"{MALFORMED}; {problem}", invalid=True)
    auth: Authenticator = request.app.state.auth
    if token.startswith(apikeys.TOKEN_PREFIX):
        key = await apikeys.lookup(request.app.state.sessions, token, auth.keys)
        if key is None:
            raise unauthorized("unknown, revoked or expired API key", invalid=True)
        caller = Caller(id=f"key:{key.id}", roles=frozenset({Role(key.role)}))
    elif auth.jwt_verifier is not None:
        caller = await auth.jwt_verifier.verify(token)
    else:
        raise unauthorized("not an API key, and this gateway accepts no JWTs (DOSEWISE_JWT_JWKS_URL is unset)", invalid=True)
    retry_after = auth.limiter.acquire(caller.id)
    if retry_after is not None:
        raise AuthProblem(429, "Too many requests", f"rate limit of {auth.settings.rate_limit_per_minute} requests/minute "
                          f"per caller exceeded; retry in {retry_after} s", "rate-limited", {"Retry-After": str(retry_after)})
    request.state.caller = caller
    return caller


def requires(*roles: Role) -> Callable[..., Awaitable[Caller]]:
    """A dependency admitting callers with any of ``roles`` (403 otherwise); it returns the caller acting in that role."""
    allowed = frozenset(roles)

    async def dependency(request: Request, caller: Annotated[Caller, Depends(authenticate)]) -> Caller:
        acting = next((r for r in ROLE_PRECEDENCE if r in allowed and r in caller.roles), None)
        if acting is None:
            have = ", ".join(sorted(caller.roles)) or "no Dosewise role"
            raise AuthProblem(403, "Forbidden", f"this needs the role {' or '.join(sorted(allowed))}; the credential has "
                              f"{have}", "forbidden")
        caller = replace(caller, role=acting)
        request.state.caller = caller
        return caller

    dependency.dosewise_roles = allowed  # type: ignore[attr-defined]  # read by check_every_route_declares_roles
    return dependency


def declared_roles(dependant: Dependant) -> frozenset[Role] | None:
    """The roles a route admits (from its ``requires`` dependencies, router-level ones included), or None."""
    found: frozenset[Role] | None = None
    for sub in dependant.dependencies:
        roles = getattr(sub.call, "dosewise_roles", None)
        if roles is not None:
            found = roles if found is None else found & roles
        deeper = declared_roles(sub)
        if deeper is not None:
            found = deeper if found is None else found & deeper
    return found


@dataclass(frozen=True)
class RouteInfo:
    """An API route as served: its full path (router prefixes applied), methods, matcher and dependencies."""

    path: str
    methods: frozenset[str]
    path_regex: Any
    dependant: Dependant


def api_routes(routes: Iterable[Any]) -> Iterator[RouteInfo]:
    """Every API route, included routers expanded with their prefixes and router-level dependencies."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI ≥ 0.16x keeps included routers unflattened
    except ImportError:  # older FastAPI copies every included route into app.routes
        for r in routes:
            if isinstance(r, APIRoute):
                yield RouteInfo(r.path_format, frozenset(r.methods), r.path_regex, r.dependant)
        return
    for ctx in iter_route_contexts(list(routes)):
        if isinstance(ctx.original_route, APIRoute):
            yield RouteInfo(ctx.path_format, frozenset(ctx.methods or ()), ctx.path_regex, ctx.dependant)


def check_every_route_declares_roles(routes: Iterable[Any]) -> None:
    """Refuse to start when an API route neither declares its roles nor is a public path: nothing is open by omission."""
    undeclared = [f"{sorted(r.methods)} {r.path}" for r in api_routes(routes)
                  if r.path not in PUBLIC_PATHS and declared_roles(r.dependant) is None]
    if undeclared:
        raise RuntimeError("routes without a role requirement (add Depends(auth.requires(...)) or a *Caller dependency): "
                           + "; ".join(undeclared))


def install(app: FastAPI, settings: Settings) -> None:
    """Authentication state on the app, and problem+json rendering of 401/403/429 and of admission refusals (429/503)."""
    app.state.auth = Authenticator.from_settings(settings)

    @app.exception_handler(AuthProblem)
    async def _auth_problem(_: Request, exc: AuthProblem) -> JSONResponse:
        body = problems.problem(exc.status, exc.title, exc.detail, exc.kind)
        return JSONResponse(body, status_code=exc.status, media_type=problems.PROBLEM_JSON, headers=exc.headers)

    @app.exception_handler(Refused)
    async def _refused(_: Request, exc: Refused) -> JSONResponse:
        body = problems.problem(exc.status, exc.title, exc.detail, exc.kind)
        return JSONResponse(body, status_code=exc.status, media_type=problems.PROBLEM_JSON, headers=exc.headers)
