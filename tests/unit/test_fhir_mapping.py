"""FHIR R4 Bundle → PatientState (dosewise/fhir): what each resource becomes, what is normalized and said, and what is
refused naming the resource. Fixtures: tests/fixtures/fhir/bundles (an anticoagulation clinic's INR series, a T2D patient's
fasting glucose log, and a trimmed Synthea patient on warfarin)."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dosewise.fhir import BundleError, map_bundle
from dosewise.fhir.observations import cyp2c9_diplotype, vkorc1_genotype
from dosewise.fhir.units import GLUCOSE_MG_DL_PER_MMOL_L, ckd_epi_2021
from dosewise.problems import validation_problem
from tests.fhir_bundles import bundles

BUNDLES = Path(__file__).resolve().parents[1] / "fixtures" / "fhir" / "bundles"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def bundle(name: str) -> dict[str, Any]:
    return json.loads((BUNDLES / f"{name}.json").read_text())


def resources(b: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == rtype]


def by_id(b: dict[str, Any], rid: str) -> dict[str, Any]:
    return next(e["resource"] for e in b["entry"] if e["resource"].get("id") == rid)


def errors(b: dict[str, Any], therapy: str | None = None) -> dict[str, str]:
    """field → message of the BundleError the bundle raises (the 422's entries)."""
    with pytest.raises(BundleError) as e:
        map_bundle(b, therapy, NOW)
    return {".".join(str(p) for p in x["loc"]): x["msg"] for x in e.value.errors}


class TestAnticoagulationClinic:
    def test_the_inr_series_and_the_order_become_a_warfarin_state(self) -> None:
        m = map_bundle(bundle("anticoag_inr_series"), None, NOW)
        s = m.state
        assert s.therapy == "warfarin" and s.sex == "female" and s.race == "white"
        assert s.age_years == pytest.approx((NOW.date() - datetime(1959, 3, 14).date()).days / 365.25, abs=0.01)
        assert s.weight.unit == "kg" and s.weight.value == pytest.approx(158 * 0.45359237, abs=1e-3)
        assert s.height.unit == "cm" and s.height.value == pytest.approx(64 * 2.54)
        assert [o.value for o in s.observations] == [1.4, 1.8, 2.2, 2.6], "every INR, oldest first, under either LOINC"
        assert s.observations[-1].time == datetime(2026, 11, 19, 8, 0, tzinfo=UTC)
        assert s.current_dose.value == 5.0 and s.current_dose.unit == "mg"
        assert len(s.doses) == 7 and {d.amount for d in s.doses} == {5.0}
        assert s.therapy_started == datetime(2026, 11, 5, 16, 0, tzinfo=UTC), "the order's authoredOn"
        assert s.genotype is not None and (s.genotype.cyp2c9, s.genotype.vkorc1) == ("*1/*3", "G/A")
        assert s.co_medications == ["amiodarone"], "the interaction table's generic name, from the RxNorm display"
        assert m.patient == "Patient/ac-pt-1042"
        assert m.medication is not None and m.medication["coding"][0]["code"] == "855332"

    def test_a_resource_of_a_type_not_mapped_is_never_parsed(self) -> None:
        b = bundle("anticoag_inr_series")
        claim = next(r for r in resources(b, "Claim"))
        assert claim["note"] == "an unmapped type, not even valid: never parsed"
        b["entry"].append({"resource": {"resourceType": "NoSuchType", "x": [1, {"y": None}]}})
        assert map_bundle(b, None, NOW).state.therapy == "warfarin"

    def test_an_invalid_mapped_resource_is_a_422_naming_its_element(self) -> None:
        b = bundle("anticoag_inr_series")
        by_id(b, "inr-4")["effectiveDateTime"] = "yesterday morning"
        assert "not a valid R4 Observation" in errors(b)["Observation/inr-4.effectiveDateTime"]

    def test_each_normalization_is_in_the_warnings(self) -> None:
        w = "\n".join(map_bundle(bundle("anticoag_inr_series"), None, NOW).warnings)
        assert "MedicationRequest/warf-rx-7.dosageInstruction[0]: read doseAndRate given as an object" in w
        assert "Observation/egfr-1: read eGFR in 'mL/min' as mL/min/1.73 m²" in w
        assert "Observation/inr-3: INR (LOINC 34714-6) has no unit; read as {INR}" in w
        assert "therapy warfarin inferred from the active order MedicationRequest/warf-rx-7" in w

    def test_the_stu3_dose_on_dosage_is_read_as_r4_and_said(self) -> None:
        b = bundle("anticoag_inr_series")
        dosage = by_id(b, "warf-rx-7")["dosageInstruction"][0]
        dosage["doseQuantity"] = dosage.pop("doseAndRate")["doseQuantity"] | {"value": 4}
        m = map_bundle(b, None, NOW)
        assert m.state.current_dose.value == 4.0
        assert any("read doseQuantity directly on Dosage (the STU3 shape)" in x for x in m.warnings)

    def test_a_weekly_regimen_in_two_dosages_is_its_daily_mean(self) -> None:
        b = bundle("anticoag_inr_series")
        order = by_id(b, "warf-rx-7")
        five = copy.deepcopy(order["dosageInstruction"][0])
        five["timing"]["repeat"]["dayOfWeek"] = ["mon", "tue", "wed", "thu", "fri"]
        half = copy.deepcopy(five)
        half["timing"]["repeat"]["dayOfWeek"] = ["sat", "sun"]
        half["doseAndRate"]["doseQuantity"]["value"] = 2.5
        order["dosageInstruction"] = [five, half]
        assert map_bundle(b, None, NOW).state.current_dose.value == pytest.approx((5 * 5 + 2 * 2.5) / 7, abs=1e-4)

    def test_an_order_without_dose_with_an_inr_is_a_422_naming_the_order(self) -> None:
        b = bundle("anticoag_inr_series")
        by_id(b, "warf-rx-7").pop("dosageInstruction")
        b["entry"] = [e for e in b["entry"] if e["resource"]["resourceType"] != "MedicationAdministration"]
        found = errors(b)
        assert found == {"MedicationRequest/warf-rx-7.dosageInstruction":
                         "Warfarin Sodium 5 MG Oral Tablet order has no dose (dosageInstruction[].doseAndRate[].doseQuantity)"}

    def test_no_inr_while_on_warfarin_is_a_422(self) -> None:
        b = bundle("anticoag_inr_series")
        b["entry"] = [e for e in b["entry"] if not e["resource"].get("id", "").startswith("inr-")]
        assert errors(b)["Bundle.entry"] == "no INR (LOINC 6301-6/34714-6/46418-0) in the bundle"

    def test_no_inr_and_no_warfarin_yet_is_the_therapys_start(self) -> None:
        b = bundle("anticoag_inr_series")
        b["entry"] = [e for e in b["entry"] if not e["resource"].get("id", "").startswith(("inr-", "warf-"))]
        m = map_bundle(b, "warfarin", NOW)
        assert m.state.current_dose.value == 0.0 and m.state.observations == [] and m.state.doses == []
        assert any("no INR and no warfarin on record: the decision is the therapy's start" in w for w in m.warnings)

    def test_no_therapy_and_no_order_to_infer_it_from_is_a_422_on_the_query(self) -> None:
        b = bundle("anticoag_inr_series")
        b["entry"] = [e for e in b["entry"] if e["resource"].get("id") != "warf-rx-7"]
        assert "pass ?therapy=warfarin or ?therapy=insulin_t2d" in errors(b)["query.therapy"]

    def test_a_value_patient_state_refuses_is_named_on_its_resource(self) -> None:
        b = bundle("anticoag_inr_series")
        by_id(b, "inr-4")["valueQuantity"]["value"] = 40.0
        assert "physiologically impossible" in next(v for k, v in errors(b).items() if k.startswith("Observation/inr-4"))

    def test_an_observation_about_another_subject_is_not_used(self) -> None:
        b = bundle("anticoag_inr_series")
        by_id(b, "inr-4")["subject"] = {"reference": "Patient/someone-else"}
        m = map_bundle(b, None, NOW)
        assert [o.value for o in m.state.observations] == [1.4, 1.8, 2.2]
        assert any("about another subject" in w and "Observation/inr-4" in w for w in m.warnings)

    def test_no_warning_names_the_patient_by_its_id(self) -> None:
        b = bundle("anticoag_inr_series")
        by_id(b, "inr-4")["subject"] = {"reference": "Patient/someone-else"}
        by_id(b, "ac-pt-1042")["birthDate"] = "1959"
        warnings = map_bundle(b, None, NOW).warnings
        assert any("birthDate 1959 has no day" in w for w in warnings)
        assert not [w for w in warnings if "ac-pt-1042" in w], "warnings are stored; the id only pseudonymized"

    def test_an_active_pregnancy_condition_sets_pregnant(self) -> None:
        b = bundle("anticoag_inr_series")
        b["entry"].append({"resource": {
            "resourceType": "Condition", "id": "preg", "subject": {"reference": "Patient/ac-pt-1042"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "77386006", "display": "Pregnant"}]}}})
        assert map_bundle(b, None, NOW).state.pregnant is True

    def test_two_results_of_one_sample_that_disagree_are_a_422(self) -> None:
        b = bundle("anticoag_inr_series")
        twin = copy.deepcopy(by_id(b, "inr-4")) | {"id": "inr-4-poc"}
        twin["valueQuantity"] = twin["valueQuantity"] | {"value": 3.1}
        b["entry"].append({"resource": twin})
        assert "which is the result?" in errors(b)["Observation/inr-4-poc.value"]


