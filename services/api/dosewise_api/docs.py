"""The API's documentation pages, /docs (Swagger UI) and /redoc (ReDoc), with their scripts, styles and icon served from this
package (static/, see static/README.md): nothing loads from another host. FastAPI's own pages take them from a CDN and ReDoc
its fonts from Google, so on a hospital network without internet access both pages were blank.

Public like the probes (auth.PUBLIC_PATHS). The assets live under /docs/static, so the docs pages' Content-Security-Policy
(security.DOCS_PATHS) and the Ingress's /docs prefix cover them too.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_URL = "/docs/static"
SWAGGER_JS = f"{STATIC_URL}/swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = f"{STATIC_URL}/swagger-ui/swagger-ui.css"
FAVICON = f"{STATIC_URL}/swagger-ui/favicon-32x32.png"
REDOC_JS = f"{STATIC_URL}/redoc/redoc.standalone.js"
# Swagger UI sends the document's URL to validator.swagger.io for a badge unless told not to: a third party, and offline
# a broken image.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}


def install(app: FastAPI) -> None:
    """Serve the docs pages and their assets. The app must be made with ``docs_url=None, redoc_url=None`` (FastAPI's pages)."""
    assert app.docs_url is None and app.redoc_url is None, "FastAPI's own CDN-loading pages would shadow these"
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="docs-static")

    def root(request: Request) -> str:  # behind a proxy that strips a prefix, every URL on the page needs it back
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        r = root(request)
        return get_swagger_ui_html(openapi_url=r + openapi_url, title=f"{app.title} - Swagger UI",
                                   swagger_js_url=r + SWAGGER_JS, swagger_css_url=r + SWAGGER_CSS,
                                   swagger_favicon_url=r + FAVICON, oauth2_redirect_url=r + redirect_url,
                                   init_oauth=app.swagger_ui_init_oauth,
                                   swagger_ui_parameters={**(app.swagger_ui_parameters or {}), **SWAGGER_UI_PARAMETERS})

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        r = root(request)
        return get_redoc_html(openapi_url=r + openapi_url, title=f"{app.title} - ReDoc", redoc_js_url=r + REDOC_JS,
                              redoc_favicon_url=r + FAVICON, with_google_fonts=False)
