"""CDS Hooks cards from a Recommendation (dosewise/cds/cards.py), the service catalogue and the reading of a hook's
prefetch (dosewise/cds/services.py, prefetch.py): pure, no gateway."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.medicationrequest import MedicationRequest

from dosewise.cds import cards
from dosewise.cds.prefetch import HookRequestError, bundle_of, draft_order, missing, patient_id
from dosewise.cds.services import HOOKS, SERVICES, prefetch_templates, render
from dosewise.fhir import extensions, map_bundle
from dosewise.schemas import ActionValue, GuardrailFiring, HyperScoreOut, PatientState
from dosewise_api.outcomes import REASON_CODES
from tests.unit.test_fhir_out import recommendation

BUNDLES = Path(__file__).resolve().parents[1] / "fixtures" / "fhir" / "bundles"
LINKS = cards.Links(policy_url="https://dosewise.example/v1/policies/p-7",
                    patient_url="https://dosewise.example/ui/patients/pseudonym-42")
DRAFT: dict[str, Any] = {
    "resourceType": "MedicationRequest", "id": "draft-1", "status": "draft", "intent": "order",
    "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "855332",
                                              "display": "Warfarin Sodium 5 MG Oral Tablet"}]},
    "subject": {"reference": "Patient/ac-pt-1042"},
    "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                           "doseAndRate": [{"doseQuantity": {"value": 5, "unit": "mg",
                                                             "system": "http://unitsofmeasure.org", "code": "mg"}}]}],
}


def state(*inrs: float) -> PatientState:
    return PatientState.model_validate({
        "therapy": "warfarin", "patient_ref": "ward7-bed12", "age_years": 67, "sex": "female",
        "weight": {"value": 78, "unit": "kg"}, "height": {"value": 165, "unit": "cm"}, "current_dose": {"value": 5, "unit": "mg"},
        "observations": [{"kind": "inr", "unit": "{INR}", "value": v, "time": datetime(2026, 11, 10 + 3 * i, 8, tzinfo=UTC)}
                         for i, v in enumerate(inrs)]})


class TestIndicator:
    def test_no_guardrail_and_no_review_is_info(self) -> None:
        rec = recommendation(5.5, 5.5).model_copy(update={"guardrails": []})
        assert cards.indicator(rec) == "info"

    def test_a_guardrail_that_fired_is_a_warning(self) -> None:
        assert cards.indicator(recommendation(5.5, 5.5)) == "warning"

    def test_a_hyperscore_asking_for_review_is_a_warning(self) -> None:
        rec = recommendation(5.5, 5.5).model_copy(update={"guardrails": [], "score": HyperScoreOut(
            hyperscore=104, v=0.1, needs_review=True, review_reasons=["novel patient"], sub_scores={})})
        assert cards.indicator(rec) == "warning"

    def test_nothing_safe_to_choose_is_critical(self) -> None:
        rec = recommendation(0, 5, hold_doses=1).model_copy(update={"action_values": [
            ActionValue(action="a", label="x", q_value=0.0, allowed=False)]})
        assert cards.indicator(rec) == "critical"

    def test_a_failed_final_check_is_critical(self) -> None:
        rec = recommendation(0, 5, hold_doses=1).model_copy(update={"guardrails": [
            GuardrailFiring(rule="final_check", message="Policy output failed the gateway's final safety check.")]})
        assert cards.indicator(rec) == "critical"


class TestPatientViewCard:
    def test_it_says_where_the_patient_stands_and_what_the_policy_suggests_and_links_to_the_patient(self) -> None:
        card = cards.patient_view_card(recommendation(5.5, 5.5), state(1.6, 1.9), "card-1", LINKS)
        assert card["uuid"] == "card-1" and "suggestions" not in card, "no draft order, so no suggestion"
        assert len(card["summary"]) < 140 and "5.5 mg/day" in card["summary"]
        assert "Latest INR 1.9 on 2026-11-13: below the target 2–3." in card["detail"]
        assert card["links"] == [{"label": "Open the patient in Dosewise", "url": LINKS.patient_url, "type": "smart"}]
        assert card["source"] == {"label": "Dosewise policy dqn-v3", "url": LINKS.policy_url}

    def test_the_detail_has_the_rationale_the_forecast_and_the_guardrails_that_fired(self) -> None:
        rec = recommendation(5.5, 5.5)
        assert rec.explanation is not None
        rec.explanation.forecast = {"observation": "inr", "unit": "INR", "target_band": [2.0, 3.0],
                                    "days_after_decision": [1, 3, 7], "recommended": [2.0, 2.3, 2.6],
                                    "keep_dose": [1.9, 2.0, 2.1]}  # the unit as forecasts carry it
        detail = cards.patient_view_card(rec, state(1.9), "c", LINKS)["detail"]
        assert "**Why:** INR 2.6 is in range." in detail
        assert "forecasts INR 2.6 in 7 days with this dose, 2.1 if the dose is kept (target 2–3)" in detail
        assert "- `inr_high`: INR above 4: hold" in detail

    def test_a_patient_within_range_and_a_patient_without_values(self) -> None:
        assert "within the target" in cards.standing(recommendation(5, 5), state(2.5))
        assert cards.standing(recommendation(5, 5), state()) == "No INR on record."

    def test_override_reasons_are_the_outcome_loops_codes(self) -> None:
        reasons = cards.override_reasons("warfarin")
        assert {r["code"] for r in reasons} <= set(REASON_CODES) and {"bleeding_risk", "other"} <= {r["code"]
                                                                                                  for r in reasons}
        assert all(r["system"] == cards.OVERRIDE_SYSTEM for r in reasons)
        assert cards.reason_code(reasons[1]) == reasons[1]["code"]
        assert cards.reason_code({"system": "http://other", "code": "bleeding_risk"}) is None

    def test_a_long_summary_is_cut_under_140_characters(self) -> None:
        rec = recommendation(5.5, 5.5).model_copy(update={"action_label": "x" * 300})
        assert len(cards.summary(rec)) < 140


class TestOrderCard:
    def test_its_one_suggestion_updates_the_whole_draft_to_the_recommended_dose(self) -> None:
        card = cards.order_card(recommendation(5.5, 5.5), state(1.9), "card-2", "sugg-2", DRAFT, LINKS)
        assert card["selectionBehavior"] == "at-most-one"
        [suggestion] = card["suggestions"]
        assert suggestion["uuid"] == "sugg-2"
        [action] = suggestion["actions"]
        assert action["type"] == "update"
        order = action["resource"]
        MedicationRequest.model_validate(order)
        assert {k: order[k] for k in ("id", "status", "intent", "subject", "medicationCodeableConcept")} == \
            {k: DRAFT[k] for k in ("id", "status", "intent", "subject", "medicationCodeableConcept")}, "the draft, kept"
        assert order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 5.5
        assert {"url": extensions.RECOMMENDATION_ID, "valueUuid": "urn:uuid:6f1c2a8e-3b7d-4c5e-9a1f-2d3e4f5a6b7c"} in \
            order["extension"]
        assert DRAFT["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 5, "the input is not changed"

    def test_a_hold_updates_the_draft_to_no_dose_then_the_new_regimen(self) -> None:
        card = cards.order_card(recommendation(0.0, 4.5, hold_doses=2), state(4.6), "c", "s", DRAFT, LINKS)
        dosage = card["suggestions"][0]["actions"][0]["resource"]["dosageInstruction"]
        assert [d["doseAndRate"][0]["doseQuantity"]["value"] for d in dosage] == [0.0, 4.5]
        assert dosage[0]["timing"]["repeat"]["count"] == 2
        assert "hold 2 dose(s), then 4.5 mg/day" in card["summary"]


class TestServices:
    def test_one_service_per_therapy_and_hook(self) -> None:
        assert sorted((s.therapy, s.hook) for s in SERVICES.values()) == sorted(
            (t, h) for t in ("warfarin", "insulin_t2d") for h in HOOKS)

    def test_prefetch_searches_are_r4_sorted_latest_first_with_the_therapys_loinc_codes(self) -> None:
        t = prefetch_templates("warfarin")
        assert t["patient"] == "Patient/{{context.patientId}}"
        assert "code=http://loinc.org|6301-6," in t["series"] and "_sort=-date" in t["series"]
        assert "sort:desc" not in json.dumps(t)
        assert "http://loinc.org|29463-7" in t["measurements"] and "http://loinc.org|84413-4" in t["measurements"]
        assert "http://loinc.org|1558-6" in prefetch_templates("insulin_t2d")["series"]

    def test_a_template_is_filled_from_the_context_or_not_at_all(self) -> None:
        assert render("Patient/{{context.patientId}}", {"patientId": "abc"}) == "Patient/abc"
        assert render("Patient/{{context.patientId}}", {}) is None


class TestPrefetch:
    def test_absent_keys_and_operation_outcomes_are_missing_a_null_is_no_data(self) -> None:
        templates = {"patient": "", "series": "", "medications": ""}
        prefetch = {"patient": {"resourceType": "Patient"}, "series": None,
                    "medications": {"resourceType": "OperationOutcome"}}
        assert missing(prefetch, templates) == ["medications"]
        assert missing(None, templates) == list(templates)

    def test_the_prefetch_of_a_fixture_maps_as_the_bundle_does(self) -> None:
        whole = json.loads((BUNDLES / "anticoag_inr_series.json").read_text())
        resources = [e["resource"] for e in whole["entry"]]
        patient = next(r for r in resources if r["resourceType"] == "Patient")
        searchset = {"resourceType": "Bundle", "type": "searchset",
                     "entry": [{"resource": r} for r in resources if r["resourceType"] != "Patient"]}
        prefetch = {"patient": patient, "series": searchset, "measurements": copy.deepcopy(searchset), "conditions": None}
        merged = bundle_of(prefetch)
        assert len(merged["entry"]) == len(resources), "each resource once"
        now = datetime(2026, 12, 1, tzinfo=UTC)
        assert map_bundle(merged, "warfarin", now).state == map_bundle(whole, "warfarin", now).state

    def test_the_draft_order_of_the_therapys_drug_is_found_with_its_daily_dose(self) -> None:
        other = {"resourceType": "MedicationRequest", "id": "para", "status": "draft", "intent": "order",
                 "medicationCodeableConcept": {"text": "paracetamol 500 mg"}, "subject": {"reference": "Patient/x"}}
        context = {"patientId": "x", "draftOrders": {"resourceType": "Bundle", "type": "collection",
                                                     "entry": [{"resource": other}, {"resource": DRAFT}]}}
        draft = draft_order(context, "warfarin")
        assert draft is not None and draft.id == "draft-1" and draft.dose_per_day == 5.0
        assert draft_order(context, "insulin_t2d") is None
        assert draft_order(context | {"selections": ["MedicationRequest/para"]}, "warfarin") is None

    def test_a_patient_id_that_is_not_a_fhir_id_is_refused(self) -> None:
        assert patient_id({"patientId": "ac-pt-1042"}) == "ac-pt-1042"
        for bad in ("../Patient", "a?b=1", "", None, "x" * 65):
            with pytest.raises(HookRequestError):
                patient_id({"patientId": bad})


class TestDocs:
    def test_the_curl_example_of_docs_cds_hooks_is_the_openapi_example_and_maps(self) -> None:
        import re

        from dosewise.cds.example import CDS_ORDER_SIGN_EXAMPLE

        doc = (Path(__file__).resolve().parents[2] / "docs" / "cds-hooks.md").read_text()
        body = re.search(r"<<'JSON'[^\n]*\n(.*?)\nJSON", doc, re.S)
        assert body is not None and json.loads(body.group(1)) == CDS_ORDER_SIGN_EXAMPLE
        mapped = map_bundle(bundle_of(CDS_ORDER_SIGN_EXAMPLE["prefetch"]), "warfarin", datetime(2026, 12, 1, tzinfo=UTC))
        assert [o.value for o in mapped.state.observations] == [1.6, 1.9, 2.4]
        draft = draft_order(CDS_ORDER_SIGN_EXAMPLE["context"], "warfarin")
        assert draft is not None and draft.dose_per_day == 5.0


def test_a_glucose_standing_carries_its_unit() -> None:
    rec = recommendation(20, 20, unit="U", therapy="insulin_t2d")
    s = PatientState.model_validate({
        "therapy": "insulin_t2d", "patient_ref": "ward7-bed12", "age_years": 58, "sex": "male",
        "weight": {"value": 92, "unit": "kg"}, "height": {"value": 178, "unit": "cm"}, "current_dose": {"value": 20, "unit": "U"},
        "observations": [{"kind": "glucose_fasting", "unit": "mg/dL", "value": 162,
                          "time": datetime(2026, 11, 20, 7, tzinfo=UTC)}]})
    assert cards.standing(rec, s).startswith("Latest fasting glucose 162 mg/dL on 2026-11-20: above the target")


# --- which FHIR servers the gateway reads from (server-side request forgery) -------------------------------------------
@pytest.mark.parametrize("url", ["https://10.0.0.5/fhir", "https://192.168.1.1/", "https://169.254.169.254/latest",
                                 "https://[fd00::1]/fhir", "http://ehr.example/fhir", "https://u:p@ehr.example/fhir"])
def test_a_private_address_plain_http_or_credentials_are_never_read_from(url: str) -> None:
    from dosewise_api.fhir_client import FetchError, checked_server

    with pytest.raises(FetchError):
        checked_server(url)


def test_with_servers_configured_only_those_bases_are_read_from() -> None:
    from dosewise_api.fhir_client import FetchError, checked_server

    allowed = ("https://ehr.example/fhir", "https://10.0.0.5/r4")
    assert checked_server("https://ehr.example/fhir/", allowed) == "https://ehr.example/fhir/"
    assert checked_server("https://10.0.0.5/r4", allowed) == "https://10.0.0.5/r4/"  # configured: the hospital's own
    for url in ("https://ehr.example/fhirx", "https://other.example/fhir", "https://ehr.example/"):
        with pytest.raises(FetchError):
            checked_server(url, allowed)
    assert checked_server("http://127.0.0.1:8080/fhir") == "http://127.0.0.1:8080/fhir/"  # a test's loopback server