class TestType2Diabetes:
    def test_the_fasting_log_and_the_basal_order_become_an_insulin_state(self) -> None:
        m = map_bundle(bundle("t2d_fasting_glucose"), None, NOW)
        s = m.state
        assert s.therapy == "insulin_t2d" and s.sex == "male" and s.race == "unknown"
        assert [o.kind for o in s.observations] == ["glucose_fasting"] * 5, "1558-6, and 41653-7 named fasting"
        assert s.observations[0].value == pytest.approx(10.4 * GLUCOSE_MG_DL_PER_MMOL_L, abs=1e-3)
        assert s.current_dose.value == 20.0 and s.current_dose.unit == "U"
        assert s.egfr_ml_min_1_73m2 == pytest.approx(ckd_epi_2021(97 / 88.4, 58.5, female=False), abs=0.5)
        assert s.co_medications == ["24 HR Metformin hydrochloride 500 MG Extended Release Oral Table"]

    def test_what_was_read_but_not_used_is_said(self) -> None:
        w = "\n".join(map_bundle(bundle("t2d_fasting_glucose"), None, NOW).warnings)
        assert "read doseQuantity directly on Dosage (the STU3 shape)" in w
        assert "computed from creatinine 1.10 mg/dL (Observation/scr, 2026-11-10) by CKD-EPI 2021" in w
        assert "HbA1c 8.4 % (Observation/a1c, 2026-11-10) read; no policy uses it yet" in w
        assert "1 glucose result(s) not marked fasting were not used" in w

    def test_a_glucose_without_unit_is_refused_naming_what_was_expected(self) -> None:
        b = bundle("t2d_fasting_glucose")
        q = by_id(b, "fpg-22")["valueQuantity"]
        for k in ("unit", "system", "code"):
            q.pop(k)
        assert errors(b) == {"Observation/fpg-22.valueQuantity.unit":
                             "glucose (LOINC 1558-6) has no unit; expected mg/dL or mmol/L"}

    def test_an_insulin_dose_without_unit_is_read_as_units_and_said(self) -> None:
        b = bundle("t2d_fasting_glucose")
        dosage = by_id(b, "glargine-rx")["dosageInstruction"][0]
        dosage["doseQuantity"] = {"value": 18}
        m = map_bundle(b, None, NOW)
        assert m.state.current_dose.value == 18.0
        assert any("dose 18 has no unit; read as U" in w for w in m.warnings)

    def test_no_fasting_glucose_is_a_422_naming_the_codes(self) -> None:
        b = bundle("t2d_fasting_glucose")
        b["entry"] = [e for e in b["entry"] if not e["resource"].get("id", "").startswith("fpg-")]
        assert errors(b)["Bundle.entry"].startswith("no fasting glucose (LOINC 1558-6")


