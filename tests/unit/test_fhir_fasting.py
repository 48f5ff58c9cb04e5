"""Fasting glucose (dosewise/fhir/fasting.py): a glucose counts as fasting where its code, its name or a fasting qualifier
says so (a 49541-6 component, its specimen's fastingStatus, a 49541-6 Observation of its order), and a qualifier saying
"not fasting" wins. Built on the T2D fixture: glu-random (2339-0, 214 mg/dL at 2026-11-10T13:30Z) is not marked fasting,
fpg-16 (1558-6, 10.4 mmol/L) is by its code."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.observation import Observation

from dosewise.fhir import map_bundle
from dosewise.fhir.fasting import answer

BUNDLES = Path(__file__).resolve().parents[1] / "fixtures" / "fhir" / "bundles"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
RANDOM_AT = datetime(2026, 11, 10, 13, 30, tzinfo=UTC)
FPG16_AT = datetime(2026, 11, 16, 7, 0, tzinfo=UTC)
FPG18_AT = datetime(2026, 11, 18, 7, 0, tzinfo=UTC)  # 41653-7 whose text says "Fasting glucose, meter"
LOINC = "http://loinc.org"
V2_0136 = "http://terminology.hl7.org/CodeSystem/v2-0136"
V2_0916 = "http://terminology.hl7.org/CodeSystem/v2-0916"


def bundle() -> dict[str, Any]:
    return json.loads((BUNDLES / "t2d_fasting_glucose.json").read_text())


def by_id(b: dict[str, Any], rid: str) -> dict[str, Any]:
    return next(e["resource"] for e in b["entry"] if e["resource"].get("id") == rid)


def fasting_times(b: dict[str, Any]) -> set[datetime]:
    return {o.time for o in map_bundle(b, "insulin_t2d", NOW).state.observations}


def status(value: dict[str, Any]) -> dict[str, Any]:
    """A 49541-6 "Fasting status - Reported" element (component, or an Observation's body) with its value[x]."""
    return {"code": {"coding": [{"system": LOINC, "code": "49541-6", "display": "Fasting status - Reported"}]}, **value}


def yes_no(code: str, system: str = V2_0136) -> dict[str, Any]:
    return {"valueCodeableConcept": {"coding": [{"system": system, "code": code}]}}


def status_observation(rid: str, value: dict[str, Any], **links: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": rid, "status": "final", **status(value),
            "subject": {"reference": "urn:uuid:5d0c2d7e-81f4-4b5e-9a57-t2d000000412"}, **links}


def add(b: dict[str, Any], resource: dict[str, Any]) -> None:
    b["entry"].append({"resource": resource})


class TestAComponent:
    def test_fasting_status_yes_marks_an_unmarked_glucose_fasting(self) -> None:
        b = bundle()
        assert RANDOM_AT not in fasting_times(b)
        by_id(b, "glu-random")["component"] = [status(yes_no("Y"))]
        s = map_bundle(b, "insulin_t2d", NOW).state
        assert RANDOM_AT in {o.time for o in s.observations}
        assert next(o.value for o in s.observations if o.time == RANDOM_AT) == 214.0

    def test_no_marks_a_1558_6_result_not_fasting_and_says_so(self) -> None:
        b = bundle()
        by_id(b, "fpg-16")["component"] = [status(yes_no("N"))]
        m = map_bundle(b, "insulin_t2d", NOW)
        assert FPG16_AT not in {o.time for o in m.state.observations}
        assert any(w.startswith("Observation/fpg-16: ") and "its code (LOINC 1558-6) say(s) fasting, component[0] "
                   "(LOINC 49541-6) not fasting: read as not fasting" in w for w in m.warnings), m.warnings

    @pytest.mark.parametrize("value", [{"valueBoolean": False}, yes_no("LA32-8", LOINC), {"valueString": "No"},
                                       yes_no("NF", V2_0916)])
    def test_every_no_answer_wins_over_a_fasting_name(self, value: dict[str, Any]) -> None:
        b = bundle()
        assert FPG18_AT in fasting_times(b)
        by_id(b, "fpg-18")["component"] = [status(value)]
        assert FPG18_AT not in fasting_times(b)


class TestTheSpecimen:
    def specimen(self, fasting: dict[str, Any]) -> dict[str, Any]:
        return {"resourceType": "Specimen", "id": "s1", "collection": {"collectedDateTime": "2026-11-10T13:30:00Z",
                                                                      **fasting}}

    def test_a_contained_specimen_fasting_f_marks_it_fasting(self) -> None:
        b = bundle()
        glucose = by_id(b, "glu-random")
        glucose["contained"] = [self.specimen({"fastingStatusCodeableConcept": {"coding": [{"system": V2_0916,
                                                                                            "code": "F"}]}})]
        glucose["specimen"] = {"reference": "#s1"}
        assert RANDOM_AT in fasting_times(b)

    @pytest.mark.parametrize(("hours", "fasting"), [(10, True), (8, True), (2, False)])
    def test_a_bundle_specimen_fasting_duration_of_8_hours_or_more_is_fasting(self, hours: int, fasting: bool) -> None:
        b = bundle()
        add(b, self.specimen({"fastingStatusDuration": {"value": hours, "unit": "h", "system": "http://unitsofmeasure.org",
                                                        "code": "h"}}))
        for rid in ("glu-random", "fpg-16"):
            by_id(b, rid)["specimen"] = {"reference": "https://ehr.example.org/fhir/Specimen/s1"}
        times = fasting_times(b)
        assert (RANDOM_AT in times) is fasting and (FPG16_AT in times) is fasting

    def test_not_asked_says_nothing(self) -> None:
        b = bundle()
        add(b, self.specimen({"fastingStatusCodeableConcept": {"coding": [{"system": V2_0916, "code": "NG"}]}}))
        by_id(b, "glu-random")["specimen"] = {"reference": "Specimen/s1"}
        by_id(b, "fpg-16")["specimen"] = {"reference": "Specimen/s1"}
        times = fasting_times(b)
        assert RANDOM_AT not in times and FPG16_AT in times


class TestAnObservationOfTheSameOrder:
    def test_the_r4_examples_order_with_a_contained_fasting_status_in_supporting_info(self) -> None:
        # The shape of R4's servicerequest-example-lipid: the order carries the ask-at-order-entry answer.
        b = bundle()
        add(b, {"resourceType": "ServiceRequest", "id": "glu-order", "status": "completed", "intent": "order",
                "contained": [status_observation("fasting", yes_no("Y"))],
                "code": {"text": "Glucose"}, "subject": {"reference": "Patient/t2d-pt-0412"},
                "supportingInfo": [{"reference": "#fasting", "display": "Fasting status"}]})
        by_id(b, "glu-random")["basedOn"] = [{"reference": "ServiceRequest/glu-order"}]
        assert RANDOM_AT in fasting_times(b)

    def test_a_fasting_status_observation_sharing_the_order_says_not_fasting(self) -> None:
        b = bundle()
        add(b, status_observation("aoe-1", yes_no("N"), basedOn=[{"reference": "ServiceRequest/lab-77"}]))
        by_id(b, "fpg-16")["basedOn"] = [{"reference": "ServiceRequest/lab-77"}]
        assert FPG16_AT not in fasting_times(b)

    def test_one_sharing_the_specimen_or_named_in_has_member(self) -> None:
        b = bundle()
        add(b, status_observation("aoe-2", {"valueBoolean": True}, specimen={"reference": "Specimen/tube-9"}))
        add(b, status_observation("aoe-3", {"valueString": "Yes, fasting > 8 hrs"}))
        by_id(b, "glu-random")["specimen"] = {"reference": "Specimen/tube-9"}
        assert RANDOM_AT in fasting_times(b)
        b = bundle()
        add(b, status_observation("aoe-3", {"valueString": "Yes, fasting > 8 hrs"}))
        by_id(b, "glu-random")["hasMember"] = [{"reference": "Observation/aoe-3"}]
        assert RANDOM_AT in fasting_times(b)

    def test_an_unrelated_fasting_status_says_nothing(self) -> None:
        b = bundle()
        add(b, status_observation("aoe-4", yes_no("Y"), basedOn=[{"reference": "ServiceRequest/other"}]))
        assert RANDOM_AT not in fasting_times(b)

    def test_an_invalid_order_is_passed_over_with_a_warning(self) -> None:
        b = bundle()
        add(b, {"resourceType": "ServiceRequest", "id": "broken", "status": "no-such-status"})
        m = map_bundle(b, "insulin_t2d", NOW)
        assert any(w.startswith("ServiceRequest/broken: not a valid R4 ServiceRequest") for w in m.warnings)
        assert len(m.state.observations) == 5


class TestTheName:
    @pytest.mark.parametrize("text", ["Glucose, non-fasting", "Glucose not fasting", "Nonfasting glucose"])
    def test_a_name_saying_non_fasting_is_not_fasting(self, text: str) -> None:
        b = bundle()
        assert FPG18_AT in fasting_times(b)
        by_id(b, "fpg-18")["code"]["text"] = text
        assert FPG18_AT not in fasting_times(b)

    def test_a_v2_local_code_displayed_fasting_is_fasting(self) -> None:
        b = bundle()
        by_id(b, "glu-random")["code"]["coding"].append({"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.768282",
                                                          "code": "GLUF", "display": "GLUCOSE FASTING"})
        assert RANDOM_AT in fasting_times(b)


class TestAnswers:
    @pytest.mark.parametrize(("value", "says"), [
        (yes_no("Y"), True), (yes_no("N"), False), (yes_no("Y", "http://hl7.org/fhir/v2/0136"), True),
        (yes_no("LA33-6", LOINC), True), (yes_no("LA32-8", LOINC), False), (yes_no("F", V2_0916), True),
        (yes_no("NF", "http://terminology.hl7.org/ValueSet/v2-0916"), False), (yes_no("NG", V2_0916), None),
        (yes_no("LA4489-6", LOINC), None), ({"valueBoolean": True}, True), ({"valueString": "n"}, False),
        ({"valueString": "not fasting"}, False), ({"valueString": "unknown"}, None),
        ({"valueCodeableConcept": {"text": "Patient fasted overnight"}}, True)])
    def test_what_a_fasting_status_answers(self, value: dict[str, Any], says: bool | None) -> None:
        o = Observation.model_validate(status_observation("x", copy.deepcopy(value)))
        assert answer(o) is says
