"""CDS Hooks 2.0 against real processes: discovery → a hook call (prefetch given, or read from a FHIR server of the test
suite's own) → cards, the recommendation stored and audited under the CDS client that asked → feedback into the outcome
loop; the client authenticated by its JWT (iss allow-listed, aud the endpoint, jti once)."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from sqlalchemy import select

from dosewise.cds.services import SERVICES, render
from dosewise.settings import Settings
from dosewise.storage import models
from dosewise.storage.db import make_engine, make_sessionmaker
from tests.cds_client import CdsClient
from tests.e2e.conftest import Stack, _stack
from tests.fhir_server import FhirServer, serving

BUNDLES = Path(__file__).resolve().parents[1] / "fixtures" / "fhir" / "bundles"
PATIENT = "ac-pt-1042"
WARFARIN = {"view": "dosewise-warfarin-patient-view", "select": "dosewise-warfarin-order-select",
            "sign": "dosewise-warfarin-order-sign"}
DRAFT: dict[str, Any] = {
    "resourceType": "MedicationRequest", "id": "draft-warf-1", "status": "draft", "intent": "order",
    "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "855332",
                                              "display": "Warfarin Sodium 5 MG Oral Tablet"}]},
    "subject": {"reference": f"Patient/{PATIENT}"},
    "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                           "doseAndRate": [{"doseQuantity": {"value": 5, "unit": "mg",
                                                             "system": "http://unitsofmeasure.org", "code": "mg"}}]}],
}


def resources(name: str = "anticoag_inr_series") -> list[dict[str, Any]]:
    """A fixture's resources as a FHIR server holds them: subjects as Patient/<id> (the bundle's urn:uuid references are
    the bundle's own)."""
    bundle = json.loads((BUNDLES / f"{name}.json").read_text())
    patient = next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    out = [e["resource"] for e in bundle["entry"]]
    for r in out:
        if "subject" in r:
            r["subject"] = {"reference": f"Patient/{patient}"}
    return out


def prefetch(templates: dict[str, str], name: str = "anticoag_inr_series") -> dict[str, Any]:
    """What an EHR would prefetch for a fixture: the Patient, and each search's matches (by type and LOINC codes) as a
    searchset, as tests/fhir_server.py answers them."""
    rs = resources(name)
    server, out = FhirServer(rs), {}
    for key, template in templates.items():
        query = render(template, {"patientId": next(r["id"] for r in rs if r["resourceType"] == "Patient")})
        assert query is not None
        path, _, qs = query.partition("?")
        out[key] = server.read(*path.split("/")) if "/" in path else server.search(path, parse_qs(qs))
    return out


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def cds(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, CdsClient]]:
    """The stack trusting one CDS client (its JWKS in a file), once on SQLite and once on PostgreSQL."""
    tmp = tmp_path_factory.mktemp(f"cds-{request.param}")
    client = CdsClient(tmp)
    if request.param == "sqlite":
        from dosewise.storage.migrate import upgrade

        url = f"sqlite+aiosqlite:///{tmp / 'dosewise.db'}"
        upgrade(url)
    else:
        url = request.getfixturevalue("pg_url")
    yield from ((s, client) for s in _stack(url, tmp, client.env()))


def call(stack: Stack, client: CdsClient, service: str, body: dict[str, Any], **token: Any) -> httpx.Response:
    path = f"/cds-services/{service}"
    return httpx.post(stack.api + path, json=body, headers=client.headers(stack.api + path, **token), timeout=30)


def hook(service: str, context: dict[str, Any], with_prefetch: bool = True, **extra: Any) -> dict[str, Any]:
    s = SERVICES[service]
    body = {"hook": s.hook, "hookInstance": str(uuid.uuid4()), "context": {"userId": "Practitioner/dr-ortiz",
                                                                        "patientId": PATIENT} | context} | extra
    if with_prefetch:
        body["prefetch"] = prefetch(s.prefetch)
    return body


