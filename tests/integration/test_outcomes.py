"""POST /v1/outcomes and /v1/outcomes:batch (services/api/dosewise_api/outcomes.py) on a real database, SQLite and PostgreSQL:
one transaction for outcome + outbox event + audit event, idempotency keys, one outcome per recommendation, only the
recommendation's own caller answers it, validation with the PatientState rules, and outcomes accepted while the queue is
down."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise import apikeys, decision
from dosewise.apikeys import Role
from dosewise.queue.base import OUTCOMES_STREAM
from dosewise.schemas import PATIENT_STATE_EXAMPLE, PatientState
from dosewise.settings import Settings
from dosewise.storage import models
from dosewise.storage.db import transaction
from dosewise.therapies.clinic import action_index
from dosewise.therapies.registry import get_pack
from dosewise_api.app import create_app
from tests.jwt_issuer import TestIssuer

KEEP = action_index(get_pack("warfarin"), "keep")  # regimen unchanged
OWNER_ID = "key:outcome-tests"  # the caller that made make_recommendations' rows, unless told otherwise
DECIDED = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)


@dataclass
class Api:
    client: httpx.AsyncClient
    sessions: async_sessionmaker[AsyncSession]
    caller_id: str  # the client's API key, as recommendations record their caller
    issuer: TestIssuer  # an identity provider the gateway trusts (JWT callers)
    baseline: tuple[int, int, int] = (0, 0, 0)  # the PostgreSQL database is shared by the session's tests

    async def count(self, table: type, *where: Any) -> int:
        async with self.sessions() as s:
            return int((await s.execute(select(func.count()).select_from(table).where(*where))).scalar_one())

    async def totals(self) -> tuple[int, int, int]:
        return (await self.count(models.Outcome), await self.count(models.OutboxEvent),
                await self.count(models.AuditEvent, models.AuditEvent.action == "outcome.record"))

    async def counts(self) -> tuple[int, int, int]:
        """(outcomes, outbox rows, outcome.record audit events) written by this test."""
        now = await self.totals()
        return (now[0] - self.baseline[0], now[1] - self.baseline[1], now[2] - self.baseline[2])

    async def recommend(self, n: int, **kwargs: Any) -> list[models.Recommendation]:
        """Recommendations made by this client's caller (``caller_id=`` another one's)."""
        kwargs.setdefault("caller_id", self.caller_id)
        return await make_recommendations(self.sessions, n, **kwargs)


async def make_recommendations(sessions: async_sessionmaker[AsyncSession], n: int, action: int = KEEP,
                               behaviour_probability: float = 0.9,
                               caller_id: str | None = OWNER_ID) -> list[models.Recommendation]:
    """Recommendation rows as the gateway stores them (features from the real pack), decided at DECIDED, made by
    ``caller_id`` (only that caller may record their outcomes)."""
    rows = []
    for i in range(n):
        state = PatientState.model_validate(PATIENT_STATE_EXAMPLE | {
            "patient_ref": f"outcome-test-{uuid.uuid4().hex[:8]}-{i}", "as_of": DECIDED.isoformat(),
            "observations": [{"kind": "inr", "value": 2.4, "unit": "{INR}", "time": (DECIDED - timedelta(days=1)).isoformat()}],
            "doses": [{"amount": 5, "unit": "mg", "time": (DECIDED - timedelta(days=d, hours=12)).isoformat()}
                      for d in range(7)]})
        prep = decision.prepare([state])
        given, _ = prep.pack.apply_actions(prep.view.current_dose, [action])
        rows.append(models.Recommendation(
            caller_id=caller_id, therapy="warfarin", patient_ref=f"pz_{uuid.uuid4().hex}", policy_id="p" * 32,
            policy_version="test-v1", policy_status="active", action_index=action, action_id=prep.pack.actions[action].id,
            current_dose=float(prep.view.current_dose[0]), recommended_dose=float(given[0]), dose_unit="mg",
            behaviour_probability=behaviour_probability, features=[float(x) for x in prep.features[0]],
            state=state.model_dump(mode="json"), response={}))
    async with transaction(sessions) as s:
        s.add_all(rows)
    return rows


def outcome(rec: models.Recommendation, **changes: Any) -> dict[str, Any]:
    """An accepted outcome: the recommended dose given, an in-range INR the next morning."""
    body: dict[str, Any] = {
        "recommendation_id": str(rec.id), "dose_given": {"value": rec.recommended_dose, "unit": "mg"},
        "feedback": {"decision": "accepted"},
        "observations": [{"kind": "inr", "value": 2.5, "unit": "{INR}", "time": (DECIDED + timedelta(days=1)).isoformat()}],
    }
    return body | changes


@pytest.fixture()
async def api(db_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    # REDIS_URL points at a port nothing listens on: recording an outcome must not need the queue.
    issuer = TestIssuer(tmp_path)
    settings = Settings(DATABASE_URL=db_url, DOSEWISE_VAR_DIR=str(tmp_path), DOSEWISE_ENV="test",
                        REDIS_URL="redis://127.0.0.1:1/0", DOSEWISE_RATE_LIMIT_PER_MINUTE=1_000_000,
                        DOSEWISE_RATE_LIMIT_BURST=100_000, **issuer.env())
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        sessions = app.state.sessions
        key = await apikeys.create(sessions, name="outcomes-test", role=Role.CLINICIAN, actor="test", actor_role="admin")
        headers = {"Authorization": f"Bearer {key.token}"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway",
                                     headers=headers) as client:
            api = Api(client, sessions, f"key:{key.key.id}", issuer)
            api.baseline = await api.totals()
            yield api


async def post(api: Api, body: dict[str, Any], key: str | None = "k-1") -> httpx.Response:
    return await api.client.post("/v1/outcomes", json=body, headers={"Idempotency-Key": key} if key else {})


class TestRecord:
    async def test_outcome_outbox_and_audit_are_written_together_while_the_queue_is_down(self, api: Api) -> None:
        [rec] = await api.recommend(1)
        r = await post(api, outcome(rec))
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["recommendation_id"] == str(rec.id) and body["patient_ref"] == rec.patient_ref
        assert body["dose_given"] == {"value": 5.0, "unit": "mg"} and body["regimen"] == {"value": 5.0, "unit": "mg"}
        assert await api.counts() == (1, 1, 1)
        async with api.sessions() as s:
            event = (await s.execute(select(models.OutboxEvent).order_by(models.OutboxEvent.id.desc()).limit(1))).scalar_one()
            audit = (await s.execute(select(models.AuditEvent).where(models.AuditEvent.subject_id == body["outcome_id"]))
                     ).scalar_one()
        assert event.stream == OUTCOMES_STREAM and event.sent_at is None  # waits for the relay
        assert event.payload == {"event": "outcome_recorded", "outcome_id": body["outcome_id"], "therapy": "warfarin"}
        assert (audit.action, audit.subject_id, audit.patient_ref) == ("outcome.record", body["outcome_id"], rec.patient_ref)

    async def test_a_failure_inside_the_transaction_leaves_no_outcome_behind(self, api: Api,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
        """The outbox row cannot be written (NOT NULL violated): the outcome and audit rows roll back with it."""
        from dosewise_api import outcomes as use_case

        monkeypatch.setattr(use_case, "outcome_events", lambda pairs: [models.OutboxEvent(stream=None, payload={})
                                                                       for _ in pairs])
        [rec] = await api.recommend(1)
        r = await post(api, outcome(rec))
        assert r.status_code >= 500
        assert await api.counts() == (0, 0, 0)

    async def test_override_is_stored_with_its_reason_and_dose_units_are_normalized(self, api: Api) -> None:
        [rec] = await api.recommend(1)
        feedback = {"decision": "overridden", "reason_code": "bleeding_risk", "reason": "recent fall; lower dose"}
        r = await post(api, outcome(rec, dose_given={"value": 0.004, "unit": "g"}, feedback=feedback))
        assert r.status_code == 201, r.text
        assert r.json()["dose_given"] == {"value": 4.0, "unit": "mg"}
        assert r.json()["feedback"] == feedback
        async with api.sessions() as s:
            row = (await s.execute(select(models.Outcome).where(models.Outcome.recommendation_id == rec.id))).scalar_one()
        assert row.payload["record"]["feedback"]["reason"] == "recent fall; lower dose"


class TestIdempotency:
    async def test_same_key_same_body_returns_the_stored_result_and_writes_nothing(self, api: Api) -> None:
        [rec] = await api.recommend(1)
        first = await post(api, outcome(rec))
        second = await post(api, outcome(rec))
        assert second.status_code == 201 and second.json() == first.json()
        assert second.headers.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in first.headers
        assert await api.counts() == (1, 1, 1)

    async def test_same_key_different_body_is_refused(self, api: Api) -> None:
        [rec] = await api.recommend(1)
        await post(api, outcome(rec))
        r = await post(api, outcome(rec, course_ended=True))
        assert r.status_code == 422 and "reused with a different request" in r.json()["detail"]
        assert await api.counts() == (1, 1, 1)

    async def test_concurrent_retries_of_one_key_store_one_outcome(self, api: Api) -> None:
        [rec] = await api.recommend(1)
        results = await asyncio.gather(*(post(api, outcome(rec), key="same") for _ in range(6)))
        assert {r.status_code for r in results} == {201}
        assert len({r.json()["outcome_id"] for r in results}) == 1
        assert await api.counts() == (1, 1, 1)

    async def test_keys_are_scoped_to_the_caller(self, api: Api) -> None:
        """Another caller reusing the key is a different outcome request, not a replay of this caller's."""
        other = await apikeys.create(api.sessions, name="other-ehr", role=Role.INTEGRATOR, actor="test", actor_role="admin")
        [a] = await api.recommend(1)
        [b] = await api.recommend(1, caller_id=f"key:{other.key.id}")  # each answers its own recommendation
        assert (await post(api, outcome(a), key="shared")).status_code == 201
        r = await api.client.post("/v1/outcomes", json=outcome(b),
                                  headers={"Idempotency-Key": "shared", "Authorization": f"Bearer {other.token}"})
        assert r.status_code == 201 and r.json()["recommendation_id"] == str(b.id)

    async def test_the_key_is_required(self, api: Api) -> None:
        [rec] = await api.recommend(1)
        r = await post(api, outcome(rec), key=None)
        assert r.status_code == 422 and "idempotency-key" in r.text.lower()


