"""The walking skeleton's promises, checked against real processes: gateway → HTTP → inference → database."""

from __future__ import annotations

import asyncio
import base64
import copy
import http.client
import json
import time
import uuid
import xml.etree.ElementTree as ET

import httpx
import numpy as np
import pytest
from sqlalchemy import func, select

from dosewise.apikeys import Role
from dosewise.inference_contract import RecommendRequest, layout
from dosewise.keepalive import CLIENT_KEEPALIVE_EXPIRY_S, SERVER_KEEP_ALIVE_S
from dosewise.schemas import DISCLAIMER, PATIENT_STATE_EXAMPLE, PatientState
from dosewise.settings import DEV_PSEUDONYM_KEY, Settings
from dosewise.storage import models
from dosewise.storage.db import make_engine, make_sessionmaker
from dosewise.therapies.base import ClinicView
from dosewise.therapies.registry import get_pack
from dosewise_api.auth import Caller
from dosewise_api.inference_client import InferenceClient
from dosewise_api.recommendations import IdempotencyKeyReused, RecommendationRequest, commit, plan
from tests.e2e.conftest import Stack
from tests.stored_rows import count_rows, stored_recommendation


def example(**changes: object) -> dict:
    body = copy.deepcopy(PATIENT_STATE_EXAMPLE)
    body.update(changes)
    return body


def to_float32_precision(value: object) -> object:
    """``value`` with every float at 6 significant digits. The features of a coalesced batch come from vectorized numpy
    math whose SIMD and scalar paths may differ in the last bit with the row's place in the batch, and a float32 Q-value
    then by one ulp (29.064798 vs 29.064800): nothing a caller could notice, below what float32 resolves reliably."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: to_float32_precision(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_float32_precision(v) for v in value]
    return value


def clin(stack: Stack) -> dict[str, str]:
    """A clinician's credential: every /v1 route needs one (403 for other roles, 401 without)."""
    return stack.headers["clinician"]


def count(db_url: str) -> int:
    return count_rows(db_url)


