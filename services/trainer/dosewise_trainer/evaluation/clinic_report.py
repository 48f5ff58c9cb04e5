"""The clinic evaluation report (``dosewise evaluate --protocol clinic --report docs/evaluation/clinic.md``): every policy on
each therapy's training twin models and on each held-out one, at each of the pack's visit schedules, overall and per patient
group, with issue #25's aims checked line by line. Writes the markdown, a JSON of every number next to it (same name,
``.json``) and one figure per therapy. Every number is computed by the run; nothing is typed in.

The aims (issue #25, "Policies that hold up in the clinic"), for each learned policy:

- held-out models, every schedule: adverse-event days (and, where the pack counts them, nights below 70 mg/dL) no more
  than the guideline's, and efficacy (time in range) at least the guideline's − 1 percentage point, overall and in every
  patient group the pack reports (``clinic_groups``: warfarin's genotype sensitivity groups; insulin's sensitivity
  tertiles and both eGFR groups, < 60 and ≥ 60 — the issue names < 60, the ≥ 60 group is checked too);
- held-out models, overall (all patients of each model and schedule): no worse than the model-predictive controller:
  efficacy ≥ MPC − 2 points, adverse-event days (and nights below 70 mg/dL, where counted) ≤ MPC + 0.1 per patient;
- training models: at least 30 % fewer adverse-event days than the guideline and efficacy ≥ guideline + 5 points.

"Efficacy" is the first metric of the pack's ``clinic_metrics`` (a percentage); the adverse metrics are those of
AIM_ADVERSE_METRICS the pack reports. "No more than" compares the means over the patients (paired: the same patients under
both policies); the CI and paired p of each difference are in the tables, so a reader sees which differences are noise.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dosewise.stats import json_number
from dosewise.therapies.base import TherapyPack
from dosewise.therapies.registry import get_pack
from dosewise_trainer.evaluation.clinic import MPC, ClinicEvaluation
from dosewise_trainer.evaluation.report import fmt, fmt_p, fmt_rel
from dosewise_trainer.evaluation.statistics import Comparison

# The issue's numbers.
HELDOUT_EFFICACY_MARGIN_PP = 1.0
MPC_EFFICACY_MARGIN_PP = 2.0
MPC_ADVERSE_MARGIN = 0.1  # per patient, in the adverse metric's unit (days, nights)
TRAIN_ADVERSE_REDUCTION = 0.30
TRAIN_EFFICACY_GAIN_PP = 5.0
AIM_ADVERSE_METRICS = ("adverse_event_days", "nights_below_70")
EPS = 1e-9
# The aims as issue #25 words them, recorded with the checked lines (the model card's clinic_evaluation).
ISSUE_TEXT = (
    "On every held-out model under the clinic protocol, for each genotype sensitivity group (normal / sensitive / highly "
    "sensitive; for insulin each sensitivity tertile and eGFR < 60): adverse-event days ≤ the guideline's, nights below "
    "70 mg/dL ≤ the guideline's, and TTR / days in range ≥ the guideline's − 1 point; overall, what serves is no worse "
    "than the MPC comparator (TTR ≥ MPC − 2 points, adverse-event days ≤ MPC + 0.1 per patient). On the training family: "
    "≥ 30 % fewer adverse-event days than the guideline and efficacy ≥ guideline + 5 points."
)


@dataclass(frozen=True)
class Aim:
    """One checked line: what is asked, where, the computed numbers and whether it holds (None: cannot be checked)."""

    therapy: str
    policy: str
    where: str
    text: str
    values: str
    met: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {"therapy": self.therapy, "policy": self.policy, "where": self.where, "aim": self.text,
                "values": self.values, "met": self.met}

    def markdown(self) -> str:
        box = {True: "[x]", False: "[ ]", None: "[?]"}[self.met]
        verdict = {True: "met", False: "**not met**", None: "not checkable"}[self.met]
        return f"- {box} {self.policy}, {self.where}: {self.text} — {self.values} ({verdict})"


def learned_policies(ev: ClinicEvaluation) -> list[str]:
    """The policies the aims are asked of: every arm but the guideline (the first, whatever the pack names it) and the
    MPC (the comparator)."""
    return [p for p in ev.policies[1:] if p != MPC]


def _mean(ev: ClinicEvaluation, policy: str, metric: str) -> float:
    return ev.summaries[policy][metric].mean


def _adverse_metrics(ev: ClinicEvaluation) -> list[str]:
    return [m for m in AIM_ADVERSE_METRICS if m in ev.metric_names]


def _where(ev: ClinicEvaluation) -> str:
    return f"{ev.twin_model} ({ev.role}), {ev.schedule}"


def _group_aim(ev: ClinicEvaluation, pol: str, metric: str, text: str, worst_is_max: bool, bound: float,
               label: Any) -> Aim:
    """``metric``'s difference from the guideline, overall and in the group where it is worst (the largest for an adverse
    metric, the smallest for efficacy), held to ``bound`` (≤ for adverse, ≥ for efficacy). Cannot be checked (None) when
    no patient group reports the metric or a difference is not a number."""
    overall = next(c for c in ev.comparisons[pol] if c.metric == metric)
    in_groups = [(c.delta, f"{g.dimension} {g.label} (n {g.n})")
                 for g in ev.groups.get(pol, []) for c in g.comparisons if c.metric == metric]
    pick = max if worst_is_max else min
    worst = pick(in_groups, key=lambda t: t[0]) if in_groups else None
    values = f"Δ overall {fmt(overall.delta)}" + (f", {'largest' if worst_is_max else 'smallest'} in a group "
                                                  f"{fmt(worst[0])} ({worst[1]})" if worst else ", no patient group")
    deltas = [overall.delta, *(d for d, _ in in_groups)]
    met: bool | None
    if not in_groups or not all(math.isfinite(d) for d in deltas):
        met = None
    elif worst_is_max:
        met = bool(max(deltas) <= bound + EPS)
    else:
        met = bool(min(deltas) >= bound - EPS)
    return Aim(ev.therapy, pol, _where(ev), f"{label(metric)} {text}", values, met)


def heldout_aims(ev: ClinicEvaluation, pol: str, label: Any = str, comparator: str | None = MPC) -> list[Aim]:
    """Issue #25's held-out aims for ``pol`` on one held-out evaluation: in every patient group (and overall) each adverse
    metric ≤ the guideline's and efficacy ≥ the guideline's − 1 point; then no worse than ``comparator`` (the MPC) on
    this model and schedule. ``comparator=None``: ``pol`` is the comparator itself, whose aims against itself would be
    met by definition, so they are left out (not counted as met)."""
    eff = ev.efficacy_metric
    aims = [_group_aim(ev, pol, m, "≤ guideline in every group", True, 0.0, label) for m in _adverse_metrics(ev)]
    aims.append(_group_aim(ev, pol, eff, f"≥ guideline − {HELDOUT_EFFICACY_MARGIN_PP:g} in every group", False,
                           -HELDOUT_EFFICACY_MARGIN_PP, label))
    if comparator is None:
        return aims
    where = _where(ev)
    if comparator not in ev.policies:
        return [*aims, Aim(ev.therapy, pol, where, "no worse than the MPC", "the MPC was not run", None)]
    pe, me = _mean(ev, pol, eff), _mean(ev, comparator, eff)
    aims.append(Aim(ev.therapy, pol, where, f"{label(eff)} ≥ MPC − {MPC_EFFICACY_MARGIN_PP:g}",
                    f"{fmt(pe)} vs MPC {fmt(me)}", None if not math.isfinite(pe - me)
                    else bool(pe >= me - MPC_EFFICACY_MARGIN_PP - EPS)))
    for m in _adverse_metrics(ev):
        pa, ma = _mean(ev, pol, m), _mean(ev, comparator, m)
        aims.append(Aim(ev.therapy, pol, where, f"{label(m)} ≤ MPC + {MPC_ADVERSE_MARGIN:g}", f"{fmt(pa)} vs MPC {fmt(ma)}",
                        None if not math.isfinite(pa - ma) else bool(pa <= ma + MPC_ADVERSE_MARGIN + EPS)))
    return aims


def training_aims(ev: ClinicEvaluation, pol: str, label: Any = str) -> list[Aim]:
    """Issue #25's training-model aims for ``pol`` on one training evaluation: ≥ 30 % fewer adverse-event days than the
    guideline, efficacy ≥ the guideline's + 5 points."""
    eff, where = ev.efficacy_metric, _where(ev)
    aims = []
    if "adverse_event_days" in ev.metric_names:
        c = next(c for c in ev.comparisons[pol] if c.metric == "adverse_event_days")
        rel = c.relative_change
        aims.append(Aim(ev.therapy, pol, where,
                        f"{label('adverse_event_days')} ≥ {TRAIN_ADVERSE_REDUCTION:.0%} fewer than guideline",
                        f"{fmt(c.policy.mean)} vs {fmt(c.guideline.mean)} ({fmt_rel(rel)})",
                        None if rel is None else bool(rel <= -TRAIN_ADVERSE_REDUCTION + EPS)))
    c_eff = next(c for c in ev.comparisons[pol] if c.metric == eff)
    aims.append(Aim(ev.therapy, pol, where, f"{label(eff)} ≥ guideline + {TRAIN_EFFICACY_GAIN_PP:g}",
                    f"{fmt(c_eff.policy.mean)} vs {fmt(c_eff.guideline.mean)} (Δ {fmt(c_eff.delta)})",
                    bool(c_eff.delta >= TRAIN_EFFICACY_GAIN_PP - EPS)))
    return aims