class TestSynthea:
    def test_a_warfarin_order_without_dose_and_no_inr_are_both_named(self) -> None:
        found = errors(bundle("synthea_max_dicki_trimmed"))
        assert found["MedicationRequest/60999897-2bfd-4ac7-91bb-e91c71f54ebc.dosageInstruction"].endswith("has no dose "
                                                                                                         "(dosageInstruction[].doseAndRate[].doseQuantity)")
        assert found["Bundle.entry"] == "no INR (LOINC 6301-6/34714-6/46418-0) in the bundle"

    def test_a_bundle_of_practitioners_and_organizations_is_not_a_patients(self) -> None:
        b = bundle("synthea_max_dicki_trimmed")
        b["entry"] = [e for e in b["entry"] if e["resource"]["resourceType"] in ("Practitioner", "Organization")]
        assert errors(b)["Bundle.entry"] == ("no Patient in the bundle (it holds Organization, Practitioner): a "
                                             "recommendation needs one patient's record")

    def test_a_resource_that_is_not_a_bundle_is_refused(self) -> None:
        assert errors({"resourceType": "Patient", "id": "x"}) == {"(body)": "expected a FHIR R4 Bundle, got 'Patient'"}


class TestGenotypeText:
    @pytest.mark.parametrize(("text", "expected"), [("CYP2C9 *1/*3", "*1/*3"), ("CYP2C9 *3/*1", "*1/*3"),
                                                    ("*2 / *2", "*2/*2"), ("CYP2C9 normal", None)])
    def test_cyp2c9_diplotypes(self, text: str, expected: str | None) -> None:
        assert cyp2c9_diplotype(text) == expected

    @pytest.mark.parametrize(("text", "expected"), [("VKORC1 -1639 G/A", "G/A"), ("VKORC1 -1639G>A A/G", "G/A"),
                                                    ("VKORC1 rs9923231 C/T", "G/A"), ("rs9923231 T/T", "A/A"),
                                                    ("VKORC1 -1639 AA", "A/A"), ("VKORC1 not detected", None)])
    def test_vkorc1_genotypes(self, text: str, expected: str | None) -> None:
        assert vkorc1_genotype(text) == expected


