"""Reads from a CDS client's FHIR server, for the prefetch keys it did not fill (CDS Hooks 2.0 §FHIR Resource Access,
https://cds-hooks.hl7.org/2.0/#fhir-resource-access): ``GET {fhirServer}/{query}`` with ``fhirAuthorization.access_token``.

The server is the caller's to name, so it is held to rules: https (or plain http on a loopback address only: a test's or a
sidecar's server); with ``DOSEWISE_CDS_FHIR_SERVERS`` set, one of those bases only, and without it never an address of a
private, link-local or reserved network written as an IP (the gateway must not become a way into the hospital's own
network: server-side request forgery); no redirect followed to another origin; a timeout on each read; a bounded answer.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

MAX_ANSWER_BYTES = 8 * 1024 * 1024  # a searchset of 100 observations is ~100 kB; a runaway answer is cut off
MAX_REDIRECTS = 3
FHIR_JSON = "application/fhir+json"


class FetchError(Exception):
    """The data could not be read: the hook answers the spec's 412."""


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _private_ip(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not ip.is_loopback and (ip.is_private or ip.is_link_local or ip.is_reserved or ip.is_multicast
                                   or ip.is_unspecified)


def checked_server(url: object, allowed: Sequence[str] = ()) -> str:
    """``url`` as a base to read from, or FetchError: https, or http on a loopback address; no credentials in it; one of
    the ``allowed`` bases where any are configured, else not a private network's IP literal (module docstring)."""
    if not isinstance(url, str):
        raise FetchError("fhirServer must be a URL")
    parts = urlsplit(url)
    if parts.username or parts.password or not parts.hostname:
        raise FetchError("fhirServer must be an https URL without credentials in it")
    if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(parts.hostname)):
        raise FetchError("fhirServer must be https (plain http only on a loopback address)")
    base = url.rstrip("/") + "/"
    if allowed:
        if not any(base.startswith(a.rstrip("/") + "/") for a in allowed):
            raise FetchError("fhirServer is not one of the FHIR servers this gateway is configured to read from")
    elif _private_ip(parts.hostname):
        raise FetchError("fhirServer is a private network address; configure DOSEWISE_CDS_FHIR_SERVERS to read from it")
    return base


def _origin(url: str) -> tuple[str, str, int | None]:
    p = urlsplit(url)
    return p.scheme, p.hostname or "", p.port


class FhirReader:
    """One client for every read (connections reused across hooks)."""

    def __init__(self, timeout_s: float, allowed: Sequence[str] = ()) -> None:
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), follow_redirects=False)
        self.allowed = tuple(allowed)  # DOSEWISE_CDS_FHIR_SERVERS: the only bases read from, when set

    async def aclose(self) -> None:
        await self._client.aclose()

    async def read(self, base: str, query: str, token: str | None) -> Any:
        """The JSON at ``base + query``: a resource, a Bundle, or None (404/410: no such data)."""
        url = urljoin(base, query)
        headers = {"Accept": FHIR_JSON} | ({"Authorization": f"Bearer {token}"} if token else {})
        for _ in range(MAX_REDIRECTS + 1):
            try:
                async with self._client.stream("GET", url, headers=headers) as resp:
                    if resp.is_redirect:
                        target = urljoin(url, resp.headers.get("location", ""))
                        if _origin(target) != _origin(url):
                            raise FetchError(f"the FHIR server redirected {query.split('?')[0]} to another origin; "
                                             "not followed")
                        url = target
                        continue
                    if resp.status_code in (404, 410):
                        return None
                    if resp.status_code != 200:
                        raise FetchError(f"the FHIR server answered {resp.status_code} to {query.split('?')[0]}")
                    body = bytearray()
                    async for chunk in resp.aiter_bytes():
                        body += chunk
                        if len(body) > MAX_ANSWER_BYTES:
                            raise FetchError(f"the FHIR server's answer to {query.split('?')[0]} is over "
                                             f"{MAX_ANSWER_BYTES // 2**20} MB")
            except httpx.HTTPError as e:
                raise FetchError(f"the FHIR server could not be read ({type(e).__name__})") from None
            try:
                return json.loads(body)
            except ValueError:
                raise FetchError(f"the FHIR server's answer to {query.split('?')[0]} is not JSON") from None
        raise FetchError("the FHIR server redirected too often")

    async def read_many(self, base: str, queries: dict[str, str], token: str | None) -> dict[str, Any]:
        keys = list(queries)
        values = await asyncio.gather(*(self.read(base, queries[k], token) for k in keys))
        return dict(zip(keys, values, strict=True))
