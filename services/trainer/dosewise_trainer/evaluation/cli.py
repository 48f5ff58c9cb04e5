"""``dosewise evaluate``: an exported policy (or the guideline) against the guideline on a fresh virtual cohort, and
k-fold cross-validation of the training procedure (issue 4, "Evaluation"). Registered by ``dosewise_trainer.cli``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from dosewise.artifacts import CARD_FILE
from dosewise.cli.console import console as rich_console
from dosewise.stats import Summary
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
from dosewise_trainer.evaluation.statistics import Comparison

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


def policy_version(path: Path, card: dict[str, Any] | None) -> str:
    """What the registry calls this artifact: its card's ``version`` if it has one, else the folder's name (as
    ``dosewise_trainer.bootstrap.shipped_artifacts`` registers a shipped policy); a bare .onnx without a card, its file."""
    if card is not None:
        return str(card.get("version") or (path if path.is_dir() else path.parent).name)
    return _onnx_path(path).name


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
    return ActionPolicy(pack, q_fn, name=f"policy {policy_version(path, card)}"), card


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
# Tables fit the terminal. Metrics go by their pack's labels (TherapyPack.metric_label), numbers two to a cell (mean ± SD
# over its CI). Each table has three layouts and the first that fits the terminal's width is printed:
# - WIDE: every column, labels on one line;
# - COMPACT: labels wrap between words (never inside one) into what the numbers leave, and the paired p is left to --json
#   and --report: what makes 80 columns enough;
# - SQUEEZED: rich's own layout, numbers wrapping at their spaces too, for terminals narrower still.
# Column widths are set here rather than by rich's squeeze, which took width from the numbers before the labels. Cells are
# Text, not markup: "[0.10, 2.21]" must not be read as a style tag.
Label = Callable[[str], str]
Cell = Text | str
WIDE, COMPACT, SQUEEZED = "wide", "compact", "squeezed"
LAYOUTS = (WIDE, COMPACT, SQUEEZED)
COLUMN_GAP = 3  # between two columns of a SIMPLE_HEAD table without edges: a separator and a space each side
SUMMARY_NOTE = "mean ± SD over the 95 % CI of the mean (bootstrap); Δ = policy − guideline, relative change, 95 % CI (Welch)"


@dataclass(frozen=True)
class Col:
    """One column: ``label`` columns (the first) take the width the others leave; the others keep their widest line."""

    header: str
    cells: list[Cell]
    label: bool = False
    justify: Literal["left", "right"] = "right"
    wide_only: bool = False  # dropped from the COMPACT and SQUEEZED layouts


def _lines(cells: list[Cell]) -> list[str]:
    return [line for c in cells for line in str(c).splitlines()]


def _longest_word(texts: list[str]) -> int:
    return max((len(w) for t in texts for w in t.split()), default=1)


def _natural(col: Col) -> int:
    return max(len(x) for x in [col.header, *_lines(col.cells)])


def _pinned(col: Col) -> int:
    """The narrowest a column gets outside SQUEEZED: every number line whole, words of text whole (headers wrap)."""
    if col.label or col.justify == "left":
        return _longest_word([col.header, *_lines(col.cells)])
    return max([_longest_word([col.header]), *map(len, _lines(col.cells))])


def _widths(cols: list[Col], layout: str, width: int) -> list[int] | None:
    """Each column's width in ``layout`` on a ``width``-column terminal, or None when the layout does not fit."""
    gaps = COLUMN_GAP * (len(cols) - 1)
    if layout == WIDE:
        widths = [_natural(c) for c in cols]
        return widths if sum(widths) + gaps <= width else None
    widths = [_natural(c) if c.label else _pinned(c) for c in cols]
    spare = width - gaps - sum(widths)
    for i, c in enumerate(cols):
        if c.label and spare < 0:  # give back what the labels can lose by wrapping between their words
            lose = min(-spare, widths[i] - _pinned(c))
            widths[i] -= lose
            spare += lose
    return widths if spare >= 0 else None


def _table(title: str, caption: str | None, cols: list[Col], layout: str, width: int) -> Table | None:
    cols = [c for c in cols if not (c.wide_only and layout != WIDE)]
    widths = None if layout == SQUEEZED else _widths(cols, layout, width)
    if widths is None and layout != SQUEEZED:
        return None
    t = Table(title=title, title_justify="left", caption=caption, caption_justify="left", box=box.SIMPLE_HEAD,
              show_edge=False, pad_edge=False)
    for i, c in enumerate(cols):
        t.add_column(c.header, justify=c.justify, overflow="fold", no_wrap=c.label and layout == WIDE,
                     width=None if widths is None else widths[i])
    for row in zip(*(c.cells for c in cols), strict=True):
        t.add_row(*row)
    return t


def fitted(title: str, caption: str | None, cols: list[Col], width: int) -> Table:
    """The table in the first layout that fits ``width`` columns (SQUEEZED always does, after its fashion)."""
    for layout in LAYOUTS:
        dropped = [f"{c.header}: --json or --report" for c in cols if c.wide_only and layout != WIDE]
        note = "; ".join([*([caption] if caption else []), *dropped]) or None
        t = _table(title, note, cols, layout, width)
        if t is not None:
            return t
    raise AssertionError("SQUEEZED always lays out")


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=True)


def _signed(x: float | None) -> str:
    return "—" if x is None or report.fmt(x) == "—" else f"{x:+.2f}"


def _summary_cell(s: Summary) -> Text:
    return Text(f"{report.fmt(s.mean)} ± {report.fmt(s.sd)}\n[{report.fmt(s.ci_low)}, {report.fmt(s.ci_high)}]")


