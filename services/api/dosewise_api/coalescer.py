"""Coalesce concurrent single recommendations into batches (opportunistic batching, as model servers do).

A request that arrives while fewer than ``MAX_IN_FLIGHT`` batches are running starts one at once: alone, it waits for
nothing. Requests that arrive while the batches are busy queue up and leave together in the next one: one idempotency
lookup, one inference call (one onnxruntime run, one twin-forecast run, one attribution run), one transaction and one
audit-chain lock for all of them. So under load the per-request cost falls instead of the queue growing. Two batches in
flight keep both processes busy: one batch's transaction commits while the next one is at inference. Each caller still gets
exactly the answer ``recommendations.recommend`` would give it alone (tests/e2e/test_recommendation_flow.py,
TestConcurrentRequests).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise.schemas import PatientState, Recommendation
from dosewise_api.auth import Caller
from dosewise_api.inference_client import InferenceClient
from dosewise_api.recommendations import SingleRequest, recommend_singles

MAX_BATCH = 64  # the largest coalesced batch: bounds one batch's latency when a burst arrives at once
MAX_IN_FLIGHT = 2


@dataclass
class _Waiting:
    request: SingleRequest
    answer: asyncio.Future[Recommendation] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class RecommendationCoalescer:
    def __init__(self, client: InferenceClient, sessions: async_sessionmaker[AsyncSession], pseudonym_key: str,
                 max_batch: int = MAX_BATCH, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self._client, self._sessions, self._key = client, sessions, pseudonym_key
        self._max_batch, self._max_in_flight = max_batch, max_in_flight
        self._queue: list[_Waiting] = []
        self._workers: set[asyncio.Task[None]] = set()
        self.batches = 0  # how many batches ran, and their sizes: for tests and the bench's report
        self.coalesced = 0

    async def recommend(self, state: PatientState, caller: Caller, idempotency_key: str | None = None) -> Recommendation:
        waiting = _Waiting(SingleRequest(state, caller, idempotency_key))
        self._queue.append(waiting)
        if len(self._workers) < self._max_in_flight:
            worker = asyncio.create_task(self._drain())
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)
        # A caller that hangs up does not cancel the batch (the others' answers, and its own row, still get committed).
        return await asyncio.shield(waiting.answer)

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            self.batches += 1
            self.coalesced += len(batch)
            try:
                results = await recommend_singles([w.request for w in batch], self._client, self._sessions, self._key)
            except Exception as e:  # inference or database down: every caller in the batch gets the same error
                for w in batch:
                    if not w.answer.done():
                        w.answer.set_exception(e)
                continue
            for w, r in zip(batch, results, strict=True):
                if w.answer.done():
                    continue
                if isinstance(r, Exception):
                    w.answer.set_exception(r)
                else:
                    w.answer.set_result(r)

    async def aclose(self) -> None:
        """Let the running batch finish (its rows are being committed) before the process exits."""
        await asyncio.gather(*self._workers, return_exceptions=True)