def orders(draft: dict[str, Any] = DRAFT) -> dict[str, Any]:
    return {"draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]}}


async def _query(db_url: str, statement: Any) -> list[Any]:
    engine = make_engine(Settings(DATABASE_URL=db_url))
    try:
        async with make_sessionmaker(engine)() as s:
            return list((await s.execute(statement)).scalars())
    finally:
        await engine.dispose()


def rows(stack: Stack, statement: Any) -> list[Any]:
    return asyncio.run(_query(stack.db_url, statement))


class TestDiscovery:
    def test_one_service_per_therapy_and_hook_with_r4_prefetch_templates(self, cds: tuple[Stack, CdsClient]) -> None:
        stack, client = cds
        r = httpx.get(stack.api + "/cds-services", headers=client.headers(stack.api + "/cds-services"), timeout=10)
        assert r.status_code == 200, r.text
        services = {s["id"]: s for s in r.json()["services"]}
        assert set(services) == set(SERVICES)
        assert services[WARFARIN["sign"]]["hook"] == "order-sign"
        assert "_sort=-date" in services[WARFARIN["view"]]["prefetch"]["series"]

    def test_without_a_credential_it_is_401(self, cds: tuple[Stack, CdsClient]) -> None:
        stack, _ = cds
        assert httpx.get(stack.api + "/cds-services", timeout=10).status_code == 401


class TestPatientView:
    def test_an_info_card_with_a_smart_link_and_the_recommendation_stored_under_the_client(
            self, cds: tuple[Stack, CdsClient]) -> None:
        stack, client = cds
        r = call(stack, client, WARFARIN["view"], hook(WARFARIN["view"], {}))
        assert r.status_code == 200, r.text
        [card] = r.json()["cards"]
        assert "suggestions" not in card and len(card["summary"]) < 140
        assert card["indicator"] in ("info", "warning", "critical")
        assert "Latest INR" in card["detail"] and "**Why:**" in card["detail"]
        [link] = card["links"]
        assert link["type"] == "smart" and link["url"].startswith(stack.api + "/ui/patients/")
        assert PATIENT not in link["url"], "the patient is linked by their pseudonym"
        assert card["source"]["url"].startswith(stack.api + "/ui/policies/") and card["source"]["url"].endswith("/card")
        policy_id = card["source"]["url"].split("/")[-2]
        policy = httpx.get(f"{stack.api}/v1/policies/{policy_id}", headers=stack.admin_headers, timeout=10)
        assert policy.status_code == 200 and "model_card" in policy.json()  # the version the card links to
        pseudonym = link["url"].rsplit("/", 1)[1]
        [rec] = rows(stack, select(models.Recommendation).where(models.Recommendation.patient_ref == pseudonym)
                     .order_by(models.Recommendation.created_at.desc()).limit(1))
        assert rec.caller_id == f"cds:{client.issuer}#ehr-client-7"
        audit = rows(stack, select(models.AuditEvent).where(models.AuditEvent.subject_id == str(rec.id)))
        assert [a.action for a in audit] == ["recommendation.create"] and audit[0].actor == rec.caller_id


    def test_the_insulin_service_cards_a_type_2_diabetes_patient(self, cds: tuple[Stack, CdsClient]) -> None:
        stack, client = cds
        service = "dosewise-insulin-t2d-patient-view"
        body = hook(service, {"patientId": "t2d-pt-0412"}, with_prefetch=False)
        body["prefetch"] = prefetch(SERVICES[service].prefetch, "t2d_fasting_glucose")
        r = call(stack, client, service, body)
        assert r.status_code == 200, r.text
        [card] = r.json()["cards"]
        assert "Latest fasting glucose" in card["detail"] and " U/day" in card["summary"]

    def test_a_record_it_cannot_decide_from_is_a_card_saying_what_it_lacks_and_nothing_is_stored(
            self, cds: tuple[Stack, CdsClient]) -> None:
        stack, client = cds
        before = len(rows(stack, select(models.Recommendation.id)))
        body = hook(WARFARIN["view"], {})
        body["prefetch"]["series"] = None  # no INR, for a patient on warfarin
        r = call(stack, client, WARFARIN["view"], body)
        assert r.status_code == 200, r.text
        [card] = r.json()["cards"]
        assert card["indicator"] == "warning" and "no INR" in card["summary"] and len(card["summary"]) < 140
        assert len(rows(stack, select(models.Recommendation.id))) == before

    def test_a_call_of_another_hook_and_an_unknown_service_are_refused(self, cds: tuple[Stack, CdsClient]) -> None:
        stack, client = cds
        r = call(stack, client, WARFARIN["view"], hook(WARFARIN["sign"], orders()))
        assert r.status_code == 400 and "patient-view" in r.json()["detail"]
        assert call(stack, client, "no-such-service", hook(WARFARIN["view"], {})).status_code == 404


class TestOrderHooks:
    def test_order_select_cards_the_draft_and_order_sign_of_the_same_order_does_not_again(
            self, cds: tuple[Stack, CdsClient]) -> None:
        stack, client = cds
        draft = copy.deepcopy(DRAFT) | {"id": f"draft-{uuid.uuid4().hex[:8]}"}
        selected = call(stack, client, WARFARIN["select"], hook(WARFARIN["select"], orders(draft) | {
            "selections": [f"MedicationRequest/{draft['id']}"]}))
        assert selected.status_code == 200, selected.text
        [card] = selected.json()["cards"]
        assert card["selectionBehavior"] == "at-most-one"
        [suggestion] = card["suggestions"]
        [action] = suggestion["actions"]
        assert action["type"] == "update" and action["resource"]["id"] == draft["id"]
        assert action["resource"]["status"] == "draft" and action["resource"]["subject"] == draft["subject"]
        dose = action["resource"]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]
        assert dose["unit"] == "mg" and dose["value"] >= 0
        retried = call(stack, client, WARFARIN["select"], hook(WARFARIN["select"], orders(draft)))
        assert [c["uuid"] for c in retried.json()["cards"]] == [card["uuid"]], "a retry gets the same card"
        signed = call(stack, client, WARFARIN["sign"], hook(WARFARIN["sign"], orders(draft)))
        assert signed.status_code == 200 and signed.json() == {"cards": []}, "carded at order-select already"
        [stored] = rows(stack, select(models.CdsCard).where(models.CdsCard.id == uuid.UUID(card["uuid"])))
        assert stored.hook == "order-select"

    def test_order_sign_of_a_new_order_is_carded_and_another_drug_is_not(self, cds: tuple[Stack, CdsClient]) -> None:
        stack, client = cds
        draft = copy.deepcopy(DRAFT) | {"id": f"draft-{uuid.uuid4().hex[:8]}"}
        r = call(stack, client, WARFARIN["sign"], hook(WARFARIN["sign"], orders(draft)))
        assert r.status_code == 200 and len(r.json()["cards"]) == 1
        paracetamol = copy.deepcopy(DRAFT) | {"medicationCodeableConcept": {"text": "paracetamol 500 mg tablet"}}
        r = call(stack, client, WARFARIN["sign"], hook(WARFARIN["sign"], orders(paracetamol)))
        assert r.status_code == 200 and r.json() == {"cards": []}


