"""The model card's ``clinic_evaluation``: a visit-level policy against the guideline on the held-out twin models.

Every twin model the registry lists for the therapy with role "heldout" (models the policy never trained on), at every
cadence the pack declares, with the clinic evaluation's default noise (evaluation/clinic.py): the guideline, the policy
and — where the pack has one — the model-predictive controller on the same twins and noise. Each (model, cadence) is
checked against issue 4's targets (statistics.check_targets: adverse-event days at least 20 % below the guideline's,
efficacy no more than 2 points below it); ``targets_met`` is True only when every one of them is met, and is what the
bootstrap reads before it activates a learned policy over the guideline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dosewise.artifacts import CARD_FILE
from dosewise.therapies.base import TherapyPack
from dosewise_trainer.evaluation.clinic import (
    DEFAULT_NOISE,
    GUIDELINE,
    MPC,
    PolicyUnavailable,
    artifact_policy,
    evaluate_clinic,
    named_policy,
)
from dosewise_trainer.evaluation.statistics import check_targets
from dosewise_trainer.export import load_onnx_q_fn

CARD_PATIENTS = 300  # twins per held-out model and cadence
CARD_DAYS = 90
CARD_SEED = 8_000_001  # a seed no training draw uses (training: 100_000 + seed; twin draws: the training rng)


def clinic_evaluation(pack: TherapyPack, policy_dir: Path, patients: int = CARD_PATIENTS, days: int = CARD_DAYS,
                      seed: int = CARD_SEED, with_mpc: bool = True) -> dict[str, Any]:
    """The card's ``clinic_evaluation`` for the policy in ``policy_dir`` (module docstring)."""
    from dosewise.therapies.twin_models import twin_models

    models = twin_models(pack.id, role="heldout")
    policy = artifact_policy(pack, policy_dir, load_onnx_q_fn, name="dqn")
    arms = [named_policy(pack, GUIDELINE), policy]
    if with_mpc:
        try:
            arms.append(named_policy(pack, MPC))
        except PolicyUnavailable:
            pass
    runs = []
    for model in models:
        for cadence in pack.cadences:
            ev = evaluate_clinic(model, arms, cadence, patients, days, seed, DEFAULT_NOISE)
            targets = check_targets(ev.comparisons[policy.name], ev.efficacy_metric, ev.adverse_metric)
            means = {p: {m: ev.summaries[p][m].mean for m in ev.metric_names} for p in ev.policies}
            runs.append({"twin_model": model.name, "citation": model.citation, "schedule": cadence,
                         "targets": targets.to_dict(), "means": means,
                         "comparisons": [c.to_dict() for c in ev.comparisons[policy.name]]})
    return {
        "protocol": "clinic", "patients": patients, "days": days, "seed": seed,
        "noise": {"assay_cv": DEFAULT_NOISE.assay_cv, "adherence": DEFAULT_NOISE.adherence,
                  "late_visit_prob": DEFAULT_NOISE.late_visit_prob, "missed_visit_prob": DEFAULT_NOISE.missed_visit_prob},
        "heldout_models": [m.name for m in models], "cadences": list(pack.cadences), "runs": runs,
        # no held-out model to judge by is no evidence: the guideline stays the floor
        "targets_met": bool(runs) and all(r["targets"]["met"] for r in runs),
    }


def record_clinic_evaluation(policy_dir: Path, evaluation: dict[str, Any]) -> None:
    """Write ``evaluation`` into the card's ``clinic_evaluation`` (the ONNX bytes, and their sha256, are unchanged)."""
    card_path = policy_dir / CARD_FILE
    card = json.loads(card_path.read_text())
    card["clinic_evaluation"] = evaluation
    card_path.write_text(json.dumps(card, indent=2, default=str) + "\n")