class TestRecommend:
    def test_the_readme_example_returns_a_stored_recommendation(self, stack: Stack) -> None:
        r = httpx.post(f"{stack.api}/v1/recommendations", json=PATIENT_STATE_EXAMPLE, timeout=10, headers=clin(stack))
        assert r.status_code == 200, r.text
        rec = r.json()
        assert rec["therapy"] == "warfarin"
        assert rec["policy"]["version"] and rec["policy"]["status"] in {"untrained", "active"}
        assert rec["current_dose"] == {"value": 5.0, "unit": "mg"}
        assert rec["recommended_dose"]["unit"] == "mg"
        assert sorted(a["action"] for a in rec["action_values"]) == sorted(a.id for a in get_pack("warfarin").actions)
        assert rec["disclaimer"] == DISCLAIMER
        assert rec["patient_ref"] != PATIENT_STATE_EXAMPLE["patient_ref"], "the raw reference must never be stored"
        row = stored_recommendation(stack.db_url, rec["recommendation_id"])
        assert row is not None and row.response["recommendation_id"] == rec["recommendation_id"]
        assert PATIENT_STATE_EXAMPLE["patient_ref"] not in str(row.state)
        got = httpx.get(f"{stack.api}/v1/recommendations/{rec['recommendation_id']}", timeout=10, headers=clin(stack))
        assert got.status_code == 200 and got.json() == rec

    def test_a_flagged_recommendation_says_why_in_its_warnings_and_rationale(self, stack: Stack) -> None:
        """needs_review comes with its reasons, repeated in the warnings and the rationale. Whether a state is flagged
        depends on the policy serving (other tests may have activated another one in this database); at INR 5.2 every
        policy's answer is a hold, which then lowers the weekly dose (inr_above_4_5)."""
        high = PATIENT_STATE_EXAMPLE | {"observations": [*PATIENT_STATE_EXAMPLE["observations"][:-1], {
            "kind": "inr", "value": 5.2, "unit": "{INR}", "time": "2026-11-22T08:00:00Z"}]}
        for body in (high, PATIENT_STATE_EXAMPLE, PATIENT_STATE_EXAMPLE | {"therapy_started": "2025-11-23T08:00:00Z"}):
            rec = httpx.post(f"{stack.api}/v1/recommendations", json=body, timeout=10, headers=clin(stack)).json()
            score = rec["score"]
            assert score["needs_review"] == bool(score["review_reasons"])
            if score["needs_review"]:
                why = "; ".join(score["review_reasons"])
                assert f"Review this recommendation with particular care: {why}." in rec["warnings"]
                assert f"a clinician should review it ({why})." in rec["explanation"]["rationale"]
            if body is high:
                assert "inr_above_4_5" in [g["rule"] for g in rec["guardrails"]]
                assert rec["action"].startswith("hold") and rec["plan"]["hold_doses"] > 0
                assert rec["recommended_dose"]["value"] == 0.0 < rec["plan"]["dose_per_day"]["value"] < 5.0

    def test_untrained_policy_is_flagged_in_every_response(self, stack: Stack) -> None:
        rec = httpx.post(f"{stack.api}/v1/recommendations", json=PATIENT_STATE_EXAMPLE, timeout=10, headers=clin(stack)).json()
        if rec["policy"]["status"] == "untrained":
            assert any("UNTRAINED" in w for w in rec["warnings"])

    def test_idempotency_key_returns_the_same_recommendation_and_stores_once(self, stack: Stack) -> None:
        key = f"test-{uuid.uuid4()}"
        before = count(stack.db_url)
        first = httpx.post(f"{stack.api}/v1/recommendations", json=PATIENT_STATE_EXAMPLE,
                           headers=clin(stack) | {"Idempotency-Key": key})
        second = httpx.post(f"{stack.api}/v1/recommendations", json=PATIENT_STATE_EXAMPLE,
                            headers=clin(stack) | {"Idempotency-Key": key})
        assert first.status_code == second.status_code == 200
        assert first.json()["recommendation_id"] == second.json()["recommendation_id"]
        assert count(stack.db_url) == before + 1

    def test_a_retry_without_as_of_is_the_same_request(self, stack: Stack) -> None:
        """The gateway sets a missing as_of to the time of the first try; the retry, sent later, is still that request."""
        key, body = f"test-{uuid.uuid4()}", {k: v for k, v in PATIENT_STATE_EXAMPLE.items() if k != "as_of"}
        first, second = (httpx.post(f"{stack.api}/v1/recommendations", json=body, timeout=10,
                                    headers=clin(stack) | {"Idempotency-Key": key}) for _ in range(2))
        assert first.status_code == second.status_code == 200, second.text
        assert first.json()["recommendation_id"] == second.json()["recommendation_id"]

    @pytest.mark.parametrize("other", [example(patient_ref="someone-else-0001"),
                                       example(current_dose={"value": 7.5, "unit": "mg"}),
                                       example(as_of="2026-11-23T09:00:00Z")],
                             ids=["other-patient", "other-data", "other-decision-time"])
    def test_an_idempotency_key_reused_for_another_request_is_refused(self, stack: Stack, other: dict) -> None:
        """Never another request's recommendation: a key reused for another patient would hand that patient's dose to
        this one (the IETF Idempotency-Key draft: 422)."""
        key = f"test-{uuid.uuid4()}"
        first = httpx.post(f"{stack.api}/v1/recommendations", json=example(), timeout=10,
                           headers=clin(stack) | {"Idempotency-Key": key})
        before = count(stack.db_url)
        second = httpx.post(f"{stack.api}/v1/recommendations", json=other, timeout=10,
                            headers=clin(stack) | {"Idempotency-Key": key})
        assert first.status_code == 200 and second.status_code == 422, second.text
        assert second.json()["type"].endswith("idempotency-key-reused")
        assert first.json()["recommendation_id"] not in second.text
        assert count(stack.db_url) == before

    def test_concurrent_requests_sharing_a_key_but_not_a_request_are_not_merged(self, stack: Stack) -> None:
        """Coalesced in one batch (recommendations.plan): the same caller's key on two different states; the second is
        refused."""
        key = f"pair-{uuid.uuid4()}"
        caller = Caller(id=f"key:{stack.key_ids['clinician']}", roles=frozenset({Role.CLINICIAN}))
        a, b = (PatientState.model_validate(example(patient_ref=ref)) for ref in ("pair-0001", "pair-0002"))

        async def go() -> list:
            engine = make_engine(Settings(DATABASE_URL=stack.db_url))
            client = InferenceClient(stack.inference, timeout_s=30, connect_retries=0)
            try:
                sessions = make_sessionmaker(engine)
                planned = await plan([RecommendationRequest.single(s, caller, key) for s in (a, b, a)], client, sessions,
                                     DEV_PSEUDONYM_KEY)
                return [r if isinstance(r, Exception) else r[0]
                        for r in (await commit([planned], sessions, DEV_PSEUDONYM_KEY))[0]]
            finally:
                await client.aclose()
                await engine.dispose()

        first, second, third = asyncio.run(go())
        assert isinstance(second, IdempotencyKeyReused)
        assert third.recommendation.recommendation_id == first.recommendation.recommendation_id  # a true repeat

    def test_the_forecast_chart_is_an_svg_for_its_caller_only(self, stack: Stack) -> None:
        rec = httpx.post(f"{stack.api}/v1/recommendations", json=PATIENT_STATE_EXAMPLE, timeout=10, headers=clin(stack)).json()
        url = f"{stack.api}/v1/recommendations/{rec['recommendation_id']}/forecast.svg"
        chart = httpx.get(url, timeout=30, headers=clin(stack))
        assert chart.status_code == 200, chart.text
        assert chart.headers["content-type"] == "image/svg+xml" and chart.headers["cache-control"] == "no-store"
        words = " ".join(ET.fromstring(chart.content).itertext())
        assert "target 2–3" in words and f"recommended ({rec['action_label']})" in words and "INR" in words
        other = httpx.get(url, timeout=10, headers=stack.headers["integrator"])  # another caller's recommendation
        assert other.status_code == 404 and other.headers["content-type"] == "application/problem+json"
        assert httpx.get(url, timeout=10).status_code == 401

    def test_a_batch_recommendation_has_no_forecast_chart(self, stack: Stack) -> None:
        data = httpx.post(f"{stack.api}/v1/recommendations:batch", json={"patients": [example()]}, timeout=30,
                          headers=clin(stack)).json()["data"]
        r = httpx.get(f"{stack.api}/v1/recommendations/{data[0]['recommendation_id']}/forecast.svg", headers=clin(stack))
        assert r.status_code == 404 and "no forecast" in r.json()["detail"]

    def test_unknown_recommendation_is_a_404_problem(self, stack: Stack) -> None:
        r = httpx.get(f"{stack.api}/v1/recommendations/{uuid.uuid4()}", headers=clin(stack))
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


