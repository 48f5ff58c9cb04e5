"""Issue 24.1 on real processes: a second clinician's key cannot write an outcome for a recommendation it did not make. It is
told exactly what an unknown id is told (404; in a batch, a not_found entry), nothing reaches the outcome, outbox or audit
tables, and the clinician who made the recommendation records its outcome afterwards (201, not 409)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select

from dosewise.schemas import PATIENT_STATE_EXAMPLE
from dosewise.settings import Settings
from dosewise.storage import models
from dosewise.storage.db import make_engine, make_sessionmaker
from tests.e2e.conftest import Stack


def _tallies(db_url: str, rec_id: str, actor: str) -> tuple[int, int, int]:
    """(outcomes of this recommendation, outbox rows, audit events by this actor)."""

    async def go() -> tuple[int, int, int]:
        engine = make_engine(Settings(DATABASE_URL=db_url))
        try:
            async with make_sessionmaker(engine)() as s:
                async def n(table: type, *where: Any) -> int:
                    return int((await s.execute(select(func.count()).select_from(table).where(*where))).scalar_one())

                return (await n(models.Outcome, models.Outcome.recommendation_id == uuid.UUID(rec_id)),
                        await n(models.OutboxEvent), await n(models.AuditEvent, models.AuditEvent.actor == actor))
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _second_clinician(stack: Stack) -> tuple[str, dict[str, str]]:
    """(caller id, headers) of a clinician key minted through the admin API, as a hospital would mint it."""
    r = httpx.post(f"{stack.api}/v1/keys", json={"name": "second-clinician", "role": "clinician"}, timeout=10,
                   headers=stack.admin_headers)
    assert r.status_code == 201, r.text
    return f"key:{r.json()['id']}", {"Authorization": f"Bearer {r.json()['token']}"}


def _bleed(rec: dict[str, Any]) -> dict[str, Any]:
    return {"recommendation_id": rec["recommendation_id"], "dose_given": {"value": 0, "unit": "mg"},
            "feedback": {"decision": "overridden", "reason_code": "bleeding_risk"},
            "adverse_events": [{"kind": "major_bleeding", "severity": "life_threatening", "time": "2026-11-23T20:00:00Z"}]}


def test_a_second_clinician_cannot_answer_my_recommendation(stack: Stack) -> None:
    mine = stack.clinician_headers
    state = PATIENT_STATE_EXAMPLE | {"patient_ref": f"owner-{uuid.uuid4().hex[:12]}"}
    rec = httpx.post(f"{stack.api}/v1/recommendations", json=state, timeout=30, headers=mine).json()
    other_id, other = _second_clinician(stack)
    before = _tallies(stack.db_url, rec["recommendation_id"], other_id)

    forged = httpx.post(f"{stack.api}/v1/outcomes", json=_bleed(rec), timeout=10,
                        headers=other | {"Idempotency-Key": "forged-1"})
    unknown_id = str(uuid.uuid4())
    unknown = httpx.post(f"{stack.api}/v1/outcomes", json=_bleed(rec) | {"recommendation_id": unknown_id}, timeout=10,
                         headers=other | {"Idempotency-Key": "forged-2"})
    assert forged.status_code == unknown.status_code == 404, forged.text
    assert forged.headers["content-type"] == "application/problem+json"
    assert forged.json() == unknown.json() | {"detail": unknown.json()["detail"].replace(unknown_id, rec["recommendation_id"])}
    assert not any(s in forged.text for s in (rec["patient_ref"], rec["policy"]["version"], "recommended_dose"))

    batch = httpx.post(f"{stack.api}/v1/outcomes:batch", json={"outcomes": [_bleed(rec) | {"idempotency_key": "forged-3"}]},
                       timeout=10, headers=other)
    assert batch.status_code == 422, batch.text
    assert [(e["field"], e["type"]) for e in batch.json()["errors"]] == [("outcomes.0.recommendation_id", "not_found")]
    assert rec["patient_ref"] not in batch.text
    assert _tallies(stack.db_url, rec["recommendation_id"], other_id) == before  # no outcome, outbox row or audit event

    accepted = {"recommendation_id": rec["recommendation_id"], "dose_given": rec["recommended_dose"],
                "regimen": rec["plan"]["dose_per_day"], "feedback": {"decision": "accepted"}}
    r = httpx.post(f"{stack.api}/v1/outcomes", json=accepted, timeout=10, headers=mine | {"Idempotency-Key": "mine-1"})
    assert r.status_code == 201, r.text  # not 409: the forgery answered nothing
    assert r.json()["adverse_events"] == [] and r.json()["feedback"]["decision"] == "accepted"
    assert _tallies(stack.db_url, rec["recommendation_id"], other_id)[0] == 1
