"""The README is the first thing a newcomer runs: its example and its settings table must match the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dosewise.schemas import PATIENT_STATE_EXAMPLE, PatientState
from dosewise.settings import Settings, markdown_table

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_opens_with_the_two_commands_and_the_disclaimer() -> None:
    head = README[:2500]
    assert "make run" in head and "make test" in head
    assert "not an autonomous prescriber" in head


def test_curl_example_is_the_openapi_example_and_validates() -> None:
    body = re.search(r"<<'JSON'[^\n]*\n(.*?)\nJSON", README, re.S)
    assert body is not None, "the README's curl example is missing"
    sent = json.loads(body.group(1))
    assert sent == PATIENT_STATE_EXAMPLE
    PatientState.model_validate(sent)


def test_the_configuration_page_is_the_table_the_settings_generate() -> None:
    """Every setting documented, with its current description and default: regenerate with `python -m dosewise.settings`."""
    page = (ROOT / "docs" / "configuration.md").read_text()
    assert markdown_table() in page, "docs/configuration.md is stale: paste `.venv/bin/python -m dosewise.settings` into it"
    missing = [f.alias for f in Settings.model_fields.values() if f"`{f.alias}`" not in page]
    assert not missing, f"docs/configuration.md lacks: {missing}"


def test_the_readme_stays_a_users_page_and_its_links_resolve() -> None:
    assert len(README.splitlines()) <= 250
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), f"README links to a missing {target}"
