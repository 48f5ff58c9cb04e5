"""Reads from a CDS client's FHIR server, for the prefetch keys it did not fill (CDS Hooks 2.0 §FHIR Resource Access,
https://cds-hooks.hl7.org/2.0/#fhir-resource-access): ``GET {fhirServer}/{query}`` with ``fhirAuthorization.access_token``.

The server is the caller's to name, so it is held to rules: https (or plain http on a loopback address only: a test's or a
sidecar's server); with ``DOSEWISE_CDS_FHIR_SERVERS`` set, one of those bases only, and without it never an address of a
private, link-local or reserved network written as an IP (the gateway must not become a way into the hospital's own
network: server-side request forgery); no redirect followed to another origin; a timeout on each read; a bounded answer.

A search answers a searchset Bundle, perhaps in pages (R4 §3.1.1.5.7 Paging, https://hl7.org/fhir/R4/http.html#paging):
``Bundle.link`` with relation ``next`` is followed, with the same access token, while it stays under the base read from
(its scheme, host and port, and its path below the base's: a ``next`` elsewhere is not read, and said in the answer's
warnings), for at most ``MAX_PAGES`` pages and ``MAX_ENTRIES`` entries per search and ``MAX_ANSWER_BYTES`` in all; what
lies beyond a cap is not read and the warnings say so. A next page that cannot be read (or is gone: 404, 410) fails the
read like the first.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

MAX_ANSWER_BYTES = 8 * 1024 * 1024  # per search, its pages together: 100 observations are ~100 kB; a runaway is cut off
MAX_REDIRECTS = 3
# A prefetch search asks for at most 100 results (dosewise.cds.services); a server paging them by 10 or 20 needs 5-10
# pages. PatientState keeps 500 observations and 1,000 doses: more entries than that are never used.
MAX_PAGES = 10  # per search, the first included
MAX_ENTRIES = 1000  # per search
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


def under(url: str, base: str) -> bool:
    """``url`` lies under ``base`` (same scheme, host and port; its path the base's or below; no credentials): where a
    searchset's ``next`` page may be read from. HAPI pages at the base itself ("…/baseR4?_getpages=…")."""
    u, b = urlsplit(url), urlsplit(base)
    if u.username or u.password or _origin(url) != _origin(base):
        return False
    root = b.path.rstrip("/")
    return u.path == root or u.path.startswith(root + "/")


def next_link(bundle: Any) -> str | None:
    """The ``next`` page of a searchset Bundle, or None."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        return None
    links = bundle.get("link")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None


class FhirReader:
    """One client for every read (connections reused across hooks)."""

    def __init__(self, timeout_s: float, allowed: Sequence[str] = ()) -> None:
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), follow_redirects=False)
        self.allowed = tuple(allowed)  # DOSEWISE_CDS_FHIR_SERVERS: the only bases read from, when set

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _get(self, url: str, what: str, token: str | None, budget: int) -> tuple[Any, int]:
        """The JSON at ``url`` (None: 404/410, no such data) and its size; at most ``budget`` bytes."""
        headers = {"Accept": FHIR_JSON} | ({"Authorization": f"Bearer {token}"} if token else {})
        for _ in range(MAX_REDIRECTS + 1):
            try:
                async with self._client.stream("GET", url, headers=headers) as resp:
                    if resp.is_redirect:
                        target = urljoin(url, resp.headers.get("location", ""))
                        if _origin(target) != _origin(url):
                            raise FetchError(f"the FHIR server redirected {what} to another origin; not followed")
                        url = target
                        continue
                    if resp.status_code in (404, 410):
                        return None, 0
                    if resp.status_code != 200:
                        raise FetchError(f"the FHIR server answered {resp.status_code} to {what}")
                    body = bytearray()
                    async for chunk in resp.aiter_bytes():
                        body += chunk
                        if len(body) > budget:
                            raise FetchError(f"the FHIR server's answer to {what} is over "
                                             f"{MAX_ANSWER_BYTES // 2**20} MB")
            except httpx.HTTPError as e:
                raise FetchError(f"the FHIR server could not be read ({type(e).__name__})") from None
            try:
                return json.loads(body), len(body)
            except ValueError:
                raise FetchError(f"the FHIR server's answer to {what} is not JSON") from None
        raise FetchError("the FHIR server redirected too often")

    async def read(self, base: str, query: str, token: str | None, warnings: list[str] | None = None) -> Any:
        """The JSON at ``base + query``: a resource, a Bundle (a searchset with its pages' entries: module docstring), or
        None (404/410: no such data). What was not read is appended to ``warnings``."""
        what = query.split("?")[0]
        notes = warnings if warnings is not None else []
        current = urljoin(base, query)
        first, used = await self._get(current, what, token, MAX_ANSWER_BYTES)
        url, seen, pages = next_link(first), {current}, 1
        if url is None:
            return first
        entries = [e for e in first.get("entry") or [] if isinstance(e, dict)]
        while url is not None and len(entries) < MAX_ENTRIES:
            url = current = urljoin(current, url)  # R4 writes it absolute; a relative one is the page's
            if not under(url, base):
                notes.append(f"the {what} search's next page lies outside the FHIR server read from "
                             f"({urlsplit(url).scheme}://{urlsplit(url).netloc}); not read, {len(entries)} entries used")
                return self._joined(first, entries)
            if url in seen:
                notes.append(f"the {what} search's next page repeats a page already read; paging stopped")
                return self._joined(first, entries)
            if pages == MAX_PAGES:
                notes.append(f"the {what} search continues beyond {MAX_PAGES} pages; {len(entries)} entries used")
                return self._joined(first, entries)
            seen.add(url)
            page, size = await self._get(url, f"{what} (page {pages + 1})", token, MAX_ANSWER_BYTES - used)
            if page is None:  # a page gone (an expired paging cache) is data missing, not "no data"
                raise FetchError(f"the FHIR server has no page {pages + 1} of {what} any more")
            page = page if isinstance(page, dict) else {}
            used, pages = used + size, pages + 1
            entries += [e for e in page.get("entry") or [] if isinstance(e, dict)]
            url = next_link(page)
        if len(entries) > MAX_ENTRIES or (url is not None and len(entries) == MAX_ENTRIES):
            notes.append(f"the {what} search has more than {MAX_ENTRIES} entries; the first {MAX_ENTRIES} used")
        return self._joined(first, entries[:MAX_ENTRIES])

    @staticmethod
    def _joined(first: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
        """The first page with every page's entries, without its paging links."""
        return {k: v for k, v in first.items() if k not in ("link", "entry")} | {"entry": entries}

    async def read_many(self, base: str, queries: dict[str, str], token: str | None) -> tuple[dict[str, Any], list[str]]:
        """Every query's answer (read at once), and what was not read (``read``)."""
        keys = list(queries)
        notes: list[list[str]] = [[] for _ in keys]
        values = await asyncio.gather(*(self.read(base, queries[k], token, n) for k, n in zip(keys, notes, strict=True)))
        return dict(zip(keys, values, strict=True)), [f"prefetch {k}: {w}" for k, n in zip(keys, notes, strict=True)
                                                      for w in n]
