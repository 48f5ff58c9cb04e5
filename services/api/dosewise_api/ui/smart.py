"""Launching the clinician UI from the EHR: SMART App Launch 2.2, EHR launch, with PKCE (HL7 FHIR SMART App Launch
Implementation Guide 2.2.0, https://hl7.org/fhir/smart-app-launch/app-launch.html).

1. The EHR opens ``/ui/launch?iss=<FHIR base>&launch=<opaque>``. ``iss`` must be one of DOSEWISE_SMART_ISSUERS: the only
   servers whose configuration is ever fetched (no request to a URL a link made up).
2. Discovery: ``<iss>/.well-known/smart-configuration`` names the authorization and token endpoints; the server must list
   ``S256`` in ``code_challenge_methods_supported`` (the guide requires it of servers; ``plain`` is never used).
3. Authorization request: ``response_type=code``, ``client_id``, ``redirect_uri``, ``launch``, ``scope``, ``state``,
   ``aud=<iss>``, ``code_challenge`` = BASE64URL(SHA-256(verifier)), ``code_challenge_method=S256`` (RFC 7636 §4). The state,
   the verifier and the token endpoint ride in a cookie signed with the server's key, HttpOnly, SameSite=Lax (the way back
   from the authorization server is a cross-site navigation, which a Strict cookie would not survive), for ten minutes.
4. The callback checks the state, exchanges the code with the verifier at the token endpoint, and takes the access token as
   the UI session's credential: it must be a JWT the gateway accepts (DOSEWISE_JWT_*: the hospital identity provider the
   EHR's authorization server is), with its roles. The token response's ``patient`` is the launch context: the UI opens
   that patient's course.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import Request, Response

STATE_COOKIE = "dosewise_ui_smart"
STATE_COOKIE_PATH = "/ui/launch"
STATE_TTL_S = 600
HTTP_TIMEOUT_S = 10.0
SCOPE = "launch openid fhirUser patient/Patient.rs patient/Observation.rs patient/MedicationRequest.rs"


class LaunchError(Exception):
    """A launch that cannot go on; ``status`` says how the page answers (400 bad request, 403 issuer not allowed, 502 the
    EHR's servers answered badly)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass(frozen=True)
class Configuration:
    authorization_endpoint: str
    token_endpoint: str


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, code_challenge): 64 unreserved characters (RFC 7636 §4.1 asks 43–128), and its S256 challenge."""
    verifier = b64url(secrets.token_bytes(48))
    return verifier, b64url(hashlib.sha256(verifier.encode()).digest())


def allowed_issuer(iss: str, allowed: Sequence[str]) -> str:
    iss = iss.strip().rstrip("/")
    if not iss or iss not in allowed:
        raise LaunchError(403, "This EHR (its FHIR server) is not one Dosewise may be launched from "
                               "(DOSEWISE_SMART_ISSUERS).")
    return iss


async def discover(iss: str) -> Configuration:
    """The authorization and token endpoints of ``iss`` (SMART App Launch §Discovery), with S256 required."""
    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, follow_redirects=False) as client:
            r = await client.get(f"{iss}/.well-known/smart-configuration", headers={"Accept": "application/json"})
            r.raise_for_status()
            config: Any = r.json()
    except (httpx.HTTPError, ValueError) as e:
        raise LaunchError(502, f"the EHR's SMART configuration could not be read ({type(e).__name__})") from None
    if not isinstance(config, dict):
        raise LaunchError(502, "the EHR's SMART configuration is not a JSON object")
    auth, token = config.get("authorization_endpoint"), config.get("token_endpoint")
    if not (isinstance(auth, str) and isinstance(token, str) and auth.startswith(("https://", "http://"))
            and token.startswith(("https://", "http://"))):
        raise LaunchError(502, "the EHR's SMART configuration names no authorization and token endpoints")
    if "S256" not in (config.get("code_challenge_methods_supported") or []):
        raise LaunchError(502, "the EHR's authorization server does not support PKCE with S256")
    return Configuration(auth, token)


def authorize_url(config: Configuration, *, client_id: str, redirect_uri: str, launch: str, iss: str, state: str,
                  challenge: str) -> str:
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "launch": launch,
             "scope": SCOPE, "state": state, "aud": iss, "code_challenge": challenge, "code_challenge_method": "S256"}
    sep = "&" if "?" in config.authorization_endpoint else "?"
    return config.authorization_endpoint + sep + urlencode(query)


def _sign(key: str, payload: bytes) -> str:
    return b64url(hmac.new(key.encode(), b"dosewise-smart-state\0" + payload, hashlib.sha256).digest())


def set_state(request: Request, response: Response, key: str, state: dict[str, Any]) -> None:
    payload = json.dumps(state | {"exp": int(time.time()) + STATE_TTL_S}, separators=(",", ":")).encode()
    value = b64url(payload) + "." + _sign(key, payload)
    response.set_cookie(STATE_COOKIE, value, max_age=STATE_TTL_S, path=STATE_COOKIE_PATH, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")


def read_state(request: Request, key: str) -> dict[str, Any]:
    """The launch's signed state, or LaunchError when it is missing, forged or expired."""
    value = request.cookies.get(STATE_COOKIE, "")
    body, _, signature = value.partition(".")
    try:
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError:
        payload = b""
    if not payload or not hmac.compare_digest(_sign(key, payload), signature):
        raise LaunchError(400, "This launch is not one this browser started (or it was altered); launch again from the EHR.")
    state: dict[str, Any] = json.loads(payload)
    if state.get("exp", 0) < time.time():
        raise LaunchError(400, "This launch took more than ten minutes; launch again from the EHR.")
    return state


async def exchange(token_endpoint: str, *, code: str, redirect_uri: str, client_id: str, verifier: str) -> dict[str, Any]:
    """The token response for ``code`` (RFC 6749 §4.1.3 with the PKCE verifier, RFC 7636 §4.5)."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "client_id": client_id,
            "code_verifier": verifier}
    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, follow_redirects=False) as client:
            r = await client.post(token_endpoint, data=form, headers={"Accept": "application/json"})
            body: Any = r.json()
    except (httpx.HTTPError, ValueError) as e:
        raise LaunchError(502, f"the EHR's token endpoint could not be reached ({type(e).__name__})") from None
    if r.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        error = body.get("error") if isinstance(body, dict) else None
        raise LaunchError(502, f"the EHR's token endpoint refused the code ({error or r.status_code})")
    return body
