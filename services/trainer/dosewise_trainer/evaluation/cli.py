"""``dosewise evaluate``: an exported policy (or the guideline) against the guideline on a fresh virtual cohort, and
k-fold cross-validation of the training procedure (issue 4, "Evaluation"). Registered by ``dosewise_trainer.cli``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
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
from dosewise.therapies.clinic import VisitPolicy, get_schedule
from dosewise.therapies.registry import get_pack
from dosewise.therapies.rollout import ActionPolicy
from dosewise.therapies.twin_models import get_twin_model, twin_models
from dosewise_trainer.evaluation import clinic as clinic_eval
from dosewise_trainer.evaluation import clinic_report, crossval, report
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
SHIPPED_POLICY_DIR = Path("policies")  # the repository's shipped artifacts, <therapy>/<version>/ (as make run serves them)


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


# --- the clinic protocol (clinic.py, clinic_report.py) ----------------------------------------------------------------------
def clinic_artifact(pack: TherapyPack, spec: str) -> VisitPolicy:
    """An exported policy (policy.onnx or its directory) as a visit policy, named by its version."""
    path = Path(spec)
    card = _read_card(path, pack)
    return clinic_eval.artifact_policy(pack, path, load_q_fn, name=f"policy {policy_version(path, card)}")


def clinic_policies(pack: TherapyPack, specs: Sequence[str] | None, schedule: str) -> list[VisitPolicy]:
    """The guideline for ``schedule``, then every other policy named (``mpc``, artifact paths), each built once."""
    ordered = list(dict.fromkeys([clinic_eval.GUIDELINE, *(specs or [])]))
    out = []
    for spec in ordered:
        try:
            out.append(clinic_eval.named_policy(pack, spec, clinic_artifact, cadence=schedule))
        except clinic_eval.PolicyUnavailable as e:
            raise typer.BadParameter(f"{pack.id}: {e}", param_hint="--policy") from e
    return out


def shipped_visit_policies(pack: TherapyPack, policy_dir: Path = SHIPPED_POLICY_DIR) -> list[str]:
    """Artifact directories shipped for the pack that were trained for the clinic protocol and are not untrained."""
    out = []
    for card_path in sorted((policy_dir / pack.id).glob(f"*/{CARD_FILE}")):
        card = json.loads(card_path.read_text(encoding="utf-8"))
        if card.get("protocol") == "clinic" and card.get("status") != "untrained":
            out.append(str(card_path.parent))
    return out


def run_clinic(
    therapy: str | None, twin_model: str | None, schedule: str | None, specs: Sequence[str] | None, patients: int,
    days: int, seed: int, noise: clinic_eval.ClinicNoise, progress_factory: Callable[[], Progress] = _progress,
) -> tuple[TherapyPack, clinic_eval.ClinicEvaluation]:
    """One clinic evaluation (tests call this): every named policy on ``twin_model``'s twins at ``schedule``."""
    if twin_model is None:
        raise typer.BadParameter("the clinic protocol needs --twin-model NAME (or --report FILE.md for every model)",
                                 param_hint="--twin-model")
    try:
        model = get_twin_model(twin_model)
    except KeyError as e:
        raise typer.BadParameter(str(e.args[0]), param_hint="--twin-model") from e
    if therapy is not None and therapy != model.therapy:
        raise typer.BadParameter(f"{twin_model} is a {model.therapy} model, not {therapy}", param_hint="--therapy")
    pack = get_pack(model.therapy)
    sched = schedule or clinic_eval.default_schedules(pack)[0]
    try:
        get_schedule(sched)
    except KeyError as e:
        raise typer.BadParameter(str(e.args[0]), param_hint="--schedule") from e
    policies = clinic_policies(pack, specs, sched)
    with progress_factory() as progress:
        ev = clinic_eval.evaluate_clinic(model, policies, sched, patients, days, seed, noise, progress=progress)
    return pack, ev


