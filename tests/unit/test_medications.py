"""Co-medications as EHRs write them — in any common spelling, by brand, by RxNorm code, with look-alike letters — still
reach what reads them: the interaction guardrails, the IWPC covariates the policy sees, the twins' clearance; and an entry
nothing can check is named in the answer."""

from __future__ import annotations

import numpy as np
import pytest

from dosewise import decision
from dosewise.medications import generics, ingredients
from dosewise.schemas import PATIENT_STATE_EXAMPLE, PatientState
from dosewise.therapies.clinic import action_index
from dosewise.therapies.warfarin import interactions
from dosewise.therapies.warfarin.guardrails import RAISES_INR_MAX_INCREASE_MG

RAISES, LOWERS = "inr_raising_comedication", "inr_lowering_comedication"


def prepare(*co_medications: str, **changes: object) -> decision.Prepared:
    return decision.prepare([PatientState.model_validate(PATIENT_STATE_EXAMPLE | {"co_medications": list(co_medications)}
                                                         | changes)])


def allowed(prep: decision.Prepared) -> set[str]:
    return {a.id for a, ok in zip(prep.pack.actions, prep.guard.mask[0], strict=True) if ok}


def increases(prep: decision.Prepared) -> dict[str, float]:
    """Each action's regimen change, mg/day (after any hold), for the patient of ``prep``."""
    change = prep.pack.proposed_regimens(prep.view.current_dose)[0] - prep.view.current_dose[0]
    return {a.id: float(c) for a, c in zip(prep.pack.actions, change, strict=True)}


def message(prep: decision.Prepared, rule: str) -> str:
    (found,) = [m for r, m in prep.guard.firings[0] if r == rule]
    return found


@pytest.mark.parametrize("entry", ["amiodarone", "Amiodarone HCl 200 mg tablet", "amiodarone hydrochloride",
                                   "Cordarone", "PACERONE 100MG", "Nexterone IV", "amiodarona", "amiodaron",
                                   "Amiodaronum", "rxnorm:703", "RxNorm 703", "RXCUI: 0703",
                                   "http://www.nlm.nih.gov/research/umls/rxnorm|703", "Amiodarone 200 mg (rxnorm:703)"])
def test_spellings_salts_brands_and_codes_name_the_generic(entry: str) -> None:
    assert ingredients(entry) == {"amiodarone"}


@pytest.mark.parametrize(("entry", "generic"), [
    ("Diflucan 150 mg", "fluconazole"), ("fluconazol", "fluconazole"), ("Flagyl", "metronidazole"),
    ("métronidazole", "metronidazole"), ("metronidazolo", "metronidazole"), ("rifampicin", "rifampin"),
    ("Rifampicine", "rifampin"), ("rifampicina", "rifampin"), ("Rifadin 600 mg", "rifampin"), ("Rimactane", "rifampin"),
    ("Rifater", "rifampin"), ("rxnorm:9384", "rifampin"), ("Tegretol XR", "carbamazepine"), ("carbamazepina", "carbamazepine"),
    ("rxnorm:2002", "carbamazepine"), ("Dilantin", "phenytoin"), ("phénytoïne sodique", "phenytoin"),
    ("fosphenytoin", "phenytoin"), ("fenitoina", "phenytoin"), ("rxnorm:8183", "phenytoin"), ("Coumadin", "warfarin"),
    ("rxnorm:4450", "fluconazole"), ("rxnorm:6922", "metronidazole"),
])
def test_other_drugs_of_the_table_by_brand_spelling_and_code(entry: str, generic: str) -> None:
    assert generic in ingredients(entry)


@pytest.mark.parametrize("entry", ["Bactrim DS", "Septra", "co-trimoxazole", "cotrimoxazol", "TMP-SMX", "SMX/TMP",
                                   "sulfamethoxazole 800 mg / trimethoprim 160 mg", "rxnorm:10831"])
def test_trimethoprim_sulfamethoxazole_is_both_ingredients(entry: str) -> None:
    assert ingredients(entry) == {"sulfamethoxazole", "trimethoprim"}


