"""The learning loop survives crashes (issue 6, "Reliability"): 10,000 outcomes are posted concurrently to a real stack on
PostgreSQL and Redis while the trainer is killed with SIGKILL twice (and restarted) and Redis is restarted once without
persistence. Afterwards every outcome is in PostgreSQL exactly once and has produced exactly one transition, and no client saw
an error other than the documented retryable one (503 with Retry-After). The same loop runs in the embedded mode (SQLite and
the table queue), smaller.

Why it holds: the gateway writes outcome + outbox row in one transaction and never touches the queue; the trainer's relay
publishes the outbox at least once; transitions are keyed by outcome id (ON CONFLICT DO NOTHING) and acknowledged only after
commit; a killed consumer's pending messages are claimed; messages Redis lost in its restart are re-announced from the
database (``DOSEWISE_OUTBOX_REDRIVE_S``).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from dosewise.schemas import PATIENT_STATE_EXAMPLE
from dosewise.settings import Settings
from dosewise.storage import models
from dosewise.storage.db import make_engine, make_sessionmaker
from tests.conftest import REDIS_HOST, REDIS_PORT
from tests.e2e.conftest import Stack, _stack

OUTCOMES_PG = 10_000
OUTCOMES_SQLITE = 1_000
RECOMMEND_BATCH = 1_000  # patients per :batch recommendation call (the gateway's maximum)
OUTCOME_BATCH = 50  # outcomes per :batch outcome call: 200 calls spread the chaos over the whole posting phase
CONCURRENCY = 8  # requests in flight
DRAIN_TIMEOUT_S = 120.0
# The machine's Redis, restarted exactly as it was started (tests/ share it: the outage is kept to seconds).
REDIS_START = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", str(REDIS_PORT), "--save", "",
               "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log"]
REDIS_DOWN_S = 2.0
DECIDED = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
LOOP_ENV = {
    "DOSEWISE_RETRAIN": "false",  # this test is about delivery; retraining would only compete for the two cores
    "DOSEWISE_TRAINER_CLAIM_IDLE_MS": "3000",  # a killed consumer's messages are claimed after 3 s (default 30 s)
    "DOSEWISE_OUTBOX_REDRIVE_S": "5",  # outcomes still without a transition 5 s later, while idle, are re-announced
    "DOSEWISE_QUEUE_BLOCK_MS": "200",
    "DOSEWISE_RATE_LIMIT_PER_MINUTE": "10000000",  # one integration key posts everything
    "DOSEWISE_RATE_LIMIT_BURST": "1000000",
    # ... and sends its 10 batches of 1,000 at once: above the default share of one caller (429), so the gateway's own
    # limit applies instead, answered 503 with Retry-After past what it can serve in time, which this client retries.
    "DOSEWISE_RATE_LIMIT_PATIENTS_PER_MINUTE": "100000000",
    "DOSEWISE_RATE_LIMIT_PATIENT_BURST": "1000000",
    "DOSEWISE_ADMISSION_CALLER_BATCH_PATIENTS": "1000000",
}


@dataclass
class Tally:
    """What the clients saw."""

    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)  # anything but 2xx and 503-with-Retry-After
    retried: int = 0
    outcome_ids: set[str] = field(default_factory=set)
    posted: int = 0


def _states(n: int, tag: str) -> list[dict[str, Any]]:
    inr_time = (DECIDED - timedelta(days=1)).isoformat()
    return [PATIENT_STATE_EXAMPLE | {
        "patient_ref": f"rel-{tag}-{i:05d}", "as_of": DECIDED.isoformat(),
        "observations": [{"kind": "inr", "value": 2.4, "unit": "{INR}", "time": inr_time}],
        "doses": [{"amount": 5, "unit": "mg", "time": (DECIDED - timedelta(days=d, hours=12)).isoformat()} for d in range(7)],
    } for i in range(n)]


def _outcome(rec: dict[str, Any], i: int, tag: str) -> dict[str, Any]:
    accepted = i % 5 != 0  # every fifth is an override: the clinician holds the dose
    return {
        "idempotency_key": f"rel-{tag}-{i}", "recommendation_id": rec["recommendation_id"],
        "dose_given": {"value": rec["recommended_dose"]["value"] if accepted else 0.0, "unit": "mg"},
        "regimen": rec["plan"]["dose_per_day"] if accepted else {"value": rec["current_dose"]["value"], "unit": "mg"},
        "feedback": {"decision": "accepted"} if accepted else {"decision": "overridden", "reason_code": "clinical_judgement"},
        "observations": [{"kind": "inr", "value": 2.0 + (i % 20) / 10, "unit": "{INR}",
                          "time": (DECIDED + timedelta(days=1)).isoformat()}],
    }


async def _post_retrying(client: httpx.AsyncClient, path: str, body: dict[str, Any], tally: Tally) -> dict[str, Any] | None:
    """The documented client contract: 503 carries Retry-After and is retried with the same body (same idempotency keys);
    anything else that is not 2xx is an error this test reports."""
    for _ in range(60):
        try:
            r = await client.post(path, json=body)
        except httpx.HTTPError as e:
            tally.errors.append(f"{path}: {type(e).__name__}: {e}")
            return None
        tally.statuses[r.status_code] += 1
        if r.status_code == 503 and "retry-after" in r.headers:
            tally.retried += 1
            await asyncio.sleep(min(float(r.headers["retry-after"]), 2.0))
            continue
        if r.status_code >= 300:
            tally.errors.append(f"{path}: {r.status_code} {r.text[:300]}")
            return None
        return r.json()
    tally.errors.append(f"{path}: still 503 after 60 attempts")
    return None


async def _recommend(stack: Stack, n: int, tag: str) -> list[dict[str, Any]]:
    tally = Tally()
    states = _states(n, tag)
    async with httpx.AsyncClient(base_url=stack.api, headers=stack.headers["integrator"], timeout=120) as client:
        parts = await asyncio.gather(*(_post_retrying(client, "/v1/recommendations:batch",
                                                      {"patients": states[s:s + RECOMMEND_BATCH]}, tally)
                                       for s in range(0, n, RECOMMEND_BATCH)))
    assert not tally.errors, tally.errors[:3]
    return [rec for part in parts if part for rec in part["data"]]


async def _post_outcomes(stack: Stack, recs: list[dict[str, Any]], tag: str, tally: Tally) -> None:
    items = [_outcome(rec, i, tag) for i, rec in enumerate(recs)]
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(batch: list[dict[str, Any]], client: httpx.AsyncClient) -> None:
        async with gate:
            body = await _post_retrying(client, "/v1/outcomes:batch", {"outcomes": batch}, tally)
            if body is not None:
                tally.outcome_ids.update(o["outcome_id"] for o in body["data"])
            tally.posted += len(batch)

    async with httpx.AsyncClient(base_url=stack.api, headers=stack.headers["integrator"], timeout=120) as client:
        await asyncio.gather(*(one(items[s:s + OUTCOME_BATCH], client) for s in range(0, len(items), OUTCOME_BATCH)))


def _trainer_summary(log: str) -> dict[str, int]:
    """From the trainer's JSON log: batches handled, messages delivered more than once, outcomes re-announced, starts."""
    out = Counter[str]()
    for line in log.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("msg") == "transitions recorded":
            out["batches"] += 1
            out["messages"] += int(event.get("messages", 0))
            out["redelivered_messages"] += int(event.get("redelivered", 0))
        elif event.get("msg", "").startswith("outcomes re-announced"):
            out["re_announced"] += int(event.get("count", 0))
        elif event.get("msg") == "trainer worker started":
            out["starts"] += 1
    return dict(out)


