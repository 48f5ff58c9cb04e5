"""The evaluation gate: a retrained candidate is published only if the evidence says it is no worse than what serves now,
and the decision is recorded with every number behind it.

Three kinds of evidence (issue 6), each a list of named checks with status ``pass`` / ``fail`` / ``inconclusive``:

(a) **Held-out twin cohort** — candidate, active policy and guideline on the same held-out virtual patients with the same
    simulator seed (``evaluation.crossval.evaluate_on_cohort``), compared per metric with ``evaluation.statistics``
    (Welch's two-sided t-test, paired test alongside). Blocking: the candidate's efficacy (the pack's first primary metric)
    is neither worse than the active policy's by more than the margin nor significantly worse (paired p < α).
    Candidate vs guideline is reported with issue 4's targets, not blocking: the gate guards against regressions of what
    patients get today; a candidate better than an active policy that itself trails the guideline is still progress.
(b) **Off-policy evaluation on held-out logged data** (patients never used for training): fitted Q evaluation of candidate
    vs active (blocking: the candidate's FQE value may not fall below the active's by more than the tolerance or twice
    the evaluator's own spread over refits, whichever is larger — unless either policy rarely takes the logged action,
    where FQE only extrapolates: then ``inconclusive``), and
    per-decision weighted importance sampling of the candidate's immediate reward against what the behaviour policy
    achieved, with its effective sample size and bootstrap 95 % interval (blocking only when ESS ≥ ``min_ess`` and the
    whole interval lies below the behaviour's value; with a smaller ESS the check is ``inconclusive`` and says so —
    Gottesman et al. 2019).
(c) **Safety** — the adverse-event rate must not rise: on the twin cohort, the candidate's adverse-event days (the pack's
    second primary metric) vs the active policy's fail the gate when they rise significantly (paired p < α) or by more
    than ``adverse_max_relative_rise``; on logged data, the WIS estimate of the adverse-event term fails it when its whole
    95 % interval exceeds the behaviour policy's observed rate by more than the tolerance (with enough ESS).

A candidate with no ``fail`` is published: registry row, activation and a "policy activated" event (``retrain.py``). Any
``fail`` keeps it as ``rejected`` with this report.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from dosewise.therapies.base import TherapyPack
from dosewise.therapies.rollout import ActionPolicy
from dosewise_trainer.evaluation.crossval import evaluate_on_cohort, steps_for
from dosewise_trainer.evaluation.ope import (
    FQEArgs,
    QFn,
    fitted_q_evaluation,
    greedy_probabilities,
    weighted_importance_sampling,
)
from dosewise_trainer.evaluation.statistics import EFFICACY_MARGIN_PP, compare_metrics, percentage_points

Status = Literal["pass", "fail", "inconclusive"]


@dataclass
class GateConfig:
    cohort_patients: int = 300
    """held-out twins per arm (the same patients for candidate, active and guideline)"""
    cohort_days: float = 60.0
    """days each held-out twin is dosed"""
    cohort_seed: int = 7_000_001
    """seed of the held-out cohort: no training draw uses it (DQN 100_000+, CQL twins 5_000_000+)"""
    significance: float = 0.05
    """α of the paired two-sided t-tests"""
    efficacy_margin_pp: float = EFFICACY_MARGIN_PP
    """efficacy may trail the active policy by at most this many percentage points (issue 4's margin)"""
    adverse_max_relative_rise: float = 0.10
    """adverse-event days may not rise by more than this fraction of the active policy's, significant or not"""
    fqe_relative_tolerance: float = 0.10
    """the candidate's FQE value may trail the active's by this fraction of |V_active| (plus ``fqe_absolute_tolerance``):
    two separately fitted evaluators differ by a few percent on the same policy"""
    fqe_absolute_tolerance: float = 0.1
    """reward units; keeps the tolerance meaningful when V_active is near 0"""
    fqe_noise_fits: int = 3
    """fits of the active policy's FQE (different seeds): their SD is the evaluator's noise, and the candidate may trail
    by up to 2 SD before the check fails — two fits of one policy on a few hundred transitions differ by more than 10 %"""
    fqe_min_support: float = 0.3
    """FQE blocks only when each policy takes the logged action in at least this share of the held-out decisions; below
    it the evaluator mostly extrapolates to actions the data rarely shows (the check is then inconclusive)"""
    min_ess: float = 30.0
    """WIS checks block only with at least this effective sample size"""
    wis_tolerance: float = 0.05
    """reward (or adverse-event) units per decision a WIS estimate may trail (exceed) the behaviour's observed value"""
    min_heldout: int = 50
    """fewer held-out logged transitions than this: the OPE checks are inconclusive"""
    heldout_percent: int = 20
    """share of logged patients (by a hash of their pseudonym) kept out of training for OPE"""
    gamma: float = 0.95
    """discount of FQE (as the learners')"""
    fqe: FQEArgs = field(default_factory=FQEArgs)
    """fitted Q evaluation settings"""


@dataclass
class LoggedEval:
    """Held-out logged transitions as arrays (see ``algorithms.cql.OfflineData``) plus what OPE needs besides: the logged
    behaviour probability (NaN when unknown), the adverse-event term, and which rows start a patient's course."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    mask: np.ndarray
    next_mask: np.ndarray
    terminated: np.ndarray
    behaviour_prob: np.ndarray
    adverse: np.ndarray
    initial: np.ndarray

    def __len__(self) -> int:
        return len(self.actions)


@dataclass
class Check:
    name: str
    kind: Literal["twins", "ope", "safety"]
    status: Status
    detail: str
    numbers: dict[str, Any] = field(default_factory=dict)


@dataclass
class GateDecision:
    decision: Literal["published", "rejected"]
    reasons: list[str]
    report: dict[str, Any]


def held_out(patient_ref: str, percent: int) -> bool:
    """Stable patient-level split: a patient's course is wholly in or wholly out of training (no leakage across days)."""
    return int(hashlib.sha256(patient_ref.encode()).hexdigest()[:8], 16) % 100 < percent


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _relabel(comparison: dict[str, Any]) -> dict[str, Any]:
    """statistics.Comparison names its arms policy/guideline; here they are candidate/reference."""
    out = dict(comparison)
    out["candidate"], out["reference"] = out.pop("policy"), out.pop("guideline")
    return out


def _twin_checks(pack: TherapyPack, candidate: QFn, active: QFn | None, config: GateConfig) -> tuple[list[Check], dict]:
    cohort = pack.sample_cohort(config.cohort_patients, config.cohort_seed)
    steps = steps_for(pack, config.cohort_days)
    rollout_seed = config.cohort_seed + 1
    cand = evaluate_on_cohort(pack, cohort, ActionPolicy(pack, candidate, name="candidate"), steps, rollout_seed,
                              subgroups=False)
    act = (evaluate_on_cohort(pack, cohort, ActionPolicy(pack, active, name="active"), steps, rollout_seed, subgroups=False)
           if active is not None else None)
    reference = act.policy_metrics if act is not None else cand.guideline_metrics
    ref_name = "active" if act is not None else "guideline (no active policy)"
    vs_ref = {c.metric: c for c in compare_metrics(cand.policy_metrics, reference, paired=True)}
    eff, adv = pack.primary_metrics()
    means = {"candidate": {k: float(np.nanmean(v)) for k, v in cand.policy_metrics.items()},
             "guideline": {k: float(np.nanmean(v)) for k, v in cand.guideline_metrics.items()}}
    if act is not None:
        means["active"] = {k: float(np.nanmean(v)) for k, v in act.policy_metrics.items()}
    checks: list[Check] = []

    e = vs_ref[eff]
    delta_pp = percentage_points(eff, e.delta)
    worse_sig = e.delta < 0 and (e.paired_p if e.paired_p is not None else e.welch_p) < config.significance
    failed = delta_pp < -config.efficacy_margin_pp or worse_sig
    checks.append(Check(
        "twins.efficacy_vs_active", "twins", "fail" if failed else "pass",
        f"{eff}: candidate {e.policy.mean:.2f} vs {ref_name} {e.guideline.mean:.2f} (Δ {delta_pp:+.2f} pp, paired p "
        f"{_fmt_p(e.paired_p)}, Welch p {_fmt_p(e.welch_p)}); must not trail by > {config.efficacy_margin_pp:g} pp nor be "
        "significantly worse",
        {"delta_pp": _num(delta_pp), "paired_p": _num(e.paired_p), "welch_p": _num(e.welch_p)}))

    a = vs_ref[adv]
    rel = a.relative_change if a.relative_change is not None else (math.inf if a.delta > 0 else 0.0)
    rise_sig = a.delta > 0 and (a.paired_p if a.paired_p is not None else a.welch_p) < config.significance
    failed = a.delta > 0 and (rise_sig or rel > config.adverse_max_relative_rise)
    checks.append(Check(
        "safety.adverse_events_twins", "safety", "fail" if failed else "pass",
        f"{adv}: candidate {a.policy.mean:.3f} vs {ref_name} {a.guideline.mean:.3f} per patient (Δ {a.delta:+.3f}, "
        f"relative {_fmt_rel(a.relative_change)}, paired p {_fmt_p(a.paired_p)}); may not rise significantly nor by > "
        f"{config.adverse_max_relative_rise:.0%}",
        {"delta": _num(a.delta), "relative_change": _num(a.relative_change), "paired_p": _num(a.paired_p)}))

    report = {
        "cohort": {"patients": cohort.n, "days": steps * pack.decision_interval_days, "seed": config.cohort_seed},
        "means": means,
        "candidate_vs_reference": {"reference": ref_name, "metrics": [_relabel(c.to_dict()) for c in vs_ref.values()]},
        "candidate_vs_guideline": {"metrics": [c.to_dict() for c in cand.comparisons],
                                   "targets": cand.targets.to_dict() if cand.targets else None},
        "active_vs_guideline": None if act is None else {"metrics": [c.to_dict() for c in act.comparisons],
                                                         "targets": act.targets.to_dict() if act.targets else None},
    }
    return checks, report


def _support(q_fn: QFn, data: LoggedEval) -> float:
    """Share of the held-out decisions where the policy's (masked greedy) action is the logged one."""
    return float(greedy_probabilities(np.asarray(q_fn(data.obs)), data.mask, data.actions).mean())


def _ope_checks(pack: TherapyPack, candidate: QFn, active: QFn | None, data: LoggedEval | None,
                config: GateConfig) -> tuple[list[Check], dict]:
    n = 0 if data is None else len(data)
    if data is None or n < config.min_heldout:
        why = f"{n} held-out logged transitions (< {config.min_heldout})"
        return [Check("ope.fqe_vs_active", "ope", "inconclusive", why),
                Check("ope.wis_reward", "ope", "inconclusive", why),
                Check("safety.adverse_events_logged", "safety", "inconclusive", why)], {"heldout_transitions": n}
    arrays = (data.obs, data.actions, data.rewards, data.next_obs, data.mask, data.next_mask, data.terminated)
    fqe_cand = fitted_q_evaluation(pack, candidate, *arrays, gamma=config.gamma, args=config.fqe, initial=data.initial)
    fqe_act = (fitted_q_evaluation(pack, active, *arrays, gamma=config.gamma, args=config.fqe, initial=data.initial)
               if active is not None else None)
    # The evaluator's own noise on this data: the active policy fitted again with other seeds (same data, same policy).
    refits = [fqe_act.value] + [
        fitted_q_evaluation(pack, active, *arrays, gamma=config.gamma,
                            args=dataclasses.replace(config.fqe, seed=config.fqe.seed + k)).value
        for k in range(1, config.fqe_noise_fits)] if active is not None and fqe_act is not None else []
    fqe_sd = float(np.std(refits, ddof=1)) if len(refits) > 1 else 0.0
    checks: list[Check] = []
    support = {"candidate": _support(candidate, data)} | ({"active": _support(active, data)} if active is not None else {})
    if fqe_act is None:
        checks.append(Check("ope.fqe_vs_active", "ope", "inconclusive", "no active policy to compare with",
                            {"candidate": fqe_cand.to_dict(), "support": support}))
    else:
        v_act = float(np.mean(refits))
        margin = max(config.fqe_relative_tolerance * abs(v_act) + config.fqe_absolute_tolerance, 2.0 * fqe_sd)
        floor = v_act - margin
        text = (f"FQE value per logged state: candidate {fqe_cand.value:.3f} vs active {v_act:.3f} (evaluator SD "
                f"{fqe_sd:.3f} over {len(refits)} fits; floor {floor:.3f}); logged action taken by candidate "
                f"{support['candidate']:.0%}, active {support['active']:.0%}")
        if min(support.values()) < config.fqe_min_support:
            status: Status = "inconclusive"
            text += f" — below {config.fqe_min_support:.0%}: FQE would extrapolate, not evidence either way"
        else:
            status = "pass" if fqe_cand.value >= floor else "fail"
        checks.append(Check("ope.fqe_vs_active", "ope", status, text,
                            {"candidate": fqe_cand.to_dict(), "active": fqe_act.to_dict(), "active_refits": refits,
                             "evaluator_sd": _num(fqe_sd), "floor": _num(floor), "support": support}))

    q = np.asarray(candidate(data.obs))
    target = greedy_probabilities(q, data.mask, data.actions)
    wis_r = weighted_importance_sampling(data.rewards, target, data.behaviour_prob)
    wis_a = weighted_importance_sampling(data.adverse, target, data.behaviour_prob, seed=1)
    # Worse means the whole bootstrap interval is on the wrong side (Komorowski et al. 2018 rank by its bound), so a
    # handful of heavy weights cannot reject a candidate on a point estimate alone.
    for name, kind, wis, worse in (
        ("ope.wis_reward", "ope", wis_r, wis_r.ci95[1] < wis_r.behaviour_value - config.wis_tolerance),
        ("safety.adverse_events_logged", "safety", wis_a, wis_a.ci95[0] > wis_a.behaviour_value + config.wis_tolerance),
    ):
        what = "reward" if kind == "ope" else "adverse-event term"
        text = (f"WIS {what} per decision: candidate {_fmt(wis.value)} (95 % CI {_fmt(wis.ci95[0])} to {_fmt(wis.ci95[1])}) vs "
                f"behaviour {_fmt(wis.behaviour_value)}; ESS {wis.ess:.1f} of {wis.n_used} decisions with a known "
                f"propensity ({wis.n_matched} agree with the candidate)")
        if wis.ess < config.min_ess or not math.isfinite(wis.value):
            status = "inconclusive"
            text += f" — ESS below {config.min_ess:g}: not evidence either way"
        else:
            status = "fail" if worse else "pass"
        checks.append(Check(name, kind, status, text, wis.to_dict()))
    report = {"heldout_transitions": n, "fqe": {"candidate": fqe_cand.to_dict(),
                                                "active": None if fqe_act is None else fqe_act.to_dict()},
              "wis_reward": wis_r.to_dict(), "wis_adverse": wis_a.to_dict()}
    return checks, report


def evaluate(pack: TherapyPack, candidate: QFn, active: QFn | None, logged: LoggedEval | None,
             config: GateConfig | None = None, context: dict[str, Any] | None = None) -> GateDecision:
    """Run every check and decide. ``active``: the serving policy's q_fn (None: there is none; the guideline stands in)."""
    config = config or GateConfig()
    twin_checks, twin_report = _twin_checks(pack, candidate, active, config)
    ope_checks, ope_report = _ope_checks(pack, candidate, active, logged, config)
    checks = twin_checks + ope_checks
    failed = [c for c in checks if c.status == "fail"]
    decision: Literal["published", "rejected"] = "rejected" if failed else "published"
    reasons = ([f"FAIL {c.name}: {c.detail}" for c in failed] if failed
               else ["every blocking check passed"] + [f"inconclusive {c.name}" for c in checks if c.status == "inconclusive"])
    report = {"decision": decision, "reasons": reasons, "therapy": pack.id, "context": context or {},
              "checks": [asdict(c) for c in checks], "twins": twin_report, "ope": ope_report,
              "config": {k: v for k, v in asdict(config).items() if k != "fqe"} | {"fqe": asdict(config.fqe)}}
    return GateDecision(decision, reasons, report)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.3f}"


