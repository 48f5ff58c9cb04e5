"""From outcome to transition (services/trainer/dosewise_trainer/transitions.py, worker.py) and the outbox relay
(shared/dosewise/outbox.py) on real databases and queues: one transition per outcome whatever is redelivered, rewards from
the observed outcome, overrides as evidence, commit-then-ack, claims after a crash, and messages the queue lost."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise.outbox import OutboxRelay
from dosewise.queue.base import OUTCOMES_STREAM, Message, Queue
from dosewise.settings import Settings
from dosewise.storage import models
from dosewise.storage.db import make_engine, make_sessionmaker, transaction
from dosewise.therapies.clinic import action_index
from dosewise.therapies.registry import get_pack
from dosewise_api.auth import Caller
from dosewise_api.outcomes import OutcomeCreate, record_outcomes
from dosewise_trainer import worker
from dosewise_trainer.transitions import record_transitions
from tests.integration.test_outcomes import DECIDED, KEEP, OWNER_ID, make_recommendations, outcome

CALLER = Caller(id=OWNER_ID, roles=frozenset())  # the caller that made make_recommendations' rows: it may answer them
WARFARIN = get_pack("warfarin")
FEATURES = [f.name for f in WARFARIN.feature_specs]


async def record(sessions: async_sessionmaker[AsyncSession], bodies: list[dict[str, Any]]) -> list[uuid.UUID]:
    items = [OutcomeCreate.model_validate(b) for b in bodies]
    done = await record_outcomes(items, [uuid.uuid4().hex for _ in items], CALLER, sessions)
    return [d.record.outcome_id for d in done]


async def transitions_of(sessions: async_sessionmaker[AsyncSession], ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
    async with sessions() as s:
        rows = (await s.execute(select(models.Transition).where(models.Transition.outcome_id.in_(ids)))).scalars().all()
    assert len(rows) == len({r.outcome_id for r in rows}), "two transitions for one outcome"
    return {r.outcome_id: r for r in rows}


def inr(value: float, days_after: float = 1.0) -> list[dict[str, Any]]:
    return [{"kind": "inr", "value": value, "unit": "{INR}", "time": (DECIDED + timedelta(days=days_after)).isoformat()}]


class TestBuild:
    async def test_each_outcome_becomes_the_transition_the_learner_needs(self, sessions: async_sessionmaker) -> None:
        recs = await make_recommendations(sessions, 4)  # each recommends "keep" at 5 mg/day, behaviour probability 0.9
        override = {"decision": "overridden", "reason_code": "bleeding_risk"}
        ids = await record(sessions, [
            outcome(recs[0]),  # accepted, INR 2.5 next morning: a day in range
            outcome(recs[1], dose_given={"value": 4, "unit": "mg"}, feedback=override, observations=inr(4.6)),
            outcome(recs[2], observations=[], adverse_events=[{"kind": "major_bleeding", "severity": "severe",
                                                                "time": (DECIDED + timedelta(hours=20)).isoformat()}]),
            outcome(recs[3], dose_given={"value": 0, "unit": "mg"}, regimen={"value": 5, "unit": "mg"},
                    feedback={"decision": "overridden", "reason": "procedure tomorrow"}, course_ended=True),
        ])
        assert await record_transitions(sessions, ids) == 4
        t = await transitions_of(sessions, ids)
        accepted, lowered, bleed, held = (t[i] for i in ids)

        # Accepted: the logged action and its logged probability; R = α·1 − β·0 − γ·0 (warfarin weights 1, 1, 0.1).
        assert (accepted.action_index, accepted.behaviour_probability, accepted.feedback) == (KEEP, 0.9, "accepted")
        assert accepted.reward == pytest.approx(1.0)
        assert accepted.features == recs[0].features  # exactly what the serving policy saw
        nxt = dict(zip(FEATURES, accepted.next_features, strict=True))
        assert nxt["inr_last"] == pytest.approx(2.5) and nxt["inr_prev"] == pytest.approx(2.4)
        assert nxt["days_since_inr"] == pytest.approx(0.0) and nxt["current_dose_mg_per_day"] == 5.0
        assert len(accepted.next_mask) == WARFARIN.n_actions and all(accepted.mask)

        # Override to 4 mg/day: the clinician's action (−20 % of 5 mg/day) with unknown propensity; INR 4.6 > 4 is the
        # bleeding-risk proxy (../shared/clinical.md §1): R = 0 − 1 − 0.1·|4 − 5| = −1.1.
        lower_20 = action_index(WARFARIN, "-20%")
        assert (lowered.action_index, lowered.behaviour_probability, lowered.feedback) == (lower_20, None, "overridden")
        assert lowered.reward == pytest.approx(-1.1)
        assert lowered.reward_terms["r_a_observed"] == 1.0

        # No INR reported: no T and no observation-based A are invented; the reported bleed counts once in A.
        assert bleed.reward_terms["observed"] is False and bleed.reward == pytest.approx(-1.0)

        # A held dose (0 mg given, regimen kept) is the nearest hold: one dose held, then the smallest reduction (every
        # hold of the pack lowers the regimen after it); the ended course is terminal.
        assert held.action_index == action_index(WARFARIN, "hold1-10%") and held.terminated and not accepted.terminated

    async def test_redelivery_and_racing_trainers_add_nothing(self, sessions: async_sessionmaker) -> None:
        recs = await make_recommendations(sessions, 5)
        ids = await record(sessions, [outcome(r) for r in recs])
        first = await asyncio.gather(*(record_transitions(sessions, ids) for _ in range(3)))
        assert sum(first) == 5
        assert await record_transitions(sessions, ids) == 0
        assert len(await transitions_of(sessions, ids)) == 5

    async def test_erasing_an_outcome_erases_its_transition(self, sessions: async_sessionmaker) -> None:
        [rec] = await make_recommendations(sessions, 1)
        ids = await record(sessions, [outcome(rec)])
        await record_transitions(sessions, ids)
        async with transaction(sessions) as s:
            await s.execute(delete(models.Outcome).where(models.Outcome.id == ids[0]))
        assert await transitions_of(sessions, ids) == {}


@dataclass
class Loop:
    sessions: async_sessionmaker[AsyncSession]
    queue: Queue
    kind: str
    redis_url: str | None = None


@pytest.fixture(params=["sqlite-table", "postgres-table", "postgres-redis"])
async def loop(request: pytest.FixtureRequest) -> AsyncIterator[Loop]:
    """(sessions, outcomes-stream queue, kind): the embedded mode and both PostgreSQL modes. Redis streams get a unique
    prefix so parallel runs never share a consumer group."""
    db, kind = request.param.split("-")
    url = request.getfixturevalue("sqlite_url" if db == "sqlite" else "pg_url")
    engine = make_engine(Settings(DATABASE_URL=url))
    sessions = make_sessionmaker(engine)
    if kind == "redis":
        from redis.asyncio import Redis

        from dosewise.queue.redis_streams import RedisStreamsQueue

        redis_url = request.getfixturevalue("redis_url")
        prefix = f"test-{uuid.uuid4().hex[:8]}:"
        queue: Queue = RedisStreamsQueue(redis_url, prefix=prefix)
    else:
        from dosewise.queue.sql import SqlTableQueue

        queue = SqlTableQueue(sessions)
        redis_url = None
    yield Loop(sessions, queue, kind, redis_url)
    await queue.close()
    if kind == "redis":
        cleaner = Redis.from_url(redis_url)
        keys = [k async for k in cleaner.scan_iter(match=prefix + "*")]
        if keys:
            await cleaner.delete(*keys)
        await cleaner.aclose()
    await engine.dispose()


async def run_until(condition: Callable[[], Awaitable[bool]], queue: Queue, handler: worker.BatchHandler,
                    relay: OutboxRelay | None, timeout_s: float = 30.0, claim_idle_ms: int = 30_000,
                    redrive_s: float | None = None) -> int:
    """Run the worker's consumer (and the relay) until ``condition`` holds; returns how many messages were acknowledged."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(relay.run(stop))] if relay else []
    idle = worker.redrive_when_idle(relay, redrive_s) if relay and redrive_s is not None else None
    consumer = asyncio.create_task(worker.consume(queue, "c1", handler, stop, block_ms=100, claim_idle_ms=claim_idle_ms,
                                                  on_idle=idle))
    try:
        async with asyncio.timeout(timeout_s):
            while not await condition():
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        acked = await consumer
        await asyncio.gather(*tasks)
    return acked


