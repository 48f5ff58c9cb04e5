"""The basal-insulin twin models, registered in the named registry (dosewise.therapies.twin_models), and the training family.

| name                  | role    | model |
|-----------------------|---------|-------|
| ``aradottir2019``     | train   | the pack's own simulator (model.py, cohort.py; Dosewise's eGFR extension) |
| ``aradottir2019_wide``| train   | Aradóttir 2019 / Kanderian (model.py), ×1.5 parameter spread, daily SI (twin_aradottir.py) |
| ``hovorka2004_t2d``   | train   | Hovorka 2004 extended for T2D, meals, long-acting insulin (twin_hovorka.py) |
| ``insulin_t2d_family``| train   | the two above mixed per patient (``family.FamilyTwin``) |
| ``dallaman2007_t2d``  | heldout | Dalla Man 2007 T2D meal model on bedtime glargine (twin_dallaman.py) |

Group data: each model's hidden parameters, with ``si`` its insulin-sensitivity parameter (Aradóttir's SI in 1/U, the
others' dimensionless factor); in the family, ``si`` is the patient's rank within its own model (0–1), so sensitivity
tertiles mix models fairly, and ``model_index`` says which model a patient is.
"""

from __future__ import annotations

import numpy as np

from dosewise.therapies.base import FloatArray, VectorSimulator
from dosewise.therapies.clinic import ClinicTwin
from dosewise.therapies.family import FamilyTwin, TwinFactory
from dosewise.therapies.insulin_t2d.twin_aradottir import AradottirT2DTwin
from dosewise.therapies.insulin_t2d.twin_dallaman import DallaManT2DTwin
from dosewise.therapies.insulin_t2d.twin_hovorka import HovorkaT2DTwin
from dosewise.therapies.twin_models import register, simulator_builder
from dosewise.units import GLUCOSE_MG_DL_PER_MMOL_L

THERAPY = "insulin_t2d"


def _day0_truth(sim: VectorSimulator) -> dict[str, FloatArray]:
    return {"glucose_fasting_true": np.asarray(sim.x[3], dtype=float) * GLUCOSE_MG_DL_PER_MMOL_L}  # type: ignore[attr-defined]


def _hidden_of(twin: AradottirT2DTwin | HovorkaT2DTwin | DallaManT2DTwin) -> dict[str, FloatArray]:
    return {k: np.asarray(v, dtype=float) for k, v in twin.hidden.items()}


def family_group_data(twin: FamilyTwin) -> dict[str, FloatArray]:
    """The family's group data: ``si`` as the within-model rank (0–1), ``egfr_true``, ``clearance`` and ``model_index``."""
    return {"si": twin.hidden_of("si", rank=True), "egfr_true": twin.hidden_of("egfr_true"),
            "clearance": twin.hidden_of("clearance"), "model_index": twin.model_index.astype(float)}


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
    twin = FamilyTwin(n, seed, TRAINING_MEMBERS, truth_key="glucose_fasting_true")
    return twin, family_group_data(twin)


register(
    "aradottir2019", THERAPY, "train",
    "Aradóttir et al. 2019 (modified Kanderian T2D model), public code dinesh-krishnamoorthy/Diabetes-Model-free-Titration",
    simulator_builder(THERAPY, _day0_truth),
    "The basal-insulin pack's own twins (model.py, cohort.py; Dosewise's eGFR extension): the training model.",
)
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
