"""The README is the first thing a newcomer runs: its example and its settings table must match the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dosewise.schemas import PATIENT_STATE_EXAMPLE, PatientState
from dosewise.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_opens_with_the_two_commands_and_the_disclaimer() -> None:
    head = README[:2500]
    assert "make run" in head and "make test" in head
    assert "not an autonomous prescriber" in head


def test_curl_example_is_the_openapi_example_and_validates() -> None:
    body = re.search(r"<<'JSON'\n(.*?)\nJSON", README, re.S)
    assert body is not None, "the README's curl example is missing"
    sent = json.loads(body.group(1))
    assert sent == PATIENT_STATE_EXAMPLE
    PatientState.model_validate(sent)


def test_every_environment_variable_is_documented() -> None:
    missing = [f.alias for f in Settings.model_fields.values() if f"`{f.alias}`" not in README]
    assert not missing, f"README lacks: {missing}"