class TestConcurrentRequests:
    """Concurrent single requests share batches in the gateway (coalescer.py); nobody may notice but in the latency."""

    VOLATILE = {"recommendation_id", "created_at"}

    def test_each_concurrent_caller_gets_what_it_would_get_alone_and_its_own_audit_event(self, stack: Stack) -> None:
        bodies = [example(patient_ref=f"burst-{i:02d}", current_dose={"value": 2.5 + 0.5 * (i % 8), "unit": "mg"})
                  for i in range(24)]
        bodies[5] = bodies[3]  # a retry of request 3 under its key (a key on another request is refused: tests above)
        roles = ["clinician" if i % 2 else "integrator" for i in range(24)]

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=30) as c:
                return await asyncio.gather(*(
                    c.post(f"{stack.api}/v1/recommendations", json=b, headers=stack.headers[role]
                           | ({"Idempotency-Key": "burst-repeat"} if i in (3, 5) else {}))
                    for i, (b, role) in enumerate(zip(bodies, roles, strict=True))))

        answers = asyncio.run(burst())
        assert [r.status_code for r in answers] == [200] * 24, [r.text[:200] for r in answers if r.status_code != 200]
        recs = [r.json() for r in answers]
        # The same caller's repeated key in one burst: one recommendation, answered twice.
        assert recs[3]["recommendation_id"] == recs[5]["recommendation_id"]
        assert len({r["recommendation_id"] for r in recs}) == 23
        for i in (0, 7, 16):  # alone, each gets the same decision, scores and explanation
            alone = httpx.post(f"{stack.api}/v1/recommendations", json=bodies[i], headers=stack.headers[roles[i]],
                               timeout=10).json()
            assert to_float32_precision({k: v for k, v in alone.items() if k not in self.VOLATILE}) == \
                   to_float32_precision({k: v for k, v in recs[i].items() if k not in self.VOLATILE})
            assert recs[i]["explanation"]["rationale"]

        async def stored() -> tuple[dict[str, str | None], dict[str, str]]:
            engine = make_engine(Settings(DATABASE_URL=stack.db_url))
            try:
                async with make_sessionmaker(engine)() as s:
                    ids = [uuid.UUID(r["recommendation_id"]) for r in recs]
                    rows = (await s.execute(select(models.Recommendation).where(
                        models.Recommendation.id.in_(ids)))).scalars().all()  # type: ignore[attr-defined]
                    events = (await s.execute(select(models.AuditEvent).where(
                        models.AuditEvent.subject_id.in_([str(i) for i in ids])))).scalars().all()  # type: ignore[union-attr]
                    return {str(r.id): r.caller_id for r in rows}, {str(e.subject_id): e.actor for e in events}
            finally:
                await engine.dispose()

        callers, actors = asyncio.run(stored())
        for rec, role in zip(recs, roles, strict=True):
            key_id = stack.key_ids[role]
            assert key_id in str(callers[rec["recommendation_id"]]), "stored under another caller"
            assert key_id in actors[rec["recommendation_id"]], "audited as another caller's act"


    def test_a_key_repeated_across_batches_committed_together_is_stored_once(self, stack: Stack) -> None:
        """Group commit (coalescer.py): two batches computed apart, the same caller's Idempotency-Key in both, committed in
        one transaction. The duplicate fails that transaction; each request is then committed alone: one row, one event, and
        both callers get it."""
        key = f"group-{uuid.uuid4()}"
        caller = Caller(id=f"key:{stack.key_ids['clinician']}", roles=frozenset({Role.CLINICIAN}))
        state = PatientState.model_validate(example(patient_ref="group-0001"))

        async def go() -> tuple[list[list], int, int]:
            engine = make_engine(Settings(DATABASE_URL=stack.db_url))
            client = InferenceClient(stack.inference, timeout_s=30, connect_retries=0)
            try:
                sessions = make_sessionmaker(engine)
                plans = [await plan([RecommendationRequest.single(state, caller, key)], client, sessions, DEV_PSEUDONYM_KEY)
                         for _ in range(2)]
                assert all(len(p.built) == 1 for p in plans)  # neither saw the other's (uncommitted) key
                answers = [[r[0] for r in results] for results in await commit(plans, sessions, DEV_PSEUDONYM_KEY)]
                rec_id = answers[0][0].recommendation.recommendation_id
                async with sessions() as s:
                    rows = (await s.execute(select(func.count()).select_from(models.Recommendation).where(
                        models.Recommendation.id == rec_id))).scalar_one()
                    events = (await s.execute(select(func.count()).select_from(models.AuditEvent).where(
                        models.AuditEvent.subject_id == str(rec_id)))).scalar_one()
                return answers, rows, events
            finally:
                await client.aclose()
                await engine.dispose()

        answers, rows, events = asyncio.run(go())
        assert answers[0][0].recommendation.recommendation_id == answers[1][0].recommendation.recommendation_id
        assert (rows, events) == (1, 1)


