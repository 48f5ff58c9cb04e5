"""Calibrate the HyperScore's weights on held-out twins so that a higher score means a better realized outcome.

Protocol (issue 5; clinical.md §4 gives no weights):

1. Simulate held-out patients (a cohort seed no training or evaluation uses) under the policy: masked argmax of its ONNX
   Q-values, hold where nothing is allowed — exactly what serving does.
2. At sampled decision points compute everything the HyperScore needs (guardrails, completeness, the personalized twin's
   forecast, novelty against ``feature_stats.json``, Q-advantage, head agreement, Q of the chosen action) and the
   **realized reward**: the return of that decision on that patient, Σ γᵏ·r over the next ``outcome_days`` (28) days,
   the recommendation's day included, with γ the policy's own training discount (0.95; model_card.json) — what the DQN
   learns to predict and what the policy is trained to make large. 28 days carry 1 − γ²⁸ = 76 % of the discounted
   weight, and a course of 90 days leaves decision days 1–62 to sample.

   Until 2026-11-29 it was the plain sum over the forecast's 7 days. For basal insulin that is mostly chance (65 %
   adherence, process noise, the meter): a replay from the same state correlated 0.215 (Spearman) with the first, so
   no score could rank better than √0.215 = 0.46; on the 28-day return the replay's ρ is 0.38–0.46 (ceiling 0.62–0.68).
   Measured on the shipped insulin policy (`dosewise hyperscore calibrate`, held-out seeds 300000–300003, 2026-11-29):
   test ρ on the 7-day sum 0.39 (60 days), 0.39, 0.36, 0.36 (90 days); on the 28-day return (90 days) 0.53, 0.59,
   0.57, 0.49. Warfarin, seed 300000: 0.74 vs 0.73. ``--outcome-days 7 --discount 1 --days 60`` computes the old one.
3. Split the *patients* in two halves. On the first, set the impact scale to the median advantage, the value
   sub-score's centre and scale to the median and robust SD of Q(chosen), and the forecast sub-score's scale to the
   quantiles of the forecast reward (``REWARD_QUANTILES``), then choose the fusion
   (arithmetic / geometric) and the weights on a simplex grid (step 0.1) that maximize Spearman's ρ between V and the
   realized reward (HyperScore is increasing in V, so the ρ are equal); the review threshold is the ``review_quantile`` of
   the first half's scores.
4. Report ρ between HyperScore and realized reward on the second half (patients the fit never saw), next to the equal-weight
   score's and each sub-score's own ρ, and save ``hyperscore.json`` next to the policy.
5. Report how much of the realized reward is chance: each decision is replayed once more from the same state with fresh
   noise (``VectorSimulator.fork``) under the same policy, and the two realized rewards are correlated (test–retest
   reliability r). No score computed from the state can correlate with one realization better than √r (Pearson; the
   state-conditional mean attains it); √ of the Spearman test–retest is the same bound on ranks, approximately, and the
   ceiling the test ρ should be read against.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from scipy.stats import rankdata, spearmanr

from dosewise import forecast as fc
from dosewise import hyperscore as hs
from dosewise.artifacts import CARD_FILE, POLICY_FILE, sha256_file
from dosewise.therapies.base import ClinicView, GuardrailResult, TherapyPack
from dosewise.therapies.registry import get_pack
from dosewise_trainer.calibration_plot import plot_calibration
from dosewise_trainer.calibration_report import CalibrationReport, print_report
from dosewise_trainer.feature_stats import compute_feature_stats

REWARD_QUANTILES = 101  # stored forecast-reward quantiles (hyperscore.json): the forecast sub-score's calibrated scale
DEFAULT_DISCOUNT = 0.95  # DQNConfig.gamma (algorithms/dqn.py), for a policy whose card names none (untrained)
CALIBRATION_COHORT_SEED = 300_000  # held out: training uses 100_000 + seed, feature stats 200_000, evaluation small seeds


@dataclass
class CalibrationArgs:
    therapy: str = "warfarin"
    """therapy pack id"""
    policy: str = ""
    """policy directory (or its policy.onnx); hyperscore.json is written next to it"""
    patients: int = 400
    """held-out patients simulated under the policy"""
    days: int = 90
    """simulated days per patient (the twins' course)"""
    decisions_per_patient: int = 4
    """decision points sampled per patient (uniformly over days 1 … days − outcome_days)"""
    horizon_days: int = 7
    """the twin forecast's horizon (days), scored by the forecast sub-score"""
    outcome_days: int = 28
    """realized reward = Σ discountᵏ · reward over the next outcome_days days (the decision's realized return)"""
    discount: float | None = None
    """per-day discount of the realized reward; None: the policy's training γ (model_card.json), else 0.95"""
    seed: int = CALIBRATION_COHORT_SEED
    """cohort, simulator and sampling seed"""
    grid_step: float = 0.1
    """simplex grid step of the weights"""
    review_quantile: float = 0.2
    """share of the fitting half's recommendations the review threshold flags"""
    stats_patients: int = 500
    """patients of the guideline rollout behind feature_stats.json when the policy has none"""
    write: bool = True
    """write hyperscore.json (and feature_stats.json when missing) next to the policy"""


@dataclass
class Samples:
    """One row per sampled decision."""

    patient: np.ndarray
    day: np.ndarray
    sub: dict[str, np.ndarray]
    advantage: np.ndarray
    q_chosen: np.ndarray  # the policy's Q of the chosen action (NaN: none chosen), for the value sub-score
    forecast: hs.ForecastInputs | None  # the twin forecast's inputs to the forecast sub-score (None: the pack has no twin)
    realized: np.ndarray
    retest: np.ndarray  # the realized reward once more, from the same state with fresh noise


def policy_discount(policy_dir: Path) -> float:
    """The discount γ the policy was trained with (its model card), else the DQN's default."""
    card = policy_dir / CARD_FILE
    gamma = json.loads(card.read_text()).get("training", {}).get("config", {}).get("gamma") if card.exists() else None
    return float(gamma) if gamma is not None else DEFAULT_DISCOUNT


def realized_return(rewards: np.ndarray, patient: np.ndarray, day: np.ndarray, days: int, discount: float) -> np.ndarray:
    """Σ_{k < days} discountᵏ · rewards[patient, day + k] for each decision (``rewards``: patients × simulated days)."""
    return rewards[patient[:, None], day[:, None] + np.arange(days)] @ discount ** np.arange(days)


def _concat(views: list[ClinicView]) -> ClinicView:
    return ClinicView(
        day=np.concatenate([v.day for v in views]), current_dose=np.concatenate([v.current_dose for v in views]),
        dose_history=np.concatenate([v.dose_history for v in views]),
        obs={k: np.concatenate([v.obs[k] for v in views]) for k in views[0].obs},
        obs_age_days={k: np.concatenate([v.obs_age_days[k] for v in views]) for k in views[0].obs_age_days},
        covariates={k: np.concatenate([np.asarray(v.covariates[k]) for v in views]) for k in views[0].covariates},
    )


def collect(pack: TherapyPack, policy_path: Path, stats: hs.FeatureStats | None, cfg: hs.HyperScoreConfig,
            args: CalibrationArgs, discount: float) -> Samples:
    """Simulate the held-out cohort under the policy; sub-scores and realized return at the sampled decision points."""
    from dosewise_trainer.export import load_onnx_q_heads_fn  # torch: only when calibrating (keeps the CLI fast)

    q_heads_fn = load_onnx_q_heads_fn(policy_path)
    rng = np.random.default_rng(args.seed)
    n, h = args.patients, args.outcome_days
    cohort = pack.sample_cohort(n, args.seed)
    sim = pack.simulator(cohort, args.seed)
    sample_days = np.stack([rng.choice(np.arange(1, args.days - h + 1), args.decisions_per_patient, replace=False)
                            for _ in range(n)])
    rewards = np.zeros((n, args.days))
    retest = np.full((n, args.days), np.nan)
    views: list[ClinicView] = []
    feats, masks, firings, chosen, qs, heads, who, when = [], [], [], [], [], [], [], []
    view = sim.reset()
    ended = np.zeros(n, dtype=bool)  # courses that ended inside the model (immune: cleared or died) make no decisions

    def act(v: ClinicView) -> tuple[np.ndarray, GuardrailResult, np.ndarray, np.ndarray, np.ndarray]:
        x = pack.features(v)
        guard = pack.guardrails(v)
        q, qh = q_heads_fn(x)
        return x, guard, q, qh, np.where(guard.mask.any(axis=1), np.argmax(np.where(guard.mask, q, -np.inf), axis=1), -1)

    def replay(t: int, v: ClinicView) -> np.ndarray:
        """The next h days' discounted reward, once more from this state with fresh noise (step 5 of the protocol)."""
        twin, total = sim.fork(args.seed + 1 + t), np.zeros(n)
        for k in range(h):
            res = twin.step(*pack.apply_actions(v.current_dose, np.maximum(act(v)[4], 0)))
            total, v = total + discount**k * res.reward, res.view
        return total

    for t in range(args.days):
        x, guard, q, qh, a = act(view)
        idx = np.flatnonzero((sample_days == t).any(axis=1) & ~ended)
        if idx.size:
            retest[idx, t] = replay(t, view)[idx]
            views.append(view.take(idx))
            feats.append(x[idx]), masks.append(guard.mask[idx]), chosen.append(a[idx])
            qs.append(q[idx]), heads.append(qh[idx]), who.append(idx), when.append(np.full(idx.size, t))
            firings.extend(guard.firings[i] for i in idx)
        given, regimen = pack.apply_actions(view.current_dose, np.maximum(a, 0))
        res = sim.step(given, regimen)
        rewards[:, t] = res.reward
        ended |= np.asarray(res.terminated, dtype=bool)
        view = res.view
    v = _concat(views)
    x, mask, a = np.concatenate(feats), np.concatenate(masks), np.concatenate(chosen)
    q, qh, patient, day = np.concatenate(qs), np.concatenate(heads), np.concatenate(who), np.concatenate(when)
    forecast = fc.forecast(pack, v, np.maximum(a, 0), horizon_days=args.horizon_days)
    guard = GuardrailResult(mask=mask, firings=firings)
    inputs = None if forecast is None else forecast.for_scoring()
    sub = hs.sub_scores(pack, v, x, guard, a, q, qh, cfg, stats, inputs)
    realized = realized_return(rewards, patient, day, h, discount)
    return Samples(patient=patient, day=day, sub=sub, advantage=hs.advantage(q, mask, a), q_chosen=hs.chosen_q(q, a),
                   forecast=inputs, realized=realized, retest=retest[patient, day])


def _simplex(step: float, k: int) -> np.ndarray:
    """All weight vectors on the k-simplex with coordinates in multiples of ``step`` (none all-zero)."""
    m = round(1.0 / step)
    rows = [c for c in itertools.product(range(m + 1), repeat=k) if sum(c) == m]
    return np.array(rows, dtype=float) / m


def _rank_rows(a: np.ndarray) -> np.ndarray:
    return rankdata(a, axis=1)


def _spearman_many(v: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman ρ of every row of v (c, m) with y (m,), average ranks for ties."""
    rv = _rank_rows(v)
    ry = rankdata(y)
    rv -= rv.mean(axis=1, keepdims=True)
    ry = ry - ry.mean()
    denom = np.sqrt((rv**2).sum(axis=1) * (ry**2).sum())
    return np.where(denom > 0, rv @ ry / np.where(denom > 0, denom, 1.0), 0.0)


def fit_weights(sub: dict[str, np.ndarray], realized: np.ndarray, step: float) -> tuple[dict[str, float], str, float]:
    """(weights, fusion, training ρ) maximizing Spearman(V, realized) over the simplex grid and both fusions."""
    grid = _simplex(step, len(hs.SUB_SCORES))
    best: tuple[float, dict[str, float], str] = (-2.0, {}, "arithmetic")
    for fusion in ("arithmetic", "geometric"):
        vs = np.stack([hs.fuse(sub, dict(zip(hs.SUB_SCORES, w, strict=True)), fusion) for w in grid])
        rho = _spearman_many(vs, realized)
        j = int(np.argmax(rho))
        if rho[j] > best[0]:
            best = (float(rho[j]), dict(zip(hs.SUB_SCORES, grid[j].tolist(), strict=True)), fusion)
    return best[1], best[2], best[0]


def calibrate(args: CalibrationArgs, pack: TherapyPack | None = None) -> CalibrationReport:
    """Run the protocol in the module docstring; writes hyperscore.json when ``args.write``. ``pack``: the therapy pack
    object, when it is not one registered under ``args.therapy``."""
    import time

    start = time.perf_counter()
    if not 0 < args.outcome_days < args.days:
        raise ValueError(f"outcome_days ({args.outcome_days}) must be positive and shorter than the simulated days "
                         f"({args.days}): a decision needs that many days after it")
    pack = pack or get_pack(args.therapy)
    policy_dir = Path(args.policy)
    policy_dir = policy_dir.parent if policy_dir.is_file() else policy_dir
    stats = hs.FeatureStats.load(policy_dir)
    if stats is None:
        stats = compute_feature_stats(pack, n_patients=args.stats_patients)
        if args.write:
            stats.save(policy_dir)
    cfg = hs.HyperScoreConfig(forecast_horizon_days=args.horizon_days)  # from the defaults: a re-run ignores an old fit
    discount = policy_discount(policy_dir) if args.discount is None else args.discount
    s = collect(pack, policy_dir / POLICY_FILE, stats, cfg, args, discount)

    perm = np.random.default_rng(args.seed + 1).permutation(args.patients)
    fit_patients = set(perm[: args.patients // 2].tolist())
    fit = np.array([p in fit_patients for p in s.patient])
    test = ~fit
    adv_fit = s.advantage[fit & ~np.isnan(s.advantage)]
    scale = float(np.median(adv_fit[adv_fit > 0])) if (adv_fit > 0).any() else cfg.impact_scale
    # The value sub-score's centre and scale: the fit half's median and robust SD (IQR / 1.349) of Q(chosen).
    q_fit = s.q_chosen[fit & ~np.isnan(s.q_chosen)]
    value_center = float(np.median(q_fit)) if q_fit.size else None
    spread = float(np.subtract(*np.percentile(q_fit, [75, 25]))) / 1.349 if q_fit.size else 0.0
    value_scale = spread if spread > 0 else None
    # The forecast sub-score's scale: the fit half's forecast rewards (packs whose forecast has a reward).
    sub = {**s.sub, "impact": np.where(np.isnan(s.advantage), np.nan,
                                       np.tanh(np.maximum(np.nan_to_num(s.advantage), 0.0) / scale)),
           "value": hs.value_score(s.q_chosen, value_center, value_scale)}
    reward_quantiles = None
    if s.forecast is not None and s.forecast.reward is not None:
        r_fit = s.forecast.reward[fit & ~np.isnan(s.forecast.reward)]
        if r_fit.size:
            reward_quantiles = np.quantile(r_fit, np.linspace(0.0, 1.0, REWARD_QUANTILES)).tolist()
            sub["forecast"] = hs.forecast_score(s.forecast, cfg.forecast_tolerance, reward_quantiles)

    def part(mask: np.ndarray) -> dict[str, np.ndarray]:
        return {k: v[mask] for k, v in sub.items()}

    weights, fusion, rho_fit = fit_weights(part(fit), s.realized[fit], args.grid_step)
    fitted = cfg.with_weights(weights, fusion=fusion, impact_scale=scale, value_center=value_center,
                              value_scale=value_scale, forecast_reward_quantiles=reward_quantiles)
    _, hs_fit, _ = hs.score(part(fit), fitted)
    fitted = fitted.with_weights(weights, review_below=float(np.quantile(hs_fit, args.review_quantile)))
    _, hs_test, review = hs.score(part(test), fitted)
    rho = spearmanr(hs_test, s.realized[test])
    _, hs_equal, _ = hs.score(part(test), cfg.with_weights({k: 1.0 for k in hs.SUB_SCORES}, impact_scale=scale))
    by_sub = {}
    for k, v in part(test).items():
        ok = ~np.isnan(v)
        by_sub[k] = float(spearmanr(v[ok], s.realized[test][ok])[0]) if ok.sum() > 2 and np.ptp(v[ok]) > 0 else float("nan")
    y = s.realized[test]
    r_tt = float(np.corrcoef(y, s.retest[test])[0, 1])
    r_tt_rank = float(spearmanr(y, s.retest[test])[0])
    report = CalibrationReport(
        therapy=pack.id, policy_sha256=sha256_file(policy_dir / POLICY_FILE), outcome_days=args.outcome_days,
        discount=discount, n_decisions=int(s.realized.size),
        n_patients_fit=len(fit_patients), n_patients_test=args.patients - len(fit_patients),
        spearman_test=float(rho[0]), spearman_test_p=float(rho[1]), spearman_fit=rho_fit,
        spearman_test_equal_weights=float(spearmanr(hs_equal, y)[0]), spearman_test_by_sub_score=by_sub,
        retest_pearson_test=r_tt, retest_spearman_test=r_tt_rank,
        ceiling_test=float(np.sqrt(max(r_tt, 0.0))),
        ceiling_rank_test=float(np.sqrt(max(r_tt_rank, 0.0))),
        review_below=fitted.review_below, review_novelty_below=fitted.review_novelty_below,
        test_flagged_share=float(review.mean()),
        test_mean_reward_flagged=float(y[review].mean()) if review.any() else float("nan"),
        test_mean_reward_not_flagged=float(y[~review].mean()) if (~review).any() else float("nan"),
        test_scores=hs_test, test_realized=y,
    )
    report.seconds = time.perf_counter() - start
    fitted = fitted.with_weights(weights, calibration={
        k: v for k, v in report.summary().items() if k != "config"} | {"args": asdict(args)})
    report.config = json.loads(fitted.to_json())
    if args.write:
        fitted.save(policy_dir)
    return report


def register(app: typer.Typer) -> None:
    """Add ``dosewise hyperscore calibrate`` to a typer app (the trainer's cli.register calls it)."""
    hs_app = typer.Typer(help="HyperScore: calibrate the sub-score weights on held-out twins.", no_args_is_help=True)

    @hs_app.command("calibrate")
    def calibrate_command(
        therapy: Annotated[str, typer.Option(help="Therapy pack id.")],
        policy: Annotated[Path, typer.Option(help="Policy directory (holding policy.onnx); hyperscore.json goes there.")],
        patients: Annotated[int, typer.Option(help="Held-out patients.")] = CalibrationArgs.patients,
        days: Annotated[int, typer.Option(help="Simulated days per patient.")] = CalibrationArgs.days,
        seed: Annotated[int, typer.Option(help="Held-out cohort seed.")] = CalibrationArgs.seed,
        outcome_days: Annotated[int, typer.Option(help="Realized reward: the return over this many days.")] = (
            CalibrationArgs.outcome_days),
        discount: Annotated[float | None, typer.Option(
            help="Per-day discount of that return (1: a plain sum); default the policy's training γ.")] = None,
        write: Annotated[bool, typer.Option(help="Write hyperscore.json next to the policy.")] = True,
        plot: Annotated[Path | None, typer.Option(help="Also draw the test half (PNG): realized reward by HyperScore, "
                                                       "each sub-score's Spearman.")] = None,
    ) -> None:
        """Fit the weights on half the held-out patients; print Spearman(HyperScore, realized reward) on the other half."""
        try:
            report = calibrate(CalibrationArgs(therapy=therapy, policy=str(policy), patients=patients, days=days,
                                               seed=seed, outcome_days=outcome_days, discount=discount, write=write))
        except ValueError as e:
            raise typer.BadParameter(str(e)) from e
        print_report(report)
        if plot is not None:
            print(f"  figure: {plot_calibration(report, plot)}")

    app.add_typer(hs_app, name="hyperscore")