class TestOneOutcomePerRecommendation:
    async def test_a_second_outcome_under_another_key_is_a_conflict(self, api: Api) -> None:
        [rec] = await api.recommend(1)
        assert (await post(api, outcome(rec), key="a")).status_code == 201
        r = await post(api, outcome(rec), key="b")
        assert r.status_code == 409
        assert await api.counts() == (1, 1, 1)

    async def test_racing_outcomes_for_one_recommendation_store_one(self, api: Api) -> None:
        [rec] = await api.recommend(1)
        results = await asyncio.gather(*(post(api, outcome(rec), key=f"race-{i}") for i in range(5)))
        assert sorted(r.status_code for r in results) == [201, 409, 409, 409, 409]
        assert await api.counts() == (1, 1, 1)

    async def test_unknown_recommendation_is_404(self, api: Api) -> None:
        [rec] = await api.recommend(1)
        unknown = str(uuid.uuid4())
        r = await post(api, outcome(rec, recommendation_id=unknown))
        assert r.status_code == 404
        problem = r.json()  # RFC 9457: a fixed title per problem type, the occurrence in the detail
        assert problem["title"] == "Not Found" and unknown in problem["detail"] and unknown not in problem["title"]

    async def test_an_erased_patients_recommendation_takes_no_outcome(self, api: Api) -> None:
        """After `dosewise patients erase` the recommendation is a tombstone: nothing new is learned about the patient."""
        from sqlalchemy import update

        from dosewise.erasure import ERASED

        [rec] = await api.recommend(1)
        async with transaction(api.sessions) as s:
            await s.execute(update(models.Recommendation).where(models.Recommendation.id == rec.id)
                            .values(state={ERASED: True}, response={ERASED: True}, features=[]))
        r = await post(api, outcome(rec))
        assert r.status_code == 410
        assert await api.counts() == (0, 0, 0)