class TestBatch:
    def test_batch_scores_every_patient_in_order_and_stores_them(self, stack: Stack) -> None:
        patients = [example(patient_ref=f"batch-{i:04d}", current_dose={"value": 2 + i, "unit": "mg"}) for i in range(25)]
        before = count(stack.db_url)
        r = httpx.post(f"{stack.api}/v1/recommendations:batch", json={"patients": patients}, timeout=30, headers=clin(stack))
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert [d["current_dose"]["value"] for d in data] == [2.0 + i for i in range(25)]
        assert len({d["policy"]["version"] for d in data}) == 1
        assert count(stack.db_url) == before + 25

    def test_batch_errors_name_the_patient_and_field(self, stack: Stack) -> None:
        patients = [example(), example(weight={"value": -1, "unit": "kg"})]
        r = httpx.post(f"{stack.api}/v1/recommendations:batch", json={"patients": patients}, headers=clin(stack))
        assert r.status_code == 422 and "patients.1.weight" in [e["field"] for e in r.json()["errors"]]
        assert r.json()["detail"].startswith(f"{len(r.json()['errors'])} invalid field")

    def test_batch_idempotency(self, stack: Stack) -> None:
        key = f"batch-{uuid.uuid4()}"
        body = {"patients": [example(), example(patient_ref="other-0001")]}
        a = httpx.post(f"{stack.api}/v1/recommendations:batch", json=body, headers=clin(stack) | {"Idempotency-Key": key}).json()
        b = httpx.post(f"{stack.api}/v1/recommendations:batch", json=body, headers=clin(stack) | {"Idempotency-Key": key}).json()
        assert [x["recommendation_id"] for x in a["data"]] == [x["recommendation_id"] for x in b["data"]]

    def test_a_batch_key_reused_for_other_patients_is_refused_naming_them(self, stack: Stack) -> None:
        key = f"batch-{uuid.uuid4()}"
        body = {"patients": [example(), example(patient_ref="other-0001")]}
        first = httpx.post(f"{stack.api}/v1/recommendations:batch", json=body, headers=clin(stack) | {"Idempotency-Key": key})
        body["patients"][1] = example(patient_ref="other-0002")
        second = httpx.post(f"{stack.api}/v1/recommendations:batch", json=body, headers=clin(stack) | {"Idempotency-Key": key})
        assert first.status_code == 200 and second.status_code == 422, second.text
        assert "(patients 1)" in second.json()["detail"]

    @pytest.mark.parametrize("replay", ["fewer", "more", "reordered"])
    def test_a_batch_key_reused_for_another_patient_list_is_refused_like_a_single(self, stack: Stack, replay: str) -> None:
        """The same 422 a single gets for another body: a replay with fewer patients must not answer with the first of
        the stored ones, nor one with more with a mix of stored and new ones. The exact replay still answers."""
        key = f"batch-{uuid.uuid4()}"
        patients = [example(), example(patient_ref="other-0001"), example(patient_ref="other-0002")]
        first = httpx.post(f"{stack.api}/v1/recommendations:batch", json={"patients": patients},
                           headers=clin(stack) | {"Idempotency-Key": key})
        assert first.status_code == 200, first.text
        stored = count(stack.db_url)
        other = {"fewer": patients[:2], "more": [*patients, example(patient_ref="other-0003")],
                 "reordered": patients[::-1]}[replay]
        second = httpx.post(f"{stack.api}/v1/recommendations:batch", json={"patients": other},
                            headers=clin(stack) | {"Idempotency-Key": key})
        assert second.status_code == 422, second.text
        assert second.headers["content-type"] == "application/problem+json"
        assert second.json()["title"] == "Idempotency-Key reused"
        assert count(stack.db_url) == stored
        again = httpx.post(f"{stack.api}/v1/recommendations:batch", json={"patients": patients},
                           headers=clin(stack) | {"Idempotency-Key": key})
        assert again.status_code == 200 and again.json() == first.json()


