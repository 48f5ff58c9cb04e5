"""``dosewise evaluate``: an exported policy (or the guideline) against the guideline on a fresh virtual cohort, and
k-fold cross-validation of the training procedure (issue 4, "Evaluation"). Registered by ``dosewise_trainer.cli``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dosewise.artifacts import CARD_FILE
from dosewise.cli.console import console as rich_console
from dosewise.therapies.base import DosingPolicy, TherapyPack
from dosewise.therapies.registry import get_pack
from dosewise.therapies.rollout import ActionPolicy
from dosewise_trainer.evaluation import crossval, report
from dosewise_trainer.evaluation.crossval import (
    CVResult,
    EvaluationResult,
    QFn,
    TrainerFn,
    cross_validate,
    evaluate_on_cohort,
    steps_for,
)

CV_TRAIN_CONFIGS = crossval.DQN_CONFIGS


# --- loading a policy ---------------------------------------------------------------------------------------------------
def _onnx_path(path: Path) -> Path:
    return path / "policy.onnx" if path.is_dir() else path


def load_q_fn(path: Path) -> QFn:
    """Ensemble-mean Q-function of an exported policy (input ``features``, output ``q_values``; see dosewise_trainer.export)."""
    from dosewise_trainer.export import load_onnx_q_fn

    return load_onnx_q_fn(path)


def _read_card(path: Path, pack: TherapyPack) -> dict[str, Any] | None:
    """The policy's model card, if it has one (a bare .onnx is accepted); refuses a card that names another therapy."""
    card_path = (path if path.is_dir() else path.parent) / CARD_FILE
    if not card_path.is_file():
        return None
    card: dict[str, Any] = json.loads(card_path.read_text(encoding="utf-8"))
    therapy = card.get("therapy")
    if therapy is not None and therapy != pack.id:
        raise typer.BadParameter(f"{card_path} is for therapy {therapy!r}, not {pack.id!r}", param_hint="--policy")
    return card


def freshness_warnings(card: dict[str, Any] | None, seed: int) -> list[str]:
    """An evaluation cohort drawn with the training population's seed IS the training population (or its first patients):
    say so, since the table would then not measure generalization to new patients."""
    config = ((card or {}).get("training") or {}).get("config") or {}
    cohort_seed = config.get("cohort_seed")
    if cohort_seed is not None and int(cohort_seed) == seed:
        return [f"--seed {seed} is the policy's training cohort seed: these are its training patients, not a fresh "
                "cohort; choose another --seed"]
    return []


def load_policy(spec: str, pack: TherapyPack) -> tuple[DosingPolicy, dict[str, Any] | None]:
    """``guideline`` or a path to policy.onnx (or the directory holding it); returns the policy and its model card."""
    if spec == "guideline":
        return pack.guideline_policy(), None
    path = Path(spec)
    onnx_file = _onnx_path(path)
    if not onnx_file.is_file():
        raise typer.BadParameter(f"no ONNX policy at {onnx_file} (give a policy.onnx, its directory, or 'guideline')",
                                 param_hint="--policy")
    card = _read_card(path, pack)
    q_fn = load_q_fn(onnx_file)
    probe = np.zeros((1, pack.n_features), dtype=np.float32)
    try:
        q = np.asarray(q_fn(probe))
    except Exception as e:  # onnxruntime raises its own types for a wrong input width
        raise typer.BadParameter(f"{onnx_file} does not accept {pack.n_features} {pack.id} features: {e}",
                                 param_hint="--policy") from e
    if q.shape != (1, pack.n_actions):
        raise typer.BadParameter(f"{onnx_file} outputs shape {q.shape}, expected (batch, {pack.n_actions}) Q-values",
                                 param_hint="--policy")
    return ActionPolicy(pack, q_fn, name=f"policy ({onnx_file.name})"), card


# --- cross-validation trainer ---------------------------------------------------------------------------------------------
def dqn_trainer_fn(config: str) -> TrainerFn:
    """The DQN ``trainer_fn`` for ``--cv-train`` (crossval.dqn_trainer_fn), with errors as CLI errors."""
    try:
        return crossval.dqn_trainer_fn(config)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--cv-train") from e
    except ImportError as e:
        raise typer.BadParameter(f"the DQN trainer is not available ({e})", param_hint="--cv-folds") from e


# --- terminal output ----------------------------------------------------------------------------------------------------
def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=True)


def _comparison_table(title: str, result: EvaluationResult) -> Table:
    t = Table(title=title, title_justify="left")
    for c in report.COLUMNS:
        t.add_column(c, overflow="fold")
    for c in result.comparisons:
        t.add_row(*report.row(c))
    return t


def _subgroup_table(result: EvaluationResult) -> Table | None:
    if result.targets is None or not result.subgroups:
        return None
    eff, adv = result.targets.efficacy_metric, result.targets.adverse_metric
    t = Table(title=f"Subgroups (Welch p < 0.05 flags, uncorrected, {2 * len(result.subgroups)} tests)", title_justify="left")
    for c in ("Subgroup", "n", f"Δ {adv} [95 % CI]", "Rel. change", "p", f"Δ {eff}", "p", "Worse on"):
        t.add_column(c, overflow="fold")
    for s in result.subgroups:
        by = {c.metric: c for c in s.comparisons}
        a, e = by[adv], by[eff]
        t.add_row(f"{s.subgroup.dimension}: {s.subgroup.label}", str(s.subgroup.index.size),
                  f"{report.fmt(a.delta)} [{report.fmt(a.delta_ci_low)}, {report.fmt(a.delta_ci_high)}]",
                  report.fmt_rel(a.relative_change), report.fmt_p(a.welch_p), report.fmt(e.delta), report.fmt_p(e.welch_p),
                  "[red]" + ", ".join(s.worse) + "[/red]" if s.worse else "")
    return t