class TestMissingPrefetch:
    def test_it_is_read_from_the_fhir_server_with_the_access_token(self, cds: tuple[Stack, CdsClient]) -> None:
        stack, client = cds
        with serving(resources(), token="ehr-access-token") as fhir:
            body = hook(WARFARIN["view"], {}, with_prefetch=False, fhirServer=fhir.url,
                        fhirAuthorization={"access_token": "ehr-access-token", "token_type": "Bearer",
                                           "expires_in": 300, "scope": "patient/*.read", "subject": "dosewise"})
            r = call(stack, client, WARFARIN["view"], body)
        assert r.status_code == 200, r.text
        assert "Latest INR" in r.json()["cards"][0]["detail"]
        paths = {p.split("?")[0] for p, _ in fhir.requests}
        assert f"/fhir/Patient/{PATIENT}" in paths and "/fhir/Observation" in paths
        assert {a for _, a in fhir.requests} == {"Bearer ehr-access-token"}

    def test_every_page_of_a_paged_search_is_read_and_a_next_page_on_another_host_is_not(
            self, cds: tuple[Stack, CdsClient]) -> None:
        stack, client = cds

        def stored(fhir: FhirServer) -> models.Recommendation:
            body = hook(WARFARIN["view"], {}, with_prefetch=False, fhirServer=fhir.url,
                        fhirAuthorization={"access_token": "ehr-access-token", "token_type": "Bearer"})
            r = call(stack, client, WARFARIN["view"], body)
            assert r.status_code == 200, r.text
            pseudonym = r.json()["cards"][0]["links"][0]["url"].rsplit("/", 1)[1]
            [rec] = rows(stack, select(models.Recommendation).where(models.Recommendation.patient_ref == pseudonym)
                         .order_by(models.Recommendation.created_at.desc()).limit(1))
            return rec

        with serving(resources(), token="ehr-access-token", page_size=2) as fhir:
            rec = stored(fhir)
        # 4 INRs and 7 administrations, 2 a page: every page read, each with the token
        assert [o["value"] for o in rec.state["observations"]] == [1.4, 1.8, 2.2, 2.6] and len(rec.state["doses"]) == 7
        assert {a for _, a in fhir.requests} == {"Bearer ehr-access-token"}
        # next pages: the 4 INRs' 1, the 5 other measurements' 2, the 7 administrations' 3
        assert sum("_offset=" in p for p, _ in fhir.requests) == 1 + 2 + 3
        assert not any("next page" in w for w in rec.response["warnings"])
        with serving(resources()) as elsewhere, \
                serving(resources(), token="ehr-access-token", page_size=2, next_base=elsewhere.url) as fhir:
            rec = stored(fhir)
        assert elsewhere.requests == [], "the access token never goes to another host"
        assert [o["value"] for o in rec.state["observations"]] == [1.4, 1.8], "the INR series' first page (unsorted)"
        assert any(w.startswith("prefetch series: the Observation search's next page lies outside the FHIR server")
                   for w in rec.response["warnings"]), rec.response["warnings"]

    def test_only_the_keys_left_out_are_read_and_null_means_no_data(self, cds: tuple[Stack, CdsClient]) -> None:
        stack, client = cds
        body = hook(WARFARIN["view"], {})
        del body["prefetch"]["series"]
        body["prefetch"]["conditions"] = None
        with serving(resources()) as fhir:
            r = call(stack, client, WARFARIN["view"], body | {"fhirServer": fhir.url})
        assert r.status_code == 200, r.text
        assert [p.split("?")[0] for p, _ in fhir.requests] == ["/fhir/Observation"]

    def test_without_a_fhir_server_it_is_412(self, cds: tuple[Stack, CdsClient]) -> None:
        stack, client = cds
        body = hook(WARFARIN["view"], {})
        del body["prefetch"]["series"]
        r = call(stack, client, WARFARIN["view"], body)
        assert r.status_code == 412 and "series" in r.json()["detail"]

    def test_a_plain_http_server_that_is_not_loopback_and_a_redirect_elsewhere_are_412(
            self, cds: tuple[Stack, CdsClient]) -> None:
        stack, client = cds
        r = call(stack, client, WARFARIN["view"], hook(WARFARIN["view"], {}, with_prefetch=False,
                                                      fhirServer="http://ehr.test.invalid/fhir"))
        assert r.status_code == 412 and "https" in r.json()["detail"]
        with serving(resources(), redirect_to="http://127.0.0.2:9") as fhir:
            r = call(stack, client, WARFARIN["view"], hook(WARFARIN["view"], {}, with_prefetch=False,
                                                          fhirServer=fhir.url))
        assert r.status_code == 412 and "another origin" in r.json()["detail"]