@pytest.mark.parametrize("entry", [
    "amio\u200bdarone",  # zero-width space (removed by the API's text cleaning, and by the matcher itself)
    "аmiodarone",  # Cyrillic а
    "amiоdarоne",  # Cyrillic о
    "ΑΜΙΟDARONE",  # Greek capitals Α Μ Ι Ο
    "amıodarone",  # Latin dotless ı
    "ＡＭＩＯＤＡＲＯＮＥ",  # fullwidth
    "amio\u034fdarone",  # combining grapheme joiner (a mark, not a format character)
    "amio\u3164darone",  # Hangul filler: a letter of no script we read, so a gap between two words written together
    "amio-darone", "AMIO DARONE",
])
def test_look_alikes_and_invisible_breaks_do_not_hide_a_drug(entry: str) -> None:
    assert ingredients(entry) == {"amiodarone"}


def test_a_word_inside_another_word_is_not_a_match() -> None:
    assert "amiodarone" not in generics(["desamiodarone-like compound"]) | generics(["metoprolol succinate"])
    assert ingredients("rxnorm:7030") == frozenset() and ingredients("703") == frozenset()  # a code says it is one


@pytest.mark.parametrize("entry", ["Amiodarone HCl 200 mg tablet", "Cordarone", "amio\u200bdarone", "аmiodarone",
                                   "amiodarona", "amiodaron", "rxnorm:703"])
def test_the_amiodarone_guardrail_fires_for_what_the_ehr_sends(entry: str) -> None:
    prep = prepare(entry)
    assert "amiodarone" in message(prep, RAISES)
    assert prep.view.covariates["amiodarone"][0] == 1.0
    change = increases(prep)  # the README patient is on 5 mg/day: +10 % is +0.5 mg/day, +15 % is +0.71
    assert max(change[a] for a in allowed(prep)) == pytest.approx(RAISES_INR_MAX_INCREASE_MG)
    assert allowed(prep) == {a for a, c in change.items() if c <= RAISES_INR_MAX_INCREASE_MG + 1e-9}  # the rest stay open
    assert {"-20%", "-10%", "-7.5%", "+7.5%", "+10%"} <= allowed(prep)


@pytest.mark.parametrize(("entry", "named"), [("Diflucan", "fluconazole"), ("Flagyl 500 mg", "metronidazole"),
                                              ("Bactrim DS", "trimethoprim-sulfamethoxazole")])
def test_every_inr_raising_drug_limits_increases_and_is_named(entry: str, named: str) -> None:
    prep = prepare(entry)
    assert f"Co-medication {named} (" in message(prep, RAISES) and "raises INR" in message(prep, RAISES)
    assert not {"+15%", "+20%"} & allowed(prep) and {"+7.5%", "+10%"} <= allowed(prep)  # 5 mg/day: +0.71, +1; +0.5
    assert prep.view.covariates["amiodarone"][0] == 0.0  # the IWPC covariate is amiodarone's alone


def test_two_inr_raising_drugs_are_both_named() -> None:
    text = message(prepare("amiodarone", "fluconazole"), RAISES)
    assert text.startswith("Co-medications amiodarone and fluconazole (CYP2C9 inhibition) raise INR")


@pytest.mark.parametrize("entry", ["Rifadin 600 mg", "rifampicin", "Tegretol", "phenytoin sodium"])
def test_an_inducer_sets_the_iwpc_covariate_and_blocks_decreases_while_inr_is_not_high(entry: str) -> None:
    prep = prepare(entry)  # the README patient: latest INR 2.4
    assert prep.view.covariates["enzyme_inducer"][0] == 1.0
    assert "lowers INR" in message(prep, LOWERS)
    # The helpful increases stay open, and the holds (each then lowers the weekly dose: the safe fallback)
    assert allowed(prep) == {"hold2-15%", "hold2-12.5%", "hold1-10%", "keep", "+7.5%", "+10%", "+15%", "+20%"}