class TestValidation:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            (example(observations=[{"kind": "inr", "value": 2.0, "unit": "mg/dL", "time": "2026-11-20T08:00:00Z"}]),
             "observations.0.unit"),
            (example(weight={"value": -70, "unit": "kg"}), "weight"),
            ({k: v for k, v in PATIENT_STATE_EXAMPLE.items() if k != "age_years"}, "age_years"),
            (example(observations=[{"kind": "inr", "value": 40, "unit": "{INR}", "time": "2026-11-20T08:00:00Z"}]),
             "observations.0.value"),
            (example(age_years="67"), "age_years"),
            (example(current_dose={"value": 5, "unit": "U"}), "current_dose.unit"),
            (example(current_dose={"value": 5000, "unit": "mg"}), "current_dose.value"),
            (example(doses=[{"amount": 500, "unit": "mg", "time": "2026-11-20T20:00:00Z"}]), "doses.0.amount"),
        ],
        ids=["bad-unit", "negative-weight", "missing-field", "impossible-inr", "string-number", "wrong-dose-unit",
             "implausible-current-dose", "implausible-dose-record"],
    )
    def test_bad_input_is_a_422_naming_the_field(self, stack: Stack, body: dict, field: str) -> None:
        before = count(stack.db_url)
        r = httpx.post(f"{stack.api}/v1/recommendations", json=body, headers=clin(stack))
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["status"] == 422
        assert field in [e["field"] for e in problem["errors"]], problem
        assert all(e["message"] for e in problem["errors"])
        assert count(stack.db_url) == before

    @pytest.mark.parametrize(("path", "literal"), [
        (("current_dose", "value"), "NaN"), (("weight", "value"), "Infinity"), (("doses", 0, "amount"), "-Infinity"),
        (("observations", 0, "value"), "NaN")])
    def test_a_non_finite_number_is_a_422_naming_the_field(self, stack: Stack, path: tuple, literal: str) -> None:
        """Python's JSON parser reads NaN and Infinity literals (not JSON, but some clients send them): a NaN dose once
        passed the gateway's checks and came back from inference as a 503."""
        body = example()
        *parents, leaf = path
        node = body
        for k in parents:
            node = node[k]
        node[leaf] = "__non_finite__"
        before = count(stack.db_url)
        r = httpx.post(f"{stack.api}/v1/recommendations", content=json.dumps(body).replace('"__non_finite__"', literal),
                       headers=clin(stack) | {"Content-Type": "application/json"})
        assert r.status_code == 422, r.text
        assert ".".join(map(str, path)) in [e["field"] for e in r.json()["errors"]]
        assert count(stack.db_url) == before

    def test_each_bad_field_gets_its_own_entry(self, stack: Stack) -> None:
        body = example(weight={"value": -70, "unit": "kg"}, height={"value": 900, "unit": "cm"}, sex="x")
        fields = {e["field"] for e in httpx.post(f"{stack.api}/v1/recommendations", json=body,
                                                 headers=clin(stack)).json()["errors"]}
        assert {"weight", "height", "sex"} <= fields

    def test_oversized_body_is_a_413(self, stack: Stack) -> None:
        body = example(comorbidities=["x" * 60] * 50, co_medications=["y" * 60] * 50)
        body["padding"] = "z" * 5_000_000
        r = httpx.post(f"{stack.api}/v1/recommendations", json=body, headers=clin(stack))
        assert r.status_code == 413 and r.json()["status"] == 413


    def test_a_body_that_is_not_json_is_a_415_and_stores_nothing(self, stack: Stack) -> None:
        """curl -d without a Content-Type sends a form; that is not a patient state, and the answer says what to send."""
        before = count(stack.db_url)
        for content_type in ("application/x-www-form-urlencoded", "text/plain", None):
            headers = clin(stack) | ({"Content-Type": content_type} if content_type else {})
            r = httpx.post(f"{stack.api}/v1/recommendations", content=json.dumps(example()).encode(), headers=headers)
            assert r.status_code == 415 and "application/json" in r.json()["detail"], (content_type, r.text)
        r = httpx.post(f"{stack.api}/v1/recommendations", content=json.dumps(example()),
                       headers=clin(stack) | {"Content-Type": "application/json; charset=utf-8"})
        assert r.status_code == 200, r.text
        assert count(stack.db_url) == before + 1

    def test_malformed_json_is_a_422_on_the_body_saying_where(self, stack: Stack) -> None:
        r = httpx.post(f"{stack.api}/v1/recommendations", content=b'{"therapy": "warfarin",',
                       headers=clin(stack) | {"Content-Type": "application/json"})
        assert r.status_code == 422
        [error] = r.json()["errors"]
        assert error["field"] == "(body)" and "not valid JSON at character 23" in error["message"], error