def run_clinic_report(
    out: Path, therapy: str | None, twin_model: str | None, schedule: str | None, specs: Sequence[str] | None,
    patients: int, days: int, seed: int, noise: clinic_eval.ClinicNoise, command: str,
    progress_factory: Callable[[], Progress] = _progress, policy_dir: Path = SHIPPED_POLICY_DIR,
) -> list[Path]:
    """Every policy on every twin model (train and held-out) of each therapy at each of its schedules; writes the report.
    Policies: those named, else the guideline, the MPC and every shipped clinic-protocol artifact of the therapy."""
    models = twin_models() if twin_model is None else [get_twin_model(twin_model)]
    therapies = list(dict.fromkeys(m.therapy for m in models if therapy is None or m.therapy == therapy))
    if not therapies:
        raise typer.BadParameter(f"no twin model of {therapy!r} is registered", param_hint="--therapy")
    evaluations, skipped = [], []
    with progress_factory() as progress:
        for t in therapies:
            pack = get_pack(t)
            wanted = list(specs) if specs else [clinic_eval.MPC, *shipped_visit_policies(pack, policy_dir)]
            ordered = sorted((m for m in models if m.therapy == t), key=lambda m: clinic_eval.ROLE_ORDER.index(m.role))
            for sched in [schedule] if schedule else clinic_eval.default_schedules(pack):
                policies: list[VisitPolicy] = []
                has_guideline = False  # the guideline comes first (the comparator), whatever the pack names it
                for spec in dict.fromkeys([clinic_eval.GUIDELINE, *wanted]):
                    try:
                        policies.append(clinic_eval.named_policy(pack, spec, clinic_artifact, cadence=sched))
                        has_guideline |= spec == clinic_eval.GUIDELINE
                    except (clinic_eval.PolicyUnavailable, typer.BadParameter) as e:
                        skipped.append(f"{t} at {sched}: policy {spec}: {e}")
                if not has_guideline:
                    skipped.append(f"{t} at {sched}: no visit-level guideline, nothing compared")
                    continue
                for m in ordered:
                    try:
                        evaluations.append(clinic_eval.evaluate_clinic(m, policies, sched, patients, days, seed, noise,
                                                                       progress=progress))
                    except NotImplementedError as e:
                        skipped.append(f"{t}: {m.name} at {sched}: {e}")
    if not evaluations:
        raise typer.BadParameter("nothing could be evaluated: " + "; ".join(skipped), param_hint="--report")
    names = [m.name for m in models]  # each therapy's training models first, then its held-out ones, each at every schedule
    evaluations.sort(key=lambda e: (therapies.index(e.therapy), clinic_eval.ROLE_ORDER.index(e.role), names.index(e.twin_model)))
    return clinic_report.write_report(out, evaluations, command, skipped)


def clinic_columns(ev: clinic_eval.ClinicEvaluation, label: Label) -> list[Col]:
    names = ev.metric_names
    cols = [Col("Metric", [Text(label(m)) for m in names], label=True, justify="left")]
    cols += [Col(p, [_summary_cell(ev.summaries[p][m]) for m in names]) for p in ev.policies]
    for p in ev.policies[1:]:
        by = {c.metric: c for c in ev.comparisons[p]}
        cols.append(Col(f"Δ {p}", [_delta_cell(by[m]) for m in names]))
        cols.append(Col(f"paired p ({p})", [report.fmt_p(by[m].paired_p) for m in names], wide_only=True))
    return cols


def clinic_group_columns(ev: clinic_eval.ClinicEvaluation, label: Label) -> list[Col]:
    first = ev.policies[1]
    groups = ev.groups[first]
    cols = [Col("Group", [Text(f"{g.dimension}: {g.label}") for g in groups], label=True, justify="left"),
            Col("n", [str(g.n) for g in groups])]
    for p in ev.policies[1:]:
        for j, c0 in enumerate(groups[0].comparisons if groups else []):
            cols.append(Col(f"{p}: Δ {label(c0.metric)}",
                            [Text(f"{_signed(g.comparisons[j].delta)}\np {report.fmt_p(g.comparisons[j].paired_p)}")
                             for g in ev.groups[p]]))
    return cols


def print_clinic(console: Console, ev: clinic_eval.ClinicEvaluation, pack: TherapyPack) -> None:
    def label(m: str) -> str:
        return pack.clinic_metric_labels.get(m, m)

    title = (f"{ev.therapy} at clinic visits: {ev.twin_model} ({ev.role}), schedule {ev.schedule} — {ev.n_patients} "
             f"patients, {ev.days} days, seed {ev.seed}")
    note = "mean ± SD over the 95 % CI of the mean (BCa bootstrap); Δ = policy − guideline, 95 % CI (Welch), same patients"
    console.print(fitted(title, note, clinic_columns(ev, label), console.width))
    for n in ev.notes:
        console.print(f"note: {n}")
    if len(ev.policies) > 1 and ev.groups[ev.policies[1]]:
        console.print(fitted("Per group (Δ = policy − guideline, paired p)", None, clinic_group_columns(ev, label),
                             console.width))


def run_clinic_command(therapy: str | None, twin_model: str | None, schedule: str | None, specs: list[str] | None,
                       patients: int, days: int, seed: int, noise: clinic_eval.ClinicNoise, json_out: bool,
                       report_path: Path | None) -> None:
    if report_path is not None:
        command = "dosewise " + " ".join(sys.argv[1:]) if sys.argv[1:] else "dosewise evaluate --protocol clinic"
        written = run_clinic_report(report_path, therapy, twin_model, schedule, specs, patients, days, seed, noise,
                                    command)
        Console(stderr=True).print(f"report: {', '.join(str(p) for p in written)}")
        return
    pack, ev = run_clinic(therapy, twin_model, schedule, specs, patients, days, seed, noise)
    if json_out:
        typer.echo(json.dumps(ev.to_dict(), indent=1, allow_nan=False))
    else:
        print_clinic(rich_console(), ev, pack)