class TestValidation:
    """Observations follow the PatientState rules (schemas.Observation, then the pack's), one 422 entry per bad field."""

    @pytest.mark.parametrize(("change", "field", "message"), [
        ({"observations": [{"kind": "inr", "value": 40, "unit": "{INR}", "time": (DECIDED + timedelta(days=1)).isoformat()}]},
         "observations.0.value", "physiologically impossible"),
        ({"observations": [{"kind": "glucose_fasting", "value": 100, "unit": "mg/dL",
                            "time": (DECIDED + timedelta(days=1)).isoformat()}]},
         "observations.0.kind", "warfarin uses observation kinds inr"),
        ({"observations": [{"kind": "inr", "value": 2.1, "unit": "{INR}", "time": (DECIDED - timedelta(hours=1)).isoformat()}]},
         "observations.0.time", "follow the recommendation's decision time"),
        ({"observations": [{"kind": "inr", "value": 2.1, "unit": "{INR}",
                            "time": (datetime.now(UTC) + timedelta(days=1)).isoformat()}]},
         "observations.0.time", "future"),
        ({"observations": [{"kind": "inr", "value": 2.1, "unit": "mmol/L", "time": (DECIDED + timedelta(days=1)).isoformat()}]},
         "observations.0.unit", "not a inr unit"),
        ({"dose_given": {"value": 5, "unit": "U"}}, "dose_given.unit", "not a dose_mg unit"),
        ({"dose_given": {"value": 500, "unit": "mg"}, "feedback": {"decision": "overridden", "reason_code": "other"}},
         "dose_given.value", "implausible"),
        ({"dose_given": {"value": 6, "unit": "mg"}}, "feedback.decision", "report a different dose as overridden"),
        ({"feedback": {"decision": "overridden"}}, "feedback", "needs a reason"),
    ])
    async def test_invalid_outcomes_are_refused_field_by_field(self, api: Api, change: dict, field: str,
                                                               message: str) -> None:
        [rec] = await api.recommend(1)
        r = await post(api, outcome(rec, **change))
        assert r.status_code == 422, r.text
        errors = {e["field"]: e["message"] for e in r.json()["errors"]}
        assert field in errors and message in errors[field], errors
        assert await api.counts() == (0, 0, 0)