def check_aims(evaluations: Sequence[ClinicEvaluation], label: Any = str, policies: Sequence[str] | None = None,
               comparator: str | None = MPC) -> list[Aim]:
    """Every aim of the module docstring for each of ``policies`` (default: every learned policy) on every evaluation it
    was run in: the held-out aims on a held-out model, the training aims on a training one. ``comparator``: the name of
    the arm the held-out "no worse than the MPC" aims compare with; None leaves them out (the candidate is the MPC)."""
    aims: list[Aim] = []
    for ev in evaluations:
        pols = learned_policies(ev) if policies is None else [p for p in policies if p in ev.policies[1:]]
        for pol in pols:
            if ev.role == "heldout":
                aims += heldout_aims(ev, pol, label, comparator)
            else:
                aims += training_aims(ev, pol, label)
    return aims


def candidate_aims(evaluations: Sequence[ClinicEvaluation], label: Any = str) -> list[Aim]:
    """The aims of every policy that could serve: each learned policy (with the MPC comparator) and the MPC itself (held
    to the guideline, not to itself)."""
    aims = check_aims(evaluations, label)
    if any(MPC in ev.policies[1:] for ev in evaluations):
        aims += check_aims(evaluations, label, policies=[MPC], comparator=None)
    return aims


# --- markdown ----------------------------------------------------------------------------------------------------------
def _cell(s: Any) -> str:
    return f"{fmt(s.mean)} [{fmt(s.ci_low)}, {fmt(s.ci_high)}]"


