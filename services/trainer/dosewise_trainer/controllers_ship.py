"""Write a controller policy version (the guideline, the MPC) as a directory the registry can take: ``controller.json``
(the manifest, dosewise.controllers) and ``model_card.json`` — for the MPC with its clinic evaluation on the held-out twin
models against the guideline, the same evidence the bootstrap asks of a learned policy before it may serve.

    python -m dosewise_trainer.controllers_ship --therapy warfarin --kind mpc --out policies/warfarin/mpc
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from dosewise import controllers
from dosewise.artifacts import CARD_FILE, sha256_file
from dosewise.storage.models import utcnow
from dosewise.therapies.base import TherapyPack
from dosewise.therapies.registry import get_pack

DESCRIPTIONS = {
    "guideline": "The therapy's guideline at clinic visits, served through the policy path: the floor every other policy "
                 "is held to.",
    "mpc": "Model-predictive controller: at each visit the patient's twin is fitted to their measurements and the action "
           "whose forecast scores best under the therapy's objective, until a week after the recheck, is chosen "
           "(dosewise.mpc).",
}


def write_controller(pack: TherapyPack, kind: controllers.ControllerKind, out: Path,
                     clinic_evaluation: dict[str, Any] | None = None) -> Path:
    """Write the manifest and card into ``out``; returns the manifest's path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / controllers.MANIFEST_FILE
    path.write_text(json.dumps(controllers.manifest(kind, pack.id, [a.id for a in pack.actions]), indent=2) + "\n")
    card: dict[str, Any] = {
        "schema_version": 1, "therapy": pack.id, "therapy_name": pack.name, "kind": kind, "status": "candidate",
        "created_at": utcnow().isoformat(), "description": DESCRIPTIONS[kind],
        "artifact": {"file": controllers.MANIFEST_FILE, "sha256": sha256_file(path)},
        "actions": [{"index": i, "id": a.id, "label": a.label, "kind": a.kind, "delta": a.delta,
                     "hold_doses": a.doses_held} for i, a in enumerate(pack.actions)],
        "cadences": list(pack.cadences), "dose_unit": pack.dose_unit,
    }
    if clinic_evaluation is not None:
        card["clinic_evaluation"] = clinic_evaluation
    (out / CARD_FILE).write_text(json.dumps(card, indent=2, default=str) + "\n")
    return path


def mpc_clinic_evaluation(pack: TherapyPack, patients: int, days: int, seed: int) -> dict[str, Any]:
    """The MPC's card ``clinic_evaluation``: the same gate as a learned policy's (clinic_card.gate_evaluation), on every
    held-out twin model and cadence against the guideline; the "no worse than the MPC" aims are left out (they would
    compare the MPC with itself)."""
    from dosewise_trainer.clinic_card import gate_evaluation
    from dosewise_trainer.evaluation.clinic import MPC, named_policy

    return gate_evaluation(pack, named_policy(pack, MPC), patients, days, seed)


app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def main(
    therapy: Annotated[str, typer.Option(help="Therapy pack id.")],
    kind: Annotated[str, typer.Option(help="guideline or mpc.")],
    out: Annotated[Path, typer.Option(help="Directory to write (policies/<therapy>/<version>).")],
    patients: Annotated[int, typer.Option(help="Twins per held-out model and cadence (mpc).")] = 300,
    days: Annotated[int, typer.Option(help="Days per course (mpc).")] = 90,
    seed: Annotated[int, typer.Option(help="Evaluation seed (mpc).")] = 8_000_001,
) -> None:
    pack = get_pack(therapy)
    if kind not in controllers.KINDS:
        raise typer.BadParameter(f"kind must be one of {', '.join(controllers.KINDS)}")
    evaluation = mpc_clinic_evaluation(pack, patients, days, seed) if kind == "mpc" else None
    path = write_controller(pack, kind, out, evaluation)  # type: ignore[arg-type]
    met = "" if evaluation is None else f" (held-out aims met: {evaluation['targets_met']})"
    typer.echo(f"wrote {path}{met}")


if __name__ == "__main__":
    app()
