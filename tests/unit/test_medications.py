"""Co-medications as EHRs write them still reach the rules that read them (the amiodarone guardrail, the IWPC covariates)."""

from __future__ import annotations

import pytest

from dosewise import decision
from dosewise.medications import generics
from dosewise.schemas import PATIENT_STATE_EXAMPLE, PatientState


@pytest.mark.parametrize("entry", ["amiodarone", "Amiodarone HCl 200 mg tablet", "amiodarone hydrochloride",
                                   "Cordarone", "PACERONE 100MG"])
def test_salts_strengths_and_brands_name_the_generic(entry: str) -> None:
    assert "amiodarone" in generics([entry])


def test_a_word_inside_another_word_is_not_a_match() -> None:
    assert "amiodarone" not in generics(["desamiodarone-like compound"]) | generics(["metoprolol succinate"])


@pytest.mark.parametrize("entry", ["Amiodarone HCl 200 mg tablet", "Cordarone"])
def test_the_amiodarone_guardrail_fires_for_what_the_ehr_sends(entry: str) -> None:
    prep = decision.prepare([PatientState.model_validate(PATIENT_STATE_EXAMPLE | {"co_medications": [entry]})])
    assert "amiodarone" in [rule for rule, _ in prep.guard.firings[0]]
    assert prep.view.covariates["amiodarone"][0] == 1.0


def test_an_enzyme_inducer_by_brand_counts() -> None:
    prep = decision.prepare([PatientState.model_validate(PATIENT_STATE_EXAMPLE | {"co_medications": ["Rifadin 600 mg"]})])
    assert prep.view.covariates["enzyme_inducer"][0] == 1.0
