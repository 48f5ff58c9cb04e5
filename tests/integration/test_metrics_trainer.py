"""The trainer's metrics (its worker's counters are also checked on a running stack in tests/e2e/test_metrics.py): gate
decisions by result as they are recorded, training runs by result, and the metrics server on DOSEWISE_TRAINER_METRICS_PORT
with the backlog in it — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise import metrics
from dosewise.queue.sql import SqlTableQueue
from dosewise.settings import Settings
from dosewise_trainer import retrain, worker
from dosewise_trainer.gate import GateDecision
from tests.e2e.conftest import free_port
from tests.integration.test_gate import candidate, watermark


def count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_each_recorded_gate_decision_is_counted_by_its_result(sessions: async_sessionmaker[AsyncSession],
                                                                     tmp_path: Path) -> None:
    published0 = count("dosewise_trainer_gate_decisions_total", therapy="warfarin", decision="published")
    rejected0 = count("dosewise_trainer_gate_decisions_total", therapy="warfarin", decision="rejected")
    tag = tmp_path.name[-6:]
    for i, decision in enumerate(("rejected", "rejected", "published")):
        await retrain.record_decision(sessions, None, "warfarin", candidate(
            tmp_path, GateDecision(decision, [], {"decision": decision}), f"metrics-{tag}-{i}"), await watermark(sessions))
    assert count("dosewise_trainer_gate_decisions_total", therapy="warfarin", decision="rejected") == rejected0 + 2
    assert count("dosewise_trainer_gate_decisions_total", therapy="warfarin", decision="published") == published0 + 1


async def test_training_runs_are_counted_completed_or_failed(sessions: async_sessionmaker[AsyncSession], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The training itself (minutes of CQL) is replaced: first by one that fails, then by one that yields a candidate,
    which the real gate recording then stores."""
    scheduler = retrain.RetrainScheduler(Settings(DOSEWISE_VAR_DIR=str(tmp_path)), sessions, None)
    completed0 = count("dosewise_trainer_training_runs_total", therapy="warfarin", result="completed")
    failed0 = count("dosewise_trainer_training_runs_total", therapy="warfarin", result="failed")

    def broken(*_: object) -> retrain.Candidate:
        raise RuntimeError("training diverged")

    monkeypatch.setattr(retrain, "train_and_gate", broken)
    with pytest.raises(RuntimeError, match="diverged"):
        await scheduler.retrain("warfarin", "test")
    reasons = ["FAIL twins.efficacy_vs_active: worse"]
    report = {"decision": "rejected", "reasons": reasons, "therapy": "warfarin", "context": {}, "checks": [],
              "twins": {"means": {}, "cohort": {"patients": 0, "days": 0, "seed": 0}}}  # what the log line formats
    decision = GateDecision("rejected", reasons, report)
    monkeypatch.setattr(retrain, "train_and_gate", lambda *_: candidate(tmp_path, decision, f"metrics-run-{tmp_path.name[-6:]}"))
    assert (await scheduler.retrain("warfarin", "test")).decision == "rejected"
    assert count("dosewise_trainer_training_runs_total", therapy="warfarin", result="failed") == failed0 + 1
    assert count("dosewise_trainer_training_runs_total", therapy="warfarin", result="completed") == completed0 + 1


async def test_the_trainer_serves_its_metrics_and_the_backlog_on_its_own_port(
        sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    settings = Settings(DOSEWISE_TRAINER_METRICS_PORT=port)
    backlog = metrics.BacklogCollector(asyncio.get_running_loop(), SqlTableQueue(sessions), sessions)
    stop = worker.serve_metrics(settings, backlog)
    try:
        r = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert r.status_code == 200
        names = {s.name for f in text_string_to_metric_families(r.text) for s in f.samples}
        assert {"dosewise_trainer_transitions_written_total", "dosewise_trainer_messages_acknowledged_total",
                "dosewise_queue_lag_messages", "dosewise_queue_pending_messages", "dosewise_outbox_unsent_events"} <= names
        # A second trainer on the same port keeps running without metrics, and says so.
        with caplog.at_level(logging.ERROR, logger="dosewise.trainer"):
            worker.serve_metrics(settings, backlog)()
        assert any(rec.getMessage() == "metrics server not started" for rec in caplog.records)
    finally:
        stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass  # stopped: nothing listens any more
    assert worker.serve_metrics(Settings(DOSEWISE_TRAINER_METRICS_PORT=0), backlog) is not None  # 0: no server at all