def _print_evaluation(console: Console, r: EvaluationResult, patients: str = "fresh patients") -> None:
    console.print(_comparison_table(
        f"{r.therapy}: {r.policy_name} vs guideline — {r.n_patients} {patients}, {r.days:g} days, seed {r.seed}", r))
    console.print(report.targets_line(r.targets))
    sub = _subgroup_table(r)
    if sub is not None:
        console.print(sub)


def _print_cv(console: Console, cv: CVResult) -> None:
    t = Table(title=f"{cv.therapy}: {len(cv.folds)}-fold cross-validation, {cv.n_patients} patients, seed {cv.seed}",
              title_justify="left")
    pooled_targets = cv.pooled.targets
    eff = pooled_targets.efficacy_metric if pooled_targets else ""
    adv = pooled_targets.adverse_metric if pooled_targets else ""
    for c in ("Fold", "Train", "Held out", "Train s", f"Δ {eff} (pp)", f"{adv} rel. change", "Welch p (adverse)", "Targets"):
        t.add_column(c)
    for f in cv.folds:
        ft = f.result.targets
        by = {c.metric: c for c in f.result.comparisons}
        pp = "—" if ft is None or ft.efficacy_delta_pp is None else f"{ft.efficacy_delta_pp:+.2f}"
        rel = "—" if ft is None else report.fmt_rel(ft.adverse_relative_change)
        verdict = "—" if ft is None else ("met" if ft.met else "not met")
        t.add_row(str(f.fold + 1), str(f.n_train), str(f.n_test), f"{f.train_seconds:.0f}", pp, rel,
                  report.fmt_p(by[adv].welch_p) if adv else "—", verdict)
    console.print(t)
    _print_evaluation(console, cv.pooled, patients="held-out patients (each once)")


def run_evaluate(
    therapy: str, policy: str | None, patients: int, days: float, seed: int, cv_folds: int, cv_train: str,
    trainer_fn: TrainerFn | None = None, progress_factory: Callable[[], Progress] = _progress,
) -> tuple[TherapyPack, EvaluationResult | None, CVResult | None]:
    """The command's work without the printing (tests and other commands call this)."""
    try:
        pack = get_pack(therapy)
    except KeyError as e:
        raise typer.BadParameter(str(e.args[0]), param_hint="--therapy") from e
    if policy is None and cv_folds == 0:
        raise typer.BadParameter("give --policy PATH|guideline, or --cv-folds K to cross-validate", param_hint="--policy")
    result = cv = None
    try:
        with progress_factory() as progress:
            if policy is not None:
                dosing, card = load_policy(policy, pack)
                cohort = pack.sample_cohort(patients, seed)  # fresh: drawn here from --seed, not from the training data
                result = evaluate_on_cohort(pack, cohort, dosing, steps_for(pack, days), seed, progress=progress)
                result.warnings += freshness_warnings(card, seed)
            if cv_folds:
                fn = trainer_fn if trainer_fn is not None else dqn_trainer_fn(cv_train)
                cv = cross_validate(pack, patients, days, seed, fn, folds=cv_folds, progress=progress)
    except NotImplementedError as e:  # a pack whose twin (sampler, simulator, guideline or metrics) is not written yet
        raise typer.BadParameter(f"cannot evaluate {therapy!r} yet: {e}", param_hint="--therapy") from e
    return pack, result, cv


def register(app: typer.Typer) -> None:
    """Add ``dosewise evaluate`` to the CLI (called by dosewise_trainer.cli.register)."""

    @app.command("evaluate")
    def evaluate(
        therapy: Annotated[str, typer.Option(help="Therapy pack id, e.g. warfarin, insulin_t2d.")],
        policy: Annotated[str | None, typer.Option(help="Exported policy.onnx (or its directory), or 'guideline'.")] = None,
        patients: Annotated[int, typer.Option(min=2, help="Virtual patients in the fresh cohort (and in CV).")] = 2000,
        days: Annotated[float, typer.Option(min=1, help="Days of therapy simulated per patient.")] = 90,
        seed: Annotated[int, typer.Option(help="Seed of the cohort and the simulator noise.")] = 7,
        json_out: Annotated[bool, typer.Option("--json", help="Print the results as JSON instead of tables.")] = False,
        report_dir: Annotated[Path | None, typer.Option("--report", help="Write table.md, results.json and plots here.")] = None,
        cv_folds: Annotated[int, typer.Option(min=0, help="Cross-validate with this many folds (0: no CV).")] = 0,
        cv_train: Annotated[str, typer.Option(
            help=f"DQN budget for CV: {', '.join(CV_TRAIN_CONFIGS)} (smoke: a pipeline check only).")] = "quick",
    ) -> None:
        """Compare a policy with the guideline on fresh virtual patients: every metric's mean ± SD [95 % CI], Δ, relative
        change, Welch p (two-sided) and paired p; per subgroup; and k-fold cross-validation with the issue's targets."""
        if cv_folds == 1:
            raise typer.BadParameter("cross-validation needs at least 2 folds", param_hint="--cv-folds")
        pack, result, cv = run_evaluate(therapy, policy, patients, days, seed, cv_folds, cv_train)
        if json_out:
            typer.echo(report.to_json(result, cv))
        else:
            console = rich_console()
            if result is not None:
                _print_evaluation(console, result)
            if cv is not None:
                _print_cv(console, cv)
        for w in result.warnings if result is not None else []:
            Console(stderr=True).print(f"[yellow]warning:[/yellow] {w}")
        if report_dir is not None:
            written = report.write_report(report_dir, pack, result, cv)
            Console(stderr=True).print(f"report: {', '.join(str(p) for p in written)}")