class TestCkdEpi2021:
    def test_the_kidney_foundations_example(self) -> None:
        # kidney.org's CKD-EPI 2021 calculator: creatinine 1.2 mg/dL, 55 years, male → 71 mL/min/1.73 m².
        assert round(ckd_epi_2021(1.2, 55, female=False)) == 71

    def test_below_kappa_the_female_branch(self) -> None:
        assert ckd_epi_2021(0.7, 50, female=True) == pytest.approx(142 * 0.9938**50 * 1.012)


class TestAnyBundle:
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(b=bundles(), therapy=st.sampled_from([None, "warfarin", "insulin_t2d"]))
    def test_is_a_patient_state_or_a_bundle_error_naming_a_field(self, b: dict[str, Any], therapy: str | None) -> None:
        try:
            m = map_bundle(b, therapy, NOW)
        except BundleError as e:
            assert e.errors and all(x["loc"] and x["msg"] for x in e.errors)
            problem = validation_problem(e.errors, ())
            assert problem["status"] == 422 and all(x["field"] for x in problem["errors"])
            json.dumps(problem)  # what errors.py sends
        else:
            assert m.state.therapy in ("warfarin", "insulin_t2d")
            assert m.state.current_dose.value >= 0

    def test_a_creatinine_of_zero_is_refused_not_divided_by(self) -> None:
        b = bundle("t2d_fasting_glucose")
        by_id(b, "scr")["valueQuantity"]["value"] = 0
        assert "physiologically impossible" in errors(b)["Observation/scr.valueQuantity.value"]


class TestDocs:
    def test_the_curl_example_of_docs_fhir_is_the_openapi_example_and_maps(self) -> None:
        from dosewise.fhir.example import FHIR_BUNDLE_EXAMPLE

        doc = (Path(__file__).resolve().parents[2] / "docs" / "fhir.md").read_text()
        body = re.search(r"<<'JSON'[^\n]*\n(.*?)\nJSON", doc, re.S)
        assert body is not None and json.loads(body.group(1)) == FHIR_BUNDLE_EXAMPLE
        s = map_bundle(FHIR_BUNDLE_EXAMPLE, None, NOW).state
        assert (s.therapy, s.current_dose.value, [o.value for o in s.observations]) == ("warfarin", 5.0, [1.6, 1.9, 2.4])


SHARED_SYNTHEA = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "fhir"  # beside the clone (CI's ../shared)


@pytest.mark.skipif(not SHARED_SYNTHEA.is_dir(), reason="../shared/fixtures/fhir is not beside this clone")
class TestFullSyntheaBundles:
    """The three whole Synthea exports (0.5–1.3 MB, Claims and ExplanationOfBenefits included): each is refused naming
    what it lacks, as their README says (no INR, no dose on the orders), never with an unexpected error."""

    @pytest.mark.parametrize(("prefix", "where"), [("Max_Dicki", "MedicationRequest/60999897-2bfd-4ac7-91bb-e91c71f54ebc"),
                                                   ("Dirk_Kuhlman", "MedicationRequest/16df13f2-d839-4f29-abc9-1f9e746d4b6f"),
                                                   ("Fabian_Murray", "query")])
    def test_each_is_a_422_naming_what_it_lacks(self, prefix: str, where: str) -> None:
        b = json.loads(next(SHARED_SYNTHEA.glob(f"{prefix}_*.json")).read_text())
        assert any(field.startswith(where) for field in errors(b))


class TestTherapyOfAMedication:
    @pytest.mark.parametrize(("code", "display", "therapy"), [
        ("11289", "", "warfarin"), ("855332", "", "warfarin"), ("999999", "Jantoven 5 mg tablet", "warfarin"),
        ("274783", "", "insulin_t2d"), ("1670021", "", "insulin_t2d"), ("999999", "Lantus SoloStar pen", "insulin_t2d"),
        ("860975", "Metformin hydrochloride 500 MG", None), ("999999", "insulin lispro", None),
        # Not basal insulins (dosewise/fhir/codes.py): 5856 is insulin unqualified, 253182 regular insulin; an NPH order
        # coded so is still read by its name.
        ("5856", "", None), ("253182", "", None), ("5856", "Humulin N KwikPen", "insulin_t2d")])
    def test_by_rxnorm_code_or_by_name(self, code: str, display: str, therapy: str | None) -> None:
        from fhir.resources.R4B.codeableconcept import CodeableConcept

        from dosewise.fhir.medications import therapy_of

        concept = CodeableConcept.model_validate({"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                              "code": code, **({"display": display} if display else {})}]})
        assert therapy_of(concept) == therapy