def test_above_the_target_a_decrease_stays_open_with_an_inducer() -> None:
    high = [*PATIENT_STATE_EXAMPLE["observations"][:-1], PATIENT_STATE_EXAMPLE["observations"][-1] | {"value": 3.6}]
    prep = prepare("rifampicin", observations=high)
    assert LOWERS not in [r for r, _ in prep.guard.firings[0]]
    assert {"-20%", "-10%", "-7.5%"} <= allowed(prep)


def test_the_iwpc_features_are_computed_from_the_table_and_unchanged_for_the_readme_patient() -> None:
    """The policy reads ``amiodarone`` and ``enzyme_inducer``: amiodarone for amiodarone only, the inducer for the three
    IWPC inducers; nothing else of the table moves a feature."""
    names = [f.name for f in prepare().pack.feature_specs]
    amio, inducer = names.index("amiodarone"), names.index("enzyme_inducer")
    base = prepare("metoprolol").features[0]
    for entry, expect in [("amiodarone", (1.0, 0.0)), ("rifampin", (0.0, 1.0)), ("carbamazepine", (0.0, 1.0)),
                          ("phenytoin", (0.0, 1.0)), ("fluconazole", (0.0, 0.0)), ("metronidazole", (0.0, 0.0)),
                          ("Bactrim", (0.0, 0.0))]:
        f = prepare(entry).features[0]
        assert (f[amio], f[inducer]) == expect, entry
        if expect == (0.0, 0.0):
            np.testing.assert_array_equal(f, base)
    import onnxruntime as ort

    from tests.unit.test_shipped_policies import POLICY_DIR

    assert base.shape == (len(names),)  # the pack's feature spec, what a network trained for the pack reads
    for onnx in sorted((POLICY_DIR / "warfarin").glob("*/policy.onnx")):  # none ships until one passes the gate
        (width,) = ort.InferenceSession(str(onnx)).get_inputs()[0].shape[1:]
        assert len(names) == width, onnx  # a shipped ONNX policy's input


def test_an_entry_nothing_checks_is_named_in_the_warnings() -> None:
    prep = prepare("Amiodarone 200 mg", "xyzzolol 5 mg", "trimethoprim", "rxnorm:999999")
    d = decision.decide(prep, 0, int(np.flatnonzero(prep.guard.mask[0])[0]))
    unchecked = [w for w in d.warnings if w.startswith("Co-medication")]
    assert unchecked == [f"Co-medication '{e}' was not recognized; interactions with it were not checked."
                         for e in ("xyzzolol 5 mg", "trimethoprim", "rxnorm:999999")]


def test_known_entries_and_other_therapies_add_no_co_medication_warning() -> None:
    prep = prepare("Cordarone", "Coumadin 5 mg")
    keep = action_index(prep.pack, "keep")
    assert not [w for w in decision.decide(prep, 0, keep).warnings if w.startswith("Co-medication")]
    from dosewise.schemas import INSULIN_STATE_EXAMPLE

    insulin = decision.prepare([PatientState.model_validate(INSULIN_STATE_EXAMPLE | {"co_medications": ["metformin"]})])
    assert insulin.comedication_warnings == ((),)  # the insulin pack reads no co-medication (base.TherapyPack)


def test_the_twins_clearance_reads_the_table() -> None:
    """Hamberg CL × each drug's factor: amiodarone's 0.70 (warfarin/model.py), the inducers' above 1, the inhibitors' below."""
    def factor(entry: str) -> float:
        return float(interactions.clearance_factor(prepare(entry).view.covariates)[0])

    assert factor("metoprolol") == 1.0 and factor("amiodarone") == pytest.approx(0.70)
    assert all(factor(e) < 1.0 for e in ("fluconazole", "metronidazole", "Bactrim"))
    assert all(factor(e) > 1.0 for e in ("rifampin", "carbamazepine", "phenytoin"))
    assert factor("rifampin") > factor("carbamazepine") == pytest.approx(1.44, abs=0.01)  # IWPC coefficient at 5 mg/day
