"""The clinician web UI, served by the gateway at ``/`` (routes.py): server-rendered Jinja2 pages, its own script and styles
and the vendored chart library under ``/ui/static`` (static/ui; ``make ui-assets`` copies the library from npm). Nothing is
fetched from another host at run time.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from dosewise_api.docs import STATIC_DIR
from dosewise_api.ui import routes, session

STATIC_URL = "/ui/static"
UI_STATIC_DIR = STATIC_DIR / "ui"

Handler = Callable[[Request, Exception], Awaitable[Response]]


def _error_page(request: Request, status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    page = routes.render(request, "error.html", status_code=status, status=status, title=title, detail=detail)
    for k, v in (headers or {}).items():
        page.headers[k] = v
    return page


def _html_on_ui_paths(handler: Handler) -> Handler:
    """``handler`` as it is for the API; on a UI page the problem it answers with, drawn as an HTML page instead of JSON."""

    async def wrapped(request: Request, exc: Exception) -> Response:
        response = await handler(request, exc)
        path = request.url.path
        if not path.startswith("/ui") or path.startswith(STATIC_URL) or response.status_code < 400:
            return response
        try:
            body: dict[str, Any] = json.loads(bytes(response.body))
        except ValueError:
            body = {}
        headers = {k: v for k, v in response.headers.items() if k.lower() in ("retry-after", "allow")}
        return _error_page(request, response.status_code, str(body.get("title") or "Error"),
                           str(body.get("detail") or "Something went wrong; it has been logged."), headers)

    return wrapped


def install(app: FastAPI) -> None:
    """Mount the pages and their assets; call last in create_app, after every other exception handler is installed (those
    are wrapped so that a UI path never answers with raw JSON)."""
    app.mount(STATIC_URL, StaticFiles(directory=UI_STATIC_DIR), name="ui-static")
    app.include_router(routes.router)

    @app.exception_handler(session.SignInNeeded)
    async def _sign_in(request: Request, exc: session.SignInNeeded) -> Response:
        response = RedirectResponse(session.sign_in_url(exc.next_path) + (f"&reason={exc.reason}" if exc.reason else ""),
                                    status_code=303)
        if exc.reason:
            session.clear_session(response)
        return response

    @app.exception_handler(session.PageProblem)
    async def _page_problem(request: Request, exc: session.PageProblem) -> Response:
        return _error_page(request, exc.status, exc.title, exc.detail, exc.headers)

    for key, handler in list(app.exception_handlers.items()):
        if key not in (session.SignInNeeded, session.PageProblem):
            app.exception_handlers[key] = _html_on_ui_paths(handler)
