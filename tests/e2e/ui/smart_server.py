"""A small SMART App Launch authorization server of the test suite's own, on a loopback port: discovery, an authorization
endpoint that approves at once (no login page) and a token endpoint that checks the PKCE S256 verifier (RFC 7636 §4.6). The
access tokens are JWTs of tests/jwt_issuer.py, which the gateway is configured to trust."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.jwt_issuer import TestIssuer

CLIENT_ID = "dosewise-ui-test"


@dataclass
class SmartServer:
    issuer: TestIssuer
    patient: str
    roles: list[str]
    port: int = 0
    codes: dict[str, dict[str, str]] = field(default_factory=dict)  # code → the authorization request
    authorizations: list[dict[str, str]] = field(default_factory=list)
    exchanges: list[dict[str, str]] = field(default_factory=list)  # token requests whose verifier matched

    @property
    def iss(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/fhir/.well-known/smart-configuration":
                    self._json(200, {"authorization_endpoint": f"http://127.0.0.1:{server.port}/authorize",
                                     "token_endpoint": f"http://127.0.0.1:{server.port}/token",
                                     "code_challenge_methods_supported": ["S256"],
                                     "capabilities": ["launch-ehr", "client-public", "context-ehr-patient"]})
                elif url.path == "/authorize":
                    server.authorizations.append(q)
                    ok = (q.get("response_type") == "code" and q.get("client_id") == CLIENT_ID and q.get("aud") == server.iss
                          and q.get("code_challenge_method") == "S256" and q.get("launch") and q.get("state"))
                    if not ok:
                        self._json(400, {"error": "invalid_request"})
                        return
                    code = secrets.token_urlsafe(16)
                    server.codes[code] = q
                    self.send_response(302)
                    self.send_header("Location", q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]}))
                    self.end_headers()
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                form = {k: v[0] for k, v in parse_qs(body).items()}
                asked = server.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if (asked is None or form.get("grant_type") != "authorization_code" or form.get("client_id") != CLIENT_ID
                        or form.get("redirect_uri") != asked["redirect_uri"] or challenge != asked["code_challenge"]):
                    self._json(400, {"error": "invalid_grant"})
                    return
                server.exchanges.append(form)
                self._json(200, {"access_token": server.issuer.token(sub="dr-smart", roles=server.roles),
                                 "token_type": "Bearer", "expires_in": 3600, "scope": asked["scope"],
                                 "patient": server.patient})

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
