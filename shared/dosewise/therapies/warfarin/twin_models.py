"""The warfarin twin models, registered in the named registry (dosewise.therapies.twin_models), and the training family.

| name               | role    | model |
|--------------------|---------|-------|
| ``hamberg2007``      | train   | the pack's own simulator: Hamberg 2007 on the Ravvaz avatars (model.py, cohort.py) |
| ``hamberg2007_wide`` | train   | Hamberg 2007 on the Ravvaz avatars, ×1.5 IIV, day-to-day EC50 (twin_hamberg2007_wide.py) |
| ``kpd_holford``      | train   | K-PD dose compartment → Emax → prothrombin-complex turnover → INR (twin_kpd.py) |
| ``warfarin_family``  | train   | the two above mixed per patient (``family.FamilyTwin``) |
| ``hamberg2010``      | heldout | Hamberg 2010 one-compartment PK/PD on the Limdi 2015 cohort (twin_hamberg2010.py) |

Group data: each model's hidden values, with ``cyp2c9`` / ``vkorc1`` the TRUE genotype codes (base.CYP2C9_GENOTYPES /
VKORC1_GENOTYPES order, as cohort.py), which clinic_metrics.warfarin_groups reads; in the family also ``model_index``.
The training models share the training population (Ravvaz avatars); the held-out model has its own (Limdi 2015).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dosewise.therapies.base import FloatArray, VectorSimulator
from dosewise.therapies.clinic import ClinicTwin
from dosewise.therapies.family import FamilyTwin, TwinFactory
from dosewise.therapies.twin_models import register, simulator_builder
from dosewise.therapies.warfarin import twin_hamberg2007_wide, twin_hamberg2010, twin_kpd

THERAPY = "warfarin"
TRUTH_KEY = "inr_true"

TRAINING_MEMBERS: tuple[tuple[str, TwinFactory], ...] = (
    ("hamberg2007_wide", twin_hamberg2007_wide.Hamberg2007WideTwin),
    ("kpd_holford", twin_kpd.KpdTwin),
)


def _day0_truth(sim: VectorSimulator) -> dict[str, FloatArray]:
    return {TRUTH_KEY: np.asarray(sim.inr_true, dtype=float)}  # type: ignore[attr-defined]  # WarfarinSimulator


def _true_genotypes(hidden: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
    """cohort.py's hidden values plus the TRUE genotypes under the keys clinic_metrics.warfarin_groups reads (a patient
    the clinic did not genotype still has one)."""
    return {**hidden, "cyp2c9": hidden["cyp2c9_true"], "vkorc1": hidden["vkorc1_true"]}


def family_group_data(twin: FamilyTwin) -> dict[str, FloatArray]:
    """The true genotypes of every patient, whichever member simulates it, and which member that is."""
    return {"cyp2c9": twin.hidden_of("cyp2c9"), "vkorc1": twin.hidden_of("vkorc1"),
            "model_index": twin.model_index.astype(float)}


def build_warfarin_family(n: int, seed: int) -> tuple[ClinicTwin, dict[str, FloatArray]]:
    """The training family: each patient from one of the training models, equal shares."""
    twin = FamilyTwin(n, seed, TRAINING_MEMBERS, truth_key=TRUTH_KEY)
    return twin, family_group_data(twin)


register(
    "hamberg2007", THERAPY, "train",
    "Hamberg et al. 2007, Clin Pharmacol Ther 81:529 (PK/PD); Ravvaz et al. 2017 avatars (cohort)",
    simulator_builder(THERAPY, _day0_truth, _true_genotypes),
    "The warfarin pack's own twins (model.py, cohort.py): the training model.",
)
register(
    "hamberg2007_wide", THERAPY, "train", twin_hamberg2007_wide.CITATION, twin_hamberg2007_wide.build_hamberg2007_wide,
    "model.py's equations on the Ravvaz avatars; IIV of CL, V1, EC50, MTT1 ×1.5; EC50 varies day to day (AR(1), "
    "SD 0.15, a week's memory): assumptions.",
)
register(
    "kpd_holford", THERAPY, "train", twin_kpd.CITATION, twin_kpd.build_kpd,
    "No PK: a dose compartment (KDE) drives Emax inhibition of a prothrombin-complex pool (t½ 17 h); weight-scaled "
    "clearance; values from Holford 1986, covariates from Hamberg 2007; IIV and the INR link are assumptions.",
)
register(
    "warfarin_family", THERAPY, "train", "Mixture of hamberg2007_wide and kpd_holford, per patient",
    build_warfarin_family,
    "The training family: each patient simulated by one training model (equal shares).",
)
register(
    "hamberg2010", THERAPY, "heldout", twin_hamberg2010.CITATION, twin_hamberg2010.build_hamberg2010,
    "S-warfarin one-compartment PK, EC50 by VKORC1 alleles, two 3-compartment chains (MTT 28.6 h, 118.3 h), INR linear in "
    "the factors; European and African American patients (Limdi 2015). Never trained on.",
)