def _delta_cell(c: Comparison) -> Text:
    return Text(f"{_signed(c.delta)} ({report.fmt_rel(c.relative_change)})\n"
                f"[{report.fmt(c.delta_ci_low)}, {report.fmt(c.delta_ci_high)}]")


def comparison_columns(result: EvaluationResult, label: Label) -> list[Col]:
    cs = result.comparisons
    return [
        Col("Metric", [Text(label(c.metric)) for c in cs], label=True, justify="left"),
        Col("Policy", [_summary_cell(c.policy) for c in cs]),
        Col("Guideline", [_summary_cell(c.guideline) for c in cs]),
        Col("Δ (relative)", [_delta_cell(c) for c in cs]),
        Col("Welch p", [report.fmt_p(c.welch_p) for c in cs]),
        Col("Paired p", [report.fmt_p(c.paired_p) for c in cs], wide_only=True),
    ]


def subgroup_columns(result: EvaluationResult, label: Label) -> list[Col]:
    assert result.targets is not None
    eff, adv = result.targets.efficacy_metric, result.targets.adverse_metric
    by = [{c.metric: c for c in s.comparisons} for s in result.subgroups]
    return [
        Col("Subgroup", [Text(f"{s.subgroup.dimension}: {s.subgroup.label}") for s in result.subgroups], label=True,
            justify="left"),
        Col("n", [str(s.subgroup.index.size) for s in result.subgroups]),
        Col(f"Δ {label(adv)}", [_delta_cell(b[adv]) for b in by]),
        Col("p", [report.fmt_p(b[adv].welch_p) for b in by]),
        Col(f"Δ {label(eff)}", [Text(_signed(b[eff].delta)) for b in by]),
        Col("p", [report.fmt_p(b[eff].welch_p) for b in by]),
        Col("Worse on", [Text(", ".join(label(m) for m in s.worse), style="red") for s in result.subgroups],
            justify="left"),
    ]


def cv_columns(cv: CVResult, label: Label) -> list[Col]:
    pooled = cv.pooled.targets
    eff = label(pooled.efficacy_metric) if pooled else ""
    adv = label(pooled.adverse_metric) if pooled else ""
    adv_metric = pooled.adverse_metric if pooled else ""
    rows: list[list[Cell]] = []
    for f in cv.folds:
        ft = f.result.targets
        by = {c.metric: c for c in f.result.comparisons}
        pp = "—" if ft is None or ft.efficacy_delta_pp is None else f"{ft.efficacy_delta_pp:+.2f}"
        rel = "—" if ft is None else report.fmt_rel(ft.adverse_relative_change)
        verdict = "—" if ft is None else ("met" if ft.met else "not met")
        rows.append([str(f.fold + 1), str(f.n_train), str(f.n_test), f"{f.train_seconds:.0f}", pp, rel,
                     report.fmt_p(by[adv_metric].welch_p) if adv_metric else "—", verdict])
    headers = ["Fold", "Train", "Held out", "Train s", f"Δ {eff} (pp)", f"{adv}: relative change", "Welch p (adverse)",
               "Targets"]
    return [Col(h, [r[i] for r in rows], justify="left" if h in ("Fold", "Targets") else "right")
            for i, h in enumerate(headers)]


def _print_evaluation(console: Console, r: EvaluationResult, label: Label, patients: str = "fresh patients") -> None:
    title = f"{r.therapy}: {r.policy_name} vs guideline — {r.n_patients} {patients}, {r.days:g} days, seed {r.seed}"
    console.print(fitted(title, SUMMARY_NOTE, comparison_columns(r, label), console.width))
    console.print(report.targets_line(r.targets, label))
    if r.targets is not None and r.subgroups:
        console.print(fitted(f"Subgroups (Welch p < 0.05 flags, uncorrected, {2 * len(r.subgroups)} tests)",
                             "Δ = policy − guideline (relative change), 95 % CI (Welch)", subgroup_columns(r, label),
                             console.width))


def _print_cv(console: Console, cv: CVResult, label: Label) -> None:
    title = f"{cv.therapy}: {len(cv.folds)}-fold cross-validation, {cv.n_patients} patients, seed {cv.seed}"
    console.print(fitted(title, None, cv_columns(cv, label), console.width))
    _print_evaluation(console, cv.pooled, label, patients="held-out patients (each once)")


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
    if policy is not None and cv_folds:
        # Cross-validation measures the training procedure: it trains a fresh policy per fold and never looks at --policy,
        # so the two together read as "cross-validate this policy", which is not what would run.
        raise typer.BadParameter(
            "--cv-folds cross-validates the training procedure (it trains a fresh policy on each fold) and cannot use "
            "--policy; run `dosewise evaluate --policy ...` to measure an exported policy, or --cv-folds alone",
            param_hint="--cv-folds")
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
        cv_folds: Annotated[int, typer.Option(min=0, help=(
            "Cross-validate the training procedure with this many folds, a fresh policy trained per fold (0: no CV; not "
            "with --policy)."))] = 0,
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
                _print_evaluation(console, result, pack.metric_label)
            if cv is not None:
                _print_cv(console, cv, pack.metric_label)
        for w in result.warnings if result is not None else []:
            Console(stderr=True).print(f"[yellow]warning:[/yellow] {w}")
        if report_dir is not None:
            written = report.write_report(report_dir, pack, result, cv)
            Console(stderr=True).print(f"report: {', '.join(str(p) for p in written)}")
