"""The retraining lease (issue 27): a row of ``leases`` that the trainer's replicas take turns at, on SQLite and PostgreSQL.

What it promises: at most one holder at a time, even for acquirers racing on separate connections; the holder renews it
while it trains and releases it after; a holder that stops renewing (a crash) loses it after the TTL to another replica, and
a holder that lost it cannot record what it trained. Time is an injected clock, never a sleep past a TTL. The PostgreSQL
database is shared by the test session, so every test uses lease names of its own or gives the retraining lease back.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from dosewise.settings import Settings
from dosewise.storage import models
from dosewise.storage.db import make_engine, make_sessionmaker, transaction
from dosewise.storage.repositories import LeaseRepository
from dosewise_trainer import retrain
from dosewise_trainer.gate import GateDecision
from dosewise_trainer.lease import DatabaseLease, LeaseLost, default_holder

T0 = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
TTL = 60.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def fresh_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)  # SQLite returns naive UTC


async def acquire(sessions: async_sessionmaker[AsyncSession], name: str, holder: str, now: datetime,
                  ttl_s: float = TTL) -> bool:
    async with transaction(sessions) as s:
        return await LeaseRepository(s).acquire(name, holder, ttl_s, now)


async def row(sessions: async_sessionmaker[AsyncSession], name: str) -> models.Lease | None:
    async with sessions() as s:
        return await LeaseRepository(s).get(name)


async def eventually(condition: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 10.0) -> None:
    """Wait for a background task's effect (a heartbeat); the generous bound only keeps a broken one from hanging."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"never happened: {what}")
        await asyncio.sleep(0.01)