class TestDiscovery:
    def test_therapies_list_actions_and_required_fields(self, stack: Stack) -> None:
        data = httpx.get(f"{stack.api}/v1/therapies", headers=clin(stack)).json()["data"]
        warfarin = next(t for t in data if t["id"] == "warfarin")
        assert warfarin["dose_unit"] == "mg"
        assert warfarin["actions"][0]["id"] == "hold2-15%"  # index 0: the safest, a hold that then lowers the most
        assert all(f["unit"] for f in warfarin["features"])
        assert "current_dose" in warfarin["required_state_fields"]

    def test_openapi_has_a_complete_example_for_the_request_body(self, stack: Stack) -> None:
        spec = httpx.get(f"{stack.api}/openapi.json").json()
        body = spec["paths"]["/v1/recommendations"]["post"]["requestBody"]["content"]["application/json"]
        examples = body.get("examples") or {}
        assert examples["warfarin"]["value"] == PATIENT_STATE_EXAMPLE

    def test_every_api_answer_is_a_named_schema_in_the_openapi_document(self, stack: Stack) -> None:
        """What the generated client types: no /v1 operation answers an untyped object."""
        spec = httpx.get(f"{stack.api}/openapi.json").json()
        untyped = [f"{method.upper()} {path}" for path, ops in spec["paths"].items() if path.startswith("/v1/")
                   for method, op in ops.items() for code, answer in op["responses"].items() if code.startswith("2")
                   if "$ref" not in answer.get("content", {}).get("application/json", {}).get("schema", {"$ref": "-"})]
        assert not untyped

    def test_health_and_readiness(self, stack: Stack) -> None:
        assert httpx.get(f"{stack.api}/healthz").json() == {"status": "alive"}
        ready = httpx.get(f"{stack.api}/readyz").json()
        assert ready["ready"] is True and ready["checks"] == {"database": "ok", "inference": "ok"}


