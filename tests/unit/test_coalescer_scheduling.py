"""The coalescer never strands a request (services/api/dosewise_api/coalescer.py): one that arrives in the very loop
iteration in which the compute worker finds the queue empty and ends still gets a worker. Before the fix the finished
worker was forgotten only by its done callback, which runs an iteration later; a request arriving in between saw a worker
"in flight", started none, and waited forever (seen as an intermittent hang of tests/integration/test_audit_chain.py).

Scheduling only: ``recommendations.plan`` and ``recommendations.commit`` are replaced by stand-ins that take a fixed
number of event-loop steps, so every interleaving below is deterministic; what they compute is tested end to end
elsewhere (tests/e2e/test_recommendation_flow.py, TestConcurrentRequests)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dosewise_api import coalescer as co


async def _steps(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


@pytest.fixture
def stand_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    async def plan(requests: list[co.RecommendationRequest], *_: Any) -> list[co.RecommendationRequest]:
        await _steps(2)
        return requests

    async def commit(plans: list[list[co.RecommendationRequest]], *_: Any) -> list[list[list[str]]]:
        await _steps(2)
        return [[[f"answer {r.states[0]}"] for r in p] for p in plans]

    monkeypatch.setattr(co, "plan", plan)
    monkeypatch.setattr(co, "commit", commit)


@pytest.mark.parametrize("gap", range(16))
async def test_a_request_arriving_as_the_worker_ends_is_answered(stand_ins: None, gap: int) -> None:
    c = co.RecommendationCoalescer(client=None, sessions=None, pseudonym_key="k")  # type: ignore[arg-type]
    first = asyncio.create_task(c.recommend("one", caller=None))  # type: ignore[arg-type]
    await _steps(gap)  # every offset from "worker still busy" to "worker long gone"
    second = asyncio.create_task(c.recommend("two", caller=None))  # type: ignore[arg-type]
    assert await asyncio.wait_for(asyncio.gather(first, second), timeout=2) == ["answer one", "answer two"]
    await c.aclose()
