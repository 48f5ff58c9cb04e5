"""The model card's ``clinic_evaluation``: the gate a visit-level policy — a learned network or the model-predictive
controller — must pass before the bootstrap may serve it instead of the guideline (issue #25).

``gate_evaluation`` runs the candidate on every twin model the registry lists for the therapy with role "heldout" (models
no policy was trained on), at every cadence the pack declares, with the clinic evaluation's default noise
(evaluation/clinic.py), next to the pack's guideline for that cadence and — unless the candidate is the MPC — the MPC
comparator, all on the same twins and noise. Each (model, cadence) is checked against issue #25's held-out aims by
``clinic_report.check_aims``, the same code the markdown report uses (one definition of the aims):

- overall and in every patient group the pack reports: adverse-event days ≤ the guideline's, nights below 70 mg/dL ≤ the
  guideline's (where the pack counts them), efficacy ≥ the guideline's − 1 point;
- no worse than the MPC: efficacy ≥ MPC − 2 points, adverse metrics ≤ MPC + 0.1 per patient.

``targets_met`` (what bootstrap.passed_targets reads) is True only when every held-out aim is met: an aim that cannot be
checked (the MPC or the guideline could not run, no patient group reported, a difference that is not a number) counts as
not met, and no held-out model is no evidence at all, so not met either. For the MPC as the candidate the "no worse than
the MPC" lines are left out: they would compare the MPC with itself and hold by definition, so they carry no evidence.

With ``training=True`` the training aims (≥ 30 % fewer adverse-event days than the guideline, efficacy ≥ guideline + 5
points) are also checked on every "train" model of the therapy and recorded under ``training``; they do NOT gate: they say
how well the policy learned what it was trained on, while serving is decided by the models it never saw.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dosewise.artifacts import CARD_FILE
from dosewise.therapies.base import TherapyPack
from dosewise.therapies.clinic import ClinicNoise, VisitPolicy
from dosewise.therapies.twin_models import Role, TwinModel, twin_models
from dosewise_trainer.evaluation.clinic import (
    DEFAULT_NOISE,
    GUIDELINE,
    MPC,
    ClinicEvaluation,
    PolicyUnavailable,
    artifact_policy,
    evaluate_clinic,
    named_policy,
)
from dosewise_trainer.evaluation.clinic_report import ISSUE_TEXT, Aim, check_aims
from dosewise_trainer.export import load_onnx_q_fn

CARD_PATIENTS = 300  # twins per held-out model and cadence
CARD_DAYS = 90
CARD_SEED = 8_000_001  # a seed no training draw uses (training: 100_000 + seed; twin draws: the training rng)


def _run_record(ev: ClinicEvaluation, candidate: str, aims: list[Aim]) -> dict[str, Any]:
    """One (model, cadence) of the card: the arms' means, the candidate's comparisons with the guideline overall and per
    group, and its checked aims."""
    return {
        "twin_model": ev.twin_model, "role": ev.role, "citation": ev.citation, "schedule": ev.schedule,
        "policies": list(ev.policies), "guideline": ev.policies[0],
        "means": {p: {m: ev.summaries[p][m].mean for m in ev.metric_names} for p in ev.policies},
        "comparisons": [c.to_dict() for c in ev.comparisons[candidate]],
        "groups": [g.to_dict() for g in ev.groups[candidate]],
        "aims": [a.to_dict() for a in aims],
        "met": bool(aims) and all(a.met is True for a in aims),
    }


def _unrun_record(model: TwinModel, cadence: str, candidate: str, therapy: str, why: str) -> dict[str, Any]:
    """A (model, cadence) that could not be run: one aim that cannot be checked, so not met."""
    aim = Aim(therapy, candidate, f"{model.name} ({model.role}), {cadence}", "evaluated against the guideline", why, None)
    return {"twin_model": model.name, "role": model.role, "citation": model.citation, "schedule": cadence,
            "aims": [aim.to_dict()], "met": False}


def gate_evaluation(pack: TherapyPack, candidate: VisitPolicy, patients: int = CARD_PATIENTS, days: int = CARD_DAYS,
                    seed: int = CARD_SEED, comparator: VisitPolicy | str | None = MPC,
                    noise: ClinicNoise = DEFAULT_NOISE, training: bool = False) -> dict[str, Any]:
    """The card's ``clinic_evaluation`` of any visit policy ``candidate`` (module docstring).

    ``comparator``: the arm the "no worse than the MPC" aims compare with — ``"mpc"`` (the default: the pack's MPC, built
    by evaluation.clinic.named_policy), a VisitPolicy standing in for it, or None (not run: those aims cannot be checked,
    so not met). Ignored when the candidate is the MPC itself (named ``"mpc"``)."""
    is_mpc = candidate.name == MPC
    comparator_policy: VisitPolicy | None = None
    notes: list[str] = []
    if is_mpc:
        notes.append("The candidate is the MPC: its 'no worse than the MPC' aims would compare it with itself, so they "
                     "are left out.")
    elif isinstance(comparator, str):
        try:
            comparator_policy = named_policy(pack, comparator)
        except PolicyUnavailable as e:
            notes.append(f"The MPC comparator could not run ({e}): its aims cannot be checked, so they are not met.")
    else:
        comparator_policy = comparator
    comparator_name = None if is_mpc else (comparator_policy.name if comparator_policy is not None else MPC)

    def evaluate(role: Role) -> list[dict[str, Any]]:
        runs = []
        for model in twin_models(pack.id, role=role):
            for cadence in pack.cadences:
                try:
                    guideline = named_policy(pack, GUIDELINE, cadence=cadence)
                except PolicyUnavailable as e:
                    runs.append(_unrun_record(model, cadence, candidate.name, pack.id, f"no guideline to compare with: {e}"))
                    continue
                arms = [guideline, candidate]
                if comparator_policy is not None and role == "heldout":
                    arms.append(comparator_policy)
                ev = evaluate_clinic(model, arms, cadence, patients, days, seed, noise)
                aims = check_aims([ev], label=lambda m: pack.clinic_metric_labels.get(m, m), policies=[candidate.name],
                                  comparator=comparator_name)
                runs.append(_run_record(ev, candidate.name, aims))
        return runs

    runs = evaluate("heldout")
    out: dict[str, Any] = {
        "protocol": "clinic", "candidate": candidate.name, "comparator": comparator_name,
        "patients": patients, "days": days, "seed": seed,
        "noise": {"assay_cv": noise.assay_cv, "adherence": noise.adherence, "late_visit_prob": noise.late_visit_prob,
                  "missed_visit_prob": noise.missed_visit_prob, "result_delay_prob": noise.result_delay_prob},
        "aims_text": ISSUE_TEXT, "notes": notes,
        "heldout_models": list(dict.fromkeys(r["twin_model"] for r in runs)), "cadences": list(pack.cadences),
        "runs": runs,
        # every held-out aim met (an unchecked one is not); no held-out model is no evidence: the guideline stays the floor
        "targets_met": bool(runs) and all(r["met"] for r in runs),
    }
    if training:
        train_runs = evaluate("train")
        out["training"] = {"gates": False, "runs": train_runs,
                           "met": bool(train_runs) and all(r["met"] for r in train_runs)}
    return out


def clinic_evaluation(pack: TherapyPack, policy_dir: Path, patients: int = CARD_PATIENTS, days: int = CARD_DAYS,
                      seed: int = CARD_SEED, with_mpc: bool = True, training: bool = False) -> dict[str, Any]:
    """The card's ``clinic_evaluation`` for the network in ``policy_dir`` (gate_evaluation; ``with_mpc=False`` skips the
    MPC comparator, whose aims then count as not met)."""
    policy = artifact_policy(pack, policy_dir, load_onnx_q_fn, name="dqn")
    return gate_evaluation(pack, policy, patients, days, seed, comparator=MPC if with_mpc else None, training=training)


def record_clinic_evaluation(policy_dir: Path, evaluation: dict[str, Any]) -> None:
    """Write ``evaluation`` into the card's ``clinic_evaluation`` (the ONNX bytes, and their sha256, are unchanged)."""
    card_path = policy_dir / CARD_FILE
    card = json.loads(card_path.read_text())
    card["clinic_evaluation"] = evaluation
    card_path.write_text(json.dumps(card, indent=2, default=str) + "\n")
