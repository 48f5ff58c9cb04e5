"""Browser-facing hardening and what a request leaves in the logs.

- Security headers on every response: no sniffing, no framing, no referrer, a Content-Security-Policy (strict for JSON, one that
  lets the API docs load for /docs and /redoc), and ``Cache-Control: no-store`` on the API and the clinician UI's pages
  (they carry clinical data).
- CORS: closed unless DOSEWISE_CORS_ORIGINS lists exact origins (never ``*`` outside development; no cookies either way).
- One access-log line per request with the route *template*, status, duration and caller id — never the raw path, query
  string, headers or body, which may carry identifiers.
"""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dosewise.settings import Settings
from dosewise_api.auth import api_routes

access_log = logging.getLogger("dosewise.api.access")

DOCS_PATHS = ("/docs", "/redoc")
UI_PAGES, UI_STATIC = "/ui/", "/ui/static/"  # the clinician UI (dosewise_api/ui): its pages show patients, its assets do not
# The docs pages load Swagger UI / ReDoc from this server (docs.py: nothing from another host, so they work offline) and
# start them with an inline script (FastAPI's pages). ReDoc's footer logo, from its CDN, is blocked and hides itself.
DOCS_CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; font-src 'self' data:; "
            "img-src 'self' data:; connect-src 'self'; worker-src blob:; frame-ancestors 'none'; base-uri 'none'; "
            "form-action 'none'")
PAGE_CSP = "default-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
API_CSP = "default-src 'none'; frame-ancestors 'none'"
COMMON_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),  # honoured by browsers only over https
)


class SecurityHeaders:
    """Adds the headers above to every HTTP response, keeping any a route set itself (a UI page may set its own CSP)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if path.startswith(DOCS_PATHS):
                    csp = DOCS_CSP
                elif content_type.startswith(b"text/html"):
                    csp = PAGE_CSP
                else:
                    csp = API_CSP
                extra = [*COMMON_HEADERS, (b"content-security-policy", csp.encode())]
                if path.startswith("/v1/") or (path.startswith(UI_PAGES) and not path.startswith(UI_STATIC)):
                    extra.append((b"cache-control", b"no-store"))  # clinical data: not in any cache, the browser's included
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CompleteAllowHeader:
    """A 405 names every method the path supports (RFC 9110 §15.5.6). Starlette names only those of the first route that
    matched the path, and GET /v1/keys and POST /v1/keys are two routes."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app, self.routes = app, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                path = scope.get("path", "")
                methods = {m for r in api_routes(self.routes) if r.path_regex.match(path) for m in r.methods}
                allow = ", ".join(sorted(methods)).encode()
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"] + [(b"allow", allow)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_allow)


class AccessLog:
    """One JSON log line per request: method, route template, status, milliseconds, caller id (never the URL itself)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            caller = (scope.get("state") or {}).get("caller")
            access_log.info("request", extra={
                "method": scope.get("method"),
                "route": getattr(route, "path", None) or "(no route)",
                "status": status,
                "ms": round((time.perf_counter() - start) * 1000, 1),
                "caller": getattr(caller, "id", None),
            })


def install(app: FastAPI, settings: Settings) -> None:
    """Middleware order (outermost first): access log → security headers → Allow fix → CORS → the app's own (request guard)."""
    origins = settings.cors_origins
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
                           expose_headers=["Retry-After"], max_age=600)
    app.add_middleware(CompleteAllowHeader, routes=app.router.routes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(AccessLog)
