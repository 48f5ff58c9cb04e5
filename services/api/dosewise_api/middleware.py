"""ASGI middleware that checks a request as it arrives, before any route, dependency or query sees it.

- Path and query parameters carrying a control character (NUL, CR, LF, U+0080–U+009F …) → 422 naming each parameter. None
  has a use for one, and a NUL reached PostgreSQL, which refused it, and the answer was a 503 logged as a database outage.
- A body over the configured limit → 413, whether it declares its length or arrives chunked; one that is not JSON → 415
  (every body this API takes is JSON; without this a form-encoded body, curl's default, was a 422 "Input should be a valid
  dictionary"). The one exception: the clinician UI's HTML forms (``FORM_PATHS``), form-encoded, size-limited and
  read within the timeout like any body.
- A body that does not arrive in full within the read timeout → 408 and the connection is closed: a client that declared
  1,000 bytes and sent 10 held its connection, and its place in the server, for minutes.
- A JSON body with a key twice in one object → 422 naming each (JSON parsers disagree on which copy counts, and Python's
  keeps the last: ``"pregnant": true, "pregnant": false`` skipped the pregnancy hold), or with a NUL (``\\u0000``) in any
  string → 422 naming the field (PostgreSQL stores no NUL in text or json; the schemas' free-text rules come after this,
  which is the generic backstop for every string, keys included).

The body is read here, in full, once. It is parsed here too, strictly, and handed on: routes of a router declared with
``route_class=ParsedBodyRoute`` receive that parsed body instead of parsing the bytes again (the parse is the costly part: see
bench/strict_json.py). A route of another router still gets every check above and parses the body a second time.
Checking here rather than in a route class covers every path, including those no route declares.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dosewise import problems
from dosewise_api.auth import api_routes

PARSED_BODY_KEY = "dosewise.parsed_body"  # scope key: the body as parsed by RequestGuard
# Unicode's control characters (category Cc): C0, DEL and C1.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NUL_ESCAPE = "\\u0000"  # the only way a NUL can appear in valid JSON (a raw one is refused by the parser)


# The clinician UI (dosewise_api/ui) posts HTML forms; nothing else takes a form body.
FORM_PATHS = ("/ui/",)


def _is_form(content_type: bytes | None) -> bool:
    return (content_type or b"").split(b";", 1)[0].strip().lower() == b"application/x-www-form-urlencoded"


def _is_json(content_type: bytes | None) -> bool:
    media = (content_type or b"").split(b";", 1)[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


async def _send_problem(send: Send, problem: dict[str, Any], close: bool = False) -> None:
    body = json.dumps(problem, ensure_ascii=False, separators=(",", ":")).encode()  # as JSONResponse renders it
    headers = [(b"content-type", problems.PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    if close:  # the rest of the body was never read: the connection cannot carry another request (RFC 9112 §9.6)
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": problem["status"], "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _error(loc: tuple[str | int, ...], msg: str, kind: str) -> dict[str, Any]:
    """One entry in the shape of a pydantic error, for problems.validation_problem."""
    return {"loc": loc, "msg": msg, "type": kind}


def _control_message(value: str, subject: str = "contains") -> str:
    found = _CONTROL.search(value)
    assert found is not None
    return f"{subject} the control character U+{ord(found.group()):04X}; parameters are plain text"


# ---------------------------------------------------------------------------------------------------- path and query
def parameter_errors(scope: Scope, routes: Iterable[BaseRoute]) -> list[dict[str, Any]]:
    """A control character in a path parameter (named as its route names it) or in a query parameter's name or value."""
    errors: list[dict[str, Any]] = []
    path: str = scope.get("path", "")
    if _CONTROL.search(path):
        named: dict[str, str] = {}
        for route in api_routes(routes):
            if m := route.path_regex.match(path):
                named |= {k: v for k, v in m.groupdict().items() if _CONTROL.search(v)}
        # A control character outside any parameter leaves the path matching no route: the router's 404 is the answer.
        errors += [_error(("path", name), _control_message(value), "control_character") for name, value in named.items()]
    query: bytes = scope.get("query_string", b"")
    if query:
        # Decoded as Starlette decodes it for the routes (starlette.datastructures.QueryParams).
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if _CONTROL.search(name):
                errors.append(_error(("query", name), _control_message(name, "its name contains"), "control_character"))
            elif _CONTROL.search(value):
                errors.append(_error(("query", name), _control_message(value), "control_character"))
    return errors


# --------------------------------------------------------------------------------------------------------- JSON body
class _RepeatedKeys(dict[str, Any]):
    """An object in which some key appeared more than once (``repeated``: key → times). Built only on the error path."""

    repeated: dict[str, int]