def _trainer_starts(stack: Stack) -> int:
    log = Path(stack.env["DOSEWISE_VAR_DIR"]) / "trainer.log"
    return log.read_text(errors="replace").count('"trainer worker started"') if log.exists() else 0


def _kill_trainer(stack: Stack) -> int:
    """SIGKILL a running trainer (no shutdown handler runs, in-flight batches stay pending), restart it, and wait until the
    new one is consuming, so the next kill hits a working trainer too."""
    deadline = time.monotonic() + 60
    while _trainer_starts(stack) < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    started = _trainer_starts(stack)
    p = stack.procs.pop("trainer")
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)
    stack.start("trainer")
    while _trainer_starts(stack) <= started and time.monotonic() < deadline:
        time.sleep(0.1)
    return p.pid


def _redis(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["redis-cli", "-h", REDIS_HOST, "-p", str(REDIS_PORT), *args], capture_output=True, text=True,
                          timeout=10)


def _restart_redis() -> float:
    """shutdown nosave, a short outage, then the machine's own start command (always, even if the shutdown misbehaves)."""
    t0 = time.monotonic()
    try:
        _redis("shutdown", "nosave")
        time.sleep(REDIS_DOWN_S)
    finally:
        if _redis("ping").stdout.strip() != "PONG":
            subprocess.run(REDIS_START, check=True, timeout=10)
        deadline = time.monotonic() + 10
        while _redis("ping").stdout.strip() != "PONG" and time.monotonic() < deadline:
            time.sleep(0.1)
    return time.monotonic() - t0


