"""The trainer's long-running worker: consumes the outcomes stream in a consumer group and acknowledges a message only after
the work it caused is committed, so a crash at any point redelivers instead of losing. On start it claims messages a dead
consumer left pending. Handlers must be idempotent (delivery is at least once)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

from dosewise.queue.base import OUTCOMES_STREAM, Message, Queue
from dosewise.queue.factory import make_queue
from dosewise.settings import Settings, get_settings
from dosewise.storage.db import make_engine, make_sessionmaker

log = logging.getLogger("dosewise.trainer")

GROUP = "trainer"
CLAIM_IDLE_MS = 30_000  # a message pending this long belongs to a consumer presumed dead

Handler = Callable[[Message], Awaitable[None]]


async def log_only(msg: Message) -> None:
    """Until the learning loop lands, an outcome is only counted: there is nothing to commit, so acking is safe."""
    log.info("outcome received", extra={"message_id": msg.id, "deliveries": msg.deliveries})


async def consume(queue: Queue, consumer: str, handler: Handler, stop: asyncio.Event, block_ms: int) -> int:
    """Process messages until ``stop`` is set; returns how many were acknowledged."""
    await queue.ensure_group(OUTCOMES_STREAM, GROUP)
    done = 0
    while not stop.is_set():
        batch = await queue.claim_stale(OUTCOMES_STREAM, GROUP, consumer, CLAIM_IDLE_MS)
        if not batch:
            batch = await queue.read(OUTCOMES_STREAM, GROUP, consumer, count=50, block_ms=block_ms)
        for msg in batch:
            await handler(msg)  # commits its own work; an exception leaves the message pending for redelivery
            done += await queue.ack(OUTCOMES_STREAM, GROUP, [msg.id])
    return done


async def run(settings: Settings) -> None:
    engine = make_engine(settings)
    queue = make_queue(settings, make_sessionmaker(engine))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("trainer worker started", extra={"consumer": settings.trainer_consumer})
    try:
        n = await consume(queue, settings.trainer_consumer, log_only, stop, settings.queue_block_ms)
        log.info("trainer worker stopped", extra={"acknowledged": n})
    finally:
        await queue.close()
        await engine.dispose()


def main() -> None:
    from dosewise.logs import configure

    settings = get_settings()
    configure("trainer", settings.log_level)
    asyncio.run(run(settings))