def _fmt_p(p: float | None) -> str:
    return "n/a" if p is None or not math.isfinite(p) else (f"{p:.3g}" if p >= 1e-4 else "<1e-4")


def _fmt_rel(r: float | None) -> str:
    return "n/a" if r is None or not math.isfinite(r) else f"{r:+.1%}"


def format_report(report: dict[str, Any]) -> str:
    """The decision report as a clinician-readable block of text (what the demo prints and operators read)."""
    ctx = report.get("context", {})
    lines = [f"GATE {report['therapy']} {ctx.get('version', '')}: {report['decision'].upper()}"]
    if ctx:
        lines.append("  " + ", ".join(f"{k} {v}" for k, v in ctx.items() if k != "version"))
    means = report["twins"]["means"]
    eff_adv = [c["detail"].split(":")[0] for c in report["checks"] if c["name"] in ("twins.efficacy_vs_active",
                                                                                     "safety.adverse_events_twins")]
    arms = [a for a in ("candidate", "active", "guideline") if a in means]
    cohort = report["twins"]["cohort"]
    lines.append(f"  held-out twins: {cohort['patients']} patients × {cohort['days']:g} days (seed {cohort['seed']})")
    for metric in eff_adv:
        lines.append(f"    {metric:32s} " + "  ".join(f"{a} {means[a][metric]:8.3f}" for a in arms))
    for c in report["checks"]:
        lines.append(f"  [{c['status'].upper():12s}] {c['name']}: {c['detail']}")
    for r in report["reasons"][:1]:
        lines.append(f"  => {r}")
    return "\n".join(lines)