def parse_strictly(body: bytes) -> tuple[Any, list[dict[str, Any]]]:
    """The body parsed as ``json.loads`` parses it, and an entry per duplicated key and per string (or key) with a NUL.

    Raises what ``json.loads`` raises on a body that is not JSON (ValueError, RecursionError)."""
    repeated = False

    def pairs_to_dict(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeated
        d = dict(pairs)
        if len(d) == len(pairs):
            return d
        repeated = True
        marked = _RepeatedKeys(d)
        marked.repeated = {k: n for k, n in Counter(k for k, _ in pairs).items() if n > 1}
        return marked

    # What json.loads does with bytes (RFC 8259 §8.1 allows only UTF-8 on the wire; json also reads UTF-16/32).
    text = body.decode(json.detect_encoding(body), "surrogatepass")
    parsed = json.loads(text, object_pairs_hook=pairs_to_dict)
    nul = _NUL_ESCAPE in text  # may also be an escaped backslash followed by "u0000": the walk below decides
    return parsed, (_body_errors(parsed, repeated, nul) if repeated or nul else [])


def _body_errors(parsed: Any, repeated: bool, nul: bool) -> list[dict[str, Any]]:
    """Walks the parsed body once, in document order, without recursion (json's own nesting limit is the recursion limit)."""
    errors: list[dict[str, Any]] = []
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), parsed)]
    while stack:
        path, node = stack.pop()
        if nul and path and isinstance(path[-1], str) and "\x00" in path[-1]:
            errors.append(_error(("body", *path), "the key contains a NUL character (U+0000), which cannot be stored",
                                 "nul_character"))
        if isinstance(node, dict):
            if repeated and isinstance(node, _RepeatedKeys):
                errors += [_error(("body", *path, k), f"the key {k!r} appears {n} times in this object; send it once (JSON "
                                  "parsers disagree on which copy counts)", "duplicate_key") for k, n in node.repeated.items()]
            stack += [((*path, k), v) for k, v in reversed(node.items())]
        elif isinstance(node, list):
            stack += [((*path, i), v) for i, v in reversed(list(enumerate(node)))]
        elif nul and isinstance(node, str) and "\x00" in node:
            errors.append(_error(("body", *path), "contains a NUL character (U+0000), which cannot be stored; remove it",
                                 "nul_character"))
    return errors


class ParsedBodyRequest(Request):
    """``json()`` is the body RequestGuard parsed, when it did (FastAPI's route handler calls it for a JSON body)."""

    async def json(self) -> Any:
        if PARSED_BODY_KEY in self.scope:
            return self.scope[PARSED_BODY_KEY]
        return await super().json()


class ParsedBodyRoute(APIRoute):
    """A route that takes its JSON body as RequestGuard parsed it (FastAPI's custom request and route class pattern)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_parsed_body(request: Request) -> Response:
            return await handler(ParsedBodyRequest(request.scope, request.receive))

        return with_parsed_body


# -------------------------------------------------------------------------------------------------------- middleware
class _Refused(Exception):
    def __init__(self, problem: dict[str, Any], close: bool = False) -> None:
        super().__init__(problem["title"])
        self.problem, self.close = problem, close


class _Disconnected(Exception):
    pass


class RequestGuard:
    def __init__(self, app: ASGIApp, max_bytes: int, read_timeout_s: float, routes: list[BaseRoute]) -> None:
        # ``routes`` is the app's own list, which include_router fills after this middleware is added.
        self.app, self.max_bytes, self.read_timeout_s, self.routes = app, max_bytes, read_timeout_s, routes

    def _too_large(self) -> _Refused:
        return _Refused(problems.problem(413, "Request body too large", f"bodies are limited to {self.max_bytes} bytes",
                                         "body-too-large"), close=True)

    async def _read(self, receive: Receive) -> bytes:
        """The whole body, within the read timeout (from the end of the headers to the last byte) and the size limit."""
        chunks: list[bytes] = []
        seen = 0
        try:
            async with asyncio.timeout(self.read_timeout_s):
                while True:
                    msg = await receive()
                    if msg["type"] == "http.disconnect":
                        raise _Disconnected
                    chunk = msg.get("body", b"")
                    seen += len(chunk)
                    if seen > self.max_bytes:
                        raise self._too_large()
                    chunks.append(chunk)
                    if not msg.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            raise _Refused(problems.problem(
                408, "Request Timeout", f"the body did not arrive in full within {self.read_timeout_s:g} s; the connection "
                "is closed, send the request again", "body-timeout"), close=True) from None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            if errors := parameter_errors(scope, self.routes):
                raise _Refused(problems.validation_problem(errors))
            headers = dict(scope.get("headers", []))
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                raise self._too_large()
            if not ((declared is not None and declared != b"0") or b"transfer-encoding" in headers):
                await self.app(scope, receive, send)
                return
            content_type = headers.get(b"content-type")
            if _is_form(content_type) and str(scope.get("path", "")).startswith(FORM_PATHS):
                body = await self._read(receive)  # the clinician UI's forms: size limit and read timeout as for JSON
            else:
                if not _is_json(content_type):
                    raise _Refused(problems.problem(
                        415, "Unsupported Media Type", "send the body as JSON with the header Content-Type: application/json",
                        "unsupported-media-type"))
                body = await self._read(receive)
                try:
                    parsed, errors = parse_strictly(body)
                except (ValueError, RecursionError):
                    pass  # not JSON: the route's own parse says where (a 422 on the body), as it does without this middleware
                else:
                    if errors:
                        raise _Refused(problems.validation_problem(errors))
                    scope[PARSED_BODY_KEY] = parsed
        except _Refused as refused:
            await _send_problem(send, refused.problem, refused.close)
            return
        except _Disconnected:
            return  # the client left while sending: nobody to answer

        replayed = False

        async def replay() -> Message:
            """The body once, as one message; then the server's own receive (which reports a disconnect)."""
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
