"""Per-request cost of finding a JWT's signing key with the keys already cached: the gateway's ``Jwks.key_for``
(dosewise_api.auth) against PyJWT's ``PyJWKClient.get_signing_key``, called directly on the event loop and through
``asyncio.to_thread`` (its fetch is blocking urllib, so on an event loop it has to run in a thread whenever the cached set may
have expired).

Both read the same 3-key JWKS from a local HTTP server once; every timed call is a cache hit, the common case of every request
with a bearer JWT.
Usage: .venv/bin/python bench/jwks_lookup.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from dosewise_api.auth import Jwks


def jwks_document() -> dict[str, Any]:
    keys = [json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa.generate_private_key(65537, 2048).public_key()))
            | {"kid": f"rsa-{i}", "use": "sig", "alg": "RS256"} for i in range(2)]
    keys.append(json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key()))
                | {"kid": "ec-0", "use": "sig", "alg": "ES256"})
    return {"keys": keys}


def serve(body: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the name http.server calls
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


async def per_call_us(lookup: Callable[[str], Awaitable[object]], calls: int) -> float:
    await lookup("ec-0")  # the one fetch, outside the timing
    t = time.perf_counter()
    for _ in range(calls):
        await lookup("ec-0")
    return (time.perf_counter() - t) / calls * 1e6


async def run(calls: int) -> None:
    server = serve(json.dumps(jwks_document()).encode())
    url = f"http://127.0.0.1:{server.server_address[1]}/jwks"
    ours = Jwks(url)
    client = jwt.PyJWKClient(url, lifespan=600)

    async def on_loop(kid: str) -> object:
        return client.get_signing_key(kid)

    async def in_thread(kid: str) -> object:
        return await asyncio.to_thread(client.get_signing_key, kid)

    candidates: dict[str, Callable[[str], Awaitable[object]]] = {
        "dosewise_api.auth.Jwks.key_for": ours.key_for,
        "PyJWKClient.get_signing_key (on the loop)": on_loop,
        "PyJWKClient.get_signing_key (to_thread)": in_thread,
    }
    print(f"µs per cached key lookup, best of 3 × {calls:,}:")
    for name, lookup in candidates.items():
        best = min([await per_call_us(lookup, calls) for _ in range(3)])
        print(f"  {name:44s} {best:7.2f} µs")
    server.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20_000)
    asyncio.run(run(ap.parse_args().calls))


if __name__ == "__main__":
    main()
