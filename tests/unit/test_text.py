"""Free text in the API contracts (dosewise/text.py): control characters are refused at their own field, invisible format
characters removed, compatibility forms normalized (NFKC) — once, stably, in every model that takes free text."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from dosewise.schemas import PATIENT_STATE_EXAMPLE, PatientState
from dosewise.text import clean_text
from dosewise_api.outcomes import Feedback, OutcomeBatchItem

# Every character of these categories the running Python knows (the strategies below draw from them).
CONTROL = st.characters(categories=["Cc"])
FORMAT = st.characters(categories=["Cf"])


def state(**changes: object) -> PatientState:
    return PatientState.model_validate(PATIENT_STATE_EXAMPLE | changes)


def errors(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[tuple[str | int, ...], str]]:
    return [(e["loc"], e["type"]) for e in exc.value.errors()]


def test_a_nul_in_a_co_medication_is_refused_at_that_entry() -> None:
    with pytest.raises(ValidationError) as exc:
        state(co_medications=["metoprolol", "amio\u0000darone"])
    assert errors(exc) == [(("co_medications", 1), "control_character")]
    assert "U+0000 at position 4" in exc.value.errors()[0]["msg"]


def test_each_free_text_field_reports_its_own_control_character() -> None:
    """Field by field: one error per bad entry, at its path, and nothing else."""
    with pytest.raises(ValidationError) as exc:
        state(comorbidities=["atrial\tfibrillation"], co_medications=["ok", "bad\x1b[31m"],
              genotype={"cyp2c19": "*1/*2\n"})
    assert sorted(errors(exc)) == sorted([(("comorbidities", 0), "control_character"),
                                          (("co_medications", 1), "control_character"),
                                          (("genotype", "cyp2c19"), "control_character")])


def test_outcome_text_is_cleaned_like_a_patient_state() -> None:
    with pytest.raises(ValidationError) as exc:
        Feedback(decision="overridden", reason="INR drawn late\u0000")
    assert errors(exc) == [(("reason",), "control_character")]
    assert Feedback(decision="overridden", reason="in\u200bfection\u00a0risk").reason == "infection risk"
    item = {"recommendation_id": "00000000-0000-0000-0000-000000000001", "dose_given": {"value": 5, "unit": "mg"},
            "feedback": {"decision": "accepted"}}
    with pytest.raises(ValidationError) as exc:
        OutcomeBatchItem.model_validate(item | {"idempotency_key": "ward-7\u0000"})
    assert errors(exc) == [(("idempotency_key",), "control_character")]


def test_format_characters_are_removed_and_compatibility_forms_normalized() -> None:
    s = state(co_medications=["\ufeffamio\u200bda\u200drone", "ＡＭＩＯＤＡＲＯＮＥ ２００ ㎎"], comorbidities=["\u202eAF"])
    assert s.co_medications == ["amiodarone", "AMIODARONE 200 mg"]  # as written, in plain letters
    assert s.comorbidities == ["af"]


def test_limits_count_the_cleaned_text_with_the_usual_string_errors() -> None:
    assert state(co_medications=["a" * 64 + "\u200b" * 10]).co_medications == ["a" * 64]
    with pytest.raises(ValidationError) as exc:
        state(co_medications=["a" * 65])
    assert errors(exc) == [(("co_medications", 0), "string_too_long")]
    with pytest.raises(ValidationError) as exc:
        Feedback(decision="overridden", reason="o\u200bk")  # two characters once the invisible one is gone
    assert errors(exc) == [(("reason",), "string_too_short")]


def test_the_published_schema_keeps_the_limits() -> None:
    schema = PatientState.model_json_schema()["properties"]["co_medications"]
    assert schema["items"] == {"maxLength": 64, "type": "string"} and schema["maxItems"] == 50


def test_text_that_is_not_a_string_is_still_a_type_error() -> None:
    with pytest.raises(ValidationError) as exc:
        state(co_medications=[703])
    assert errors(exc) == [(("co_medications", 0), "string_type")]


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=40))
def test_cleaning_is_stable_and_leaves_no_format_or_control_character(text: str) -> None:
    try:
        cleaned = clean_text(text)
    except ValueError:  # PydanticCustomError: text with a control character (or an unpaired surrogate)
        assert any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text)
        return
    assert clean_text(cleaned) == cleaned
    assert unicodedata.is_normalized("NFKC", cleaned)
    assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in cleaned)


@settings(max_examples=200, deadline=None)
@given(prefix=st.text(max_size=10), control=CONTROL, suffix=st.text(max_size=10))
def test_any_control_character_anywhere_is_refused(prefix: str, control: str, suffix: str) -> None:
    with pytest.raises(ValidationError) as exc:
        state(co_medications=[prefix + control + suffix])
    assert errors(exc) == [(("co_medications", 0), "control_character")]


@settings(max_examples=200, deadline=None)
@given(fmt=st.lists(FORMAT, min_size=1, max_size=5), at=st.integers(0, 10))
def test_any_format_character_anywhere_is_removed(fmt: list[str], at: int) -> None:
    name = "amiodarone"
    at = min(at, len(name))
    assert state(co_medications=[name[:at] + "".join(fmt) + name[at:]]).co_medications == [name]
