"""Write a controller policy version (the guideline, the MPC, a network behind the shield) as a directory the registry
can take: ``controller.json`` (the manifest, dosewise.controllers) and ``model_card.json`` — for the MPC and a shielded
network with its clinic evaluation on the held-out twin models against the guideline, the same evidence the bootstrap
asks of a learned policy before it may serve.

    python -m dosewise_trainer.controllers_ship --therapy warfarin --kind mpc --out policies/warfarin/mpc
    python -m dosewise_trainer.controllers_ship --therapy insulin_t2d --kind shield \
        --network policies/insulin_t2d/dqn-clinic-seed1 --out policies/insulin_t2d/dqn-clinic-seed1-shield
"""

from __future__ import annotations

import json
import shutil
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
    controllers.SHIELD: "A learned policy behind the model-predictive shield: at each visit the patient's twin is fitted "
                        "to their measurements, and the actions whose forecast breaks the therapy's shield limits are "
                        "taken out before the network chooses among the rest (dosewise.shield).",
}
# What a shielded version copies from its network's folder: the network, and the sidecars its scores are read with
# (HyperScore calibration, training feature statistics): the shield changes which actions the network may choose, not
# its Q-values.
SHIELD_COPIES = ("policy.onnx", "hyperscore.json", "feature_stats.json")


def write_controller(pack: TherapyPack, kind: controllers.ControllerKind, out: Path,
                     clinic_evaluation: dict[str, Any] | None = None) -> Path:
    """Write the manifest and card into ``out``; returns the manifest's path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / controllers.MANIFEST_FILE
    path.write_text(json.dumps(controllers.manifest(kind, pack.id, [a.id for a in pack.actions]), indent=2) + "\n")
    card = _card(pack, kind, path)
    if clinic_evaluation is not None:
        card["clinic_evaluation"] = clinic_evaluation
    (out / CARD_FILE).write_text(json.dumps(card, indent=2, default=str) + "\n")
    return path


def write_shield(pack: TherapyPack, network_dir: Path, out: Path) -> Path:
    """A shielded version of the network in ``network_dir``: its network and sidecars copied into ``out``, a shield
    manifest naming the network and its sha256, and a card that records the network's version; returns the
    manifest's path."""
    network_card = json.loads((network_dir / CARD_FILE).read_text())
    out.mkdir(parents=True, exist_ok=True)
    for name in SHIELD_COPIES:
        if (network_dir / name).is_file():
            shutil.copyfile(network_dir / name, out / name)
    network_sha = sha256_file(out / "policy.onnx")
    if network_sha != network_card.get("onnx", {}).get("sha256"):
        raise ValueError(f"{network_dir}: policy.onnx does not match its card's sha256")
    path = out / controllers.MANIFEST_FILE
    manifest = controllers.shield_manifest(pack.id, [a.id for a in pack.actions], "policy.onnx", network_sha)
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    card = _card(pack, controllers.SHIELD, path)
    card.update({
        "protocol": network_card.get("protocol"), "features": network_card.get("features", []),
        "onnx": {"file": "policy.onnx", "sha256": network_sha},
        "network": {"version": network_dir.name, "created_at": network_card.get("created_at")},
        "shield_limits": [{"below": lim.below, "above": lim.above, "max_share": lim.max_share, "source": lim.source}
                          for lim in pack.shield_limits],
    })
    (out / CARD_FILE).write_text(json.dumps(card, indent=2, default=str) + "\n")
    return path


def _card(pack: TherapyPack, kind: str, manifest_path: Path) -> dict[str, Any]:
    return {
        "schema_version": 1, "therapy": pack.id, "therapy_name": pack.name, "kind": kind, "status": "candidate",
        "created_at": utcnow().isoformat(), "description": DESCRIPTIONS[kind],
        "artifact": {"file": controllers.MANIFEST_FILE, "sha256": sha256_file(manifest_path)},
        "actions": [{"index": i, "id": a.id, "label": a.label, "kind": a.kind, "delta": a.delta,
                     "hold_doses": a.doses_held} for i, a in enumerate(pack.actions)],
        "cadences": list(pack.cadences), "dose_unit": pack.dose_unit,
    }


def shield_clinic_evaluation(pack: TherapyPack, out: Path, patients: int, days: int, seed: int) -> dict[str, Any]:
    """The shielded version's card ``clinic_evaluation``: the gate a learned policy passes (clinic_card.gate_evaluation),
    run on the version as written in ``out`` (its manifest and network, as evaluation loads any artifact)."""
    from dosewise_trainer.clinic_card import gate_evaluation
    from dosewise_trainer.evaluation.cli import clinic_artifact

    return gate_evaluation(pack, clinic_artifact(pack, str(out)), patients, days, seed, training=True)


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
    kind: Annotated[str, typer.Option(help="guideline, mpc or shield.")],
    out: Annotated[Path, typer.Option(help="Directory to write (policies/<therapy>/<version>).")],
    network: Annotated[Path | None, typer.Option(help="The network's version folder (shield).")] = None,
    patients: Annotated[int, typer.Option(help="Twins per held-out model and cadence (mpc, shield).")] = 300,
    days: Annotated[int, typer.Option(help="Days per course (mpc, shield).")] = 90,
    seed: Annotated[int, typer.Option(help="Evaluation seed (mpc, shield).")] = 8_000_001,
) -> None:
    pack = get_pack(therapy)
    if kind == controllers.SHIELD:
        if network is None:
            raise typer.BadParameter("a shield guards a network: give --network FOLDER", param_hint="--network")
        from dosewise_trainer.clinic_card import record_clinic_evaluation

        path = write_shield(pack, network, out)  # first: the gate evaluates the version as written
        evaluation = shield_clinic_evaluation(pack, out, patients, days, seed)
        record_clinic_evaluation(out, evaluation)
        typer.echo(f"wrote {path} (held-out aims met: {evaluation['targets_met']}; training aims met: "
                   f"{evaluation['training']['met']})")
        return
    if kind not in controllers.KINDS:
        raise typer.BadParameter(f"kind must be one of {', '.join((*controllers.KINDS, controllers.SHIELD))}")
    evaluation = mpc_clinic_evaluation(pack, patients, days, seed) if kind == "mpc" else None
    path = write_controller(pack, kind, out, evaluation)  # type: ignore[arg-type]
    met = "" if evaluation is None else f" (held-out aims met: {evaluation['targets_met']})"
    typer.echo(f"wrote {path}{met}")


if __name__ == "__main__":
    app()
