"""``dosewise simulate``: run a dosing policy on a virtual cohort and print every metric's mean, SD and 95 % CI.

Example: ``dosewise simulate --therapy warfarin --policy guideline --patients 1000 --days 90 --seed 1``.
The same seed gives the same cohort, the same noise and so the same table.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from dosewise.cli.console import console
from dosewise.therapies.base import ClinicView, DosingPolicy, FloatArray, TherapyPack, Trajectory

POLICIES = ("guideline", "constant")


class KeepRegimenPolicy:
    """Baseline: never titrate; give the starting regimen every day (shows what the guideline adds)."""

    name = "constant"

    def reset(self, n: int) -> None:
        return None

    def act(self, view: ClinicView) -> tuple[FloatArray, FloatArray]:
        return view.current_dose.copy(), view.current_dose.copy()


def make_policy(pack: TherapyPack, name: str) -> DosingPolicy:
    if name == "guideline":
        return pack.guideline_policy()
    if name == "constant":
        return KeepRegimenPolicy()
    raise typer.BadParameter(f"unknown policy {name!r}; choose one of: {', '.join(POLICIES)}", param_hint="--policy")


def derive_seeds(seed: int) -> tuple[int, int]:
    """Independent (cohort, simulator) seeds from one user seed, so patient draws and noise draws never share a stream."""
    a, b = np.random.SeedSequence(seed).generate_state(2)
    return int(a), int(b)


def resolve_pack(therapy: str) -> TherapyPack:
    from dosewise.therapies.registry import get_pack

    try:
        return get_pack(therapy)
    except KeyError as e:
        raise typer.BadParameter(str(e.args[0]), param_hint="--therapy") from None


def run(
    pack: TherapyPack, policy: str, patients: int, days: float, seed: int, progress: Callable[[int], None] | None = None
) -> tuple[Trajectory, dict[str, np.ndarray]]:
    """(trajectory, per-patient metrics) of one simulation; ``progress(steps_done)`` is called after each step."""
    from dosewise.therapies.rollout import rollout

    pol = make_policy(pack, policy)
    cohort_seed, sim_seed = derive_seeds(seed)
    cohort = pack.sample_cohort(patients, cohort_seed)
    traj = rollout(pack, cohort, pol, steps_for(pack, days), sim_seed, progress=progress)
    return traj, pack.metrics(traj)


def steps_for(pack: TherapyPack, days: float) -> int:
    return max(1, math.ceil(days / pack.decision_interval_days))


def _num(x: float) -> float | None:
    return None if not math.isfinite(x) else x


def simulate(
    therapy: Annotated[str, typer.Option(help="Therapy pack id, e.g. warfarin.")],
    policy: Annotated[str, typer.Option(help=f"Dosing policy: {' | '.join(POLICIES)}.")] = "guideline",
    patients: Annotated[int, typer.Option(min=2, help="Virtual patients in the cohort.")] = 1000,
    days: Annotated[float, typer.Option(min=1, help="Length of each course in days.")] = 90,
    seed: Annotated[int, typer.Option(help="Seed for the cohort and the simulator noise.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON instead of a table.")] = False,
    plot: Annotated[Path | None, typer.Option(help="Also draw example courses into this PNG file.")] = None,
) -> None:
    """Simulate a cohort under a policy; print each metric's mean, SD and 95 % CI (seeded BCa bootstrap)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from dosewise.stats import summarize_metrics

    pack = resolve_pack(therapy)
    err = Console(stderr=True)
    with Progress(TextColumn("[bold]simulating[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("days"), TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task(f"{pack.id} · {policy} · {patients} patients", total=steps_for(pack, days))
        traj, metrics = run(pack, policy, patients, days, seed, lambda done: bar.update(task, completed=done))
    rows = summarize_metrics(metrics)
    primary = pack.primary_metrics()

    if as_json:
        doc = {
            "therapy": pack.id, "policy": policy, "patients": patients, "days": days, "seed": seed,
            "primary_metrics": list(primary),
            "metrics": [{k: (_num(v) if isinstance(v, float) else v) for k, v in r.as_dict().items()} for r in rows],
        }
        typer.echo(json.dumps(doc, indent=2))
    else:
        table = Table(title=f"{pack.name} · policy {policy} · {patients} patients · {days:g} days · seed {seed}")
        table.add_column("metric", no_wrap=True)
        for col in ("mean", "SD", "95 % CI", "n"):
            table.add_column(col, justify="right", no_wrap=True)
        for r in rows:
            name = f"[bold]{r.name}[/]" if r.name in primary else r.name
            ci = escape(f"[{r.ci_low:.2f}, {r.ci_high:.2f}]")  # "[nan, nan]" would otherwise parse as a markup tag
            table.add_row(name, f"{r.mean:.2f}", f"{r.sd:.2f}", ci, str(r.n))
        console().print(table)
    if plot is not None:
        from dosewise.plots import pick_examples, plot_trajectories

        idx = pick_examples(metrics[primary[0]], 4)
        notes = [f"{primary[0]} {metrics[primary[0]][i]:.1f}" for i in idx]
        out = plot_trajectories(pack, traj, plot, idx, panel_notes=notes,
                                title=f"{pack.name}: {policy} policy, 4 of {patients} patients spread over {primary[0]}")
        err.print(f"wrote {out}")


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
