"""Issue 24, point 2, against real processes: the amiodarone guardrail is no longer bypassed by how the name is written.

Before, ``amio\\u200bdarone``, ``аmiodarone`` (Cyrillic а), ``amiodarona`` and ``amiodaron`` passed as unknown words and the
warfarin policy answered +2 mg/day for this patient (INR 1.3–1.5) with no guardrail and no warning; ``amio\\u0000darone``
did the same on SQLite. Now the first four fire the guardrail the plain name fires, the NUL is a 422 at that entry, and
an entry nothing can check is named in the warnings, for one patient and in a batch.
"""

from __future__ import annotations

import copy

import httpx
import pytest

from dosewise.schemas import PATIENT_STATE_EXAMPLE
from tests.e2e.conftest import Stack

RULE = "inr_raising_comedication"
OBFUSCATED = ["amio\u200bdarone", "\u0430miodarone", "amiodarona", "amiodaron"]


def low_inr(**changes: object) -> dict:
    """The README patient (5 mg/day) with INRs of 1.2, 1.3, 1.4: the warfarin guideline's own choice is +15 % (Aurora,
    INR < 1.5), +0.71 mg/day, above the amiodarone cap of 0.5."""
    body = copy.deepcopy(PATIENT_STATE_EXAMPLE)
    body["observations"] = [o | {"value": v} for o, v in zip(body["observations"], (1.2, 1.3, 1.4), strict=True)]
    return body | changes


def recommend(stack: Stack, body: dict) -> httpx.Response:
    return httpx.post(f"{stack.api}/v1/recommendations", json=body, headers=stack.clinician_headers, timeout=30)


def allowed(rec: dict) -> set[str]:
    return {a["action"] for a in rec["action_values"] if a["allowed"]}


def test_without_amiodarone_large_increases_are_open(stack: Stack) -> None:
    """The control: nothing limits the increase for this patient without the drug."""
    rec = recommend(stack, low_inr()).json()
    assert RULE not in [g["rule"] for g in rec["guardrails"]]
    assert {"+15%", "+20%"} <= allowed(rec)  # +0.71 and +1 mg/day


@pytest.mark.parametrize("entry", ["amiodarone", *OBFUSCATED], ids=["plain", "zero-width", "cyrillic", "es", "de"])
def test_every_spelling_fires_the_guardrail(stack: Stack, entry: str) -> None:
    r = recommend(stack, low_inr(co_medications=[entry]))
    assert r.status_code == 200, r.text
    rec = r.json()
    (message,) = [g["message"] for g in rec["guardrails"] if g["rule"] == RULE]
    assert "amiodarone" in message and "0.5 mg/day" in message
    assert not {"+15%", "+20%"} & allowed(rec) and {"+7.5%", "+10%"} <= allowed(rec)  # +0.36 and +0.5 mg/day stay
    assert rec["recommended_dose"]["value"] <= rec["current_dose"]["value"] + 0.5
    assert not [w for w in rec["warnings"] if "not recognized" in w]


def test_a_nul_is_a_422_at_that_entry(stack: Stack) -> None:
    """The gateway's body check refuses a NUL anywhere (``nul_character``); every other control character is refused by
    the contract's text type (``control_character``, also in inference): either way at that entry's path."""
    for bad, kinds in (("amio\u0000darone", {"nul_character", "control_character"}), ("amio\u001bdarone", {"control_character"})):
        r = recommend(stack, low_inr(co_medications=["metoprolol", bad]))
        assert r.status_code == 422, r.text
        (err,) = r.json()["errors"]
        assert err["field"] == "co_medications.1" and err["type"] in kinds, err


def test_an_unknown_drug_is_named_in_the_warnings_of_a_single_and_a_batch(stack: Stack) -> None:
    expected = "Co-medication 'Xyzzolol 5 mg' was not recognized; interactions with it were not checked."
    rec = recommend(stack, low_inr(co_medications=["Xyzzolol 5 mg", "Cordarone"])).json()
    assert expected in rec["warnings"] and RULE in [g["rule"] for g in rec["guardrails"]]
    batch = {"patients": [low_inr(patient_ref="batch-comed-1", co_medications=["Xyzzolol 5 mg"]),
                          low_inr(patient_ref="batch-comed-2", co_medications=["metoprolol"]),
                          low_inr(patient_ref="batch-comed-3", co_medications=["Diflucan"])]}
    r = httpx.post(f"{stack.api}/v1/recommendations:batch", json=batch, headers=stack.clinician_headers, timeout=30)
    assert r.status_code == 200, r.text
    first, second, third = r.json()["data"]
    assert expected in first["warnings"]
    assert "Co-medication 'metoprolol' was not recognized; interactions with it were not checked." in second["warnings"]
    assert not [w for w in third["warnings"] if "not recognized" in w]
    assert "fluconazole" in next(g["message"] for g in third["guardrails"] if g["rule"] == RULE)