def _delta(c: Comparison) -> str:
    return f"{fmt(c.delta)} [{fmt(c.delta_ci_low)}, {fmt(c.delta_ci_high)}], p {fmt_p(c.paired_p)}"


def evaluation_markdown(ev: ClinicEvaluation, pack: TherapyPack) -> list[str]:
    label = pack.clinic_metric_labels.get
    others = ev.policies[1:]
    head = ["Metric", *(f"{p} mean [95 % CI]" for p in ev.policies), *(f"Δ {p} − guideline [CI], paired p" for p in others)]
    lines = [f"#### {ev.twin_model} ({ev.role}) · schedule {ev.schedule}", "",
             f"{ev.n_patients} patients, {ev.days} days, seed {ev.seed}. {ev.citation}.", ""]
    lines += [f"> {note}" for note in ev.notes]
    if ev.notes:
        lines.append("")
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    by = {p: {c.metric: c for c in ev.comparisons[p]} for p in others}
    for m in ev.metric_names:
        cells = [label(m, m), *(_cell(ev.summaries[p][m]) for p in ev.policies), *(_delta(by[p][m]) for p in others)]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if others and ev.groups[others[0]]:
        metrics = [c.metric for c in ev.groups[others[0]][0].comparisons]
        gh = ["Group", "n", *(f"{p}: Δ {label(m, m)} (paired p)" for p in others for m in metrics)]
        lines += ["Per group (Δ = policy − guideline on the same patients):", "",
                  "| " + " | ".join(gh) + " |", "|" + "---|" * len(gh)]
        for i, g in enumerate(ev.groups[others[0]]):
            cells = [f"{g.dimension}: {g.label}", str(g.n)]
            for p in others:
                for c in ev.groups[p][i].comparisons:
                    cells.append(f"{fmt(c.delta)} ({fmt_p(c.paired_p)})")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def plot_therapy(evaluations: Sequence[ClinicEvaluation], pack: TherapyPack, path: Path) -> Path:
    """Efficacy and the first adverse metric, mean and 95 % CI per policy, for every (model, schedule) of a therapy."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    evs = list(evaluations)
    metrics = [evs[0].efficacy_metric, evs[0].adverse_metric]
    policies = list(dict.fromkeys(p for ev in evs for p in ev.policies))
    fig = Figure(figsize=(max(6.0, 1.6 * len(evs) + 2), 7.0))
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 1, sharex=True)
    width = 0.8 / max(1, len(policies))
    x = np.arange(len(evs))
    for ax, m in zip(axes, metrics, strict=True):
        for k, p in enumerate(policies):
            means = np.array([ev.summaries[p][m].mean if p in ev.summaries else np.nan for ev in evs])
            lo = np.array([ev.summaries[p][m].ci_low if p in ev.summaries else np.nan for ev in evs])
            hi = np.array([ev.summaries[p][m].ci_high if p in ev.summaries else np.nan for ev in evs])
            err = np.vstack([np.nan_to_num(means - lo), np.nan_to_num(hi - means)])
            ax.bar(x + (k - (len(policies) - 1) / 2) * width, means, width, yerr=err, capsize=3, label=p)
        ax.set_ylabel(pack.clinic_metric_labels.get(m, m))
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[-1].set_xticks(x, [f"{ev.twin_model}\n({ev.role})\n{ev.schedule}" for ev in evs], fontsize=8)
    fig.suptitle(f"{pack.name}: clinic protocol, mean and 95 % CI")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def write_report(path: Path, evaluations: Sequence[ClinicEvaluation], command: str,
                 skipped: Sequence[str] = ()) -> list[Path]:
    """Write ``path`` (markdown), ``path`` with ``.json`` and ``<stem>_<therapy>.png``; returns the files written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    therapies = list(dict.fromkeys(ev.therapy for ev in evaluations))
    all_aims: list[Aim] = []
    written: list[Path] = []
    first = evaluations[0] if evaluations else None
    lines = ["# Clinic-protocol evaluation (issue #25)", "",
             f"Made by `{command}`: every number below is computed by that run (`{path.with_suffix('.json').name}` holds "
             "them all). Decisions at visits only, each plan held until the next visit, on twin models a learned policy "
             "was trained on (role train) and on published models it never saw (role heldout).", ""]
    if first is not None:
        n = first.noise
        lines += [f"Clinic noise: assay CV {n.assay_cv:g}, adherence {n.adherence:g}, late visits {n.late_visit_prob:g} "
                  f"(1–3 days), missed visits {n.missed_visit_prob:g}, results 1–2 days old at "
                  f"{n.result_delay_prob:g} of visits. Means with BCa bootstrap 95 % CIs; differences "
                  "with Welch 95 % CIs and paired t-test p (the same patients and noise under every policy).", ""]
    lines += [f"- skipped: {s}" for s in skipped] + ([""] if skipped else [])
    for therapy in therapies:
        pack = get_pack(therapy)
        evs = [ev for ev in evaluations if ev.therapy == therapy]
        label = pack.clinic_metric_labels.get
        aims = candidate_aims(evs, label=lambda m, label=label: label(m, m))
        all_aims += aims
        lines += [f"## {pack.name}", "", "| Twin model | Role | Source |", "|---|---|---|"]
        for name, role, cite in dict.fromkeys((ev.twin_model, ev.role, ev.citation) for ev in evs):
            lines.append(f"| {name} | {role} | {cite} |")
        lines += ["", "### Aims", ""]
        if aims:
            lines += ["Checked for every policy that could serve (the guideline is the floor they are held to; the MPC "
                      "is not compared with itself).", "", "| Policy | Aims met | Not met |", "|---|---|---|"]
            for pol in dict.fromkeys(a.policy for a in aims):
                mine = [a for a in aims if a.policy == pol]
                missed = [a for a in mine if a.met is False]
                lines.append(f"| {pol} | {sum(a.met is True for a in mine)} of {len(mine)} | {len(missed)} |")
            lines += ["", *(a.markdown() for a in aims), ""]
        else:
            lines += ["Only the guideline was evaluated: the aims apply to the policies held to it, so none is checked.", ""]
        png = path.with_name(f"{path.stem}_{therapy}.png")
        written.append(plot_therapy(evs, pack, png))
        lines += [f"![{therapy}]({png.name})", "", "### Results", ""]
        for ev in evs:
            lines += evaluation_markdown(ev, pack)
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    written.insert(0, path)
    doc = {"command": command, "skipped": list(skipped), "evaluations": [ev.to_dict() for ev in evaluations],
           "aims": [a.to_dict() for a in all_aims]}
    js = path.with_suffix(".json")
    js.write_text(json.dumps(doc, indent=1, default=json_number, allow_nan=False) + "\n", encoding="utf-8")
    written.insert(1, js)
    return written
