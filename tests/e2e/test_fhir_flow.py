"""FHIR R4 in and out against real processes: a Bundle → POST /v1/fhir/recommendations → the JSON route's flow (inference,
final guardrails, stored with its audit event) → a Recommendation, or with ``Accept: application/fhir+json`` a proposed
MedicationRequest; GET /v1/recommendations/{id} the same way, for its caller only. Bundles: tests/fixtures/fhir/bundles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.medicationrequest import MedicationRequest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dosewise.fhir import extensions
from dosewise.fhir.example import FHIR_BUNDLE_EXAMPLE
from dosewise.storage import models
from tests.e2e.conftest import Stack
from tests.fhir_bundles import bundles
from tests.stored_rows import count_rows, stored_recommendation

BUNDLES = Path(__file__).resolve().parents[1] / "fixtures" / "fhir" / "bundles"
FHIR = "application/fhir+json"


def bundle(name: str) -> dict[str, Any]:
    return json.loads((BUNDLES / f"{name}.json").read_text())


def post(stack: Stack, body: object, accept: str = "application/json", role: str = "clinician",
         **params: str) -> httpx.Response:
    return httpx.post(f"{stack.api}/v1/fhir/recommendations", content=json.dumps(body), params=params, timeout=30,
                      headers=stack.headers[role] | {"Content-Type": FHIR, "Accept": accept})


def count(stack: Stack, table: type = models.Recommendation) -> int:
    return count_rows(stack.db_url, table)


def ext(body: dict[str, Any], url: str) -> Any:
    return next(v for e in body["extension"] if e["url"] == url for k, v in e.items() if k.startswith("value"))


class TestFhirIn:
    def test_an_inr_series_bundle_is_a_stored_warfarin_recommendation_with_its_normalizations(self, stack: Stack) -> None:
        before = count(stack), count(stack, models.AuditEvent)
        r = post(stack, bundle("anticoag_inr_series"))
        assert r.status_code == 200, r.text
        rec = r.json()
        assert rec["therapy"] == "warfarin" and rec["current_dose"] == {"value": 5.0, "unit": "mg"}
        assert rec["recommended_dose"]["unit"] == "mg" and rec["recommended_dose"]["value"] >= 0
        assert any("read doseAndRate given as an object" in w for w in rec["warnings"])
        assert any("read eGFR in 'mL/min' as mL/min/1.73 m²" in w for w in rec["warnings"])
        assert rec["patient_ref"] != "fhir-ac-pt-1042", "stored under its pseudonym"
        row = stored_recommendation(stack.db_url, rec["recommendation_id"])
        assert row is not None and "ac-pt-1042" not in json.dumps(row.state) + json.dumps(row.response), \
            "the Patient's id is stored nowhere, warnings included"
        assert (count(stack), count(stack, models.AuditEvent)) == (before[0] + 1, before[1] + 1)
        got = httpx.get(f"{stack.api}/v1/recommendations/{rec['recommendation_id']}", timeout=10,
                        headers=stack.clinician_headers)
        assert got.status_code == 200 and got.json()["warnings"] == rec["warnings"], "the warnings are stored"

    def test_a_fasting_glucose_log_is_a_basal_insulin_recommendation(self, stack: Stack) -> None:
        r = post(stack, bundle("t2d_fasting_glucose"))
        assert r.status_code == 200, r.text
        rec = r.json()
        assert rec["therapy"] == "insulin_t2d" and rec["current_dose"] == {"value": 20.0, "unit": "U"}
        assert any("CKD-EPI 2021" in w for w in rec["warnings"])

    def test_no_inr_and_no_warfarin_yet_is_answered_from_zero(self, stack: Stack) -> None:
        b = bundle("anticoag_inr_series")
        b["entry"] = [e for e in b["entry"] if not e["resource"].get("id", "").startswith(("inr-", "warf-"))]
        r = post(stack, b, therapy="warfarin")
        assert r.status_code == 200, r.text
        assert r.json()["current_dose"]["value"] == 0.0
        assert any("the decision is the therapy's start" in w for w in r.json()["warnings"])

    def test_a_synthea_warfarin_order_without_dose_is_a_422_naming_it_and_stores_nothing(self, stack: Stack) -> None:
        before = count(stack)
        r = post(stack, bundle("synthea_max_dicki_trimmed"))
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
        fields = {e["field"]: e["message"] for e in r.json()["errors"]}
        assert fields["MedicationRequest/60999897-2bfd-4ac7-91bb-e91c71f54ebc.dosageInstruction"].endswith(
            "has no dose (dosageInstruction[].doseAndRate[].doseQuantity)")
        assert fields["Bundle.entry"] == "no INR (LOINC 6301-6/34714-6/46418-0) in the bundle"
        assert count(stack) == before

    def test_a_bundle_without_a_patient_is_a_422(self, stack: Stack) -> None:
        b = bundle("synthea_max_dicki_trimmed")
        b["entry"] = [e for e in b["entry"] if e["resource"]["resourceType"] in ("Practitioner", "Organization")]
        r = post(stack, b)
        assert r.status_code == 422
        assert r.json()["errors"][0]["message"].startswith("no Patient in the bundle (it holds Organization, Practitioner)")

    def test_plain_json_is_accepted_too(self, stack: Stack) -> None:
        r = httpx.post(f"{stack.api}/v1/fhir/recommendations", json=bundle("t2d_fasting_glucose"), timeout=30,
                       headers=stack.clinician_headers)
        assert r.status_code == 200, r.text

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(b=bundles(), therapy=st.sampled_from([None, "warfarin", "insulin_t2d"]))
    def test_any_generated_bundle_is_answered_2xx_or_4xx(self, stack: Stack, b: dict[str, Any], therapy: str | None) -> None:
        r = post(stack, b, **({"therapy": therapy} if therapy else {}))
        assert r.status_code in (200, 422), r.text
        if r.status_code == 422:
            assert r.json()["errors"] and all(e["field"] and e["message"] for e in r.json()["errors"])


class TestFhirOut:
    def test_the_docs_example_answers_a_medication_request(self, stack: Stack) -> None:
        r = post(stack, FHIR_BUNDLE_EXAMPLE, accept=FHIR)
        assert r.status_code == 200, r.text
        MedicationRequest.model_validate(r.json())
        assert r.json()["subject"] == {"reference": "Patient/ward7-bed12"}

    def test_accept_fhir_answers_a_proposed_medication_request_for_the_bundles_patient(self, stack: Stack) -> None:
        r = post(stack, bundle("anticoag_inr_series"), accept=FHIR)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith(FHIR)
        body = r.json()
        MedicationRequest.model_validate(body)
        assert (body["status"], body["intent"], body["subject"]) == ("draft", "proposal",
                                                                      {"reference": "Patient/ac-pt-1042"})
        assert body["medicationCodeableConcept"]["coding"][0]["code"] == "855332", "the drug as the EHR coded it"
        rec_id = ext(body, extensions.RECOMMENDATION_ID).removeprefix("urn:uuid:")
        stored = httpx.get(f"{stack.api}/v1/recommendations/{rec_id}", timeout=10, headers=stack.clinician_headers).json()
        dose = body["dosageInstruction"][0]["doseAndRate"][0]
        assert dose["type"]["coding"][0]["code"] == "calculated"
        assert dose["doseQuantity"]["value"] == stored["recommended_dose"]["value"]
        assert dose["doseQuantity"]["code"] == "mg"
        assert ext(body, extensions.POLICY_VERSION) == stored["policy"]["version"]
        if stored["score"] is not None:
            assert ext(body, extensions.HYPERSCORE) == round(stored["score"]["hyperscore"], 2)
        assert any(n["text"] == stored["explanation"]["rationale"] for n in body["note"]) if stored["explanation"] else True

    def test_get_with_accept_fhir_is_the_same_request_for_its_caller_only(self, stack: Stack) -> None:
        rec = post(stack, bundle("t2d_fasting_glucose")).json()
        url = f"{stack.api}/v1/recommendations/{rec['recommendation_id']}"
        r = httpx.get(url, timeout=10, headers=stack.clinician_headers | {"Accept": FHIR})
        assert r.status_code == 200 and r.headers["content-type"].startswith(FHIR)
        body = r.json()
        MedicationRequest.model_validate(body)
        assert body["id"] == rec["recommendation_id"]
        assert body["subject"]["identifier"]["value"] == rec["patient_ref"], "the stored pseudonym, never the raw id"
        assert body["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == rec["recommended_dose"]["value"]
        for accept in (FHIR, "application/json"):
            other = httpx.get(url, timeout=10, headers=stack.headers["integrator"] | {"Accept": accept})
            assert other.status_code == 404, "another caller may not read it, in either form"

    @pytest.mark.parametrize("role", ["auditor", "admin"])
    def test_only_clinical_roles_may_post_a_bundle(self, stack: Stack, role: str) -> None:
        assert post(stack, bundle("anticoag_inr_series"), role=role).status_code == 403
