"""Coalesce concurrent single recommendations into batches (opportunistic batching, as model servers do), and their
commits into group commits (as databases do with their logs).

Two stages, each batching whatever queued up while it was busy:

1. **compute**: one idempotency lookup and one inference call (one onnxruntime run, one twin-forecast run, one
   attribution run) for all requests that arrived meanwhile (``recommendations.plan``);
2. **commit**: every computed batch waiting is committed in ONE transaction under one audit-chain lock
   (``recommendations.commit``), while the next batch computes.

The stages are the very ones a batch request goes through alone (``recommendations.recommend``): a single is a batch of one.

Measured with bench/serving.py-style load (SQLite, 2 cores): two compute batches at once instead of one made smaller
batches and more inference calls for the same work: 490 vs 547 requests/s at 16 connections, p50 25 vs 18 ms at 200/s.

A request that arrives when nothing is busy waits for nothing. Under load the per-request cost falls instead of the queue
growing. Each caller still gets exactly the answer ``recommendations.recommend`` would give it alone, committed before it is
answered (tests/e2e/test_recommendation_flow.py, TestConcurrentRequests).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise.schemas import PatientState
from dosewise_api.auth import Caller
from dosewise_api.inference_client import InferenceClient
from dosewise_api.recommendations import Answer, Plan, RecommendationRequest, commit, plan

MAX_BATCH = 64  # the largest computed batch: bounds one batch's latency when a burst arrives at once
MAX_IN_FLIGHT = 1  # computed batches at once (see above); the commit stage runs beside it


@dataclass
class _Waiting:
    request: RecommendationRequest
    answer: asyncio.Future[Answer] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


def _fail(waiting: list[_Waiting], error: Exception) -> None:
    for w in waiting:
        if not w.answer.done():
            w.answer.set_exception(error)


class RecommendationCoalescer:
    def __init__(self, client: InferenceClient, sessions: async_sessionmaker[AsyncSession], pseudonym_key: str,
                 max_batch: int = MAX_BATCH, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self._client, self._sessions, self._key = client, sessions, pseudonym_key
        self._max_batch, self._max_in_flight = max_batch, max_in_flight
        self._queue: list[_Waiting] = []
        self._planned: list[tuple[Plan, list[_Waiting]]] = []
        self._computing: set[asyncio.Task[None]] = set()
        self._committing: asyncio.Task[None] | None = None

    async def recommend(self, state: PatientState, caller: Caller, idempotency_key: str | None = None,
                        read_warnings: tuple[str, ...] = ()) -> Answer:
        waiting = _Waiting(RecommendationRequest.single(state, caller, idempotency_key, read_warnings))
        self._queue.append(waiting)
        if len(self._computing) < self._max_in_flight:
            self._computing.add(asyncio.create_task(self._compute()))
        # A caller that hangs up does not cancel the batch (the others' answers, and its own row, still get committed).
        return await asyncio.shield(waiting.answer)

    async def _compute(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                try:
                    planned = await plan([w.request for w in batch], self._client, self._sessions, self._key)
                except Exception as e:  # inference or database down: every caller in the batch gets the same error
                    _fail(batch, e)
                    continue
                self._planned.append((planned, batch))
                if self._committing is None:
                    self._committing = asyncio.create_task(self._commit())
        finally:
            # Leave the in-flight set in the same step that found the queue empty. (A done callback runs a loop iteration
            # later: a request arriving in between saw this worker "in flight", started none, and waited forever.)
            self._computing.discard(asyncio.current_task())  # type: ignore[arg-type]

    async def _commit(self) -> None:
        try:
            while self._planned:
                group, self._planned = self._planned, []
                try:
                    results = await commit([p for p, _ in group], self._sessions, self._key)
                except Exception as e:  # the database is down: nothing of the group was stored
                    for _, batch in group:
                        _fail(batch, e)
                    continue
                for (_, batch), answered in zip(group, results, strict=True):
                    for w, r in zip(batch, answered, strict=True):
                        if w.answer.done():
                            continue
                        if isinstance(r, Exception):
                            w.answer.set_exception(r)
                        else:
                            w.answer.set_result(r[0])
        finally:
            self._committing = None

    async def aclose(self) -> None:
        """Let the running batches finish and commit (their answers are owed) before the process exits."""
        while self._computing or self._committing is not None:
            await asyncio.gather(*self._computing, *([self._committing] if self._committing else []),
                                 return_exceptions=True)
