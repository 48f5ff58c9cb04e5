"""The trainer's ``dosewise`` commands: ``dosewise train`` (and ``dosewise evaluate``, from ``evaluation/cli.py``).

Registered through the ``dosewise.cli`` entry-point group (services/trainer/pyproject.toml), so the shared CLI never
imports the trainer. Heavy imports (torch) happen inside the command, keeping ``dosewise --help`` fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from dosewise.therapies.base import TherapyPack
    from dosewise_trainer.algorithms.networks import QNetwork


def register(app: typer.Typer) -> None:
    """Add ``train`` (and ``evaluate`` when the evaluation module is installed) to the ``dosewise`` app."""

    @app.command("train")
    def train_command(
        therapy: Annotated[str, typer.Option(help="Therapy pack id, e.g. warfarin, insulin_t2d, immune.")],
        out: Annotated[Path, typer.Option(help="Directory for policy.onnx, model_card.json and the training curves.")],
        quick: Annotated[bool, typer.Option(
            "--quick", help="About a minute of one core (Args.quick); default: the full budget (Args.for_therapy).")] = False,
        seed: Annotated[int, typer.Option(help="Seed of everything: same seed → identical policy weights.")] = 1,
        total_steps: Annotated[int | None, typer.Option(help="Override the budget (patient-decisions).")] = None,
        untrained: Annotated[bool, typer.Option("--untrained", help="Export a random network marked 'untrained'.")] = False,
        holdout_patients: Annotated[int, typer.Option(
            help="After training, compare with the guideline on this many held-out patients (0: skip).")] = 0,
        progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
        protocol: Annotated[str | None, typer.Option(
            help="clinic: one decision per visit at the pack's cadences, on its training twin models; daily: one a day "
                 "on its simulator. Default: clinic for a pack that declares cadences.")] = None,
        cadence: Annotated[list[str] | None, typer.Option(
            help="Clinic protocol: a visit schedule to train for (clinic.SCHEDULES; repeat for several; default: the "
                 "pack's cadences).")] = None,
        twin_model: Annotated[list[str] | None, typer.Option(
            help="Clinic protocol: a training twin model to train on (repeat for several; default: every 'train' model "
                 "of the therapy, plus its simulator with widened parameters).")] = None,
    ) -> None:
        """Learn a dosing policy (Double DQN, ensemble of Q-heads, guardrail masks) on the therapy's digital twins; write
        OUT/policy.onnx, OUT/model_card.json and OUT/training_curves.{csv,png}."""
        from dosewise.therapies.registry import get_pack
        from dosewise_trainer.algorithms import dqn
        from dosewise_trainer.export import export_untrained

        try:
            pack = get_pack(therapy)
        except KeyError as e:
            raise typer.BadParameter(str(e.args[0]), param_hint="--therapy") from None
        if untrained:
            path = export_untrained(pack, out, seed=seed)
            typer.echo(f"wrote {path} (status: untrained)")
            return
        overrides: dict[str, object] = {"seed": seed, "out_dir": str(out), "progress": progress}
        if total_steps is not None:
            overrides["total_steps"] = total_steps
        try:
            overrides["protocol"] = dqn.resolve_protocol(therapy, protocol)
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint="--protocol") from None
        if twin_model:
            overrides["twin_models"] = tuple(twin_model)
        if cadence:
            overrides["cadences"] = tuple(cadence)
        args = dqn.Args.quick(therapy, **overrides) if quick else dqn.Args.for_therapy(therapy, **overrides)
        result = dqn.train(args, pack=pack)
        typer.echo(f"trained {therapy} ({args.protocol} protocol) in {result.seconds:.0f} s; wrote {out / 'policy.onnx'}, "
                   "model_card.json, training_curves.csv/png")
        if holdout_patients > 0 and args.protocol == "clinic":
            typer.echo("held-out comparison at visits: dosewise evaluate --protocol clinic --twin-model NAME --policy OUT")
        elif holdout_patients > 0:
            from dosewise_trainer.algorithms.common import episode_days

            _print_holdout(pack, result.q_network, holdout_patients, episode_days(pack, args.episode_days))

    try:
        from dosewise_trainer.evaluation import cli as eval_cli
    except ModuleNotFoundError as e:  # the evaluation module is optional; a broken import inside it is not
        if e.name not in ("dosewise_trainer.evaluation", "dosewise_trainer.evaluation.cli"):
            raise
    else:
        eval_cli.register(app)
    _register_optional(app, "dosewise_trainer.loop_demo")  # `dosewise loop demo` (issue 6)
    from dosewise_trainer import calibrate_hyperscore

    calibrate_hyperscore.register(app)  # `dosewise hyperscore calibrate`


HOLDOUT_SEED = 2_024_001  # a cohort seed no training run draws from (training uses 100_000 + seed by default)


def _print_holdout(pack: TherapyPack, q_network: QNetwork, n_patients: int, days: float) -> None:
    """Mean of each pack metric, learned policy vs guideline, on the same fresh cohort (a quick look; statistics: evaluate)."""
    from dosewise.therapies.rollout import ActionPolicy
    from dosewise_trainer.algorithms.common import held_out_means
    from dosewise_trainer.algorithms.networks import torch_q_fn

    learned = held_out_means(pack, ActionPolicy(pack, torch_q_fn(q_network)), n_patients, days, HOLDOUT_SEED)
    guideline = held_out_means(pack, pack.guideline_policy(), n_patients, days, HOLDOUT_SEED)
    typer.echo(f"held-out cohort: {n_patients} patients, {days:g} days, seed {HOLDOUT_SEED}")
    typer.echo(f"{'metric':40s} {'learned':>12s} {'guideline':>12s}")
    for name in guideline:
        typer.echo(f"{name:40s} {learned[name]:12.3f} {guideline[name]:12.3f}")


def _register_optional(app: typer.Typer, module: str) -> None:
    """``module.register(app)`` when the module is installed; a broken import inside it is not hidden."""
    import importlib

    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name != module:
            raise
        return
    mod.register(app)
