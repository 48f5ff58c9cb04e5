"""Signing in to the clinician UI, and CSRF protection of its forms.

- **Sign-in**: the clinician pastes an API key (or an access token) once per browser session. The gateway checks it exactly
  as it checks a bearer credential (``auth.authenticate``: revoked and expired keys refused, rate limited) and sets it as a
  cookie that scripts cannot read (HttpOnly), that no other site's page sends (SameSite=Strict), scoped to ``/ui`` and, over
  https, Secure. No Max-Age: it ends with the browser session. Nothing goes into localStorage or sessionStorage. Every page
  request authenticates the cookie again, so a key revoked mid-session stops working at the next click.
- **Roles**: the API's own (``auth.requires``), so a clinician key reaches the dose pages and an admin key the policies page,
  and a page declares its roles like an API route (``check_every_route_declares_roles``).
- **CSRF**: every form carries a token; a POST whose token does not match is refused before anything else happens. Signed-in
  forms: an HMAC of the session cookie under the server's pseudonym key (per session, stateless, and unknown to another
  site, which cannot read the cookie). The sign-in form itself (login CSRF): a random double-submit value, set as its own
  HttpOnly cookie when the form is shown (OWASP CSRF Prevention Cheat Sheet, "Signed Double-Submit Cookie" and "Login CSRF").
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.security import HTTPAuthorizationCredentials

from dosewise.apikeys import Role
from dosewise_api import auth
from dosewise_api.auth import AuthProblem, Caller

SESSION_COOKIE = "dosewise_ui"
LOGIN_COOKIE = "dosewise_ui_login"
COOKIE_PATH = "/ui"
CSRF_FIELD = "csrf_token"


# What the sign-in page may say about why it is shown, by code: a query string never puts its own text on the page.
SIGN_IN_REASONS = {"expired": "Your session ended: the key was revoked, expired or is unknown. Sign in again.",
                   "signed-out": "Signed out."}


class SignInNeeded(Exception):
    """No session (or one whose credential no longer works): the page answers with the sign-in page. ``reason``: a key of
    SIGN_IN_REASONS, or ""."""

    def __init__(self, next_path: str, reason: str = "") -> None:
        super().__init__(reason)
        self.next_path, self.reason = next_path, reason


class PageProblem(Exception):
    """A page that cannot be shown (403, 404, 429, 503 …): rendered as an HTML page that says why, never as JSON."""

    def __init__(self, status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers or {}


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session(response: Response, request: Request, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, path=COOKIE_PATH, httponly=True, samesite="strict", secure=_secure(request))


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")


def csrf_token(request: Request, session_token: str) -> str:
    key: str = request.app.state.settings.pseudonym_key
    return hmac.new(key.encode(), b"dosewise-ui-csrf\0" + session_token.encode(), hashlib.sha256).hexdigest()


def login_page_token(request: Request, response: Response, value: str) -> None:
    """Set ``value`` (``secrets.token_urlsafe``), the sign-in form's double-submit token, as its cookie on ``response``."""
    response.set_cookie(LOGIN_COOKIE, value, path=COOKIE_PATH, httponly=True, samesite="strict", secure=_secure(request))


def new_login_token() -> str:
    return secrets.token_urlsafe(32)


def login_token_ok(request: Request, posted: str) -> bool:
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), posted.encode())


def check_csrf(request: Request, posted: str) -> None:
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token or not hmac.compare_digest(csrf_token(request, token).encode(), posted.encode()):
        raise PageProblem(403, "Form expired", "This form's security token did not match your session (it may be from an "
                          "earlier sign-in, or another site sent it). Nothing was done: open the page again and resubmit.")


async def credential_caller(request: Request, token: str) -> Caller:
    """The caller behind ``token``, checked as a bearer credential is; AuthProblem when it is not one."""
    return await auth.authenticate(request, HTTPAuthorizationCredentials(scheme="Bearer", credentials=token))


def page_caller(*roles: Role) -> Callable[[Request], Awaitable[Caller]]:
    """A page dependency: the signed-in caller acting in one of ``roles``; the sign-in page without a working session, a
    403 page without the role."""
    check_role = auth.requires(*roles)

    async def dependency(request: Request) -> Caller:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise SignInNeeded(path)
        try:
            caller = await credential_caller(request, token)
            caller = await check_role(request, caller)
        except AuthProblem as e:
            if e.status == 401:
                raise SignInNeeded(path, "expired") from None
            title = {403: "Not for your role", 429: "Too many requests"}.get(e.status, e.title)
            raise PageProblem(e.status, title, e.detail, e.headers) from None
        request.state.csrf = csrf_token(request, token)
        return caller

    dependency.dosewise_roles = frozenset(roles)  # type: ignore[attr-defined]  # read by check_every_route_declares_roles
    return dependency


def sign_in_url(next_path: str) -> str:
    return f"{COOKIE_PATH}/sign-in?next={quote(next_path, safe='/')}"


def safe_next(next_path: str | None) -> str:
    """Only a path of this UI (no other host, no scheme-relative ``//evil``) is followed after signing in."""
    if next_path and next_path.startswith(COOKIE_PATH + "/") and not next_path.startswith("//") and "\\" not in next_path:
        return next_path
    return f"{COOKIE_PATH}/dose"
