"""The queue contract both adapters satisfy (tests/integration/test_queue_contract.py runs it against each).

Semantics are those of Redis Streams consumer groups: every group sees every message once; within a group each message goes
to one consumer and stays *pending* until acknowledged; a message left pending by a dead consumer can be claimed by another
after ``min_idle_ms``. Delivery is at least once: consumers make their work idempotent and ack only after it is committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

# Stream names used across services.
OUTCOMES_STREAM = "outcomes"
POLICIES_STREAM = "policies"
TRAINER_GROUP = "trainer"  # the consumer group of the outcomes stream (dosewise_trainer.worker); the metrics report its lag
BACKLOG_COUNT_CAP = 100_000  # backlog counts on tables stop here: a scrape-time query stays bounded (a backlog this deep alerts)


@dataclass(frozen=True)
class Message:
    id: str  # adapter-specific, opaque, ordered within a stream
    stream: str
    payload: dict[str, Any]
    deliveries: int = 1


class Queue(Protocol):
    async def ensure_group(self, stream: str, group: str) -> None:
        """Create the group if missing, positioned at the start of the stream. Idempotent."""

    async def publish(self, stream: str, payload: dict[str, Any]) -> str:
        """Append a message; returns its id. Not idempotent by itself: callers carry an idempotency key in the payload."""

    async def read(self, stream: str, group: str, consumer: str, count: int = 10, block_ms: int = 0) -> list[Message]:
        """New messages for this group, delivered to ``consumer`` and marked pending; waits up to ``block_ms`` if none."""

    async def ack(self, stream: str, group: str, ids: list[str]) -> int:
        """Acknowledge; returns how many were pending. Acking twice is harmless."""

    async def claim_stale(self, stream: str, group: str, consumer: str, min_idle_ms: int, count: int = 10) -> list[Message]:
        """Take over messages pending longer than ``min_idle_ms`` (their consumer died)."""

    async def pending_count(self, stream: str, group: str) -> int: ...

    async def backlog(self, stream: str, group: str) -> tuple[int | None, int]:
        """(lag, pending) of ``group``: messages not yet delivered to it (every message when the group does not exist yet;
        None when the backend cannot tell), and messages delivered but not acknowledged. Cheap enough for every scrape."""

    async def ping(self) -> None:
        """Raise if the backend is unreachable."""

    async def close(self) -> None: ...
