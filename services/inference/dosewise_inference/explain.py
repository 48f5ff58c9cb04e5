"""Explain and score one recommendation: the Q-value of every action, feature attributions against the ONNX model, the
personalized twin's forecast, the HyperScore with its sub-scores, and a plain-language rationale built from those facts.

Entry point: ``score_and_explain(...) -> dict`` (JSON-able). Attributions are integrated gradients (Sundararajan et al.
2017, "Axiomatic Attribution for Deep Networks") of the chosen action's Q, with the gradient along the straight path from a
baseline (the training mean from ``feature_stats.json``, else the features' normalization centres). The gradient is exact
when the served policy carries a checked ``GraphGradient`` (onnx_gradient.py: the ONNX graph's own weights, chain rule in
numpy); otherwise it is taken by forward finite differences in one batched onnxruntime run. No autodiff framework either
way. Completeness (attributions sum to Q(x) − Q(baseline)) holds
up to the Riemann sum's error; the response reports both numbers. The rationale is a fixed template filled with these facts:
no free-text generation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dosewise import forecast as fc
from dosewise import hyperscore as hs
from dosewise.therapies.base import ClinicView, GuardrailResult, TherapyPack
from dosewise_inference.onnx_gradient import GradFn

QFn = Callable[[np.ndarray], np.ndarray]
IG_STEPS = 16  # midpoint Riemann sum over the path; the completeness gap is tested (tests/unit/test_explain.py)
FD_RELATIVE_STEP = 1e-2  # finite-difference step as a share of each feature's normalization scale (float32 model)
HOLD_INDEX = 0  # every pack's action 0 is its safest action


def as_q_fn(policy: Any) -> QFn:
    """``features (n, F) → ensemble-mean Q (n, A)`` from an onnxruntime session, an object with ``q_values`` (the inference
    service's LoadedPolicy), or a callable already."""
    if hasattr(policy, "run") and hasattr(policy, "get_outputs"):
        return lambda x: policy.run(["q_values"], {"features": np.asarray(x, dtype=np.float32)})[0]
    if hasattr(policy, "q_values"):
        return lambda x: policy.q_values(np.asarray(x, dtype=np.float32))[0]
    if callable(policy):
        return policy
    raise TypeError(f"cannot get Q-values from {type(policy).__name__}")


def as_grad_fn(policy: Any) -> GradFn | None:
    """The exact-gradient function of a policy served with a checked ``GraphGradient`` (the inference service's
    LoadedPolicy); None otherwise, and attributions use finite differences."""
    gradient = getattr(policy, "gradient", None)
    return None if gradient is None else gradient.action_gradient


def load_sidecars(policy_dir: Path | str) -> tuple[hs.HyperScoreConfig, hs.FeatureStats | None]:
    """``hyperscore.json`` (defaults when absent) and ``feature_stats.json`` (None when absent) next to ``policy.onnx``."""
    d = Path(policy_dir)
    d = d.parent if d.is_file() or d.suffix == ".onnx" else d
    return hs.HyperScoreConfig.load(d), hs.FeatureStats.load(d)


def baseline_features(pack: TherapyPack, stats: hs.FeatureStats | None) -> np.ndarray:
    """The reference patient of the attributions: the training mean, else each feature's normalization centre."""
    if stats is not None and len(stats.mean) == pack.n_features:
        return np.asarray(stats.mean, dtype=float)
    return np.array([f.loc for f in pack.feature_specs], dtype=float)


def integrated_gradients(
    q_fn: QFn, x: np.ndarray, baseline: np.ndarray, action: int, scales: np.ndarray, steps: int = IG_STEPS
) -> np.ndarray:
    """IG attributions (F,) of Q(·, action) at x against baseline: (x − b) · mean over the path of ∂Q/∂x, the gradient by
    forward differences (step FD_RELATIVE_STEP × scale, pointed toward x) at the ``steps`` path midpoints, in one call of
    ``q_fn`` on steps·(F + 1) rows."""
    return integrated_gradients_many(q_fn, np.asarray(x)[None, :], baseline, np.array([action]), scales, steps)[0]


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def _quantity(observation: str, value: float, unit: str) -> str:
    """"INR 3.32" (the unit names the quantity), "fasting glucose 142 mg/dL"."""
    name = fc.observation_name(observation)
    return f"{name} {_fmt(value)}" if name == unit else f"{name} {_fmt(value)} {unit}"


COUNT_UNITS = frozenset({"1", "count"})  # dimensionless: the description alone says what is counted


def _fact(top: dict[str, Any]) -> str:
    """A feature's description (without its parenthesis) and value: "Body weight 78 kg", "Takes amiodarone: yes", and
    "Latest INR: 3.15" or "Days since the latest INR: 4" where the description already names the unit."""
    name = re.sub(r"\s*\(.*?\)", "", top["description"]).strip()
    unit = top["unit"]
    if unit == "0/1":
        return f"{name}: {'yes' if top['value'] >= 0.5 else 'no'}"
    if unit in COUNT_UNITS or unit.lower() in name.lower().split():
        return f"{name}: {_fmt(top['value'])}"
    return f"{name} {_fmt(top['value'])} {unit}"


def novelty_sentence(novelty: float) -> str:
    """How typical the patient is of the training states, in words (novelty: the share of them lying at least as far)."""
    if novelty >= 0.1:
        return "The patient's data look like the training population."
    share = 100 * (1 - novelty)  # rounded down near 100, so it never reads "100 %" while some state lies farther
    farther = ("every training state" if novelty == 0 else
               f"{share:.0f} % of training states" if novelty >= 0.01 else f"{min(share, 99.9):.1f} % of training states")
    return f"The patient's data are unusual for this policy: farther from the training population than {farther}."


def mid_sentence(label: str) -> str:
    """An action label inside a sentence: only its first letter lowered ("Increase by 4 U/day" → "increase by 4 U/day",
    where ``str.lower`` wrote "u/day", a unit that does not exist)."""
    return label[:1].lower() + label[1:]


def rationale(
    pack: TherapyPack, chosen: int, forced: bool, current: float, regimen: float, q: np.ndarray, mask: np.ndarray,
    top: list[dict[str, Any]], forecast: dict[str, Any] | None, agree: float | None, n_heads: int, novelty: float | None,
    firings: list[tuple[str, str]], score: float, review_reasons: list[str], cfg: hs.HyperScoreConfig, policy_version: str | None,
    value: float | None = None,
) -> str:
    """One paragraph from a fixed template; every number in it is in the explanation's other fields."""
    a = pack.actions[chosen]
    unit = f"{pack.dose_unit}/day"
    keep = next((j for j, s in enumerate(pack.actions) if s.kind in ("change", "scale") and s.delta == 0.0), None)
    held = a.doses_held
    parts = [f"Recommendation: {mid_sentence(a.label)} ({_fmt(current)} → {_fmt(regimen)} {unit}"
             + (f", after {held} dose{'s' if held > 1 else ''} held)." if held else ").")]
    who = f"policy {policy_version}" if policy_version else "the policy"
    if forced:
        parts.append("No action is safe to choose automatically, so the safest one (hold) is shown and a clinician must "
                     "decide.")
    else:
        allowed = int(mask.sum())
        line = (f"Of the {allowed} actions the guardrails allow, {who} values this one highest (Q " if allowed > 1 else
                f"It is the only action the guardrails allow ({who}: Q ") + f"{q[chosen]:.2f}"
        if keep is not None and keep != chosen:
            line += f"; keeping the dose: {q[keep]:.2f}"
        parts.append(line + ").")
    if top:
        drivers = "; ".join(f"{_fact(t)} ({'raises' if t['attribution'] > 0 else 'lowers'} it by "
                            f"{abs(t['attribution']):.2f})" for t in top[:3])
        parts.append(f"Compared with a typical training patient, the facts that change this action's value most: {drivers}.")
    if forecast is not None:
        p = forecast["personalization"]
        lo, hi = forecast["target_band"]
        days = forecast["days_after_decision"][-1]
        reward = forecast.get("mean_daily_reward")
        outcome = "."
        if reward and reward.get("worst_best"):
            outcome = (f"; the therapy's reward of these forecasts averages {reward['recommended']:.2f} a day with the "
                       f"recommendation (its dose change included) versus {reward['keep_dose']:.2f} "
                       f"(best day {reward['worst_best'][1]:g}, worst {reward['worst_best'][0]:g}).")
        parts.append(
            f"The patient's twin ({p['parameter']} fitted at {p['scale']:.2f}× the typical value from "
            f"{p['observations_used']} measurement{'s' if p['observations_used'] != 1 else ''}) predicts "
            f"{_quantity(forecast['observation'], forecast['recommended'][-1], forecast['unit'])} after "
            f"{_fmt(days)} days with this recommendation versus {_fmt(forecast['keep_dose'][-1])} if the dose is kept "
            f"(target {_fmt(lo)}–{_fmt(hi)})" + outcome)
    if agree is not None and n_heads:
        parts.append(f"{round(agree * n_heads)} of {n_heads} ensemble heads choose the same action.")
    if novelty is not None:
        parts.append(novelty_sentence(novelty))
    if value is not None:
        parts.append(f"The policy expects {'a better' if value >= 0.5 else 'a worse'} outcome for this patient than for the "
                     f"median patient of its calibration (value sub-score {value:.2f}).")
    # The rules' messages are sentences: their own full stops would double with the list's.
    parts.append("Guardrails: " + ("; ".join(m.rstrip(".") for _, m in firings) if firings else "none fired") + ".")
    parts.append(f"HyperScore {score:.0f} (range {cfg.score_range()[0]:.0f}–{cfg.score_range()[1]:.0f})"
                 + (f": a clinician should review it ({'; '.join(review_reasons)})." if review_reasons else "."))
    return " ".join(parts)


def integrated_gradients_many(
    q_fn: QFn, x: np.ndarray, baseline: np.ndarray, actions: np.ndarray, scales: np.ndarray, steps: int = IG_STEPS,
    grad_fn: GradFn | None = None,
) -> np.ndarray:
    """``integrated_gradients`` for n rows (n, F) and their actions (n,) in ONE call of ``q_fn`` (the same numbers), or —
    with ``grad_fn`` (rows, actions) → ∂Q/∂x, the policy graph's exact gradient — in one forward and backward pass."""
    x = np.atleast_2d(np.asarray(x, dtype=float))
    n, f = x.shape
    baseline = np.asarray(baseline, dtype=float)
    diff = x - baseline[None, :]
    alphas = (np.arange(steps) + 0.5) / steps
    path = baseline[None, None, :] + alphas[None, :, None] * diff[:, None, :]  # (n, m, F)
    if grad_fn is not None:
        exact = grad_fn(path.reshape(-1, f), np.repeat(np.asarray(actions, dtype=int), steps)).reshape(n, steps, f)
        return np.where(np.abs(diff) > 0, diff * exact.mean(axis=1), 0.0)
    sign = np.where(diff < 0, -1.0, 1.0)
    h = FD_RELATIVE_STEP * scales[None, :] * sign  # (n, F), toward x as in integrated_gradients
    bump = np.zeros((n, f + 1, f))
    bump[:, 1 + np.arange(f), np.arange(f)] = h
    batch = path[:, :, None, :] + bump[:, None, :, :]  # (n, m, 1 + F, F)
    q = np.asarray(q_fn(batch.reshape(-1, f).astype(np.float32)), dtype=float)
    q = q.reshape(n, steps, f + 1, -1)[np.arange(n), :, :, actions]  # (n, m, 1 + F)
    grads = (q[:, :, 1:] - q[:, :, :1]) / h[:, None, :]
    return np.where(np.abs(diff) > 0, diff * grads.mean(axis=1), 0.0)


def score_rows(
    pack: TherapyPack, view: ClinicView, features: np.ndarray, guard: GuardrailResult, chosen: np.ndarray, q: np.ndarray,
    q_heads: np.ndarray | None, cfg: hs.HyperScoreConfig, feature_stats: hs.FeatureStats | None,
) -> tuple[hs.Scored, fc.Forecast | None]:
    """HyperScores of n decisions (``chosen`` −1 = nothing allowed: forecast as a hold, always ``needs_review``) and the twin
    forecast behind them: what the batch endpoint returns and what every explanation starts from."""
    chosen = np.asarray(chosen, dtype=int)
    forecast = fc.forecast(pack, view, np.where(chosen >= 0, chosen, HOLD_INDEX), horizon_days=cfg.forecast_horizon_days)
    sub = hs.sub_scores(pack, view, features, guard, chosen, q, q_heads, cfg, feature_stats,
                        None if forecast is None else forecast.for_scoring())
    scored = hs.score_batch(sub, cfg)
    scored.flag(chosen < 0, hs.NOTHING_SAFE_REASON)
    return scored, forecast


def score_and_explain_many(
    pack: TherapyPack,
    policy: Any,
    view: ClinicView,
    features: np.ndarray,
    mask: np.ndarray,
    chosen: np.ndarray,
    q: np.ndarray,
    q_heads: np.ndarray | None,
    hyperscore_cfg: hs.HyperScoreConfig,
    feature_stats: hs.FeatureStats | None,
    guard: GuardrailResult | None = None,
    top_k: int = 5,
    policy_version: str | None = None,
) -> list[dict[str, Any]]:
    """Score and explain n recommendations at once: one twin forecast run, one sub-score pass and one model run for every
    row's attributions (what the gateway's coalesced single requests cost together). Row i of the result equals
    ``score_and_explain`` of row i alone. ``chosen[i]`` = −1 means nothing was allowed (hold/refer)."""
    cfg = hyperscore_cfg
    q_fn = as_q_fn(policy)
    x = np.atleast_2d(np.asarray(features, dtype=np.float32))
    n = x.shape[0]
    q = np.asarray(q, dtype=float).reshape(n, -1)
    mask = np.asarray(mask, dtype=bool).reshape(n, -1)
    heads = None if q_heads is None else np.asarray(q_heads, dtype=float).reshape(n, -1, q.shape[1])
    if guard is None:
        guard = pack.guardrails(view)
    guard = GuardrailResult(mask=mask, firings=guard.firings[:n])
    chosen = np.asarray(chosen, dtype=int).reshape(n)
    forced = (chosen < 0) | ~mask.any(axis=1)
    action = np.where(forced, HOLD_INDEX, chosen)
    scored, forecast = score_rows(pack, view, x, guard, np.where(forced, -1, action), q, heads, cfg, feature_stats)

    base = baseline_features(pack, feature_stats)
    scales = np.array([f.scale if f.scale else 1.0 for f in pack.feature_specs])
    network = getattr(policy, "is_network", True)
    grad_fn = as_grad_fn(policy)
    if network:
        attr = integrated_gradients_many(q_fn, x, base, action, scales, grad_fn=grad_fn)
        q_at = np.asarray(q_fn(np.concatenate([x, base[None, :].astype(np.float32)])), dtype=float)
    else:  # a controller's scores come from the patient's record, not from a function of the features to differentiate
        attr = np.zeros_like(x, dtype=float)
        q_at = np.concatenate([q, np.full((1, q.shape[1]), np.nan)])
    regimen = pack.apply_actions(view.current_dose, action)[1]
    out = []
    rows = scored.rows()
    for i in range(n):
        a = int(action[i])
        order = np.argsort(-np.abs(attr[i]))[:top_k]
        top = [{"feature": pack.feature_specs[j].name, "description": pack.feature_specs[j].description,
                "unit": pack.feature_specs[j].unit, "value": float(x[i, j]), "baseline": round(float(base[j]), 4),
                "attribution": round(float(attr[i, j]), 4)} for j in order if attr[i, j] != 0.0]
        row = rows[i]
        fc_row = None if forecast is None else {**forecast.row(i), "score": row["sub_scores"]["forecast"]}
        head_sd = heads[i].std(axis=0) if heads is not None else None
        agree = row["sub_scores"]["reproducibility"]
        text = rationale(pack, a, bool(forced[i]), float(view.current_dose[i]), float(regimen[i]), q[i], mask[i], top,
                         fc_row, agree, 0 if heads is None else heads.shape[1], row["sub_scores"]["novelty"],
                         guard.firings[i], row["hyperscore"], row["review_reasons"], cfg, policy_version,
                         value=row["sub_scores"]["value"])
        out.append({
            **row,
            "score_range": list(cfg.score_range()),
            "review_below": cfg.review_below,
            "review_novelty_below": cfg.review_novelty_below,
            "q_values": [{"action": s.id, "label": s.label, "q": round(float(q[i, j]), 4), "allowed": bool(mask[i, j]),
                          "chosen": j == a, "q_sd_across_heads": None if head_sd is None else round(float(head_sd[j]), 4)}
                         for j, s in enumerate(pack.actions)],
            "attributions": _controller_attributions(policy, pack, a, q[i, a]) if not network else {
                "method": f"integrated gradients, {IG_STEPS} path steps, " + (
                    "exact gradients of the policy's ONNX graph" if grad_fn is not None else "forward finite differences"),
                "target": f"Q({pack.actions[a].id})",
                "baseline": ("training mean (feature_stats.json)" if feature_stats is not None
                             else "feature normalization centres"),
                "q_at_features": round(float(q_at[i, a]), 4), "q_at_baseline": round(float(q_at[n, a]), 4),
                "sum": round(float(attr[i].sum()), 4), "top": top,
            },
            "forecast": fc_row,
            "rationale": text,
        })
    return out


def _controller_attributions(policy: Any, pack: TherapyPack, action: int, score: float) -> dict[str, Any]:
    """What a controller's answer says in place of feature attributions: there are none to give."""
    kind = getattr(policy, "kind", "controller")
    why = ("the guideline's rule decides, not a learned function of the features" if kind == "guideline" else
           "each action is scored by the patient's own fitted twin (see forecast), not by a learned function of the features")
    return {"method": f"not available: a {kind} controller; {why}", "target": f"score({pack.actions[action].id})",
            "baseline": None, "q_at_features": round(float(score), 4), "q_at_baseline": None, "sum": 0.0, "top": []}


def score_and_explain(
    pack: TherapyPack,
    policy: Any,
    view: ClinicView,
    features: np.ndarray,
    mask: np.ndarray,
    chosen: int,
    q: np.ndarray,
    q_heads: np.ndarray | None,
    hyperscore_cfg: hs.HyperScoreConfig,
    feature_stats: hs.FeatureStats | None,
    guard: GuardrailResult | None = None,
    top_k: int = 5,
    policy_version: str | None = None,
) -> dict[str, Any]:
    """Score and explain ONE recommendation (a one-row ``view``). ``chosen`` = −1 means nothing was allowed (hold/refer).

    Returns {hyperscore, v, needs_review, review_reasons, score_range, review_below, review_novelty_below, sub_scores,
    q_values, attributions, forecast, rationale}; ``forecast`` is None for a pack without a forecast twin
    (TherapyPack.forecast_twin)."""
    return score_and_explain_many(pack, policy, view, np.asarray(features).reshape(1, -1), np.asarray(mask).reshape(1, -1),
                                  np.array([chosen]), np.asarray(q).reshape(1, -1),
                                  None if q_heads is None else np.asarray(q_heads)[None], hyperscore_cfg, feature_stats,
                                  guard, top_k, policy_version)[0]