async def _chaos(stack: Stack, tally: Tally, total: int, with_redis: bool, log: list[str]) -> None:
    """At fixed shares of the posting phase: kill the trainer, restart Redis, kill the trainer again."""
    plan = [(0.15, "kill"), (0.40, "redis"), (0.65, "kill")] if with_redis else [(0.30, "kill"), (0.70, "kill")]
    for share, what in plan:
        while tally.posted < share * total:
            await asyncio.sleep(0.02)
        at = tally.posted
        if what == "kill":
            pid = await asyncio.to_thread(_kill_trainer, stack)
            log.append(f"{at:5d} posted: SIGKILL trainer (pid {pid}); restarted and consuming at {tally.posted} posted")
        else:
            down = await asyncio.to_thread(_restart_redis)
            log.append(f"{at:5d} posted: Redis shutdown nosave, restarted {down:.1f} s later")


async def _db_counts(db_url: str) -> dict[str, int]:
    engine = make_engine(Settings(DATABASE_URL=db_url))
    try:
        async with make_sessionmaker(engine)() as s:
            async def scalar(q: Any) -> int:
                return int((await s.execute(q)).scalar_one())

            o, t = models.Outcome, models.Transition
            return {
                "outcomes": await scalar(select(func.count()).select_from(o)),
                "distinct_recommendations": await scalar(select(func.count(func.distinct(o.recommendation_id)))),
                "transitions": await scalar(select(func.count()).select_from(t)),
                "distinct_transition_outcomes": await scalar(select(func.count(func.distinct(t.outcome_id)))),
                "outcomes_without_transition": await scalar(
                    select(func.count()).select_from(o).outerjoin(t, t.outcome_id == o.id).where(t.id.is_(None))),
                "unsent_outbox": await scalar(select(func.count()).select_from(models.OutboxEvent)
                                              .where(models.OutboxEvent.sent_at.is_(None))),
                # every outcome has its own outbox row; more rows than outcomes are re-announcements of lost messages
                "redriven": await scalar(select(func.count()).select_from(models.OutboxEvent)) -
                await scalar(select(func.count()).select_from(o)),
            }
    finally:
        await engine.dispose()


async def _drain(db_url: str, expected: int) -> tuple[dict[str, int], float]:
    t0 = time.monotonic()
    while True:
        counts = await _db_counts(db_url)
        if counts["transitions"] >= expected and counts["unsent_outbox"] == 0:
            return counts, time.monotonic() - t0
        if time.monotonic() - t0 > DRAIN_TIMEOUT_S:
            return counts, time.monotonic() - t0
        await asyncio.sleep(0.5)