class TestBatch:
    async def test_records_many_in_one_transaction_and_replays_per_item(self, api: Api) -> None:
        recs = await api.recommend(3)
        items = [outcome(r) | {"idempotency_key": f"b-{i}"} for i, r in enumerate(recs)]
        r = await api.client.post("/v1/outcomes:batch", json={"outcomes": items[:2]})
        assert r.status_code == 200 and r.json()["count"] == 2
        r2 = await api.client.post("/v1/outcomes:batch", json={"outcomes": items})
        assert r2.status_code == 200 and r2.json()["data"][:2] == r.json()["data"]
        assert await api.counts() == (3, 3, 3)

    async def test_one_bad_item_refuses_the_whole_batch_with_its_index(self, api: Api) -> None:
        recs = await api.recommend(2)
        items = [outcome(recs[0]) | {"idempotency_key": "x-0"},
                 outcome(recs[1], recommendation_id=str(uuid.uuid4())) | {"idempotency_key": "x-1"}]
        r = await api.client.post("/v1/outcomes:batch", json={"outcomes": items})
        assert r.status_code == 422
        assert [e["field"] for e in r.json()["errors"]] == ["outcomes.1.recommendation_id"]
        assert r.json()["detail"] == "1 invalid field: outcomes.1.recommendation_id"
        assert await api.counts() == (0, 0, 0)


def bleed(rec: models.Recommendation) -> dict[str, Any]:
    """The forgery of the issue: a life-threatening bleed, the dose held."""
    return outcome(rec, dose_given={"value": 0, "unit": "mg"},
                   feedback={"decision": "overridden", "reason_code": "bleeding_risk"},
                   adverse_events=[{"kind": "major_bleeding", "severity": "life_threatening",
                                    "time": (DECIDED + timedelta(hours=20)).isoformat()}])


async def stranger(api: Api, role: Role = Role.CLINICIAN) -> tuple[str, dict[str, str]]:
    """(caller id, headers) of another caller: a second key of the same role."""
    key = await apikeys.create(api.sessions, name="second-clinician", role=role, actor="test", actor_role="admin")
    return f"key:{key.key.id}", {"Authorization": f"Bearer {key.token}"}


def reveals_nothing(r: httpx.Response, rec: models.Recommendation) -> bool:
    """None of what the forged reply of the issue showed: the pseudonym, the policy, the dose, the therapy."""
    return not any(s in r.text for s in (rec.patient_ref, rec.policy_version, "recommended_dose", "warfarin", "erased"))


