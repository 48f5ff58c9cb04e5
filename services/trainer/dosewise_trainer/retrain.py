"""Retraining: when enough new transitions arrived (``DOSEWISE_RETRAIN_MIN_TRANSITIONS``) or on a schedule
(``DOSEWISE_RETRAIN_INTERVAL_S``), learn a candidate with conservative offline RL (``algorithms/cql.py``: logged
transitions mixed with twin rollouts, warm-started from the serving policy), put it through the gate (``gate.py``), and
record the decision: a registry row and a gate report in one transaction — activated in that same transaction when
published (then a "policy activated" event tells inference to swap), status ``rejected`` otherwise.

Logged transitions of a stable ~20 % of patients (hash of the pseudonym) never train: they are the gate's held-out data for
off-policy evaluation. The watermark ``gate_reports.transitions_through_id`` says which transitions a candidate saw, so
"new transitions" are those after the last candidate's watermark, and a crash mid-training simply retrains next time.

Several replicas may run with ``DOSEWISE_RETRAIN`` on: they take turns under the retraining lease (``lease.py``, a row of
the ``leases`` table). Only the holder trains; it looks again whether the therapy is due once it holds the lease (another
replica may have just trained on the same transitions), renews the lease while it trains, and records the gate's decision
only if the lease is still its own (the fence, in the same transaction). The others skip, logging who holds the lease.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise import metrics
from dosewise.audit_chain import Action, sha256_json
from dosewise.queue.base import POLICIES_STREAM, Queue
from dosewise.settings import Settings
from dosewise.storage.db import transaction
from dosewise.storage.models import GateReport, Policy, Transition, utcnow
from dosewise.storage.repositories import AuditRepository, GateReportRepository, PolicyRepository, TransitionRepository
from dosewise.therapies.base import TherapyPack
from dosewise.therapies.registry import PACKS, get_pack
from dosewise_trainer.algorithms import cql
from dosewise_trainer.calibrate_hyperscore import CalibrationArgs, calibrate
from dosewise_trainer.gate import GateConfig, GateDecision, LoggedEval, evaluate, format_report, held_out
from dosewise_trainer.lease import Clock, DatabaseLease, Tenure, default_holder

log = logging.getLogger("dosewise.trainer.retrain")

RETRAIN_CHECK_S = 2.0  # how often the scheduler looks for due therapies
RETRY_AFTER_FAILURE_S = 60.0  # a failed run is not retried in a tight loop
GATE_ACTOR = "trainer:gate"
RETRAIN_LEASE = "retrain"  # one lease for every therapy: one retraining at a time across the replicas

Fence = Callable[[AsyncSession], Awaitable[None]]  # raises inside the recording transaction if it may not write


@dataclass
class Dataset:
    train: cql.OfflineData
    heldout: LoggedEval | None
    train_patients: int
    heldout_patients: int


def split(pack: TherapyPack, rows: list[Transition], config: GateConfig, override_weight: float) -> Dataset:
    """Training rows and held-out OPE rows, split by patient. ``rows`` are in course order (patient, decision time)."""
    test = [held_out(r.patient_ref, config.heldout_percent) for r in rows]
    train_rows = [r for r, t in zip(rows, test, strict=True) if not t]
    test_rows = [r for r, t in zip(rows, test, strict=True) if t]
    heldout = None
    if test_rows:
        d = cql.OfflineData.from_rows(test_rows)
        first = np.array([i == 0 or test_rows[i - 1].patient_ref != r.patient_ref for i, r in enumerate(test_rows)])
        heldout = LoggedEval(
            obs=d.obs, actions=d.actions, rewards=d.rewards, next_obs=d.next_obs, mask=d.mask, next_mask=d.next_mask,
            terminated=d.terminated, initial=first,
            behaviour_prob=d.behaviour_prob,
            adverse=np.array([float(r.reward_terms.get("r_a", 0.0)) for r in test_rows]),
        )
    train = (cql.OfflineData.from_rows(train_rows, override_weight) if train_rows
             else cql.OfflineData.empty(pack.n_features, pack.n_actions))
    return Dataset(train=train, heldout=heldout, train_patients=len({r.patient_ref for r in train_rows}),
                   heldout_patients=len({r.patient_ref for r in test_rows}))


@dataclass
class Candidate:
    version: str
    onnx_path: Path
    sha256: str
    card: dict[str, Any]
    result: cql.CQLResult
    decision: GateDecision


def _data_hash(data: cql.OfflineData, twins_seed: int) -> str:
    """Identifies the training data (the card's ``cohort_hash``): the logged arrays and the twin seed."""
    h = hashlib.sha256(f"twins={twins_seed};n={len(data)}".encode())
    for f in dataclasses.fields(data):
        h.update(np.ascontiguousarray(getattr(data, f.name)).tobytes())
    return h.hexdigest()


def train_and_gate(pack: TherapyPack, rows: list[Transition], active_path: Path | None, active_version: str | None,
                   out_root: Path, args: cql.CQLArgs, config: GateConfig, through_id: int, reason: str,
                   active_trained: bool = True, calibration: CalibrationArgs | None = None) -> Candidate:
    """The CPU-heavy part (runs in a worker thread): data → CQL → ONNX + weights + card → HyperScore sidecars → gate.

    The sidecars are what `make policies` ships with every policy: ``feature_stats.json`` (novelty) and ``hyperscore.json``
    calibrated on held-out twins (``calibration``: sizes; default CalibrationArgs' — a few seconds), so a published
    candidate's HyperScore means what the shipped policies' does.

    An ``untrained`` serving policy (random weights, bootstrap's placeholder) is still the gate's reference — it is what
    patients get — but neither a warm start nor a source of twin rollouts: its weights and its behaviour are noise."""
    from dosewise_trainer.export import export_policy, load_onnx_q_fn, read_model_card, sha256_file

    data = split(pack, rows, config, args.override_weight)
    active_q = load_onnx_q_fn(active_path) if active_path is not None else None
    warm = cql.load_warm_start(pack, active_path) if active_trained else (None, "active policy untrained: from scratch")
    twins = cql.twin_mix(pack, args, active_q if active_trained else None)
    result = cql.train(args, pack, data.train, twins, warm)
    version = f"cql-{utcnow():%Y%m%d-%H%M%S}-t{through_id}"
    out_dir = out_root / pack.id / version
    config_card = {"algorithm": "discrete_cql_double_dqn", **dataclasses.asdict(args), "warm_start": result.warm_start,
                   "logged_transitions": len(data.train), "twin_transitions": len(twins),
                   "train_patients": data.train_patients, "transitions_through_id": through_id,
                   "train_seconds": round(result.seconds, 1), "trigger": reason}
    onnx_path = export_policy(result.q_network, pack, out_dir, config_card, _data_hash(data.train, args.seed))
    cql.save_weights(result.q_network, out_dir)
    result.curves.write(out_dir)
    cal = dataclasses.replace(calibration or CalibrationArgs(), therapy=pack.id, policy=str(out_dir), write=True)
    calibrate(cal, pack=pack)
    context = {"version": version, "active": active_version or "none", "warm_start": result.warm_start,
               "logged_train": len(data.train), "twin_train": len(twins), "heldout_patients": data.heldout_patients,
               "trigger": reason}
    decision = evaluate(pack, load_onnx_q_fn(onnx_path), active_q, data.heldout, config, context)
    return Candidate(version, onnx_path, sha256_file(onnx_path), read_model_card(onnx_path), result, decision)


async def serving_policy(sessions: async_sessionmaker[AsyncSession], therapy: str) -> Policy | None:
    """What inference serves: the active policy, else the newest untrained one (as the inference policy store picks)."""
    async with sessions() as s:
        repo = PolicyRepository(s)
        active = await repo.active(therapy)
        if active is not None:
            return active
        untrained = [p for p in await repo.list(therapy) if p.status == "untrained"]
        return untrained[0] if untrained else None


async def record_decision(sessions: async_sessionmaker[AsyncSession], events: Queue | None, therapy: str,
                          candidate: Candidate, through_id: int, fence: Fence | None = None) -> GateReport:
    """Registry row + gate report (+ activation when published) in one transaction; then the "policy activated" event.
    ``fence`` runs first in that transaction (the retraining lease's: it raises when the lease was taken over)."""
    d = candidate.decision
    async with transaction(sessions) as s:
        if fence is not None:
            await fence(s)
        repo = PolicyRepository(s)
        policy = await repo.add(Policy(
            therapy=therapy, version=candidate.version, status="candidate", sha256=candidate.sha256,
            artifact_path=str(candidate.onnx_path.resolve()),
            model_card=candidate.card | {"gate": {"decision": d.decision, "reasons": d.reasons}}))
        report = await GateReportRepository(s).add(GateReport(
            policy_id=policy.id, therapy=therapy, version=candidate.version, decision=d.decision, reasons=d.reasons,
            report=d.report, transitions_through_id=through_id))
        if d.decision == "published":
            await repo.activate(policy.id, by=GATE_ACTOR)
            await AuditRepository(s).append(actor=GATE_ACTOR, role="system", action=Action.POLICY_ACTIVATE,
                                            policy_version=candidate.version, subject_id=policy.id,
                                            input_hash=sha256_json(d.report))
        else:
            policy.status = "rejected"
    metrics.GATE_DECISIONS.labels(therapy, d.decision).inc()  # committed
    if d.decision == "published" and events is not None:
        try:
            await events.publish(POLICIES_STREAM, {"event": "policy_activated", "therapy": therapy, "policy_id": policy.id,
                                                   "version": candidate.version, "by": GATE_ACTOR})
        except Exception as e:  # inference's periodic registry refresh picks the new version up anyway
            log.warning("policy event not published", extra={"error": type(e).__name__})
    return report


class RetrainScheduler:
    """Decides when a therapy is due, retrains it under the retraining lease and records the gate's decision.

    ``holder`` names this replica in the lease (default hostname:pid, the pod's name in Kubernetes); ``clock`` is the
    lease's (tests move it)."""

    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession], events: Queue | None,
                 args: dict[str, Any] | None = None, gate_config: GateConfig | None = None, holder: str | None = None,
                 clock: Clock = utcnow) -> None:
        self.settings, self.sessions, self.events = settings, sessions, events
        self.args_overrides = args or {}
        self.gate_config = gate_config or GateConfig()
        self.started = utcnow()
        self._failed_at: dict[str, float] = {}
        self.lease = DatabaseLease(sessions, RETRAIN_LEASE, holder or default_holder(), settings.retrain_lease_ttl_s,
                                   clock=clock)
        self._skip_logged_for: str | None = None  # the other holder last reported, so a long wait logs once, not every round

    async def due(self, therapy: str) -> tuple[str | None, int]:
        """(why it is due, or None; the newest transition id)."""
        async with self.sessions() as s:
            last = await GateReportRepository(s).latest(therapy)
            repo = TransitionRepository(s)
            through = await repo.max_id(therapy)
            new = await repo.count_after(therapy, last.transitions_through_id if last else 0)
        if new == 0:
            return None, through
        if self.settings.retrain_min_transitions and new >= self.settings.retrain_min_transitions:
            return f"{new} new transitions (threshold {self.settings.retrain_min_transitions})", through
        since: datetime = last.created_at if last else self.started
        if since.tzinfo is None:  # SQLite returns naive UTC
            since = since.replace(tzinfo=self.started.tzinfo)
        if self.settings.retrain_interval_s and utcnow() - since >= timedelta(seconds=self.settings.retrain_interval_s):
            return f"schedule ({self.settings.retrain_interval_s:g} s) with {new} new transitions", through
        return None, through

    def cql_args(self, therapy: str, through_id: int) -> cql.CQLArgs:
        base = {"therapy": therapy, "seed": through_id % 2**31, "gradient_steps": self.settings.retrain_gradient_steps}
        return cql.CQLArgs(**(base | self.args_overrides))

    async def retrain(self, therapy: str, reason: str, through_id: int | None = None) -> GateReport | None:
        """Under the retraining lease, train a candidate on the therapy's transitions (through ``through_id``) and record
        the gate's decision. None, having trained nothing, when another replica holds the lease."""
        async with self.lease.hold() as tenure:
            if not tenure.held:
                self._skipped(therapy, tenure)
                return None
            return await self._counted(therapy, reason, through_id)

    async def retrain_if_due(self, therapy: str) -> GateReport | None:
        """One scheduler step for a therapy: retrain it if it is due and this replica gets the lease."""
        reason, _ = await self.due(therapy)  # a look without the lease first: most rounds nothing is due
        if reason is None:
            return None
        async with self.lease.hold() as tenure:
            if not tenure.held:
                self._skipped(therapy, tenure)
                return None
            # Again under the lease: the replica that held it a moment ago may have trained on these very transitions.
            reason, through = await self.due(therapy)
            if reason is None:
                return None
            return await self._counted(therapy, reason, through)

    def _skipped(self, therapy: str, tenure: Tenure) -> None:
        level = logging.DEBUG if tenure.holder is not None and tenure.holder == self._skip_logged_for else logging.INFO
        self._skip_logged_for = tenure.holder
        log.log(level, "retraining skipped: another replica holds the lease",
                extra={"therapy": therapy, "lease": self.lease.name, "holder": tenure.holder, "me": self.lease.holder})

    async def _counted(self, therapy: str, reason: str, through_id: int | None) -> GateReport:
        self._skip_logged_for = None
        try:
            report = await self._retrain(therapy, reason, through_id)
        except Exception:
            metrics.TRAINING_RUNS.labels(therapy, "failed").inc()
            raise
        metrics.TRAINING_RUNS.labels(therapy, "completed").inc()
        return report

    async def _retrain(self, therapy: str, reason: str, through_id: int | None) -> GateReport:
        pack = get_pack(therapy)
        async with self.sessions() as s:
            through = through_id if through_id is not None else await TransitionRepository(s).max_id(therapy)
            rows = list(await TransitionRepository(s).load(therapy, through))
        serving = await serving_policy(self.sessions, therapy)
        # A controller (guideline, MPC) has no network to warm-start from or to replay as a Q-function: the candidate
        # then trains from scratch and the gate judges it against the guideline alone.
        network = serving is not None and serving.artifact_path.endswith(".onnx")
        active_path = self.settings.policy_dir / serving.artifact_path if serving is not None and network else None
        log.info("retraining", extra={"therapy": therapy, "reason": reason, "transitions": len(rows),
                                      "active": serving.version if serving else None, "holder": self.lease.holder})
        candidate = await asyncio.to_thread(
            train_and_gate, pack, rows, active_path, serving.version if serving else None,
            self.settings.var_dir / "policies", self.cql_args(therapy, through), self.gate_config, through, reason,
            network and serving is not None and serving.status != "untrained")
        report = await record_decision(self.sessions, self.events, therapy, candidate, through, fence=self.lease.fence)
        log.info("gate decided", extra={"therapy": therapy, "version": candidate.version, "decision": report.decision,
                                        "report": format_report(report.report)})
        return report

    async def run_once(self) -> None:
        """One round over the therapies (``run`` repeats it every ``RETRAIN_CHECK_S``)."""
        for therapy in PACKS:
            if time.monotonic() - self._failed_at.get(therapy, -RETRY_AFTER_FAILURE_S) < RETRY_AFTER_FAILURE_S:
                continue
            try:
                await self.retrain_if_due(therapy)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self._failed_at[therapy] = time.monotonic()
                log.error("retraining failed", extra={"therapy": therapy, "error": f"{type(e).__name__}: {e}"})

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.run_once()
            try:
                await asyncio.wait_for(stop.wait(), timeout=RETRAIN_CHECK_S)
            except TimeoutError:
                pass
