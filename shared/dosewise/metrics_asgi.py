"""HTTP metrics for the gateway and inference: a pure ASGI middleware observing every request's duration by method, route
TEMPLATE and status (``dosewise.metrics.HTTP_REQUEST_SECONDS``).

The template is the one the router matched (FastAPI leaves it in ``scope["route"]``; Starlette routes such as /docs leave
their endpoint), so ``GET /v1/recommendations/3f2…`` counts as ``/v1/recommendations/{recommendation_id}``: no id or other
request data ever becomes a label. A path no route matches, and a request refused before routing (the gateway's body limit:
413, 415), share the one label ``<unmatched>``. Unknown HTTP methods count as ``OTHER``. Pure ASGI rather than
prometheus-fastapi-instrumentator or a BaseHTTPMiddleware: one wrapped ``send`` and one histogram observation per request, and
no framework import in this shared package.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from dosewise.metrics import HTTP_REQUEST_SECONDS

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNMATCHED = "<unmatched>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._endpoint_paths: dict[Any, str] | None = None  # Starlette routes' endpoints → templates, built on first need
        # Children of the histogram by label values: a dict lookup here costs less than .labels() (lock, tuple, dict)
        # on every request; bounded, since every label is (method set × templates × statuses).
        self._children: dict[tuple[str, str, int], Any] = {}

    def _template(self, scope: Scope) -> str:
        path = getattr(scope.get("route"), "path_format", None)
        if path:
            return str(path)
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return UNMATCHED
        if self._endpoint_paths is None:
            routes = getattr(scope.get("app"), "routes", ())
            self._endpoint_paths = {r.endpoint: r.path_format for r in routes
                                    if getattr(r, "endpoint", None) is not None and getattr(r, "path_format", None)}
        return self._endpoint_paths.get(endpoint, UNMATCHED)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500  # an exception before any response is the 500 the server will send

        async def observing_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, observing_send)
        finally:
            method = scope.get("method", "")
            key = (method if method in METHODS else "OTHER", self._template(scope), status)
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = HTTP_REQUEST_SECONDS.labels(key[0], key[1], str(status))
            child.observe(time.perf_counter() - start)
