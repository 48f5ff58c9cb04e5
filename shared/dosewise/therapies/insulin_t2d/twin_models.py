"""The basal-insulin twin models, registered in the named registry (dosewise.therapies.twin_models), and the training family.

| name                  | role    | model |
|-----------------------|---------|-------|
| ``aradottir2019_wide``| train   | Aradóttir 2019 / Kanderian (model.py), ×1.5 parameter spread, daily SI (twin_aradottir.py) |
| ``hovorka2004_t2d``   | train   | Hovorka 2004 extended for T2D, meals, long-acting insulin (twin_hovorka.py) |
| ``insulin_t2d_family``| train   | the two above mixed per patient (``FamilyTwin``) |
| ``dallaman2007_t2d``  | heldout | Dalla Man 2007 T2D meal model on bedtime glargine (twin_dallaman.py) |

(``aradottir2019``, the pack's own simulator, is registered by the registry itself.) Group data: each model's hidden
parameters, with ``si`` its insulin-sensitivity parameter (Aradóttir's SI in 1/U, the others' dimensionless factor); in the
family, ``si`` is the patient's rank within its own model (0–1), so sensitivity tertiles mix models fairly, and
``model_index`` says which model a patient is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from dosewise.therapies.base import FloatArray
from dosewise.therapies.clinic import ClinicTwin
from dosewise.therapies.insulin_t2d.twin_aradottir import AradottirT2DTwin
from dosewise.therapies.insulin_t2d.twin_dallaman import DallaManT2DTwin
from dosewise.therapies.insulin_t2d.twin_hovorka import HovorkaT2DTwin
from dosewise.therapies.twin_models import register

THERAPY = "insulin_t2d"
TwinFactory = Callable[[int, int], "ClinicTwin"]


def _hidden_of(twin: AradottirT2DTwin | HovorkaT2DTwin | DallaManT2DTwin) -> dict[str, FloatArray]:
    return {k: np.asarray(v, dtype=float) for k, v in twin.hidden.items()}


def _rank01(x: FloatArray) -> FloatArray:
    ranks = np.empty(x.shape[0])
    ranks[np.argsort(x, kind="stable")] = np.arange(x.shape[0])
    return (ranks + 0.5) / max(x.shape[0], 1)


class FamilyTwin:
    """N patients, each simulated by one of several twin models (chosen per patient from the seed), as one ClinicTwin.

    Covariates, true values and the doses given are in the family's patient order; each member model advances only its own
    patients. Keys of the day's truth are those every member reports (plus ``dose_taken`` = the dose given where a member
    does not report its own)."""

    truth_key = "glucose_fasting_true"

    def __init__(self, n: int, seed: int, factories: Sequence[tuple[str, TwinFactory]],
                 weights: Sequence[float] | None = None) -> None:
        self.n = n
        w = np.asarray(weights if weights is not None else [1.0] * len(factories), dtype=float)
        rng = np.random.default_rng(np.random.SeedSequence([seed, 2, 25, 99]))
        self.model_index = rng.choice(len(factories), size=n, p=w / w.sum())
        self.model_names = tuple(name for name, _ in factories)
        self._members: list[tuple[np.ndarray, ClinicTwin]] = []
        for j, (_, make) in enumerate(factories):
            idx = np.flatnonzero(self.model_index == j)
            if idx.size:
                member_seed = int(np.random.SeedSequence([seed, 2, 25, 100 + j]).generate_state(1)[0])
                self._members.append((idx, make(int(idx.size), member_seed)))
        keys = set.intersection(*(set(t.covariates) for _, t in self._members))
        self.covariates: dict[str, FloatArray] = {k: self._gather({id(t): t.covariates[k] for _, t in self._members})
                                                  for k in sorted(keys)}

    def _gather(self, parts: dict[int, FloatArray]) -> FloatArray:
        out = np.full(self.n, np.nan)
        for idx, t in self._members:
            out[idx] = parts[id(t)]
        return out

    def _merge(self, per_member: list[dict[str, FloatArray]], given: FloatArray | None) -> dict[str, FloatArray]:
        keys = set.intersection(*(set(r) for r in per_member))
        out = {k: self._gather({id(t): r[k] for (_, t), r in zip(self._members, per_member, strict=True)}) for k in keys}
        if given is not None and any("dose_taken" in r for r in per_member):
            taken = np.array(given, dtype=float)
            for (idx, _), r in zip(self._members, per_member, strict=True):
                if "dose_taken" in r:
                    taken[idx] = r["dose_taken"]
            out["dose_taken"] = taken
        return out

    def truth_now(self) -> dict[str, FloatArray]:
        return self._merge([t.truth_now() for _, t in self._members], None)

    def advance_day(self, given: FloatArray) -> dict[str, FloatArray]:
        g = np.broadcast_to(np.asarray(given, dtype=float), (self.n,))
        return self._merge([t.advance_day(g[idx]) for idx, t in self._members], g)

    def group_data(self) -> dict[str, FloatArray]:
        """``si`` as the within-model rank (0–1), ``egfr_true``, ``clearance`` and ``model_index``."""
        out = {"si": np.full(self.n, np.nan), "egfr_true": np.full(self.n, np.nan), "clearance": np.full(self.n, np.nan),
               "model_index": self.model_index.astype(float)}
        for idx, t in self._members:
            h = t.hidden  # type: ignore[attr-defined]  # every member model exposes hidden
            out["si"][idx] = _rank01(np.asarray(h["si"], dtype=float))
            out["egfr_true"][idx] = h["egfr_true"]
            out["clearance"][idx] = h["clearance"]
        return out


def _build_aradottir_wide(n: int, seed: int) -> tuple[ClinicTwin, dict[str, FloatArray]]:
    twin = AradottirT2DTwin(n, seed)
    return twin, _hidden_of(twin)


def _build_hovorka_t2d(n: int, seed: int) -> tuple[ClinicTwin, dict[str, FloatArray]]:
    twin = HovorkaT2DTwin(n, seed)
    return twin, _hidden_of(twin)


def _build_dallaman_t2d(n: int, seed: int) -> tuple[ClinicTwin, dict[str, FloatArray]]:
    twin = DallaManT2DTwin(n, seed)
    return twin, _hidden_of(twin)


TRAINING_MEMBERS: tuple[tuple[str, TwinFactory], ...] = (
    ("aradottir2019_wide", AradottirT2DTwin),
    ("hovorka2004_t2d", HovorkaT2DTwin),
)


def _build_training_family(n: int, seed: int) -> tuple[ClinicTwin, dict[str, FloatArray]]:
    """The training family: each patient from one of the training models, equal shares."""
    twin = FamilyTwin(n, seed, TRAINING_MEMBERS)
    return twin, twin.group_data()


register(
    "aradottir2019_wide", THERAPY, "train",
    "Aradóttir et al. 2019 (modified Kanderian T2D model; clinical.md §2) with ×1.5 parameter ranges",
    _build_aradottir_wide,
    "model.py's equations and noise; SI, EGP, B ranges ×1.5 about the paper cohort's; day-to-day SI (log-normal 0.1). "
    "Night minimum = the 24-h minimum (no meals).",
)
register(
    "hovorka2004_t2d", THERAPY, "train",
    "Hovorka et al. 2004, Physiol Meas 25:905, extended for T2D (residual secretion, insulin resistance: assumptions)",
    _build_hovorka_t2d,
    "Three insulin actions, meals, long-acting insulin through Hovorka's two-compartment chain (tmaxI 10 h), "
    "morning or bedtime injection. Night minimum 00:00–07:00.",
)
register(
    "insulin_t2d_family", THERAPY, "train",
    "Mixture of aradottir2019_wide and hovorka2004_t2d, per patient",
    _build_training_family,
    "The training family: each patient simulated by one training model (equal shares); group si = rank within model.",
)
register(
    "dallaman2007_t2d", THERAPY, "heldout",
    "Dalla Man, Rizza & Cobelli 2007, IEEE Trans Biomed Eng 54:1740 (T2D parameters), glargine depot [unverified rates]",
    _build_dallaman_t2d,
    "Meal model with hepatic insulin action, residual beta-cell secretion, renal glucose loss; bedtime glargine. "
    "Night minimum 00:00–07:00. Never trained on.",
)