class TestInferenceReceivesTheView:
    """Inference's side of the contract (dosewise/inference_contract.py), over HTTP: the view the gateway builds from a
    validated state is answered as the gateway answered it, a view no validated state gives is refused with the cell
    named, and patient states themselves are not accepted."""

    def body(self) -> dict:
        pack = get_pack("warfarin")
        view = ClinicView.from_states(pack, [PatientState.model_validate(example(as_of=PATIENT_STATE_EXAMPLE["as_of"]))])
        return json.loads(RecommendRequest.of(pack, view, explain=True).model_dump_json())

    def test_the_view_is_answered_as_the_gateway_answered_its_state(self, stack: Stack) -> None:
        made = httpx.post(f"{stack.api}/v1/recommendations", json=example(), timeout=30, headers=clin(stack)).json()
        r = httpx.post(f"{stack.inference}/v1/recommend", json=self.body(), timeout=30)
        assert r.status_code == 200, r.text
        [item] = r.json()["items"]
        assert item["q_values"] == [a["q_value"] for a in made["action_values"]]
        assert item["action_mask"] == [a["allowed"] for a in made["action_values"]]
        if made["explanation"] is not None:  # the gateway's final check kept inference's choice
            assert item["score"]["rationale"] == made["explanation"]["rationale"]

    def test_a_view_no_validated_state_gives_is_refused_naming_the_cell(self, stack: Stack) -> None:
        body = self.body()
        x = np.frombuffer(base64.b64decode(body["view"]["data"]), dtype="<f8").copy()
        x[layout(get_pack("warfarin")).names.index("weight_kg")] = 4000.0
        body["view"]["data"] = base64.b64encode(x.tobytes()).decode()
        r = httpx.post(f"{stack.inference}/v1/recommend", json=body, timeout=30)
        assert r.status_code == 422, r.text
        assert "patient 0, weight_kg = 4000: outside the column's range" in r.text

    def test_patient_states_are_not_what_inference_takes(self, stack: Stack) -> None:
        r = httpx.post(f"{stack.inference}/v1/recommend", json={"therapy": "warfarin", "states": [example()]}, timeout=30)
        assert r.status_code == 422, r.text


class TestKeepAlive:
    def test_idle_connections_outlive_the_clients_expiry(self, stack: Stack) -> None:
        """A server that closes an idle connection while a client reuses it resets a request it never read (keepalive.py):
        both services keep idle connections past uvicorn's 5 s default and past our client's expiry."""
        assert CLIENT_KEEPALIVE_EXPIRY_S < SERVER_KEEP_ALIVE_S
        for base in (stack.api, stack.inference):
            conn = http.client.HTTPConnection(*base.removeprefix("http://").split(":"), timeout=10)
            try:
                conn.request("GET", "/healthz")
                assert conn.getresponse().read() and conn.sock is not None
                time.sleep(6)
                conn.request("GET", "/healthz")  # the same socket, idle for longer than uvicorn's default keeps it
                assert conn.getresponse().status == 200
            finally:
                conn.close()


class TestInferenceDown:
    """Runs last in this module: it stops inference, then starts it again."""

    def test_recommendations_become_503_and_nothing_is_stored(self, stack: Stack) -> None:
        stack.stop("inference")
        try:
            before = count(stack.db_url)
            r = httpx.post(f"{stack.api}/v1/recommendations", json=PATIENT_STATE_EXAMPLE, timeout=15, headers=clin(stack))
            assert r.status_code == 503
            assert r.headers["content-type"] == "application/problem+json"
            assert "inference" in r.json()["detail"] and "nothing was stored" in r.json()["detail"]
            assert "Traceback" not in r.text
            assert count(stack.db_url) == before
            assert httpx.get(f"{stack.api}/readyz").status_code == 503
        finally:
            stack.start("inference")
            stack.wait_ready(stack.inference + "/readyz")
        assert httpx.post(f"{stack.api}/v1/recommendations", json=PATIENT_STATE_EXAMPLE, timeout=10,
                          headers=clin(stack)).status_code == 200
