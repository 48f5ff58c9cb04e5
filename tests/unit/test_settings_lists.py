"""The list settings (dosewise.settings.CommaList) read the comma-separated format docs/configuration.md documents, from the
environment as from a keyword, and are shown in that format in the generated table."""

from __future__ import annotations

import pytest

from dosewise.settings import Settings, markdown_table


def test_a_list_setting_reads_commas_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOSEWISE_CORS_ORIGINS", " https://ehr.example , https://b.example,, ")
    monkeypatch.setenv("DOSEWISE_SMART_ISSUERS", "https://ehr.example/fhir/")
    monkeypatch.setenv("DOSEWISE_JWT_ALGORITHMS", "RS256,ES384")
    s = Settings()
    assert s.cors_origins == ("https://ehr.example", "https://b.example")
    assert s.smart_issuers == ("https://ehr.example/fhir",)  # compared without the slash an EHR may or may not send
    assert s.jwt_algorithms == ("RS256", "ES384")
    assert Settings(DOSEWISE_CDS_FHIR_SERVERS="https://a.example/r4,https://b.example").cds_fhir_servers == (
        "https://a.example/r4", "https://b.example")


def test_an_empty_list_setting_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOSEWISE_CORS_ORIGINS", "")
    assert Settings().cors_origins == () and Settings().cds_fhir_servers == ()


def test_the_table_shows_a_list_default_as_it_is_written() -> None:
    rows = {line.split("`")[1]: line for line in markdown_table().splitlines() if line.startswith("| `")}
    assert rows["DOSEWISE_JWT_ALGORITHMS"].endswith("| `RS256,PS256,ES256,EdDSA` |")
    assert rows["DOSEWISE_CORS_ORIGINS"].endswith("| `(empty)` |")
