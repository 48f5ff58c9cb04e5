"""The clinician UI's dose form: drawn from each therapy pack's own description, turned into a PatientState body, and the
API's validation entries placed back on the form's own rows."""

from __future__ import annotations

from dosewise import problems, units
from dosewise.schemas import PatientState
from dosewise.therapies.registry import PACKS
from dosewise_api.ui import forms

WARFARIN_FORM = {
    "patient_ref": "ward7-bed12", "age_years": "67", "sex": "female", "weight.value": "172", "weight.unit": "[lb_av]",
    "height.value": "165", "height.unit": "cm", "current_dose.value": "5", "current_dose.unit": "mg",
    # rows 0 and 2 filled, row 1 left empty: the body numbers them 0 and 1
    "observations.0.kind": "inr", "observations.0.value": "1,9", "observations.0.unit": "{INR}",
    "observations.0.time": "2026-11-19T08:00",
    "observations.1.kind": "inr", "observations.1.value": "", "observations.1.unit": "{INR}", "observations.1.time": "",
    "observations.2.kind": "inr", "observations.2.value": "2.4", "observations.2.unit": "{INR}",
    "observations.2.time": "2026-11-22T08:00",
    "doses.0.amount": "5", "doses.0.unit": "mg", "doses.0.time": "2026-11-21T20:00",
    "genotype.cyp2c9": "*1/*2", "genotype.vkorc1": "", "co_medications": "metoprolol, amiodarone ",
    "as_of": "2026-11-23T08:00", "pregnant": "false",
}


def test_each_therapys_form_is_its_packs_required_fields_then_the_optional_ones() -> None:
    for pack in PACKS.values():
        form = forms.therapy_form(pack)
        required = [f.name for f in form.fields if f.required]
        described = pack.describe()
        assert required == [n for n in described["required_state_fields"] if n not in ("therapy", "observations", "doses")]
        assert [k for k, _label, _units in form.observation_kinds] == list(described["observation_kinds"])
        assert form.dose_units[0] == described["dose_unit"]
        assert all(f.name in PatientState.model_fields for f in form.fields)


def test_unit_choices_are_the_canonical_unit_then_one_spelling_per_other_factor() -> None:
    assert forms.unit_choices("mass")[:2] == ["kg", "[lb_av]"]  # the UCUM spelling rather than lb or lbs
    assert forms.unit_choices("glucose") == ["mg/dL", "mmol/L"]
    for quantity in units.QUANTITIES:
        choices = forms.unit_choices(quantity)
        factors = [units.spellings(quantity)[u] for u in choices]
        assert choices[0] == units.canonical_unit(quantity) and len(set(factors)) == len(factors)


def test_a_filled_form_is_a_valid_patient_state() -> None:
    body = forms.state_body("warfarin", WARFARIN_FORM)
    state = PatientState.model_validate(body)
    assert [o.value for o in state.observations] == [1.9, 2.4]  # comma decimal read; the empty row left out
    assert state.observations[0].time.isoformat() == "2026-11-19T08:00:00+00:00"  # datetime-local read as UTC
    assert state.genotype is not None and state.genotype.cyp2c9 == "*1/*2" and state.genotype.vkorc1 is None
    assert state.co_medications == ["metoprolol", "amiodarone"] and state.pregnant is False
    assert round(state.weight.value, 1) == 78.0 and state.weight.unit == "kg"


def test_a_bad_value_comes_back_on_the_forms_own_row_with_the_apis_message() -> None:
    form = WARFARIN_FORM | {"observations.2.value": "40", "age_years": "130", "weight.value": "heavy"}
    try:
        PatientState.model_validate(forms.state_body("warfarin", form))
    except ValueError as e:
        problem = problems.validation_problem(e.errors(), ())  # type: ignore[attr-defined]
    errors = forms.renumber(forms.field_errors(problem), form)
    assert "physiologically impossible" in errors["observations.2.value"][0]  # the body's row 1 is the form's row 2
    assert errors["age_years"] == ["Input should be less than or equal to 120"]  # the bound said once, not twice
    assert "weight.value" in errors


def test_rows_left_empty_send_nothing() -> None:
    body = forms.state_body("warfarin", {"patient_ref": "abcd"})
    assert body["observations"] == [] and body["doses"] == [] and "genotype" not in body


def test_only_a_pharmacogenetic_therapy_asks_for_genotype_and_race():
    from dosewise.therapies.registry import get_pack
    from dosewise_api.ui.forms import therapy_form

    warfarin, insulin = therapy_form(get_pack("warfarin")), therapy_form(get_pack("insulin_t2d"))
    assert warfarin.genotype and "race" in [f.name for f in warfarin.fields]
    assert not insulin.genotype and "race" not in [f.name for f in insulin.fields]
    assert "egfr_ml_min_1_73m2" in [f.name for f in insulin.fields]  # what insulin's policy reads stays
