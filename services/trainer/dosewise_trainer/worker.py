"""The trainer's long-running worker: three loops in one process.

1. **Consumer** — reads the ``outcomes`` stream in the ``trainer`` consumer group, builds one transition per outcome
   (``transitions.py``), commits, and only then acknowledges, so a crash at any point redelivers instead of losing. It first
   claims messages a dead consumer left pending (``DOSEWISE_TRAINER_CLAIM_IDLE_MS``). A queue outage is waited out; a
   consumer group that vanished (Redis restarted without persistence) is re-created.
2. **Outbox relay** (``dosewise.outbox``, ``DOSEWISE_OUTBOX_RELAY``) — publishes the gateway's outbox rows to the stream. When
   the consumer is idle and the outbox drained, outcomes that still have no transition are re-announced: their messages
   were lost by the queue.
3. **Retraining** (``retrain.py``, ``DOSEWISE_RETRAIN``) — conservative offline RL when enough new transitions arrived or on
   a schedule, then the gate publishes or rejects the candidate.

Its Prometheus metrics (``dosewise.metrics``: transitions, training runs, gate decisions, the queue's and outbox's backlog) are
served on ``DOSEWISE_TRAINER_METRICS_PORT`` by prometheus_client's own HTTP thread: the trainer serves no other HTTP.

Killing the process (even SIGKILL) at any moment loses nothing: the database holds every outcome and transition, the queue
keeps unacknowledged messages pending, and the outbox re-sends what the queue lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise import metrics
from dosewise.outbox import OutboxRelay, make_stream_queue
from dosewise.queue.base import OUTCOMES_STREAM, TRAINER_GROUP, Message, Queue
from dosewise.queue.factory import make_queue
from dosewise.settings import Settings, get_settings
from dosewise.storage.db import make_engine, make_sessionmaker
from dosewise_trainer.transitions import outcome_ids, record_transitions

log = logging.getLogger("dosewise.trainer")

GROUP = TRAINER_GROUP
CLAIM_IDLE_MS = 30_000  # default of DOSEWISE_TRAINER_CLAIM_IDLE_MS: a message pending this long has a dead consumer
READ_COUNT = 200  # messages per read: one transaction builds their transitions together
MAX_BACKOFF_S = 5.0
REDRIVE_CHECK_S = 5.0  # how often an idle consumer looks for outcomes whose messages were lost

BatchHandler = Callable[[list[Message]], Awaitable[None]]
IdleHook = Callable[[], Awaitable[None]]


def transitions_handler(sessions: async_sessionmaker[AsyncSession]) -> BatchHandler:
    """The handler: one transition per announced outcome, committed before the batch is acknowledged."""

    async def handle(batch: list[Message]) -> None:
        added = await record_transitions(sessions, outcome_ids(batch))
        metrics.TRANSITIONS_WRITTEN.inc(added)
        log.info("transitions recorded", extra={"messages": len(batch), "new": added,
                                                 "redelivered": sum(m.deliveries > 1 for m in batch)})

    return handle


async def consume(queue: Queue, consumer: str, handler: BatchHandler, stop: asyncio.Event, block_ms: int,
                  claim_idle_ms: int = CLAIM_IDLE_MS, on_idle: IdleHook | None = None) -> int:
    """Process messages until ``stop`` is set; returns how many were acknowledged. Never dies of a queue or database
    outage: the failed batch stays pending (claimed again after ``claim_idle_ms``) and the loop retries with backoff."""
    done, ensured, backoff = 0, False, 0.1
    while not stop.is_set():
        try:
            if not ensured:
                await queue.ensure_group(OUTCOMES_STREAM, GROUP)
                ensured = True
            batch = await queue.claim_stale(OUTCOMES_STREAM, GROUP, consumer, claim_idle_ms, count=READ_COUNT)
            if not batch:
                batch = await queue.read(OUTCOMES_STREAM, GROUP, consumer, count=READ_COUNT, block_ms=block_ms)
            if batch:
                await handler(batch)  # commits its own work; an exception leaves the batch pending for redelivery
                acked = await queue.ack(OUTCOMES_STREAM, GROUP, [m.id for m in batch])
                metrics.MESSAGES_ACKNOWLEDGED.inc(acked)
                done += acked
            elif on_idle is not None:
                await on_idle()
            backoff = 0.1
        except asyncio.CancelledError:
            raise
        except LookupError:  # NOGROUP: the stream and its group are gone (Redis restarted empty); re-create them
            log.warning("consumer group missing; re-creating it")
            ensured = False
        except Exception as e:
            log.warning("consumer round failed; retrying", extra={"error": type(e).__name__, "retry_s": backoff})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
    return done


def serve_metrics(settings: Settings, backlog: metrics.BacklogCollector) -> Callable[[], None]:
    """Start the trainer's Prometheus endpoint (a thread of prometheus_client's own) and return what stops it. A port that
    cannot be bound is logged, not fatal: the trainer's job is learning, and the failed scrape (``up == 0``) says the rest."""
    if not settings.trainer_metrics_port:
        return lambda: None
    from prometheus_client import start_http_server

    try:
        server, thread = start_http_server(settings.trainer_metrics_port, settings.trainer_metrics_host,
                                           registry=metrics.scrape_registry(backlog))
    except OSError as e:
        log.error("metrics server not started", extra={"port": settings.trainer_metrics_port, "error": str(e)})
        return lambda: None

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


def redrive_when_idle(relay: OutboxRelay, redrive_after_s: float) -> IdleHook:
    """The consumer's idle hook: with the outbox drained, re-announce outcomes whose messages the queue lost."""
    last = 0.0

    async def hook() -> None:
        nonlocal last
        if time.monotonic() - last < REDRIVE_CHECK_S:
            return
        last = time.monotonic()
        if not await relay.has_unsent():
            await relay.redrive_lost(redrive_after_s)

    return hook


async def run(settings: Settings) -> None:
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    stream_queue = make_stream_queue(settings, sessions)
    events_queue = make_queue(settings, sessions)  # "policy activated" events, where inference listens
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    relay = OutboxRelay(sessions, stream_queue, settings.outbox_batch, settings.outbox_poll_s)
    stop_metrics = serve_metrics(settings, metrics.BacklogCollector(loop, stream_queue, sessions))
    tasks = []
    if settings.outbox_relay:
        tasks.append(asyncio.create_task(relay.run(stop), name="outbox-relay"))
    if settings.retrain:
        from dosewise_trainer.retrain import RetrainScheduler

        scheduler = RetrainScheduler(settings, sessions, events_queue)
        tasks.append(asyncio.create_task(scheduler.run(stop), name="retrain"))
    log.info("trainer worker started", extra={"consumer": settings.trainer_consumer, "relay": settings.outbox_relay,
                                               "retrain": settings.retrain})
    try:
        n = await consume(stream_queue, settings.trainer_consumer, transitions_handler(sessions), stop,
                          settings.queue_block_ms, settings.trainer_claim_idle_ms,
                          redrive_when_idle(relay, settings.outbox_redrive_s) if settings.outbox_relay else None)
        log.info("trainer worker stopped", extra={"acknowledged": n, "relayed": relay.published})
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        stop_metrics()
        await stream_queue.close()
        await events_queue.close()
        await engine.dispose()


def main() -> None:
    from dosewise.logs import configure

    settings = get_settings()
    configure("trainer", settings.log_level, settings.log_format)
    asyncio.run(run(settings))