def register(app: typer.Typer) -> None:
    """Add ``dosewise evaluate`` to the CLI (called by dosewise_trainer.cli.register)."""

    @app.command("evaluate")
    def evaluate(
        therapy: Annotated[str | None, typer.Option(
            help="Therapy pack id, e.g. warfarin, insulin_t2d (clinic protocol: read from --twin-model).")] = None,
        policy: Annotated[list[str] | None, typer.Option(help=(
            "Exported policy.onnx (or its directory), or 'guideline'; clinic protocol: also 'mpc', and repeat to compare "
            "several (the guideline is always one of them)."))] = None,
        patients: Annotated[int, typer.Option(min=2, help="Virtual patients in the fresh cohort (and in CV).")] = 2000,
        days: Annotated[float, typer.Option(min=1, help="Days of therapy simulated per patient.")] = 90,
        seed: Annotated[int, typer.Option(help="Seed of the cohort and the simulator noise.")] = 7,
        json_out: Annotated[bool, typer.Option("--json", help="Print the results as JSON instead of tables.")] = False,
        report_dir: Annotated[Path | None, typer.Option("--report", help=(
            "Write table.md, results.json and plots here (clinic protocol: FILE.md, with FILE.json and plots beside "
            "it)."))] = None,
        cv_folds: Annotated[int, typer.Option(min=0, help=(
            "Cross-validate the training procedure with this many folds, a fresh policy trained per fold (0: no CV; not "
            "with --policy)."))] = 0,
        cv_train: Annotated[str, typer.Option(
            help=f"DQN budget for CV: {', '.join(CV_TRAIN_CONFIGS)} (smoke: a pipeline check only).")] = "quick",
        protocol: Annotated[str, typer.Option(help=(
            "daily: one decision a day on the pack's simulator; clinic: decisions at visits on a named twin model "
            "(--twin-model), each plan held until the next visit."))] = "daily",
        twin_model: Annotated[str | None, typer.Option(
            help="Clinic protocol: the twin model (dosewise.therapies.twin_models), e.g. hamberg2007.")] = None,
        schedule: Annotated[str | None, typer.Option(
            help="Clinic protocol: the visit schedule (clinic.SCHEDULES); default the pack's first cadence.")] = None,
        assay_cv: Annotated[float, typer.Option(min=0, help="Clinic protocol: assay CV of the measurement.")] = (
            clinic_eval.DEFAULT_NOISE.assay_cv),
        adherence: Annotated[float, typer.Option(min=0, max=1, help="Clinic protocol: share of doses taken.")] = (
            clinic_eval.DEFAULT_NOISE.adherence),
        late_visits: Annotated[float, typer.Option(min=0, max=1, help="Clinic protocol: share of visits 1–3 days late.")] = (
            clinic_eval.DEFAULT_NOISE.late_visit_prob),
        missed_visits: Annotated[float, typer.Option(min=0, max=1, help="Clinic protocol: share of visits missed.")] = (
            clinic_eval.DEFAULT_NOISE.missed_visit_prob),
        delayed_results: Annotated[float, typer.Option(min=0, max=1, help=(
            "Clinic protocol: share of decisions made on a result 1–2 days old."))] = (
            clinic_eval.DEFAULT_NOISE.result_delay_prob),
    ) -> None:
        """Compare a policy with the guideline on fresh virtual patients: every metric's mean ± SD [95 % CI], Δ, relative
        change, Welch p (two-sided) and paired p; per subgroup; and k-fold cross-validation with the issue's targets.

        With --protocol clinic: the guideline, the MPC or exported policies at clinic visits on a named twin model, per
        patient group; with --report FILE.md and no --twin-model, every policy on every train and held-out model and
        schedule, with issue #25's aims checked (FILE.md, FILE.json, plots)."""
        if protocol not in ("daily", "clinic"):
            raise typer.BadParameter("--protocol is daily or clinic", param_hint="--protocol")
        if protocol == "clinic":
            noise = clinic_eval.ClinicNoise(assay_cv, adherence, late_visits, missed_visits, delayed_results)
            run_clinic_command(therapy, twin_model, schedule, policy, patients, int(days), seed, noise, json_out,
                               report_dir)
            return
        if therapy is None:
            raise typer.BadParameter("give --therapy", param_hint="--therapy")
        if policy is not None and len(policy) > 1:
            raise typer.BadParameter("the daily protocol evaluates one --policy", param_hint="--policy")
        if cv_folds == 1:
            raise typer.BadParameter("cross-validation needs at least 2 folds", param_hint="--cv-folds")
        pack, result, cv = run_evaluate(therapy, policy[0] if policy else None, patients, days, seed, cv_folds, cv_train)
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
