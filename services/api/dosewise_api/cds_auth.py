"""Who is calling a CDS Service: the CDS client's JWT (CDS Hooks 2.0 §Trusting CDS Clients,
https://cds-hooks.hl7.org/2.0/#trusting-cds-clients), or any credential the rest of the API takes (auth.py: an API key, the
hospital identity provider's JWT) of a clinician or integrator: an integration, a sandbox, curl.

The client signs a JWT per request and sends it as ``Authorization: Bearer``. A JWT whose ``iss`` is on the allow-list
(``DOSEWISE_CDS_ISSUERS``) is held to these rules, and accepted when:
- its header names ``alg`` (asymmetric only: ES384 and RS384 are the spec's; ``none`` and HMAC are refused before any key is
  touched), ``kid`` and ``typ: JWT``;
- ``iss`` is on the allow-list (``DOSEWISE_CDS_ISSUERS``), each issuer with its JWKS URL; a ``jku`` header is honoured
  only when it is exactly that URL (an arbitrary URL is never fetched);
- ``aud`` is the URL of the endpoint called (``DOSEWISE_PUBLIC_URL`` + path, or the request's own URL);
- ``exp``, ``iat`` and ``jti`` are present, ``iat`` at most 5 minutes old (the spec's clients sign one token per call);
- ``jti`` was not seen before: it is remembered until ``exp`` (Redis when configured, the database otherwise).

The caller is ``cds:<iss>`` (``cds:<iss>#<sub>`` with a ``sub``, the spec's client id): what the recommendation, the cards
and the outcomes record as their owner, and what every later call is checked against.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated, Any

import jwt
from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials
from redis.asyncio import Redis
from sqlalchemy.exc import IntegrityError

from dosewise import apikeys
from dosewise.apikeys import Role
from dosewise.settings import ASYMMETRIC_JWT_ALGORITHMS, Settings
from dosewise.storage.db import transaction
from dosewise.storage.repositories import CdsTokenIdRepository
from dosewise_api.auth import JWT_LEEWAY_S, MAX_TOKEN_CHARS, AuthProblem, Caller, Jwks, authenticate, bearer, unauthorized

MAX_TOKEN_AGE_S = 300  # "iat" older than this is refused (issue #26; the spec's clients mint one token per call)
CDS_ROLES = (Role.CLINICIAN, Role.INTEGRATOR)  # an API key of these roles may call the CDS Services too


def caller_id(iss: str, sub: object) -> str:
    raw = f"cds:{iss}" + (f"#{sub}" if isinstance(sub, str) and sub and sub != iss else "")
    return raw if len(raw) <= 128 else "cds:" + hashlib.sha256(raw.encode()).hexdigest()  # the caller_id column's width


class CdsJwtVerifier:
    def __init__(self, settings: Settings) -> None:
        self.issuers = {iss: Jwks(url) for iss, url in settings.cds_issuer_map.items()}
        self._redis: Redis | None = Redis.from_url(settings.redis_url) if settings.redis_url else None

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    def issued_by_a_client(self, token: str) -> bool:
        """Whether ``token`` is a JWT naming a CDS client of the allow-list as its issuer (not yet verified)."""
        if not self.issuers:
            return False
        try:
            iss = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            return False
        return isinstance(iss, str) and iss in self.issuers

    async def _first_use(self, request: Request, iss: str, jti: str, exp: int) -> bool:
        token_id = hashlib.sha256(f"{iss}\n{jti}".encode()).hexdigest()
        expires = datetime.fromtimestamp(exp, UTC)
        if self._redis is not None:
            ttl = max(1, exp - int(datetime.now(UTC).timestamp()) + JWT_LEEWAY_S)
            return bool(await self._redis.set(f"dosewise:cds-jti:{token_id}", "1", nx=True, ex=ttl))
        try:
            async with transaction(request.app.state.sessions) as s:
                return await CdsTokenIdRepository(s).remember(token_id, expires)
        except IntegrityError:  # a concurrent request with the same token got there first
            return False

    async def verify(self, request: Request, token: str, audience: str) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise unauthorized("malformed bearer token", invalid=True) from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ASYMMETRIC_JWT_ALGORITHMS:  # before any key is touched: no "none", no HS* with a public key
            raise unauthorized("token algorithm not accepted (asymmetric only, e.g. ES384 or RS384)", invalid=True)
        if not isinstance(kid, str) or not kid:
            raise unauthorized("a CDS client's token names its key (`kid` header)", invalid=True)
        if header.get("typ") != "JWT":  # the spec's fixed value
            raise unauthorized("a CDS client's token has the header `typ: JWT`", invalid=True)
        iss = unverified.get("iss")
        jwks = self.issuers.get(iss) if isinstance(iss, str) else None
        if jwks is None:
            raise unauthorized("token issuer is not a trusted CDS client (DOSEWISE_CDS_ISSUERS)", invalid=True)
        jku = header.get("jku")
        if jku is not None and jku != jwks.source:
            raise unauthorized("token `jku` is not the JWKS configured for its issuer; it is not fetched", invalid=True)
        key = await jwks.key_for(kid)
        if not key.admits(alg):
            raise unauthorized("token algorithm does not match its key", invalid=True)
        try:
            claims: dict[str, Any] = jwt.decode(token, key=key.jwk.key, algorithms=[alg], audience=audience, issuer=iss,
                                                leeway=JWT_LEEWAY_S,
                                                options={"require": ["exp", "iat", "iss", "aud", "jti"]})
        except jwt.ExpiredSignatureError:
            raise unauthorized("token expired", invalid=True) from None
        except jwt.InvalidAudienceError:
            raise unauthorized(f"token `aud` must be the endpoint called: {audience}", invalid=True) from None
        except jwt.PyJWTError as e:
            raise unauthorized(f"token rejected ({type(e).__name__})", invalid=True) from None
        iat, jti = claims.get("iat"), claims.get("jti")
        if not isinstance(iat, (int, float)) or datetime.now(UTC).timestamp() - iat > MAX_TOKEN_AGE_S + JWT_LEEWAY_S:
            raise unauthorized(f"token issued more than {MAX_TOKEN_AGE_S // 60} minutes ago (`iat`)", invalid=True)
        if not isinstance(jti, str) or not 0 < len(jti) <= 256:
            raise unauthorized("token `jti` missing or too long", invalid=True)
        if not await self._first_use(request, iss, jti, int(claims["exp"])):
            raise unauthorized("token replayed: its `jti` was used before", invalid=True)
        return Caller(id=caller_id(iss, claims.get("sub")), roles=frozenset({Role.INTEGRATOR}), role=Role.INTEGRATOR)


def endpoint_url(request: Request) -> str:
    """The URL of the endpoint called, as the client addresses it: the JWT's required ``aud``."""
    settings: Settings = request.app.state.settings
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    return base + request.url.path