class TestPipeline:
    async def test_relay_then_consumer_build_exactly_one_transition_per_outcome(self, loop: Loop) -> None:
        sessions, queue = loop.sessions, loop.queue
        recs = await make_recommendations(sessions, 30)
        ids = await record(sessions, [outcome(r) for r in recs])
        relay = OutboxRelay(sessions, queue, batch=7)

        async def done() -> bool:
            return len(await transitions_of(sessions, ids)) == 30

        await run_until(done, queue, worker.transitions_handler(sessions), relay)
        async with sessions() as s:
            unsent = (await s.execute(select(func.count()).select_from(models.OutboxEvent)
                                      .where(models.OutboxEvent.sent_at.is_(None)))).scalar_one()
        assert unsent == 0
        assert await queue.pending_count(OUTCOMES_STREAM, worker.GROUP) == 0

    async def test_a_crash_between_commit_and_ack_is_redelivered_and_adds_nothing(self, loop: Loop) -> None:
        """The handler commits, then the process 'dies' before acking: the batch stays pending, is claimed again (another
        delivery) and finds its transitions already there."""
        sessions, queue = loop.sessions, loop.queue
        recs = await make_recommendations(sessions, 6)
        ids = await record(sessions, [outcome(r) for r in recs])
        await OutboxRelay(sessions, queue).relay_once()
        real = worker.transitions_handler(sessions)
        deliveries: list[int] = []

        async def dies_once(batch: list[Message]) -> None:
            await real(batch)
            deliveries.extend(m.deliveries for m in batch)
            if len(deliveries) == len(batch):
                raise ConnectionError("killed before the ack")

        async def all_acked() -> bool:
            return (len(deliveries) >= 2 * len(ids)
                    and await queue.pending_count(OUTCOMES_STREAM, worker.GROUP) == 0)

        with contextlib.suppress(TimeoutError):
            await run_until(all_acked, queue, dies_once, None, timeout_s=20, claim_idle_ms=200)
        assert max(deliveries) >= 2  # the same messages were delivered again
        assert len(await transitions_of(sessions, ids)) == 6

    @pytest.mark.parametrize("loop", ["postgres-redis"], indirect=True)  # only Redis can lose an accepted message
    async def test_messages_the_queue_lost_are_redriven_from_the_database(self, loop: Loop) -> None:
        """Redis restarted without persistence after the relay marked the rows sent: the stream and the consumer group are
        gone. The consumer re-creates its group; idle with the outbox drained, it re-announces the outcomes that still have
        no transition, and they are learned from."""
        sessions, queue = loop.sessions, loop.queue
        assert loop.redis_url is not None
        from redis.asyncio import Redis

        recs = await make_recommendations(sessions, 8)
        ids = await record(sessions, [outcome(r) for r in recs])
        relay = OutboxRelay(sessions, queue)
        await queue.ensure_group(OUTCOMES_STREAM, worker.GROUP)
        assert await relay.relay_once() >= 8
        r = Redis.from_url(loop.redis_url)
        await r.delete(queue.key(OUTCOMES_STREAM))  # type: ignore[attr-defined]  # what a restart without persistence leaves
        await r.aclose()

        async def done() -> bool:
            return len(await transitions_of(sessions, ids)) == 8

        await run_until(done, queue, worker.transitions_handler(sessions), relay, redrive_s=0.0)
        async with sessions() as s:
            redriven = (await s.execute(select(models.OutboxEvent)
                                        .where(models.OutboxEvent.id > 0))).scalars().all()
        assert sum(1 for e in redriven if e.payload.get("redrive") and uuid.UUID(e.payload["outcome_id"]) in ids) >= 8
