"""Every Prometheus metric of every Dosewise service, defined once; the services import them and keep their HTTP glue thin.

Labels are bounded and never carry patient data: therapy, action, guardrail rule, HTTP method and status, route *template*
(``/v1/recommendations/{recommendation_id}``, never the path a request used), policy version and status, stream and group
names. A patient reference, a pseudonym, a recommendation id or a value from a request never becomes a label.

Who exposes what (each service's ``GET /metrics``; the trainer, which serves no other HTTP, on
``DOSEWISE_TRAINER_METRICS_PORT``):
- gateway: HTTP requests, recommendations, guardrail firings, HyperScores, and the backlog below;
- inference: HTTP requests, the policy version serving each therapy, policy load failures;
- trainer: transitions written, messages acknowledged, training runs, gate decisions, and the backlog below.
The backlog (the trainer group's queue lag and pending messages, the outbox's unsent events) is read at scrape time by
``BacklogCollector``, from the gateway as well as the trainer: it keeps being reported while the trainer is down, which is
when it grows.

Several worker processes behind one port: set ``PROMETHEUS_MULTIPROC_DIR`` (an empty directory, before the processes start;
prometheus_client reads it at import) and every value goes to files there; a scrape then merges all processes' files
(``MultiProcessCollector`` on a fresh registry) instead of reading this process's memory.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import logging
import math
import os
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dosewise.queue.base import BACKLOG_COUNT_CAP, OUTCOMES_STREAM, TRAINER_GROUP

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from dosewise.queue.base import Queue
    from dosewise.schemas import PolicyRef, Recommendation

log = logging.getLogger("dosewise.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# No "<name>_created" series beside every counter and histogram: they doubled the exposition and no query of ours reads them.
disable_created_metrics()

# --- HTTP (gateway and inference) -----------------------------------------------------------------------------------------
HTTP_REQUEST_SECONDS = Histogram(
    "dosewise_http_request_duration_seconds",
    "HTTP requests by method, route template and status: time from arrival to the response's last byte, s. A path matching "
    "no route, and a request refused before routing (413, 415), has route '<unmatched>'.",
    ["method", "route", "status"],
)

# --- gateway: what the recommendations were --------------------------------------------------------------------------------
RECOMMENDATIONS = Counter(
    "dosewise_recommendations",
    "New recommendations committed (idempotent replays not counted), by therapy, final action and needs_review (true also "
    "when the final guardrail check overrode the policy: then there is no HyperScore and the clinician must decide).",
    ["therapy", "action", "needs_review"],
)
GUARDRAIL_FIRINGS = Counter(
    "dosewise_guardrail_firings",
    "Guardrail rules that fired on committed recommendations, by therapy and rule id ('final_check': the gateway replaced "
    "the policy's choice).",
    ["therapy", "rule"],
)
# 100·[1 + σ(…)^κ] lies in [100, 200] (dosewise.hyperscore); the default review threshold is 125, so finer steps below it.
HYPERSCORE_BUCKETS = (100.0, 105.0, 110.0, 115.0, 120.0, 125.0, 130.0, 140.0, 150.0, 160.0, 170.0, 180.0, 190.0, 200.0)
HYPERSCORE = Histogram(
    "dosewise_hyperscore",
    "HyperScore of committed recommendations, by therapy (none when the final guardrail check overrode the policy).",
    ["therapy"],
    buckets=HYPERSCORE_BUCKETS,
)

# --- inference: which policy serves -----------------------------------------------------------------------------------------
# A gauge of 1 rather than an Info: prometheus_client's Info does not work in multi-process mode. "livemax": with several
# workers, 1 while any live worker serves that version.
SERVING_POLICY = Gauge(
    "dosewise_serving_policy",
    "1 for the policy version (and its registry status) serving each therapy; set on load and on every hot swap.",
    ["therapy", "version", "status"],
    multiprocess_mode="livemax",
)
POLICY_LOAD_FAILURES = Counter(
    "dosewise_policy_load_failures",
    "Attempts to load the registry's choice for a therapy that failed (missing artifact, hash mismatch, unreadable model); "
    "the previous version keeps serving and the store retries every DOSEWISE_POLICY_REFRESH_S.",
    ["therapy"],
)

# --- trainer ---------------------------------------------------------------------------------------------------------------
TRANSITIONS_WRITTEN = Counter(
    "dosewise_trainer_transitions_written", "Transitions the trainer inserted (redelivered outcomes that had one: not counted)."
)
MESSAGES_ACKNOWLEDGED = Counter(
    "dosewise_trainer_messages_acknowledged", "Outcome messages the trainer acknowledged after committing their transitions."
)
TRAINING_RUNS = Counter(
    "dosewise_trainer_training_runs", "Retraining runs by therapy and result (completed: the gate decided; failed).",
    ["therapy", "result"],
)
GATE_DECISIONS = Counter(
    "dosewise_trainer_gate_decisions", "Gate decisions on retrained candidates, by therapy and decision (published, rejected).",
    ["therapy", "decision"],
)

# --- the backlog, read at scrape time ----------------------------------------------------------------------------------------
BACKLOG_PROBE_ERRORS = Counter(
    "dosewise_backlog_probe_errors",
    "Scrape-time backlog reads that failed or timed out, by probe (queue, outbox); that scrape then lacks the probe's gauges.",
    ["probe"],
)
PROBE_TIMEOUT_S = 1.0  # each probe's budget: a scrape never waits long on a slow database or queue
PROBE_REUSE_S = 5.0  # results younger than this answer the next scrape: /metrics is open, so no caller can load the database


# Children by label values: a dict lookup costs less than ``.labels()`` (validation, a lock, a tuple) on the request path;
# bounded, because every label set here is.
_CHILDREN: dict[tuple[object, tuple[str, ...]], Any] = {}


def _child(metric: Counter | Histogram, *labels: str) -> Any:
    child = _CHILDREN.get((metric, labels))
    if child is None:
        child = _CHILDREN[(metric, labels)] = metric.labels(*labels)
    return child


def observe_many(child: Any, values: list[float]) -> None:
    """``child.observe(v)`` for every v, with one increment per bucket and one of the sum: a 1,000-patient batch's
    HyperScores cost one bisection each instead of a Python loop over the buckets with two locked increments. Reads the
    histogram child's bucket counters (prometheus_client keeps them per bucket, not cumulative; tests/unit/test_metrics_http.py
    checks the result equals observing one by one); without them it observes one by one."""
    bounds, buckets, total = (getattr(child, a, None) for a in ("_upper_bounds", "_buckets", "_sum"))
    if not bounds or not buckets or total is None or len(bounds) != len(buckets):
        for v in values:
            child.observe(v)
        return
    per_bucket = [0] * len(bounds)
    finite = [v for v in values if not math.isnan(v)]
    for v in finite:
        per_bucket[bisect.bisect_left(bounds, v)] += 1  # the first bound ≥ v, as observe's "amount <= bound"
    for i, n in enumerate(per_bucket):
        if n:
            buckets[i].inc(n)
    total.inc(math.fsum(finite))


def record_recommendations(recs: Iterable[Recommendation]) -> None:
    """Count committed recommendations: their action, review flag, guardrail firings and HyperScore (a batch's in one
    increment per distinct label set)."""
    made: collections.Counter[tuple[str, str, str]] = collections.Counter()
    fired: collections.Counter[tuple[str, str]] = collections.Counter()
    scores: dict[str, list[float]] = {}
    for rec in recs:
        score = rec.score
        made[(rec.therapy, rec.action, "true" if score is None or score.needs_review else "false")] += 1
        for firing in rec.guardrails:
            fired[(rec.therapy, firing.rule)] += 1
        if score is not None:
            scores.setdefault(rec.therapy, []).append(score.hyperscore)
    for labels, n in made.items():
        _child(RECOMMENDATIONS, *labels).inc(n)
    for labels, n in fired.items():
        _child(GUARDRAIL_FIRINGS, *labels).inc(n)
    for therapy, values in scores.items():
        observe_many(_child(HYPERSCORE, therapy), values)


def serving_policy_changed(therapy: str, before: PolicyRef | None, after: PolicyRef) -> None:
    """The gauge follows a load or hot swap: the new version 1; the old one 0, then dropped (in multi-process mode the 0
    stays in this process's file, so the merged value is right either way)."""
    if before is not None and (before.version, before.status) != (after.version, after.status):
        SERVING_POLICY.labels(therapy, before.version, before.status).set(0)
        try:
            SERVING_POLICY.remove(therapy, before.version, before.status)
        except KeyError:
            pass
    SERVING_POLICY.labels(therapy, after.version, after.status).set(1)


class BacklogCollector(Collector):
    """The trainer group's lag and pending messages on the outcomes stream, and the outbox's unsent events, read when
    Prometheus scrapes: a few indexed, capped queries (counts stop at BACKLOG_COUNT_CAP), at most one round per
    PROBE_REUSE_S, each probe bounded by PROBE_TIMEOUT_S. A failing probe is counted in dosewise_backlog_probe_errors_total
    and its gauges left out of that scrape; the scrape itself never fails.

    ``collect`` runs on the scraping thread (the gateway renders in a worker thread, the trainer's metrics server has its
    own) and hands the probes to ``loop``, the service's event loop, which owns the queue and database connections."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: Queue, sessions: async_sessionmaker[AsyncSession],
                 stream: str = OUTCOMES_STREAM, group: str = TRAINER_GROUP, timeout_s: float = PROBE_TIMEOUT_S,
                 reuse_s: float = PROBE_REUSE_S) -> None:
        self.loop, self.queue, self.sessions = loop, queue, sessions
        self.stream, self.group, self.timeout_s, self.reuse_s = stream, group, timeout_s, reuse_s
        self._lock = threading.Lock()  # concurrent scrapes share one round
        self._read_at = -float("inf")
        self._families: list[Metric] = []

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if time.monotonic() - self._read_at >= self.reuse_s:
                self._families = self._read()
                self._read_at = time.monotonic()
            families = self._families
        yield from families

    def _read(self) -> list[Metric]:
        try:
            on_loop = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            on_loop = False
        if on_loop:  # waiting here for the loop would block the loop itself: a wiring mistake, reported, not hung on
            log.error("backlog collector called on its own event loop; render metrics in a thread")
            BACKLOG_PROBE_ERRORS.labels("queue").inc()
            BACKLOG_PROBE_ERRORS.labels("outbox").inc()
            return []
        try:
            future = asyncio.run_coroutine_threadsafe(self._probe(), self.loop)
            return future.result(timeout=self.timeout_s + 1.0)
        except Exception as e:  # the loop is closed or stuck: nothing to report this time
            log.warning("backlog probes did not run", extra={"error": type(e).__name__})
            BACKLOG_PROBE_ERRORS.labels("queue").inc()
            BACKLOG_PROBE_ERRORS.labels("outbox").inc()
            return []

    async def _probe(self) -> list[Metric]:
        from dosewise.outbox import outbox_backlog

        queue, outbox = await asyncio.gather(
            asyncio.wait_for(self.queue.backlog(self.stream, self.group), self.timeout_s),
            asyncio.wait_for(outbox_backlog(self.sessions), self.timeout_s),
            return_exceptions=True)
        out: list[Metric] = []
        if isinstance(queue, BaseException):
            log.warning("queue backlog probe failed", extra={"error": type(queue).__name__})
            BACKLOG_PROBE_ERRORS.labels("queue").inc()
        else:
            lag, pending = queue
            labels = ["stream", "group"]
            if lag is not None:
                g = GaugeMetricFamily("dosewise_queue_lag_messages", "Messages on the stream not yet delivered to the "
                                      f"consumer group (counted up to {BACKLOG_COUNT_CAP:,} on the table queue).", labels=labels)
                g.add_metric([self.stream, self.group], lag)
                out.append(g)
            g = GaugeMetricFamily("dosewise_queue_pending_messages", "Messages delivered to the consumer group and not yet "
                                  f"acknowledged (counted up to {BACKLOG_COUNT_CAP:,} on the table queue).", labels=labels)
            g.add_metric([self.stream, self.group], pending)
            out.append(g)
        if isinstance(outbox, BaseException):
            log.warning("outbox backlog probe failed", extra={"error": type(outbox).__name__})
            BACKLOG_PROBE_ERRORS.labels("outbox").inc()
        else:
            unsent, oldest = outbox
            out.append(GaugeMetricFamily("dosewise_outbox_unsent_events", "Outbox events not yet relayed to the queue "
                                         f"(counted up to {BACKLOG_COUNT_CAP:,}).", value=unsent))
            age = 0.0 if oldest is None else max(0.0, time.time() - oldest.replace(tzinfo=oldest.tzinfo or UTC).timestamp())
            out.append(GaugeMetricFamily("dosewise_outbox_oldest_unsent_age_seconds", "Age of the oldest unsent outbox event, "
                                         "s (0 when none waits).", value=age))
        return out


class _Sources(Collector):
    """This process's metrics (or, in multi-process mode, every process's files) and the scrape-time collectors."""

    def __init__(self, extra: tuple[Collector, ...]) -> None:
        self.extra = extra

    def collect(self) -> Iterator[Metric]:
        if os.environ.get(MULTIPROC_ENV):
            from prometheus_client.multiprocess import MultiProcessCollector

            merged = CollectorRegistry()
            MultiProcessCollector(merged)
            yield from merged.collect()
        else:
            yield from REGISTRY.collect()
        for collector in self.extra:
            yield from collector.collect()


def scrape_registry(*extra: Collector) -> CollectorRegistry:
    """A registry that, on every scrape, reads the right sources (see ``_Sources``); ``extra`` are scrape-time collectors
    such as a ``BacklogCollector``. A registry rather than a bare collector: prometheus_client's HTTP server needs one."""
    registry = CollectorRegistry(auto_describe=False)  # _Sources declares no names: nothing to check for duplicates
    registry.register(_Sources(extra))
    return registry


def exposition(*extra: Collector) -> bytes:
    """The text exposition of one scrape (blocking: run it in a thread when ``extra`` holds a BacklogCollector)."""
    return generate_latest(scrape_registry(*extra))


async def scrape(*extra: Collector) -> tuple[bytes, str]:
    """(body, content type) of ``GET /metrics``, rendered in a worker thread so the backlog probes can use the event loop."""
    return await asyncio.to_thread(exposition, *extra), CONTENT_TYPE_LATEST
