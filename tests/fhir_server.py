"""A small FHIR R4 server of the test suite's own, on a loopback port: it serves the resources of fixture bundles and
answers the searches of the CDS Services' prefetch templates (``patient``, ``code`` with ``system|code`` lists, ``status``,
``_count``; ``_sort`` is accepted and ignored: the mapping takes the latest value wherever it is). Every request is
recorded with its Authorization header, so a test can check the access token was sent.

With ``page_size`` it pages its searchsets as R4 does (https://hl7.org/fhir/R4/http.html#paging): ``page_size`` entries a
page and a ``Bundle.link`` ``next`` (an absolute URL, its place in ``_offset``) while more remain; ``next_base`` writes
those links on another base (a misbehaving or hostile server sending the client elsewhere).

Not a FHIR server for anything else: no chained search, no writes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit


@dataclass
class FhirServer:
    resources: list[dict[str, Any]]
    token: str | None = None  # the access token it requires (None: any)
    redirect_to: str | None = None  # answer every request with a redirect there (a misbehaving server)
    page_size: int | None = None  # entries per searchset page (None: one page)
    next_base: str | None = None  # the base its next links point to (None: its own)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path?query, Authorization)
    url: str = ""

    def search(self, rtype: str, query: dict[str, list[str]]) -> dict[str, Any]:
        patient = (query.get("patient") or query.get("subject") or [None])[0]
        wanted = {c.split("|")[-1] for v in query.get("code", []) for c in v.split(",")}
        statuses = {s for v in query.get("status", []) for s in v.split(",")}
        found = []
        for r in self.resources:
            if r.get("resourceType") != rtype:
                continue
            if patient and (r.get("subject") or {}).get("reference") not in (patient, f"Patient/{patient}"):
                continue
            if wanted and not wanted & {c.get("code") for c in (r.get("code") or {}).get("coding", [])}:
                continue
            if statuses and r.get("status") not in statuses:
                continue
            found.append(r)
        found = found[:int((query.get("_count") or ["1000"])[0])]
        offset = int((query.get("_offset") or ["0"])[0])
        size = self.page_size or len(found) or 1
        page: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(found),
                                "entry": [({"fullUrl": f"{self.url}/{rtype}/{r.get('id')}"} if self.url else {})
                                          | {"resource": r, "search": {"mode": "match"}}
                                          for r in found[offset:offset + size]]}
        if offset + size < len(found):
            rest = {k: v[0] for k, v in query.items() if k != "_offset"} | {"_offset": str(offset + size)}
            page["link"] = [{"relation": "next", "url": f"{self.next_base or self.url}/{rtype}?{urlencode(rest)}"}]
        return page

    def read(self, rtype: str, rid: str) -> dict[str, Any] | None:
        return next((r for r in self.resources if r.get("resourceType") == rtype and r.get("id") == rid), None)


def _handler(server: FhirServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: object | None = None, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            auth = self.headers.get("Authorization")
            server.requests.append((self.path, auth))
            if server.redirect_to is not None:
                return self._send(302, headers={"Location": server.redirect_to + self.path})
            if server.token is not None and auth != f"Bearer {server.token}":
                return self._send(401, {"resourceType": "OperationOutcome", "issue": [{"severity": "error",
                                                                                       "code": "login"}]})
            parts = urlsplit(self.path)
            segments = [s for s in parts.path.split("/") if s][1:]  # after /fhir
            if len(segments) == 2:
                found = server.read(*segments)
                return self._send(200, found) if found is not None else self._send(404, {
                    "resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]})
            if len(segments) == 1:
                return self._send(200, server.search(segments[0], parse_qs(parts.query)))
            return self._send(400, {"resourceType": "OperationOutcome", "issue": [{"severity": "error",
                                                                                   "code": "not-supported"}]})

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The gateway reads the prefetch searches at once: the default listen backlog of 5 dropped connections past it
    # (the client's SYN retried a second later: seen as 1 s hooks in bench/cds_hooks.py).
    request_queue_size = 64


@contextmanager
def serving(resources: list[dict[str, Any]], token: str | None = None, redirect_to: str | None = None,
            page_size: int | None = None, next_base: str | None = None) -> Iterator[FhirServer]:
    """The server on a free loopback port, its base URL in ``.url`` (…/fhir), stopped afterwards."""
    server = FhirServer(resources, token, redirect_to, page_size, next_base)
    httpd = _Server(("127.0.0.1", 0), _handler(server))
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}/fhir"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
