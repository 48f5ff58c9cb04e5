"""A family of twin models as one ClinicTwin: each patient simulated by one member model, chosen per patient from the seed.

Issue #25 ("robust to the model") trains a policy on several structurally different published models at once and evaluates
it on one it never saw. ``FamilyTwin`` is the "several at once": N patients, each drawn into one member model (equal shares
unless ``weights`` say otherwise), advanced together by the clinic protocol (clinic.clinic_rollout) as if they were one
model. Every pack's training family (``<pack>_family`` in dosewise.therapies.twin_models) is one of these.

Covariates, true values and doses are in the family's patient order; each member advances only its own patients. The day's
truth holds the keys every member reports, plus ``clinic.DOSE_TAKEN_KEY`` (the dose given where a member does not report
its own) when any member reports it. Group data: ``hidden_of`` gathers a member-level hidden value (optionally as the
patient's rank within its own model, so groups by a parameter whose scale differs between models mix them fairly) and
``model_index`` says which member a patient is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from dosewise.therapies.base import FloatArray, IntArray
from dosewise.therapies.clinic import DOSE_TAKEN_KEY, ClinicTwin

TwinFactory = Callable[[int, int], ClinicTwin]  # (n, seed) → n twins of one model


def rank01(x: FloatArray) -> FloatArray:
    """Each value's rank among ``x`` mapped to (0, 1) (mid-ranks of n bins; ties by order)."""
    ranks = np.empty(x.shape[0])
    ranks[np.argsort(x, kind="stable")] = np.arange(x.shape[0])
    return (ranks + 0.5) / max(x.shape[0], 1)


class FamilyTwin:
    """N patients, each simulated by one of ``factories`` (name, (n, seed) → ClinicTwin), as one ClinicTwin.

    ``truth_key``: the primary observation every member reports (warfarin "inr_true", insulin "glucose_fasting_true").
    The assignment of patients to members and each member's seed come from ``seed`` alone (same seed → same family)."""

    def __init__(self, n: int, seed: int, factories: Sequence[tuple[str, TwinFactory]], truth_key: str,
                 weights: Sequence[float] | None = None) -> None:
        if not factories:
            raise ValueError("a family needs at least one member model")
        self.n, self.truth_key = n, truth_key
        w = np.asarray(weights if weights is not None else [1.0] * len(factories), dtype=float)
        if w.shape != (len(factories),) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"weights must be {len(factories)} non-negative numbers, not all 0")
        rng = np.random.default_rng(np.random.SeedSequence([seed, 2, 25, 99]))
        self.model_index: IntArray = rng.choice(len(factories), size=n, p=w / w.sum())
        self.model_names = tuple(name for name, _ in factories)
        self.members: list[tuple[IntArray, ClinicTwin]] = []
        for j, (_, make) in enumerate(factories):
            idx = np.flatnonzero(self.model_index == j)
            if idx.size:
                member_seed = int(np.random.SeedSequence([seed, 2, 25, 100 + j]).generate_state(1)[0])
                twin = make(int(idx.size), member_seed)
                if twin.truth_key != truth_key:
                    raise ValueError(f"member {self.model_names[j]!r} reports {twin.truth_key!r}, not {truth_key!r}")
                self.members.append((idx, twin))
        keys = set.intersection(*(set(t.covariates) for _, t in self.members))
        self.covariates: dict[str, FloatArray] = {k: self.gather([t.covariates[k] for _, t in self.members])
                                                  for k in sorted(keys)}

    def gather(self, parts: Sequence[FloatArray]) -> FloatArray:
        """One (n,) array in the family's patient order from one array per member (in ``members`` order)."""
        out = np.full(self.n, np.nan)
        for (idx, _), part in zip(self.members, parts, strict=True):
            out[idx] = np.asarray(part, dtype=float)
        return out

    def hidden_of(self, key: str, rank: bool = False) -> FloatArray:
        """The members' hidden value ``key`` (each member exposes ``hidden``), or with ``rank`` the patient's rank within
        its own model (0–1)."""
        parts = [np.asarray(t.hidden[key], dtype=float) for _, t in self.members]  # type: ignore[attr-defined]
        return self.gather([rank01(p) if rank else p for p in parts])

    def _merge(self, per_member: list[dict[str, FloatArray]], given: FloatArray | None) -> dict[str, FloatArray]:
        keys = set.intersection(*(set(r) for r in per_member))
        out = {k: self.gather([r[k] for r in per_member]) for k in keys}
        if given is not None and any(DOSE_TAKEN_KEY in r for r in per_member):
            taken = np.array(given, dtype=float)
            for (idx, _), r in zip(self.members, per_member, strict=True):
                if DOSE_TAKEN_KEY in r:
                    taken[idx] = r[DOSE_TAKEN_KEY]
            out[DOSE_TAKEN_KEY] = taken
        return out

    def truth_now(self) -> dict[str, FloatArray]:
        return self._merge([t.truth_now() for _, t in self.members], None)

    def advance_day(self, given: FloatArray) -> dict[str, FloatArray]:
        g = np.broadcast_to(np.asarray(given, dtype=float), (self.n,))
        return self._merge([t.advance_day(g[idx]) for idx, t in self.members], g)
