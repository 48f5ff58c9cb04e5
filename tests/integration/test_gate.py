"""The evaluation gate (services/trainer/dosewise_trainer/gate.py) and how its decision is recorded (retrain.py): a candidate
is published only when no check fails, and every decision is kept with its report — on the toy pack, and on SQLite and
PostgreSQL for the registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise.queue.base import POLICIES_STREAM
from dosewise.queue.sql import SqlTableQueue
from dosewise.settings import Settings
from dosewise.storage import models
from dosewise.storage.repositories import PolicyRepository
from dosewise_trainer import retrain
from dosewise_trainer.algorithms import cql
from dosewise_trainer.evaluation.ope import FQEArgs
from dosewise_trainer.gate import GateConfig, GateDecision, LoggedEval, evaluate, format_report
from tests.unit.trainer_toy_pack import ToyPack

FAST = GateConfig(cohort_patients=120, cohort_days=20, min_heldout=50, fqe=FQEArgs(iterations=15, steps_per_iteration=60))


def titrate(features: np.ndarray) -> np.ndarray:
    """The toy guideline as Q-values: +1 below the band, −1 above it, keep inside (toy actions hold, −1, keep, +1)."""
    level = features[:, 1]
    best = np.where(level < 2.0, 3, np.where(level > 3.0, 1, 2))
    return np.eye(4)[best]


def keep(features: np.ndarray) -> np.ndarray:
    """Never changes the starting dose: every toy patient stays below the band (0 % in range)."""
    return np.eye(4)[np.full(len(features), 2)]


def logged(pack: ToyPack, n_patients: int = 60, epsilon: float = 0.3) -> LoggedEval:
    """Guideline decisions logged with ε-greedy exploration and their true behaviour probabilities."""
    d = cql.twin_transitions(pack, pack.guideline_policy(), n_patients, 15, epsilon=epsilon, seed=9)
    return LoggedEval(obs=d.obs, actions=d.actions, rewards=d.rewards, next_obs=d.next_obs, mask=d.mask,
                      next_mask=d.next_mask, terminated=d.terminated, behaviour_prob=d.behaviour_prob,
                      adverse=np.zeros(len(d)), initial=np.zeros(len(d), bool))


class TestDecision:
    def test_a_candidate_better_than_the_active_policy_is_published(self) -> None:
        pack = ToyPack()
        d = evaluate(pack, titrate, keep, logged(pack), FAST)
        status = {c["name"]: c["status"] for c in d.report["checks"]}
        assert d.decision == "published", format_report(d.report)
        assert status["twins.efficacy_vs_active"] == status["safety.adverse_events_twins"] == "pass"
        assert status["ope.fqe_vs_active"] == "pass" and status["ope.wis_reward"] == "pass"
        means = d.report["twins"]["means"]
        assert means["candidate"]["time_in_range_pct"] > means["active"]["time_in_range_pct"] == 0.0

    def test_a_worse_candidate_is_rejected_and_the_report_says_why(self) -> None:
        pack = ToyPack()
        d = evaluate(pack, keep, titrate, logged(pack), FAST, context={"version": "toy-worse"})
        assert d.decision == "rejected"
        failed = {c["name"] for c in d.report["checks"] if c["status"] == "fail"}
        assert "twins.efficacy_vs_active" in failed and "safety.adverse_events_twins" in failed
        assert any(r.startswith("FAIL twins.efficacy_vs_active") for r in d.reasons)
        text = format_report(d.report)
        assert "REJECTED" in text and "toy-worse" in text and "[FAIL" in text

    def test_without_logged_data_or_enough_ess_ope_is_inconclusive_not_blocking(self) -> None:
        pack = ToyPack()
        d = evaluate(pack, titrate, keep, None, FAST)
        status = {c["name"]: c["status"] for c in d.report["checks"]}
        assert status["ope.fqe_vs_active"] == status["ope.wis_reward"] == "inconclusive"
        assert d.decision == "published"
        data = logged(pack)
        data.behaviour_prob = np.where(np.arange(len(data)) < 10, 1.0, np.nan)  # ten known propensities only
        d = evaluate(pack, titrate, keep, data, FAST)
        wis = next(c for c in d.report["checks"] if c["name"] == "ope.wis_reward")
        assert wis["status"] == "inconclusive" and "ESS below 30" in wis["detail"]

    def test_with_no_active_policy_the_guideline_is_the_reference(self) -> None:
        d = evaluate(ToyPack(), titrate, None, None, FAST)
        assert d.report["twins"]["candidate_vs_reference"]["reference"].startswith("guideline")


def candidate(tmp_path: Path, decision: GateDecision, version: str) -> retrain.Candidate:
    onnx = tmp_path / version / "policy.onnx"
    onnx.parent.mkdir(parents=True)
    onnx.write_bytes(b"onnx")
    return retrain.Candidate(version=version, onnx_path=onnx, sha256="0" * 64, card={"status": "candidate"},
                             result=None, decision=decision)  # type: ignore[arg-type]


async def watermark(sessions: async_sessionmaker[AsyncSession]) -> int:
    """The newest warfarin transition id: what a real candidate would have seen."""
    async with sessions() as s:
        return await retrain.TransitionRepository(s).max_id("warfarin")


class TestRecord:
    async def test_published_means_registry_row_activation_report_audit_and_event(
        self, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
    ) -> None:
        queue = SqlTableQueue(sessions)
        await queue.ensure_group(POLICIES_STREAM, "gate-test")
        version = f"cql-test-{tmp_path.name[-6:]}"
        decision = GateDecision("published", ["every blocking check passed"], {"decision": "published"})
        through = await watermark(sessions)
        report = await retrain.record_decision(sessions, queue, "warfarin", candidate(tmp_path, decision, version), through)
        async with sessions() as s:
            policy = await PolicyRepository(s).active("warfarin")
            audit = (await s.execute(select(models.AuditEvent).where(models.AuditEvent.subject_id == report.policy_id)
                                     )).scalar_one()
        assert policy is not None and (policy.id, policy.version) == (report.policy_id, version)
        assert policy.activated_by == retrain.GATE_ACTOR and policy.model_card["gate"]["decision"] == "published"
        assert (report.decision, report.transitions_through_id, report.report) == ("published", through, decision.report)
        assert audit.action == "policy.activate" and audit.policy_version == version
        events = await queue.read(POLICIES_STREAM, "gate-test", "t", count=100)
        assert any(e.payload == {"event": "policy_activated", "therapy": "warfarin", "policy_id": policy.id,
                                 "version": version, "by": retrain.GATE_ACTOR} for e in events)

    async def test_rejected_is_kept_with_its_report_and_can_never_be_activated(
        self, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
    ) -> None:
        version = f"cql-bad-{tmp_path.name[-6:]}"
        decision = GateDecision("rejected", ["FAIL twins.efficacy_vs_active: worse"], {"decision": "rejected"})
        report = await retrain.record_decision(sessions, None, "warfarin", candidate(tmp_path, decision, version),
                                               await watermark(sessions))
        async with sessions() as s:
            policy = await PolicyRepository(s).get(report.policy_id)
            stored = (await s.execute(select(models.GateReport).where(models.GateReport.id == report.id))).scalar_one()
        assert policy is not None and policy.status == "rejected"
        assert stored.reasons == ["FAIL twins.efficacy_vs_active: worse"] and stored.decision == "rejected"
        async with sessions() as s, s.begin():
            with pytest.raises(ValueError, match="rejected by its gate"):
                await PolicyRepository(s).activate(policy.id, by="someone")


class TestSchedule:
    async def test_due_by_count_and_by_schedule_after_the_last_watermark(
        self, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
    ) -> None:
        from dosewise_trainer.transitions import record_transitions
        from tests.integration.test_outcomes import make_recommendations, outcome
        from tests.integration.test_transitions import record

        recs = await make_recommendations(sessions, 3)
        await record_transitions(sessions, await record(sessions, [outcome(r) for r in recs]))
        async with sessions() as s:
            last = await retrain.GateReportRepository(s).latest("warfarin")
        base = last.transitions_through_id if last else 0

        def scheduler(**env: str) -> retrain.RetrainScheduler:
            return retrain.RetrainScheduler(Settings(DOSEWISE_VAR_DIR=str(tmp_path), **env), sessions, None)

        reason, through = await scheduler(DOSEWISE_RETRAIN_MIN_TRANSITIONS="3", DOSEWISE_RETRAIN_INTERVAL_S="0").due("warfarin")
        assert reason is not None and "new transitions" in reason and through > base
        assert (await scheduler(DOSEWISE_RETRAIN_MIN_TRANSITIONS="100000",
                                DOSEWISE_RETRAIN_INTERVAL_S="0").due("warfarin"))[0] is None
        s = scheduler(DOSEWISE_RETRAIN_MIN_TRANSITIONS="0", DOSEWISE_RETRAIN_INTERVAL_S="0.001")
        s.started = s.started.replace(year=s.started.year - 1)
        reason, _ = await s.due("warfarin")
        assert reason is not None and reason.startswith("schedule")


def test_a_retrained_candidate_carries_its_calibrated_hyperscore_sidecars(tmp_path: Path) -> None:
    """Like the shipped policies, a candidate of the learning loop comes with feature statistics (novelty) and a
    hyperscore.json calibrated on held-out twins for its own Q-values, whatever the gate decides."""
    from dosewise import hyperscore as hs
    from dosewise_trainer.calibrate_hyperscore import CalibrationArgs

    pack = ToyPack()
    args = cql.CQLArgs(therapy="toy", gradient_steps=50, batch_size=32, twin_patients=20, twin_days=10, hidden_sizes=(16,),
                       n_heads=2)
    small = CalibrationArgs(patients=20, days=20, decisions_per_patient=2, horizon_days=5, outcome_days=5, stats_patients=30,
                            grid_step=0.25)
    c = retrain.train_and_gate(pack, [], None, None, tmp_path, args, FAST, 0, "test", active_trained=False,
                               calibration=small)
    folder = c.onnx_path.parent
    cfg = hs.HyperScoreConfig.load(folder)
    assert cfg.calibration is not None and cfg.calibration["policy_sha256"] == c.sha256
    assert cfg.calibration["n_decisions"] == 40 and cfg.value_center is not None
    assert hs.FeatureStats.load(folder) is not None