class TestRepository:
    async def test_a_free_lease_is_taken_and_a_live_one_is_refused_to_anyone_else(
            self, sessions: async_sessionmaker[AsyncSession]) -> None:
        name = fresh_name()
        assert await acquire(sessions, name, "pod-a:1", T0)
        assert not await acquire(sessions, name, "pod-b:1", T0 + timedelta(seconds=TTL - 1))
        lease = await row(sessions, name)
        assert lease is not None and lease.holder == "pod-a:1"
        assert (aware(lease.acquired_at), aware(lease.expires_at)) == (T0, T0 + timedelta(seconds=TTL))

    async def test_the_holder_taking_it_again_extends_it_and_keeps_when_it_was_first_taken(
            self, sessions: async_sessionmaker[AsyncSession]) -> None:
        name = fresh_name()
        assert await acquire(sessions, name, "pod-a:1", T0)
        assert await acquire(sessions, name, "pod-a:1", T0 + timedelta(seconds=30))
        lease = await row(sessions, name)
        assert lease is not None
        assert (aware(lease.acquired_at), aware(lease.expires_at)) == (T0, T0 + timedelta(seconds=30 + TTL))

    async def test_renewing_extends_only_the_holders_own_lease(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        name = fresh_name()
        assert await acquire(sessions, name, "pod-a:1", T0)
        async with transaction(sessions) as s:
            assert await LeaseRepository(s).renew(name, "pod-a:1", TTL, T0 + timedelta(seconds=40))
            assert not await LeaseRepository(s).renew(name, "pod-b:1", TTL, T0 + timedelta(seconds=40))
            assert not await LeaseRepository(s).renew(fresh_name(), "pod-a:1", TTL, T0)  # no such lease
        lease = await row(sessions, name)
        assert lease is not None and lease.holder == "pod-a:1"
        assert aware(lease.expires_at) == T0 + timedelta(seconds=40 + TTL)
        # Renewed, it outlives its first expiry for everyone else.
        assert not await acquire(sessions, name, "pod-b:1", T0 + timedelta(seconds=TTL + 1))

    async def test_an_expired_lease_passes_to_the_next_acquirer_and_the_old_holder_can_neither_renew_nor_release_it(
            self, sessions: async_sessionmaker[AsyncSession]) -> None:
        name = fresh_name()
        assert await acquire(sessions, name, "pod-a:1", T0)
        expiry = T0 + timedelta(seconds=TTL)
        assert not await acquire(sessions, name, "pod-b:1", expiry - timedelta(microseconds=1))
        assert await acquire(sessions, name, "pod-b:1", expiry)  # expires_at is the first instant it is free
        lease = await row(sessions, name)
        assert lease is not None and lease.holder == "pod-b:1" and aware(lease.acquired_at) == expiry
        async with transaction(sessions) as s:
            assert not await LeaseRepository(s).renew(name, "pod-a:1", TTL, expiry)
            assert not await LeaseRepository(s).release(name, "pod-a:1")
        lease = await row(sessions, name)
        assert lease is not None and lease.holder == "pod-b:1"

    async def test_released_it_is_free_at_once(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        name = fresh_name()
        assert await acquire(sessions, name, "pod-a:1", T0)
        async with transaction(sessions) as s:
            assert await LeaseRepository(s).release(name, "pod-a:1")
            assert not await LeaseRepository(s).release(name, "pod-a:1")
        assert await row(sessions, name) is None
        assert await acquire(sessions, name, "pod-b:1", T0 + timedelta(seconds=1))

    async def test_times_without_a_timezone_are_refused(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            await acquire(sessions, fresh_name(), "pod-a:1", datetime(2027, 3, 1, 8, 0))  # naive: the point


@pytest.fixture()
async def two_engines(db_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two replicas' engines: separate pools, so separate connections (separate processes' view of the database)."""
    a, b = make_engine(Settings(DATABASE_URL=db_url)), make_engine(Settings(DATABASE_URL=db_url))
    yield a, b
    await a.dispose()
    await b.dispose()


async def test_two_replicas_racing_for_the_lease_yield_exactly_one_holder(
        two_engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    """Free and expired leases alike, raced on two engines at once: one winner each time, and the row names it."""
    a, b = (make_sessionmaker(e) for e in two_engines)
    for _ in range(20):
        name = fresh_name()
        won = await asyncio.gather(acquire(a, name, "pod-a:1", T0), acquire(b, name, "pod-b:1", T0))
        assert sorted(won) == [False, True]
        lease = await row(a, name)
        assert lease is not None and lease.holder == ("pod-a:1", "pod-b:1")[won.index(True)]
        later = T0 + timedelta(seconds=TTL)  # the winner crashed: its lease has just expired
        won = await asyncio.gather(acquire(a, name, "pod-c:1", later), acquire(b, name, "pod-d:1", later))
        assert sorted(won) == [False, True]


@pytest.mark.parametrize("expired", [False, True], ids=["free", "expired"])
async def test_on_postgresql_an_acquirer_blocked_by_an_uncommitted_acquisition_loses_once_it_commits(
        pg_url: str, expired: bool) -> None:
    """The race made certain: A's acquisition is written but not committed when B's arrives, so B's statement must wait for
    A's row and then re-check it (PostgreSQL's INSERT … ON CONFLICT does). B is seen waiting on a lock before A commits."""
    engine_a, engine_b = make_engine(Settings(DATABASE_URL=pg_url)), make_engine(Settings(DATABASE_URL=pg_url))
    a, b = make_sessionmaker(engine_a), make_sessionmaker(engine_b)
    name = fresh_name()
    try:
        if expired:
            assert await acquire(a, name, "pod-old:1", T0 - timedelta(seconds=2 * TTL))
        async with a() as session_a, session_a.begin():
            assert await LeaseRepository(session_a).acquire(name, "pod-a:1", TTL, T0)
            b_pid = asyncio.get_running_loop().create_future()

            async def acquire_b() -> bool:
                async with b() as session_b, session_b.begin():
                    b_pid.set_result((await session_b.execute(text("SELECT pg_backend_pid()"))).scalar_one())
                    return await LeaseRepository(session_b).acquire(name, "pod-b:1", TTL, T0)

            racer = asyncio.create_task(acquire_b())

            async def b_waits_on_a_lock() -> bool:
                if not b_pid.done():
                    return False
                query = text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid")
                return (await session_a.execute(query, {"pid": b_pid.result()})).scalar() == "Lock"

            await eventually(b_waits_on_a_lock, "B's acquisition waiting on A's uncommitted row")
            assert not racer.done()
        assert await racer is False
        lease = await row(a, name)
        assert lease is not None and lease.holder == "pod-a:1"
    finally:
        await engine_a.dispose()
        await engine_b.dispose()


class TestDatabaseLease:
    async def test_the_holder_renews_it_while_it_works_and_releases_it_after(
            self, sessions: async_sessionmaker[AsyncSession]) -> None:
        clock, name = Clock(), fresh_name()
        lease = DatabaseLease(sessions, name, "pod-a:1", TTL, heartbeat_s=0.01, clock=clock)
        async with lease.hold() as tenure:
            assert tenure.held and tenure.holder == "pod-a:1"
            clock.advance(TTL - 10)

            async def renewed() -> bool:
                current = await row(sessions, name)
                return current is not None and aware(current.expires_at) == clock.now + timedelta(seconds=TTL)

            await eventually(renewed, "a heartbeat renewing the lease")
            clock.advance(20)  # past the first expiry: still held, thanks to the heartbeat
            assert not await acquire(sessions, name, "pod-b:1", clock.now)
            assert not tenure.lost
        assert await row(sessions, name) is None
        assert await acquire(sessions, name, "pod-b:1", clock.now)

    async def test_a_crashed_holders_lease_passes_to_another_replica_after_the_ttl(
            self, sessions: async_sessionmaker[AsyncSession]) -> None:
        clock, name = Clock(), fresh_name()
        crashed = DatabaseLease(sessions, name, "pod-a:1", TTL, clock=clock)
        other = DatabaseLease(sessions, name, "pod-b:1", TTL, clock=clock)
        assert await crashed.acquire()  # …and it never renews or releases
        async with other.hold() as tenure:
            assert (tenure.held, tenure.holder) == (False, "pod-a:1")
        clock.advance(TTL)
        async with other.hold() as tenure:
            assert (tenure.held, tenure.holder) == (True, "pod-b:1")
            async with transaction(sessions) as s:  # the old holder, back from the dead, may write nothing under it
                with pytest.raises(LeaseLost, match="pod-a:1"):
                    await crashed.fence(s)
                await other.fence(s)

    async def test_a_heartbeat_that_finds_the_lease_taken_over_marks_it_lost_and_leaves_the_new_holders_alone(
            self, sessions: async_sessionmaker[AsyncSession]) -> None:
        name = fresh_name()
        stalled = DatabaseLease(sessions, name, "pod-a:1", TTL, heartbeat_s=0.01, clock=Clock())
        successor = DatabaseLease(sessions, name, "pod-b:1", TTL, clock=Clock(T0 + timedelta(seconds=TTL)))
        async with stalled.hold() as tenure:
            assert tenure.held
            assert await successor.acquire()  # its clock says A's lease has run out (A stalled past its TTL)

            async def lost() -> bool:
                return tenure.lost

            await eventually(lost, "the heartbeat noticing the takeover")
        current = await row(sessions, name)
        assert current is not None and current.holder == "pod-b:1"

    def test_the_heartbeat_must_be_shorter_than_the_ttl(self) -> None:
        with pytest.raises(ValueError, match="shorter than"):
            DatabaseLease(None, "x", "pod-a:1", ttl_s=10, heartbeat_s=10)  # type: ignore[arg-type]

    def test_the_default_holder_is_this_host_and_process(self) -> None:
        import os
        import socket

        assert default_holder() == f"{socket.gethostname()}:{os.getpid()}"


# --- the scheduler under the lease ----------------------------------------------------------------------------------------
@pytest.fixture()
async def retrain_lease_free(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[None]:
    """The real retraining lease, free before and after the test (the PostgreSQL database outlives it)."""
    async def clear() -> None:
        async with transaction(sessions) as s:
            await s.execute(models.Lease.__table__.delete().where(models.Lease.name == retrain.RETRAIN_LEASE))

    await clear()
    yield
    await clear()


async def due_transitions(sessions: async_sessionmaker[AsyncSession], n: int = 2) -> None:
    """New warfarin transitions after every watermark so far: the therapy is due (threshold 1)."""
    from dosewise_trainer.transitions import record_transitions
    from tests.integration.test_outcomes import make_recommendations, outcome
    from tests.integration.test_transitions import record

    recs = await make_recommendations(sessions, n)
    await record_transitions(sessions, await record(sessions, [outcome(r) for r in recs]))


class FakeTraining:
    """Stands in for ``train_and_gate`` (minutes of CQL): counts the runs and yields a rejected candidate, which the real
    recording then stores. Runs in the worker thread, as the real one does; ``during`` runs there too, on the test's loop."""

    def __init__(self, tmp_path: Path, loop: asyncio.AbstractEventLoop,
                 during: Callable[[], Awaitable[Any]] | None = None) -> None:
        from tests.integration.test_gate import candidate

        self.candidate, self.tmp_path, self.loop, self.during = candidate, tmp_path, loop, during
        self.runs, self._lock, self._n = 0, threading.Lock(), itertools.count()

    def __call__(self, *_: object) -> retrain.Candidate:
        with self._lock:
            self.runs += 1
        if self.during is not None:
            asyncio.run_coroutine_threadsafe(self.during(), self.loop).result(timeout=30)
        reasons = ["FAIL twins.efficacy_vs_active: worse"]
        report = {"decision": "rejected", "reasons": reasons, "therapy": "warfarin", "context": {}, "checks": [],
                  "twins": {"means": {}, "cohort": {"patients": 0, "days": 0, "seed": 0}}}  # what the log line formats
        version = f"lease-{self.tmp_path.name[-6:]}-{next(self._n)}"
        return self.candidate(self.tmp_path, GateDecision("rejected", reasons, report), version)


def scheduler(sessions: async_sessionmaker[AsyncSession], tmp_path: Path, holder: str, clock: Clock | None = None
              ) -> retrain.RetrainScheduler:
    settings = Settings(DOSEWISE_VAR_DIR=str(tmp_path), DOSEWISE_RETRAIN_MIN_TRANSITIONS="1", DOSEWISE_RETRAIN_INTERVAL_S="0")
    return retrain.RetrainScheduler(settings, sessions, None, holder=holder, clock=clock or Clock())


async def reports_since(sessions: async_sessionmaker[AsyncSession], after_id: int) -> list[models.GateReport]:
    async with sessions() as s:
        query = select(models.GateReport).where(models.GateReport.id > after_id)  # type: ignore[arg-type]
        return list((await s.execute(query)).scalars())


async def last_report_id(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as s:
        latest = await retrain.GateReportRepository(s).list()
    return max((int(r.id) for r in latest if r.id is not None), default=0)


@pytest.mark.usefixtures("retrain_lease_free")
class TestRetrainingUnderTheLease:
    async def test_with_the_lease_held_by_another_replica_a_retrain_request_trains_nothing_and_says_who_holds_it(
            self, sessions: async_sessionmaker[AsyncSession], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            caplog: pytest.LogCaptureFixture) -> None:
        await due_transitions(sessions)
        training = FakeTraining(tmp_path, asyncio.get_running_loop())
        monkeypatch.setattr(retrain, "train_and_gate", training)
        assert await acquire(sessions, retrain.RETRAIN_LEASE, "trainer-7f9c-xk2:1", T0)
        me = scheduler(sessions, tmp_path, "trainer-5d2b-qq8:1")
        before = await last_report_id(sessions)
        with caplog.at_level(logging.INFO, logger="dosewise.trainer.retrain"):
            assert await me.retrain("warfarin", "operator asked") is None
            assert await me.retrain_if_due("warfarin") is None
        assert training.runs == 0 and await reports_since(sessions, before) == []
        skips = [r for r in caplog.records if r.getMessage() == "retraining skipped: another replica holds the lease"]
        assert skips and all(r.holder == "trainer-7f9c-xk2:1" and r.therapy == "warfarin" for r in skips)  # type: ignore[attr-defined]
        fields = set(vars(skips[0])) - set(vars(logging.makeLogRecord({}))) - {"message", "asctime"}  # set by formatting
        assert fields <= {"therapy", "lease", "holder", "me"}  # ids of processes, never a patient's
        lease = await row(sessions, retrain.RETRAIN_LEASE)
        assert lease is not None and lease.holder == "trainer-7f9c-xk2:1"  # the skipping replica released nothing

    async def test_the_holder_trains_records_and_gives_the_lease_back(
            self, sessions: async_sessionmaker[AsyncSession], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        await due_transitions(sessions)
        seen: list[str | None] = []

        async def look() -> None:
            current = await row(sessions, retrain.RETRAIN_LEASE)
            seen.append(None if current is None else current.holder)

        monkeypatch.setattr(retrain, "train_and_gate", FakeTraining(tmp_path, asyncio.get_running_loop(), look))
        before = await last_report_id(sessions)
        report = await scheduler(sessions, tmp_path, "pod-a:1").retrain_if_due("warfarin")
        assert report is not None and [r.id for r in await reports_since(sessions, before)] == [report.id]
        assert seen == ["pod-a:1"]  # held while it trained
        assert await row(sessions, retrain.RETRAIN_LEASE) is None

    async def test_two_replicas_scheduling_at_once_train_one_candidate(
            self, sessions: async_sessionmaker[AsyncSession], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        await due_transitions(sessions)
        training = FakeTraining(tmp_path, asyncio.get_running_loop())
        monkeypatch.setattr(retrain, "train_and_gate", training)
        before = await last_report_id(sessions)
        a, b = scheduler(sessions, tmp_path, "pod-a:1"), scheduler(sessions, tmp_path, "pod-b:1")
        results = await asyncio.gather(a.retrain_if_due("warfarin"), b.retrain_if_due("warfarin"))
        assert training.runs == 1 and sum(r is not None for r in results) == 1
        assert len(await reports_since(sessions, before)) == 1

    async def test_a_replica_that_saw_the_therapy_due_before_another_trained_it_looks_again_under_the_lease(
            self, sessions: async_sessionmaker[AsyncSession], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        await due_transitions(sessions)
        training = FakeTraining(tmp_path, asyncio.get_running_loop())
        monkeypatch.setattr(retrain, "train_and_gate", training)
        a, b = scheduler(sessions, tmp_path, "pod-a:1"), scheduler(sessions, tmp_path, "pod-b:1")
        stale = await b.due("warfarin")
        assert stale[0] is not None
        assert await a.retrain_if_due("warfarin") is not None
        looks = iter([stale])  # B's first look was taken before A recorded its candidate
        real_due = b.due

        async def due(therapy: str) -> tuple[str | None, int]:
            return next(looks, None) or await real_due(therapy)

        monkeypatch.setattr(b, "due", due)
        assert await b.retrain_if_due("warfarin") is None
        assert training.runs == 1

    async def test_a_holder_that_lost_the_lease_while_training_records_nothing(
            self, sessions: async_sessionmaker[AsyncSession], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A stalled past its TTL (no heartbeat got through) and B took over: A's finished candidate is not recorded."""
        await due_transitions(sessions)
        successor = DatabaseLease(sessions, retrain.RETRAIN_LEASE, "pod-b:1", TTL,
                                  clock=Clock(T0 + timedelta(seconds=TTL + 1)))

        async def taken_over() -> None:
            assert await successor.acquire()

        monkeypatch.setattr(retrain, "train_and_gate", FakeTraining(tmp_path, asyncio.get_running_loop(), taken_over))
        a = scheduler(sessions, tmp_path, "pod-a:1")
        a.lease.heartbeat_s = 3600.0  # the stall: no renewal between taking the lease and recording
        before = await last_report_id(sessions)
        with pytest.raises(LeaseLost):
            await a.retrain_if_due("warfarin")
        assert await reports_since(sessions, before) == []
        lease = await row(sessions, retrain.RETRAIN_LEASE)
        assert lease is not None and lease.holder == "pod-b:1"
