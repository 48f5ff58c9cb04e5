"""Reading a CDS client's FHIR server (dosewise_api/fhir_client.py): a searchset's ``next`` pages are followed with the same
access token, within the base read from (never another host: server-side request forgery) and within the page and entry
caps, and what is not read is said. Against the test suite's FHIR server on a loopback port (tests/fhir_server.py),
paging; a second one stands for "another host" and records whether it was ever asked."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from dosewise_api import fhir_client
from dosewise_api.fhir_client import FetchError, FhirReader, under
from tests.fhir_server import FhirServer, serving

PATIENT = "pt-1"
TOKEN = "ehr-access-token"
QUERY = f"Observation?patient={PATIENT}&code=http://loinc.org|6301-6&_sort=-date&_count=100"


def inrs(n: int) -> list[dict[str, Any]]:
    return [{"resourceType": "Patient", "id": PATIENT}] + [
        {"resourceType": "Observation", "id": f"inr-{i}", "status": "final",
         "code": {"coding": [{"system": "http://loinc.org", "code": "6301-6"}]},
         "subject": {"reference": f"Patient/{PATIENT}"}, "effectiveDateTime": f"2026-11-{i + 1:02d}T08:00:00Z",
         "valueQuantity": {"value": 2.0, "unit": "{INR}"}} for i in range(n)]


def read(server: FhirServer, query: str = QUERY) -> tuple[Any, list[str]]:
    async def go() -> tuple[Any, list[str]]:
        reader, notes = FhirReader(5.0), []
        try:
            return await reader.read(server.url + "/", query, TOKEN, notes), notes
        finally:
            await reader.aclose()

    return asyncio.run(go())


def ids(bundle: Any) -> list[str]:
    return [e["resource"]["id"] for e in bundle["entry"]]


@pytest.fixture
def elsewhere() -> Iterator[FhirServer]:
    """Another host: a server whose every request would be a leak of the access token."""
    with serving(inrs(3)) as other:
        yield other


class TestPaging:
    def test_every_page_is_read_with_the_access_token(self) -> None:
        with serving(inrs(7), token=TOKEN, page_size=2) as fhir:
            bundle, notes = read(fhir)
        assert ids(bundle) == [f"inr-{i}" for i in range(7)] and notes == []
        assert len(fhir.requests) == 4 and {auth for _, auth in fhir.requests} == {f"Bearer {TOKEN}"}
        assert "link" not in bundle and bundle["type"] == "searchset"

    def test_a_single_page_is_the_answer_as_sent(self) -> None:
        with serving(inrs(3), page_size=10) as fhir:
            bundle, notes = read(fhir)
        assert ids(bundle) == ["inr-0", "inr-1", "inr-2"] and len(fhir.requests) == 1 and notes == []

    def test_a_next_page_on_another_host_is_not_read_and_said(self, elsewhere: FhirServer) -> None:
        with serving(inrs(5), token=TOKEN, page_size=2, next_base=elsewhere.url) as fhir:
            bundle, notes = read(fhir)
        assert ids(bundle) == ["inr-0", "inr-1"], "the first page is used"
        assert elsewhere.requests == [], "the token never went to the other host"
        [note] = notes
        assert "next page lies outside the FHIR server read from" in note and elsewhere.url.split("/fhir")[0] in note

    def test_a_next_page_outside_the_base_path_on_the_same_host_is_not_read(self) -> None:
        with serving(inrs(5), page_size=2) as fhir:
            fhir.next_base = fhir.url.replace("/fhir", "/admin")
            bundle, notes = read(fhir)
        assert ids(bundle) == ["inr-0", "inr-1"] and len(fhir.requests) == 1 and "outside" in notes[0]

    def test_paging_stops_at_the_page_cap_and_says_so(self) -> None:
        with serving(inrs(fhir_client.MAX_PAGES + 3), page_size=1) as fhir:
            bundle, notes = read(fhir)
        assert len(fhir.requests) == fhir_client.MAX_PAGES and len(bundle["entry"]) == fhir_client.MAX_PAGES
        assert notes == [f"the Observation search continues beyond {fhir_client.MAX_PAGES} pages; "
                         f"{fhir_client.MAX_PAGES} entries used"]

    def test_paging_stops_at_the_entry_cap_and_says_so(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(fhir_client, "MAX_ENTRIES", 5)
        with serving(inrs(9), page_size=3) as fhir:
            bundle, notes = read(fhir)
        assert ids(bundle) == [f"inr-{i}" for i in range(5)] and len(fhir.requests) == 2
        assert notes == ["the Observation search has more than 5 entries; the first 5 used"]

    @pytest.mark.parametrize(("path", "error"), [("/a/b", "answered 400 to Observation \\(page 2\\)"),
                                                 ("/Gone", "has no page 2 of Observation any more")])
    def test_a_next_page_that_fails_or_is_gone_fails_the_read(self, path: str, error: str) -> None:
        with serving(inrs(5), token=TOKEN, page_size=2) as fhir:
            fhir.next_base = fhir.url + path
            with pytest.raises(FetchError, match=error):
                read(fhir)
            assert len(fhir.requests) == 2

    def test_read_many_names_the_prefetch_key_of_what_was_not_read(self, elsewhere: FhirServer) -> None:
        async def go(url: str) -> tuple[dict[str, Any], list[str]]:
            reader = FhirReader(5.0)
            try:
                return await reader.read_many(url + "/", {"series": QUERY, "patient": f"Patient/{PATIENT}"}, TOKEN)
            finally:
                await reader.aclose()

        with serving(inrs(4), page_size=2, next_base=elsewhere.url) as fhir:
            data, notes = asyncio.run(go(fhir.url))
        assert data["patient"]["id"] == PATIENT and ids(data["series"]) == ["inr-0", "inr-1"]
        assert len(notes) == 1 and notes[0].startswith("prefetch series: the Observation search's next page lies outside")


class TestUnder:
    @pytest.mark.parametrize(("url", "ok"), [
        ("https://ehr.example/fhir/Observation?_offset=20", True),
        ("https://ehr.example/fhir?_getpages=abc&_getpagesoffset=20", True),  # HAPI pages at its base
        ("https://ehr.example/fhirx/Observation", False), ("https://ehr.example/admin/Observation", False),
        ("https://ehr.example:8443/fhir/Observation", False), ("http://ehr.example/fhir/Observation", False),
        ("https://other.example/fhir/Observation", False), ("https://u:p@ehr.example/fhir/Observation", False),
        ("https://169.254.169.254/fhir/Observation", False)])
    def test_what_lies_under_the_base(self, url: str, ok: bool) -> None:
        assert under(url, "https://ehr.example/fhir/") is ok