class TestOnlyTheRecommendationsCallerAnswersIt:
    """Issue 24.1: an outcome is written only by the caller that made the recommendation; anyone else is told exactly what an
    unknown id is told, and nothing is written."""

    async def test_another_callers_outcome_is_404_writes_nothing_and_the_owners_is_then_201(self, api: Api) -> None:
        [rec] = await api.recommend(1)
        other_id, other = await stranger(api)
        audit_before = await api.count(models.AuditEvent)
        r = await api.client.post("/v1/outcomes", json=bleed(rec), headers=other | {"Idempotency-Key": "forged"})
        assert r.status_code == 404, r.text
        assert reveals_nothing(r, rec), r.text
        assert await api.counts() == (0, 0, 0)  # no outcome, no outbox event, no outcome audit event
        assert await api.count(models.AuditEvent) == audit_before
        assert await api.count(models.AuditEvent, models.AuditEvent.actor == other_id) == 0
        mine = await post(api, outcome(rec), key="mine")
        assert mine.status_code == 201, mine.text  # not 409: nothing answered it
        assert mine.json()["adverse_events"] == [] and mine.json()["feedback"] == {"decision": "accepted", "reason_code": None,
                                                                                  "reason": None}
        assert await api.counts() == (1, 1, 1)

    async def test_the_404_is_the_one_an_unknown_id_gets(self, api: Api) -> None:
        """Same status, same problem body (bar the id the caller itself sent): the reply does not tell whether the id exists,
        and it matches what a read of another caller's recommendation answers."""
        [rec] = await api.recommend(1)
        _, other = await stranger(api)
        unknown = str(uuid.uuid4())
        foreign = await api.client.post("/v1/outcomes", json=bleed(rec), headers=other | {"Idempotency-Key": "f-1"})
        missing = await api.client.post("/v1/outcomes", json=bleed(rec) | {"recommendation_id": unknown},
                                        headers=other | {"Idempotency-Key": "f-2"})
        assert (foreign.status_code, missing.status_code) == (404, 404)
        assert foreign.headers["content-type"] == missing.headers["content-type"] == "application/problem+json"
        assert foreign.json() == missing.json() | {"detail": missing.json()["detail"].replace(unknown, str(rec.id))}
        read = await api.client.get(f"/v1/recommendations/{rec.id}", headers=other)
        assert read.status_code == 404
        assert {k: read.json()[k] for k in ("type", "title", "status")} == {k: foreign.json()[k]
                                                                           for k in ("type", "title", "status")}

    async def test_erased_and_answered_are_told_only_to_the_owner(self, api: Api) -> None:
        """410 and 409 would tell a stranger that the id exists (and what became of it): a stranger gets the 404."""
        from sqlalchemy import update

        from dosewise.erasure import ERASED

        erased, answered = await api.recommend(2)
        async with transaction(api.sessions) as s:
            await s.execute(update(models.Recommendation).where(models.Recommendation.id == erased.id)
                            .values(state={ERASED: True}, response={ERASED: True}, features=[]))
        assert (await post(api, outcome(answered), key="mine")).status_code == 201
        _, other = await stranger(api)
        for rec, owners_status in ((erased, 410), (answered, 409)):
            r = await api.client.post("/v1/outcomes", json=bleed(rec), headers=other | {"Idempotency-Key": f"f-{rec.id}"})
            assert r.status_code == 404 and reveals_nothing(r, rec), r.text
            assert (await post(api, bleed(rec), key=f"again-{rec.id}")).status_code == owners_status
        assert await api.counts() == (1, 1, 1)

    async def test_a_jwt_caller_answers_only_its_own_subjects_recommendations(self, api: Api) -> None:
        [rec] = await api.recommend(1, caller_id="jwt:dr-a")
        as_b = {"Authorization": f"Bearer {api.issuer.token(sub='dr-b', roles=['clinician'])}"}
        as_a = {"Authorization": f"Bearer {api.issuer.token(sub='dr-a', roles=['clinician'])}"}
        r = await api.client.post("/v1/outcomes", json=bleed(rec), headers=as_b | {"Idempotency-Key": "k"})
        assert r.status_code == 404 and reveals_nothing(r, rec), r.text
        assert (await post(api, outcome(rec))).status_code == 404  # the API key is not dr-a either
        r = await api.client.post("/v1/outcomes", json=outcome(rec), headers=as_a | {"Idempotency-Key": "k"})
        assert r.status_code == 201, r.text
        assert await api.counts() == (1, 1, 1)

    async def test_in_a_batch_the_foreign_item_is_a_not_found_entry_and_nothing_is_written(self, api: Api) -> None:
        other_id, other = await stranger(api, Role.INTEGRATOR)
        [mine] = await api.recommend(1)
        [theirs] = await api.recommend(1, caller_id=other_id)
        items = [outcome(theirs) | {"idempotency_key": "b-0"}, bleed(mine) | {"idempotency_key": "b-1"}]
        r = await api.client.post("/v1/outcomes:batch", json={"outcomes": items}, headers=other)
        assert r.status_code == 422, r.text
        assert r.json()["errors"] == [{"field": "outcomes.1.recommendation_id", "path": ["outcomes", 1, "recommendation_id"],
                                       "message": "recommendation not found (unknown, or made by another caller)",
                                       "type": "not_found"}]
        assert reveals_nothing(r, mine), r.text
        unknown = [items[0], items[1] | {"recommendation_id": str(uuid.uuid4())}]
        same = await api.client.post("/v1/outcomes:batch", json={"outcomes": unknown}, headers=other)
        assert same.json() == r.json()  # an unknown id's entry, word for word
        assert await api.counts() == (0, 0, 0)  # not even the stranger's own, valid item
        assert (await api.client.post("/v1/outcomes:batch", json={"outcomes": items[:1]}, headers=other)).status_code == 200
        r = await api.client.post("/v1/outcomes:batch", json={"outcomes": [outcome(mine) | {"idempotency_key": "b-1"}]})
        assert r.status_code == 200, r.text  # mine is unanswered: not a 409
        assert await api.counts() == (2, 2, 2)

    async def test_a_replay_never_shows_an_outcome_of_another_callers_recommendation(self, api: Api) -> None:
        """A stranger reusing my key gets no replay of my outcome; and an outcome stored under a stranger's key for my
        recommendation (what a forgery left behind before this rule) is never replayed to it, alone or in a batch."""
        from sqlalchemy import update

        other_id, other = await stranger(api)
        [mine, forged] = await api.recommend(2, caller_id=other_id)
        first = await api.client.post("/v1/outcomes", json=bleed(forged), headers=other | {"Idempotency-Key": "old"})
        assert first.status_code == 201  # while the recommendation was still the stranger's
        async with transaction(api.sessions) as s:  # now it is mine, as a forged recommendation always was
            await s.execute(update(models.Recommendation).where(models.Recommendation.id.in_([mine.id, forged.id]))
                            .values(caller_id=api.caller_id))
        assert (await post(api, outcome(mine), key="shared")).status_code == 201
        before = await api.counts()

        reuse = await api.client.post("/v1/outcomes", json=outcome(mine), headers=other | {"Idempotency-Key": "shared"})
        assert reuse.status_code == 404 and reveals_nothing(reuse, mine), reuse.text
        replay = await api.client.post("/v1/outcomes", json=bleed(forged), headers=other | {"Idempotency-Key": "old"})
        assert replay.status_code == 404 and reveals_nothing(replay, forged), replay.text
        assert "Idempotent-Replayed" not in replay.headers
        batch = await api.client.post("/v1/outcomes:batch", json={"outcomes": [bleed(forged) | {"idempotency_key": "old"}]},
                                      headers=other)
        assert batch.status_code == 422 and reveals_nothing(batch, forged), batch.text
        assert [(e["field"], e["type"]) for e in batch.json()["errors"]] == [("outcomes.0.recommendation_id", "not_found")]
        assert await api.counts() == before


class TestOwnershipQuery:
    """``RecommendationRepository.owned_by``: the one check behind reads by id and outcomes."""

    async def test_only_the_callers_rows_and_a_row_without_caller_is_nobodys(self, api: Api) -> None:
        from dosewise.storage.repositories import RecommendationRepository

        [mine] = await api.recommend(1)
        [theirs] = await api.recommend(1, caller_id="key:someone-else")
        [nobodys] = await api.recommend(1, caller_id=None)
        async with api.sessions() as s:
            repo = RecommendationRepository(s)
            ids = [mine.id, theirs.id, nobodys.id, uuid.uuid4()]
            assert set(await repo.owned_by(api.caller_id, ids)) == {mine.id}
            assert (await repo.get(theirs.id, caller_id=api.caller_id)) is None
            assert (await repo.get(theirs.id)) is not None  # no caller given: the system's own reads
            with pytest.raises(ValueError, match="caller's id"):
                await repo.owned_by("", ids)