class TestFeedback:
    def test_an_override_is_an_outcome_with_its_reason_recorded_once_and_audited(
            self, cds: tuple[Stack, CdsClient]) -> None:
        stack, client = cds
        draft = copy.deepcopy(DRAFT) | {"id": f"draft-{uuid.uuid4().hex[:8]}"}
        [card] = call(stack, client, WARFARIN["sign"], hook(WARFARIN["sign"], orders(draft))).json()["cards"]
        reason = next(c for c in card["overrideReasons"] if c["code"] == "bleeding_risk")
        item = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": datetime.now(UTC).isoformat(),
                "overrideReason": {"reason": reason, "userComment": "Recent GI bleed, keep 5 mg"}}
        path = f"/cds-services/{WARFARIN['sign']}/feedback"
        first = httpx.post(stack.api + path, json={"feedback": [item]}, headers=client.headers(stack.api + path))
        assert first.status_code == 200, first.text
        [done] = first.json()["outcomes"]
        again = httpx.post(stack.api + path, json={"feedback": [item]}, headers=client.headers(stack.api + path))
        assert again.json()["outcomes"] == [done | {"replayed": True}], "the client may send it twice"
        [outcome] = rows(stack, select(models.Outcome).where(models.Outcome.id == uuid.UUID(done["outcome_id"])))
        record = outcome.payload["record"]
        assert record["feedback"] == {"decision": "overridden", "reason_code": "bleeding_risk",
                                      "reason": "Recent GI bleed, keep 5 mg"}
        assert record["dose_given"] == {"value": 5.0, "unit": "mg"}, "the drafted dose was kept"
        audit = rows(stack, select(models.AuditEvent).where(models.AuditEvent.subject_id == done["outcome_id"]))
        assert [a.action for a in audit] == ["outcome.record"]
        other = httpx.post(stack.api + path, json={"feedback": [item]}, headers=stack.clinician_headers)
        assert other.status_code == 404, "another caller's card is unknown to it"

    def test_accepting_the_suggestion_records_the_recommended_dose(self, cds: tuple[Stack, CdsClient]) -> None:
        stack, client = cds
        draft = copy.deepcopy(DRAFT) | {"id": f"draft-{uuid.uuid4().hex[:8]}"}
        [card] = call(stack, client, WARFARIN["select"], hook(WARFARIN["select"], orders(draft))).json()["cards"]
        suggestion = card["suggestions"][0]
        dose = suggestion["actions"][0]["resource"]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"]
        path = f"/cds-services/{WARFARIN['select']}/feedback"
        now = (datetime.now(UTC) + timedelta(seconds=30)).isoformat()  # the EHR's clock a little ahead: read as now
        r = httpx.post(stack.api + path, headers=client.headers(stack.api + path), json={"feedback": [{
            "card": card["uuid"], "outcome": "accepted", "acceptedSuggestions": [{"id": suggestion["uuid"]}],
            "outcomeTimestamp": now}]})
        assert r.status_code == 200, r.text
        [outcome] = rows(stack, select(models.Outcome).where(
            models.Outcome.id == uuid.UUID(r.json()["outcomes"][0]["outcome_id"])))
        assert outcome.payload["record"]["feedback"]["decision"] == "accepted"
        assert outcome.payload["record"]["dose_given"]["value"] == dose


