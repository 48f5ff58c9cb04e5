"""Which policy serves each therapy, loaded (a network into onnxruntime) and verified by hash.

The registry (``policies`` table) is the source of truth: the ``active`` policy of a therapy — a network, or a controller
(the guideline, the MPC: dosewise.controllers), whose scores go through the same mask and choice. The store re-reads the
registry every ``policy_refresh_s`` seconds and swaps a new version in atomically (a dict assignment): a request holds a
reference to one ``LoadedPolicy`` and is answered entirely by it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dosewise import controllers, metrics, shield
from dosewise.artifacts import artifact_problem
from dosewise.hyperscore import FeatureStats, HyperScoreConfig
from dosewise.queue.base import POLICIES_STREAM, Queue
from dosewise.schemas import PolicyRef
from dosewise.storage.models import Policy
from dosewise.therapies.base import ClinicView, GuardrailResult, TherapyPack
from dosewise.therapies.registry import PACKS
from dosewise_inference.explain import load_sidecars
from dosewise_inference.onnx_gradient import GraphGradient, load_gradient

log = logging.getLogger(__name__)


class PolicyUnavailable(RuntimeError):
    """No servable policy for a therapy (none registered, or its artifact is missing or fails its hash check)."""


@dataclass(frozen=True)
class LoadedPolicy:
    """One policy version, ready to serve: the ONNX session plus its sidecars (HyperScore calibration, training feature
    statistics for novelty). Swapped as a whole, so a request never mixes two versions."""

    ref: PolicyRef
    session: ort.InferenceSession | None  # None for a controller (dosewise.controllers)
    n_features: int
    n_actions: int
    has_heads: bool
    hyperscore: HyperScoreConfig
    feature_stats: FeatureStats | None
    gradient: GraphGradient | None = None  # exact attributions' gradients; None: finite differences (explain.py)
    kind: str = "dqn"  # "dqn" (an ONNX network), controllers.SHIELD (a network behind the shield) or a controllers.KINDS entry

    @property
    def is_network(self) -> bool:
        return self.session is not None

    def narrow(self, pack: TherapyPack, view: ClinicView, guard: GuardrailResult) -> GuardrailResult:
        """What this policy chooses within: the guardrails' result, narrowed by the shield for a shielded network."""
        return shield.apply(pack, view, guard) if self.kind == controllers.SHIELD else guard

    def action_values(self, pack: TherapyPack, view: ClinicView, features: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(batch, A) the scores the masked argmax picks from — a network's Q-values, a controller's action scores — and
        the network's per-head Q-values when it has heads."""
        if self.session is None:
            return controllers.scores(self.kind, pack, view), None  # type: ignore[arg-type]
        return self.q_values(features)

    def q_values(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(batch, A) ensemble-mean Q-values and, when the model has heads, (batch, K, A). Networks only."""
        if self.session is None:
            raise PolicyUnavailable(f"policy {self.ref.version} is a {self.kind} controller: it needs the patient states")
        outputs = ["q_values", "q_heads"] if self.has_heads else ["q_values"]
        res = self.session.run(outputs, {"features": features.astype(np.float32, copy=False)})
        return res[0], (res[1] if self.has_heads else None)



def load_policy(row: Policy, policy_dir: Path) -> LoadedPolicy:
    """Verify the artifact's sha256 against the registry, then open it: a controller's manifest, or a network in
    onnxruntime (CPU, one intra-op thread) whose input and output sizes must be its pack's (an artifact trained for
    another action or feature set is refused, never served)."""
    path = policy_dir / row.artifact_path
    if (problem := artifact_problem(path, row.sha256)) is not None:
        raise PolicyUnavailable(f"policy {row.therapy} {row.version}: {problem}")
    pack = PACKS.get(row.therapy)
    if pack is None:
        raise PolicyUnavailable(f"policy {row.therapy} {row.version}: unknown therapy")
    ref = PolicyRef(id=row.id, therapy=row.therapy, version=row.version, status=row.status, sha256=row.sha256)  # type: ignore[arg-type]
    kind = "dqn"
    if path.name == controllers.MANIFEST_FILE:
        try:
            manifest = controllers.read_manifest(path)
        except (ValueError, OSError) as e:
            raise PolicyUnavailable(f"policy {row.therapy} {row.version}: {e}") from None
        kind = manifest["kind"]
        if kind != controllers.SHIELD:
            hs_cfg, _ = load_sidecars(path.parent)
            return LoadedPolicy(ref=ref, session=None, n_features=pack.n_features, n_actions=pack.n_actions,
                                has_heads=False, hyperscore=hs_cfg, feature_stats=None, kind=kind)
        if not shield.has_shield(pack):
            raise PolicyUnavailable(f"policy {row.therapy} {row.version}: the {row.therapy} pack has no shield")
        path = path.parent / manifest["network"]["file"]
        if (problem := artifact_problem(path, manifest["network"]["sha256"])) is not None:
            raise PolicyUnavailable(f"policy {row.therapy} {row.version}: its shielded network: {problem}")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    out_names = {o.name for o in session.get_outputs()}
    shape_in = session.get_inputs()[0].shape
    q_out = next(o for o in session.get_outputs() if o.name == "q_values")
    if (int(shape_in[1]), int(q_out.shape[1])) != (pack.n_features, pack.n_actions):
        raise PolicyUnavailable(
            f"policy {row.therapy} {row.version}: the network takes {shape_in[1]} features and scores {q_out.shape[1]} "
            f"actions; the {row.therapy} pack has {pack.n_features} and {pack.n_actions} (trained for another version "
            "of the pack)")
    hs_cfg, stats = load_sidecars(path.parent)
    return LoadedPolicy(ref=ref, session=session, n_features=int(shape_in[1]), n_actions=int(q_out.shape[1]),
                        has_heads="q_heads" in out_names, hyperscore=hs_cfg, feature_stats=stats,
                        gradient=load_gradient(path, session, int(shape_in[1])), kind=kind)


async def servable_row(session: AsyncSession, therapy: str) -> Policy | None:
    """The active policy of a therapy. Nothing else serves: an ``untrained`` row (older databases have them) never does;
    the bootstrap activates the guideline when nothing better passed."""
    stmt = (
        select(Policy)
        .where(Policy.therapy == therapy, Policy.status == "active")
        .order_by(Policy.created_at.desc())  # type: ignore[attr-defined]
        .limit(1)
    )
    return (await session.execute(stmt)).scalars().first()


class PolicyStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], policy_dir: Path, therapies: list[str]) -> None:
        self._sessions, self._dir, self._therapies = sessions, policy_dir, therapies
        self._loaded: dict[str, LoadedPolicy] = {}
        self._errors: dict[str, str] = {}

    def get(self, therapy: str) -> LoadedPolicy:
        try:
            return self._loaded[therapy]
        except KeyError:
            raise PolicyUnavailable(self._errors.get(therapy, f"no policy loaded for {therapy}")) from None

    def load_error(self, therapy: str) -> str | None:
        """Why the registry's current choice for ``therapy`` is not loaded (None when it is); the previous version, if
        any, still serves."""
        return self._errors.get(therapy)

    @property
    def loaded(self) -> dict[str, LoadedPolicy]:
        return dict(self._loaded)

    async def refresh(self) -> None:
        """Load any therapy whose servable policy changed; keep serving the old one if the new one fails to load."""
        async with self._sessions() as s:
            rows = {t: await servable_row(s, t) for t in self._therapies}
        for therapy, row in rows.items():
            current = self._loaded.get(therapy)
            if row is None:
                self._errors[therapy] = f"no policy registered for {therapy}"
                continue
            if current is not None and current.ref.id == row.id and current.ref.status == row.status:
                self._errors.pop(therapy, None)  # the registry is back on what serves (e.g. a failed activation undone)
                continue
            try:
                loaded = await asyncio.to_thread(load_policy, row, self._dir)
            except Exception as e:  # keep the previous version serving; readiness reports the problem
                self._errors[therapy] = str(e)
                metrics.POLICY_LOAD_FAILURES.labels(therapy).inc()
                log.error("policy load failed", extra={"therapy": therapy, "version": row.version, "error": str(e)})
                continue
            self._loaded[therapy] = loaded  # atomic swap
            metrics.serving_policy_changed(therapy, None if current is None else current.ref, loaded.ref)
            self._errors.pop(therapy, None)
            log.info("policy loaded", extra={"therapy": therapy, "version": row.version, "status": row.status})

    async def run_refresher(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.refresh()
            except Exception as e:  # database blip: keep serving what is loaded
                log.warning("registry refresh failed", extra={"error": type(e).__name__})


async def follow_policy_events(store: PolicyStore, queue: Queue, group: str, consumer: str, block_ms: int) -> None:
    """Refresh as soon as a "policy activated" event arrives. Each replica reads with its own group, so every replica sees
    every event; the periodic refresh covers any event lost while a replica or the queue was down."""
    await queue.ensure_group(POLICIES_STREAM, group)
    while True:
        try:
            msgs = await queue.read(POLICIES_STREAM, group, consumer, count=100, block_ms=block_ms)
            if msgs:
                await store.refresh()
                await queue.ack(POLICIES_STREAM, group, [m.id for m in msgs])
        except asyncio.CancelledError:
            raise
        except LookupError:  # the group vanished (Redis restarted without persistence): recreate it, refresh meanwhile
            await asyncio.sleep(1.0)
            try:
                await queue.ensure_group(POLICIES_STREAM, group)
            except Exception as e:
                log.warning("policy event group not recreated", extra={"error": type(e).__name__})
        except Exception as e:  # queue down: the periodic refresh keeps us current; retry shortly
            log.warning("policy event stream unavailable", extra={"error": type(e).__name__})
            await asyncio.sleep(1.0)