def _run_loop(stack: Stack, n: int, with_redis: bool) -> None:
    tag = uuid.uuid4().hex[:6]
    log: list[str] = []
    deadline = time.monotonic() + 60
    while _trainer_starts(stack) < 1 and time.monotonic() < deadline:  # consuming before the first outcome arrives
        time.sleep(0.1)
    t0 = time.monotonic()
    recs = asyncio.run(_recommend(stack, n, tag))
    t_rec = time.monotonic() - t0
    assert len(recs) == n

    tally = Tally()

    async def post_with_chaos() -> None:
        await asyncio.gather(_post_outcomes(stack, recs, tag, tally), _chaos(stack, tally, n, with_redis, log))

    t1 = time.monotonic()
    asyncio.run(post_with_chaos())
    t_post = time.monotonic() - t1
    counts, t_drain = asyncio.run(_drain(stack.db_url, n))
    trainer_log = (Path(stack.env["DOSEWISE_VAR_DIR"]) / "trainer.log").read_text(errors="replace")
    print(f"\n{n} recommendations in {t_rec:.1f} s; {n} outcomes posted in {t_post:.1f} s "
          f"({n / t_post:.0f}/s, {CONCURRENCY} in flight, {OUTCOME_BATCH} per call); drained {t_drain:.1f} s later")
    print("\n".join(log))
    print(f"client statuses {dict(tally.statuses)}; retried 503s {tally.retried}; errors {len(tally.errors)}")
    print(f"database {counts}; trainer: {_trainer_summary(trainer_log)}")

    assert not tally.errors, tally.errors[:5]  # only 503 + Retry-After may have been seen, and it was retried
    assert set(tally.statuses) <= {200, 503}
    assert len(log) == (3 if with_redis else 2)  # the chaos really happened while posting
    assert _trainer_summary(trainer_log)["starts"] == 3  # the first trainer and two restarted after SIGKILL
    assert len(tally.outcome_ids) == n
    assert counts["outcomes"] == counts["distinct_recommendations"] == n  # exactly once in the database
    assert counts["transitions"] == counts["distinct_transition_outcomes"] == n  # exactly one transition each
    assert counts["outcomes_without_transition"] == 0
    assert counts["unsent_outbox"] == 0


@pytest.fixture()
def fresh_pg_url(pg_url: str) -> Iterator[str]:
    """A database of its own (migrated), so counts are this test's alone; dropped afterwards."""
    import asyncpg
    from sqlalchemy.engine import make_url

    from dosewise.storage.migrate import upgrade

    base, name = make_url(pg_url), f"dosewise_loop_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(host=base.host, port=base.port, user=base.username, database=base.database)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_10000_outcomes_survive_two_trainer_kills_and_a_redis_restart(fresh_pg_url: str, redis_url: str,
                                                                      tmp_path: Path) -> None:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.fail("redis-server and redis-cli are needed to restart Redis")
    env = LOOP_ENV | {"REDIS_URL": redis_url, "DOSEWISE_QUEUE_PREFIX": f"loop-{uuid.uuid4().hex[:8]}:"}
    for stack in _stack(fresh_pg_url, tmp_path, env, trainer=True):
        _run_loop(stack, OUTCOMES_PG, with_redis=True)


def test_the_embedded_mode_survives_trainer_kills(tmp_path: Path) -> None:
    """SQLite and the table queue: the same guarantees, fewer outcomes (one SQLite writer at a time)."""
    from dosewise.storage.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'dosewise.db'}"
    upgrade(url)
    for stack in _stack(url, tmp_path, LOOP_ENV, trainer=True):
        _run_loop(stack, OUTCOMES_SQLITE, with_redis=False)