class TestClientAuthentication:
    def test_a_replayed_token_is_refused(self, cds: tuple[Stack, CdsClient]) -> None:
        stack, client = cds
        url = stack.api + "/cds-services"
        token = client.token(url)
        assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        replay = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
        assert replay.status_code == 401 and "replayed" in replay.json()["detail"]

    def test_alg_none_another_audience_an_old_token_and_an_unknown_issuer_are_refused(
            self, cds: tuple[Stack, CdsClient], tmp_path: Path) -> None:
        stack, client = cds
        url = stack.api + "/cds-services"
        unsigned = jwt.encode({"iss": client.issuer, "aud": url, "exp": 2**31, "iat": 0, "jti": "x"}, None,
                              algorithm="none", headers={"kid": client.kid})
        refused = {
            "alg none": unsigned,
            "other audience": client.token(stack.api + "/cds-services/other"),
            "issued 10 minutes ago": client.token(url, iat_ago_s=600, lifetime_s=900),
            "untrusted issuer": CdsClient(tmp_path, issuer="https://other-ehr.test.invalid").token(url),
            "jku elsewhere": client.token(url, headers={"jku": "https://attacker.test.invalid/jwks.json"}),
        }
        for why, token in refused.items():
            r = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, why


class TestDocsExample:
    def test_the_curl_example_of_docs_cds_hooks_answers_a_card_to_a_clinician_key(
            self, cds: tuple[Stack, CdsClient]) -> None:
        stack, _ = cds
        doc = (Path(__file__).resolve().parents[2] / "docs" / "cds-hooks.md").read_text()
        body = re.search(r"<<'JSON'[^\n]*\n(.*?)\nJSON", doc, re.S)
        assert body is not None
        url = stack.api + "/cds-services/dosewise-warfarin-order-sign"
        r = httpx.post(url, content=body.group(1), timeout=30,
                       headers=stack.clinician_headers | {"Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        [card] = r.json()["cards"]
        assert card["suggestions"][0]["actions"][0]["resource"]["id"] == "warfarin-draft-1"
        again = httpx.post(url, content=body.group(1), timeout=30,
                           headers=stack.clinician_headers | {"Content-Type": "application/json"})
        assert [c["uuid"] for c in again.json()["cards"]] == [card["uuid"]], "pasted twice: the same card"
        path = "/cds-services/dosewise-warfarin-order-sign/feedback"
        feedback = {"feedback": [{"card": card["uuid"], "outcome": "overridden",
                                  "outcomeTimestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                  "overrideReason": {"reason": {"system": "https://dosewise.org/fhir/CodeSystem/override-reason",
                                                                "code": "bleeding_risk", "display": "Bleeding risk"},
                                                     "userComment": "Recent GI bleed: keep 5 mg"}}]}
        done = httpx.post(stack.api + path, json=feedback, headers=stack.clinician_headers, timeout=30)
        assert done.status_code == 200, done.text
        assert done.json()["outcomes"][0]["replayed"] is False
