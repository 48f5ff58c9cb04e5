"""One caller's flood of batches against the live gateway (issue 24): refused past the caller's share with 429 problem+json
and Retry-After, nothing stored for what was refused, while another caller's single recommendation, sent in the middle of
it, is answered. The rules themselves, on a fake clock, are tests/unit/test_ratelimit.py.

The stack is real (gateway and inference processes, SQLite). Its limits are set small so that the outcome does not depend on
timing: caller A's patients per minute allow two full batches at most (the burst, refilled at one patient a minute), so of
six batches sent at once at least four are refused whether or not they overlap in flight, and each one A has in flight
(its share is one batch) refuses the others meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from dosewise.schemas import PATIENT_STATE_EXAMPLE
from dosewise.settings import Settings
from dosewise.storage import models
from dosewise.storage.db import make_engine, make_sessionmaker
from dosewise.storage.migrate import upgrade
from tests.e2e.conftest import Stack, _stack

FLOOD_BATCHES = 6
PATIENT_BURST = 2000  # two batches of 1,000: the most caller A can have in the whole test
LIMITS = {
    "DOSEWISE_RATE_LIMIT_PATIENTS_PER_MINUTE": "1",
    "DOSEWISE_RATE_LIMIT_PATIENT_BURST": str(PATIENT_BURST),
    "DOSEWISE_ADMISSION_CALLER_BATCH_PATIENTS": "1000",
}


@pytest.fixture(scope="module")
def limited_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("admission-stack")
    url = f"sqlite+aiosqlite:///{tmp / 'dosewise.db'}"
    upgrade(url)
    yield from _stack(url, tmp, LIMITS)


def batch(prefix: str, n: int = 1000) -> dict:
    return {"patients": [PATIENT_STATE_EXAMPLE | {"patient_ref": f"{prefix}-{i:05d}"} for i in range(n)]}


def stored_for(stack: Stack, role: str) -> int:
    async def go() -> int:
        engine = make_engine(Settings(DATABASE_URL=stack.db_url))
        try:
            async with make_sessionmaker(engine)() as s:
                return int((await s.execute(select(func.count()).select_from(models.Recommendation).where(
                    models.Recommendation.caller_id == f"key:{stack.key_ids[role]}"))).scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_a_flood_past_its_share_gets_429s_while_another_callers_single_is_answered(limited_stack: Stack) -> None:
    stack = limited_stack
    flooder, clinician = stack.headers["integrator"], stack.headers["clinician"]
    bodies = [batch(f"flood-{b}") for b in range(FLOOD_BATCHES)]

    async def flood_and_single() -> tuple[list[httpx.Response], httpx.Response]:
        async with httpx.AsyncClient(timeout=120) as c:
            flood = [asyncio.create_task(c.post(f"{stack.api}/v1/recommendations:batch", json=b, headers=flooder))
                     for b in bodies]
            single = await c.post(f"{stack.api}/v1/recommendations", json=PATIENT_STATE_EXAMPLE, headers=clinician)
            return list(await asyncio.gather(*flood)), single

    flood, single = asyncio.run(flood_and_single())

    assert single.status_code == 200, single.text[:300]
    assert single.json()["recommended_dose"]["unit"] == "mg"
    statuses = [r.status_code for r in flood]
    assert set(statuses) <= {200, 429}, [r.text[:300] for r in flood if r.status_code not in (200, 429)]
    assert 1 <= statuses.count(200) <= PATIENT_BURST // 1000
    for r in (r for r in flood if r.status_code == 429):
        assert r.headers["content-type"] == "application/problem+json"
        assert int(r.headers["retry-after"]) >= 1
        problem = r.json()
        assert problem["status"] == 429 and problem["title"] and problem["detail"]
        assert problem["type"].rsplit("/", 1)[1] in ("in-flight-limited", "patient-rate-limited")
    # What was refused was not stored: A's rows are exactly the batches it was answered.
    assert stored_for(stack, "integrator") == 1000 * statuses.count(200)

    # Once A's burst of patients is spent (one patient a minute refills it), it is told how long to wait; the others are not.
    for left in range(PATIENT_BURST // 1000 - statuses.count(200)):
        r = httpx.post(f"{stack.api}/v1/recommendations:batch", json=batch(f"left-{left}"), headers=flooder, timeout=60)
        assert r.status_code == 200, r.text[:300]
    again = httpx.post(f"{stack.api}/v1/recommendations:batch", json=batch("again"), headers=flooder, timeout=60)
    assert again.status_code == 429 and again.json()["type"].endswith("/patient-rate-limited")
    assert int(again.headers["retry-after"]) > 60
    other = httpx.post(f"{stack.api}/v1/recommendations:batch", json=batch("other", 2), headers=clinician, timeout=60)
    assert other.status_code == 200 and other.json()["count"] == 2


def test_the_openapi_document_promises_429_and_503_with_retry_after_on_both_recommendation_routes(
    limited_stack: Stack,
) -> None:
    doc = httpx.get(f"{limited_stack.api}/openapi.json", timeout=10).json()
    for path in ("/v1/recommendations", "/v1/recommendations:batch"):
        responses = doc["paths"][path]["post"]["responses"]
        for status in ("429", "503"):
            assert "Retry-After" in responses[status]["headers"], (path, status)
            assert responses[status]["content"]["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"}
        assert "in flight" in responses["429"]["description"] and "in flight" in responses["503"]["description"]