async def cds_caller(request: Request,
                     credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]) -> Caller:
    """The CDS client (its JWT) or the integration (its API key, clinician or integrator) calling; 401/403 otherwise."""
    if credentials is None:
        raise unauthorized("send 'Authorization: Bearer <the CDS client's JWT or a Dosewise API key>'")
    token = credentials.credentials
    verifier: CdsJwtVerifier = request.app.state.cds_verifier
    if token.startswith(apikeys.TOKEN_PREFIX) or not verifier.issued_by_a_client(token):
        # An API key, or the hospital identity provider's JWT (auth.py): the gateway's own rules and roles.
        caller = await authenticate(request, credentials)
        acting = next((r for r in CDS_ROLES if r in caller.roles), None)
        if acting is None:
            have = ", ".join(sorted(caller.roles)) or "no Dosewise role"
            raise AuthProblem(403, "Forbidden", f"CDS Services need the role clinician or integrator; the credential has "
                              f"{have}", "forbidden")
        caller = Caller(caller.id, caller.roles, acting)
    else:
        if len(token) > MAX_TOKEN_CHARS:
            raise unauthorized("bearer token too long", invalid=True)
        caller = await verifier.verify(request, token, endpoint_url(request))
        auth = request.app.state.auth
        retry_after = auth.limiter.acquire(caller.id)
        if retry_after is not None:
            raise AuthProblem(429, "Too many requests", f"rate limit exceeded; retry in {retry_after} s", "rate-limited",
                              {"Retry-After": str(retry_after)})
    request.state.caller = caller
    return caller


cds_caller.dosewise_roles = frozenset(CDS_ROLES)  # type: ignore[attr-defined]  # read by check_every_route_declares_roles


async def discovery_caller(request: Request,
                           credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]) -> Caller | None:
    """Discovery: open when DOSEWISE_CDS_DISCOVERY_OPEN is set, else as the hook endpoints."""
    if request.app.state.settings.cds_discovery_open:
        return None
    return await cds_caller(request, credentials)


discovery_caller.dosewise_roles = frozenset(CDS_ROLES)  # type: ignore[attr-defined]
