"""HyperScore: how far to trust one recommendation, from six sub-scores in [0, 1] (source document 001, HSDPO).

Formula (../shared/clinical.md §4): V = weighted fusion of the sub-scores, then

    HyperScore = 100 · [1 + σ(β·ln V + γ)^κ],   σ the logistic function.

**The printed parameters are wrong.** The source prints β = 5, γ = −ln 2, κ = 2 and says the sigmoid's midpoint sits at
V ≈ 0.5; with those values σ(5·ln V − ln 2) ≤ σ(−ln 2) = 1/3 for V ≤ 1, so the score can only span 100–111.1 (V = 0.95 →
107.8; tests/unit/test_hyperscore.py reproduces both numbers). The stated intent needs γ = β·ln 2, because then
β·ln V + γ = β·ln(2V) is 0 at V = 0.5. Our defaults keep the printed β = 5 and κ = 2 and fix γ = 5·ln 2:

- V → 0 gives 100 (the floor), V = 0.5 gives 100·(1 + 0.5²) = 125, V = 1 gives 100·(1 + (32/33)²) ≈ 194.0.
- The score is strictly increasing in V for β > 0 and κ > 0 (so ranking by HyperScore = ranking by V).
- ``review_below`` (default 125, i.e. V < 0.5) flags ``needs_review``; calibration may move it.
- ``review_novelty_below`` (default 0.01) flags ``needs_review`` whatever the score for a state farther from the training
  states than 99 % of them: the calibration runs on twins like the training ones, so it cannot learn how far to trust a
  state unlike any of them (the shipped insulin calibration gives novelty no weight at all).

Sub-scores (each in [0, 1], higher = more trustworthy; NaN = not applicable, dropped from V with the weights renormalized):

- **consistency**: the chosen action passed the guardrail mask (else 0), times data completeness (a primary observation is on
  record and recent, the last week's doses are known, no covariate the policy reads is flagged unknown), times
  ``firing_discount`` per guardrail that fired.
- **forecast**: from forecast.py — the personalized twin's forecast under the recommendation, scored by the pack's own
  reward (the mean daily α·T − β·A − γ·H of the forecast, the recommendation's dose change included): the share of the
  calibration's decisions whose forecast reward is no higher (uncalibrated: scaled between the reward's worst and best day;
  ``forecast_reward_score``). Packs whose reward the forecast cannot compute (immune) use the band
  distance instead: half for how close the forecast stays to the target band, half for how much better than keeping the
  dose it does (``forecast_band_score``).
- **novelty**: how typical the state's feature vector is of the training distribution — the share of training states that
  lie at least as far (Mahalanobis) from the training mean (``FeatureStats``). Far = low.
- **impact**: the chosen action's Q-advantage over the mean of the allowed actions, ``tanh(adv / impact_scale)``; NaN when
  only one action is allowed (nothing was chosen).
- **reproducibility**: the share of ensemble heads whose own masked argmax is the chosen action; NaN without heads.
- **value** (a Dosewise addition to the five the issue names): the policy's own estimate of how well this patient will do,
  Q(chosen action) — a DQN's Q is the expected discounted reward from here — squashed as σ((Q − center)/scale) with
  ``value_center`` / ``value_scale`` set by calibration (the median and robust SD of the calibration's Q values); NaN until
  calibrated, or when no action was chosen. Added because it measured as the strongest single predictor of the realized
  reward on held-out twins (test Spearman warfarin 0.612, insulin 0.371; the best of the other five then: the
  band-distance forecast 0.466, novelty 0.186), and with it the calibrated HyperScore's test Spearman rose from 0.563 to
  0.707 (warfarin) and from 0.248 to 0.365 (insulin, whose rank ceiling is 0.421; `dosewise hyperscore calibrate`,
  2026-11-28). With the forecast scored by the reward (same day): warfarin 0.740, insulin 0.354 (fit half 0.360 vs 0.353);
  insulin retrained on twins that miss fasting readings (2026-11-29): 0.388, value alone 0.377, rank ceiling 0.463.
  Those are against the realized 7-day reward; against the realized 28-day return (γ 0.95, what Q estimates; the
  calibration's outcome since 2026-11-29): warfarin 0.732, insulin 0.530, value alone 0.567 and 0.506.

The weights are configurable and are calibrated on held-out twins (services/trainer/dosewise_trainer/calibrate_hyperscore.py)
so that a higher score means a better realized outcome; the result is saved as ``hyperscore.json`` next to the policy.
Pure numpy: no service, web framework, torch or onnxruntime import.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from dosewise.therapies.base import ClinicView, FloatArray, GuardrailResult, IntArray, TherapyPack

SUB_SCORES: tuple[str, ...] = ("consistency", "forecast", "novelty", "impact", "reproducibility", "value")
HYPERSCORE_FILE = "hyperscore.json"
FEATURE_STATS_FILE = "feature_stats.json"
PRINTED_BETA, PRINTED_GAMMA, PRINTED_KAPPA = 5.0, -math.log(2.0), 2.0  # source document 001, as printed (wrong γ)
V_FLOOR = 1e-12  # ln V needs V > 0; V = 0 scores the floor (100) anyway

# Data-completeness constants (Dosewise choices, not literature values):
FRESH_OBS_DAYS = 7.0  # a primary observation up to a week old counts as recent (warfarin INRs are weekly once stable)
STALE_OBS_DAYS = 28.0  # ... and one four weeks old or older as no information about today
DOSE_WEEK_DAYS = 7


@lru_cache(maxsize=16)
def _score_range(beta: float, gamma: float, kappa: float) -> tuple[float, float]:
    """Cached: every explained recommendation quotes the range three times, and a dozen numpy calls cost ~25 µs."""
    ends = hyperscore(np.array([V_FLOOR, 1.0]), beta, gamma, kappa)
    return float(ends.min()), float(ends.max())


@dataclass(frozen=True)
class HyperScoreConfig:
    """Everything that turns sub-scores into a HyperScore; saved as ``hyperscore.json`` next to a policy."""

    weights: dict[str, float] = field(default_factory=lambda: {k: 1.0 for k in SUB_SCORES})
    fusion: Literal["arithmetic", "geometric"] = "arithmetic"  # weighted mean of the sub-scores, or of their logs
    beta: float = PRINTED_BETA
    gamma: float = PRINTED_BETA * math.log(2.0)  # = β·ln 2: the sigmoid's midpoint at V = 0.5 (the source's stated intent)
    kappa: float = PRINTED_KAPPA
    review_below: float = 125.0  # HyperScore at V = 0.5 with the defaults
    review_novelty_below: float = 0.01  # novelty below this flags needs_review whatever the score (module docstring)
    impact_scale: float = 1.0  # Q units (≈ discounted reward); calibration sets it to the median advantage
    value_center: float | None = None  # Q units; calibration sets it to the median Q(chosen); None: no value sub-score
    value_scale: float | None = None  # Q units; calibration sets it to the robust SD (IQR / 1.349) of Q(chosen)
    # The calibration's forecast rewards (fit half) at evenly spaced probabilities: the forecast sub-score is then the share
    # of calibration decisions whose forecast reward is no higher. None: scaled between the reward's worst and best day.
    forecast_reward_quantiles: list[float] | None = None
    forecast_tolerance: float = 0.5  # target-band widths: the distance scale of forecast_band_score
    forecast_horizon_days: int = 7  # decision days rolled forward by the twin
    firing_discount: float = 0.75  # consistency × this per guardrail that fired
    calibration: dict[str, Any] | None = None  # what calibration measured (Spearman, sizes, policy hash); None = defaults

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(SUB_SCORES)
        if unknown:
            raise ValueError(f"unknown sub-scores in weights: {sorted(unknown)}; known: {SUB_SCORES}")
        if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError("weights must be non-negative with a positive sum")
        if self.fusion not in ("arithmetic", "geometric"):
            raise ValueError(f"fusion must be 'arithmetic' or 'geometric', not {self.fusion!r}")

    def score_range(self) -> tuple[float, float]:
        """(lowest, highest) HyperScore over V ∈ (0, 1]; for β > 0 the lowest is approached as V → 0."""
        return _score_range(self.beta, self.gamma, self.kappa)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HyperScoreConfig:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        if path.is_dir():
            path = path / HYPERSCORE_FILE
        path.write_text(self.to_json())
        return path

    @classmethod
    def load(cls, path: Path | str) -> HyperScoreConfig:
        """From ``hyperscore.json`` (or the policy directory holding it); the defaults when there is none."""
        path = Path(path)
        if path.is_dir():
            path = path / HYPERSCORE_FILE
        if not path.is_file():
            return cls()
        return cls.from_dict(json.loads(path.read_text()))

    def with_weights(self, weights: dict[str, float], **changes: Any) -> HyperScoreConfig:
        return replace(self, weights=dict(weights), **changes)


# --- the formula ------------------------------------------------------------------------------------------------------------
def sigmoid(x: FloatArray) -> FloatArray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=float)))  # = 1/(1 + e^−x), without overflow


def hyperscore(v: FloatArray | float, beta: float, gamma: float, kappa: float) -> FloatArray:
    """100·[1 + σ(β·ln V + γ)^κ] (source document 001); V is clipped to [V_FLOOR, 1]."""
    v = np.clip(np.asarray(v, dtype=float), V_FLOOR, 1.0)
    return 100.0 * (1.0 + sigmoid(beta * np.log(v) + gamma) ** kappa)


def fuse(sub_scores: dict[str, FloatArray], weights: dict[str, float], fusion: str = "arithmetic") -> FloatArray:
    """V per row: the weighted arithmetic (or geometric) mean of the sub-scores present; NaN ones are dropped and the
    remaining weights renormalized. A row with no usable sub-score gets V = 0 (the floor: nothing vouches for it)."""
    names = [k for k in SUB_SCORES if weights.get(k, 0.0) > 0 and k in sub_scores]
    if not names:
        raise ValueError("no weighted sub-score is present")
    s = np.stack([np.clip(np.asarray(sub_scores[k], dtype=float), 0.0, 1.0) for k in names], axis=-1)
    w = np.array([weights[k] for k in names])
    present = ~np.isnan(s)
    wsum = (present * w).sum(axis=-1)
    if fusion == "geometric":
        logs = np.log(np.clip(np.where(present, s, 1.0), V_FLOOR, 1.0))
        v = np.exp((logs * w).sum(axis=-1) / np.maximum(wsum, 1e-300))
    else:
        v = (np.where(present, s, 0.0) * w).sum(axis=-1) / np.maximum(wsum, 1e-300)
    return np.where(wsum > 0, v, 0.0)


def score(sub_scores: dict[str, FloatArray], cfg: HyperScoreConfig) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(V, HyperScore, needs_review) per row: review below ``review_below``, or for a state outside the training states
    (novelty below ``review_novelty_below``; no novelty, no such flag)."""
    v = fuse(sub_scores, cfg.weights, cfg.fusion)
    hs = hyperscore(v, cfg.beta, cfg.gamma, cfg.kappa)
    return v, hs, (hs < cfg.review_below) | _outside_training(sub_scores, cfg)


def _outside_training(sub_scores: dict[str, FloatArray], cfg: HyperScoreConfig) -> np.ndarray:
    novelty = sub_scores.get("novelty")
    if novelty is None:
        return np.zeros(np.shape(next(iter(sub_scores.values()))), dtype=bool)
    with np.errstate(invalid="ignore"):
        return np.asarray(novelty, dtype=float) < cfg.review_novelty_below  # NaN compares False


def review_reasons(sub_scores: dict[str, FloatArray], hs: FloatArray, cfg: HyperScoreConfig) -> list[list[str]]:
    """Per row, why it needs review, in words a clinician reads ([] when it does not)."""
    low, far = hs < cfg.review_below, _outside_training(sub_scores, cfg)
    reasons: list[list[str]] = [[] for _ in range(len(hs))]
    for i in np.flatnonzero(low | far).tolist():
        if low[i]:
            reasons[i].append(f"HyperScore {hs[i]:.0f} is below the review threshold {cfg.review_below:.1f}")
        if far[i]:
            reasons[i].append(f"the patient's data lie farther from the states the policy was trained on than "
                              f"{100 * (1 - cfg.review_novelty_below):.0f} % of them (novelty "
                              f"{float(sub_scores['novelty'][i]):.3f})")
    return reasons


NOTHING_SAFE_REASON = "no action is safe to choose automatically"


# --- sub-scores -------------------------------------------------------------------------------------------------------------
def completeness(pack: TherapyPack, view: ClinicView, features: np.ndarray) -> FloatArray:
    """Share of the data a decision needs that is present, per row, in [0, 1]: the mean of (a) a primary observation on
    record, (b) its freshness (1 up to FRESH_OBS_DAYS old, linearly 0 at STALE_OBS_DAYS), (c) the share of the last week's
    doses (since the start of therapy) that are known, (d) the share of the policy's "<x>_unknown" flags that are off."""
    kind = pack.observation_kinds[0]
    last_age = view.obs_age_days[kind][:, 0]
    on_record = ~np.isnan(view.obs[kind][:, 0])
    fresh = np.where(on_record, np.clip((STALE_OBS_DAYS - np.nan_to_num(last_age, nan=np.inf))
                                        / (STALE_OBS_DAYS - FRESH_OBS_DAYS), 0.0, 1.0), 0.0)
    days = np.minimum(np.floor(view.day + 1e-9), DOSE_WEEK_DAYS).astype(int)
    cols = np.arange(min(DOSE_WEEK_DAYS, view.dose_history.shape[1]))[None, :]
    due = cols < days[:, None]
    known = due & ~np.isnan(view.dose_history[:, : cols.shape[1]])
    dose_share = np.where(due.sum(axis=1) > 0, known.sum(axis=1) / np.maximum(due.sum(axis=1), 1), 1.0)
    flags = [j for j, f in enumerate(pack.feature_specs) if f.name.endswith("_unknown")]
    cov_share = 1.0 - features[:, flags].mean(axis=1) if flags else np.ones(view.n)
    return (on_record.astype(float) + fresh + dose_share + np.clip(cov_share, 0.0, 1.0)) / 4.0


def consistency_score(
    pack: TherapyPack, view: ClinicView, features: np.ndarray, guard: GuardrailResult, chosen: IntArray,
    firing_discount: float = 0.75,
) -> FloatArray:
    """0 when the chosen action is not allowed (or none is); else completeness × firing_discount^(rules that fired)."""
    chosen = np.asarray(chosen, dtype=np.int64)
    n = view.n
    allowed = (chosen >= 0) & guard.mask[np.arange(n), np.maximum(chosen, 0)]
    fired = np.array([len(f) for f in guard.firings], dtype=float)
    return np.where(allowed, completeness(pack, view, features) * firing_discount**fired, 0.0)


def impact_score(q: np.ndarray, mask: np.ndarray, chosen: IntArray, scale: float) -> FloatArray:
    """tanh(advantage / scale) with advantage = Q(chosen) − mean Q over the allowed actions; NaN with < 2 allowed."""
    adv = advantage(q, mask, chosen)
    return np.where(np.isnan(adv), np.nan, np.tanh(np.maximum(np.nan_to_num(adv), 0.0) / max(scale, 1e-12)))


def advantage(q: np.ndarray, mask: np.ndarray, chosen: IntArray) -> FloatArray:
    """Q(chosen) − mean of Q over the allowed actions, per row; NaN where fewer than two actions are allowed."""
    n_allowed = mask.sum(axis=1)
    mean_allowed = np.where(mask, q, 0.0).sum(axis=1) / np.maximum(n_allowed, 1)
    adv = chosen_q(q, chosen) - mean_allowed  # NaN where nothing was chosen
    return np.where(n_allowed >= 2, adv, np.nan)


def reproducibility_score(q_heads: np.ndarray | None, mask: np.ndarray, chosen: IntArray) -> FloatArray:
    """Share of ensemble heads (n, K, A) whose own masked argmax equals the chosen action; NaN without heads."""
    n = mask.shape[0]
    if q_heads is None or q_heads.shape[1] == 0:
        return np.full(n, np.nan)
    best = np.argmax(np.where(mask[:, None, :], q_heads, -np.inf), axis=2)
    return (best == np.asarray(chosen)[:, None]).mean(axis=1)


def chosen_q(q: np.ndarray, chosen: IntArray) -> FloatArray:
    """Q of the chosen action per row; NaN where none was chosen (−1)."""
    chosen = np.asarray(chosen, dtype=np.int64)
    q = np.asarray(q, dtype=float)
    return np.where(chosen >= 0, q[np.arange(q.shape[0]), np.maximum(chosen, 0)], np.nan)


def value_score(q_chosen: FloatArray, center: float | None, scale: float | None) -> FloatArray:
    """σ((Q(chosen) − center) / scale): the policy's expected outcome for this patient relative to the calibration cohort's
    (0.5 = its median); NaN where Q is NaN or before calibration set center and scale."""
    q_chosen = np.asarray(q_chosen, dtype=float)
    if center is None or scale is None or not scale > 0:
        return np.full(q_chosen.shape, np.nan)
    return sigmoid((q_chosen - center) / scale)


def band_distance(y: FloatArray, band: tuple[float, float]) -> FloatArray:
    """Distance of y outside the band, in band widths (0 inside)."""
    lo, hi = band
    return (np.maximum(lo - y, 0.0) + np.maximum(y - hi, 0.0)) / (hi - lo)


class ForecastInputs(NamedTuple):
    """What the forecast sub-score reads of a twin forecast (``forecast.Forecast.for_scoring()``), arrays over n rows."""

    recommended: FloatArray  # (n, days) primary observation under the recommendation, in the scoring space
    keep: FloatArray  # (n, days) ... under keeping the dose
    band: tuple[float, float]  # target band in the same space
    reward: FloatArray | None = None  # (n,) the pack's mean daily reward of the recommended forecast; None: not known
    reward_range: tuple[float, float] | None = None  # (worst, best) daily reward


def forecast_score(
    inputs: ForecastInputs, tolerance: float = 0.5, reward_quantiles: list[float] | None = None
) -> FloatArray:
    """The forecast sub-score: ``forecast_reward_score`` where the pack's reward of the forecast is known (warfarin,
    insulin), else ``forecast_band_score`` (immune)."""
    if inputs.reward is not None and inputs.reward_range is not None:
        return forecast_reward_score(inputs.reward, inputs.reward_range, reward_quantiles)
    return forecast_band_score(inputs.recommended, inputs.keep, inputs.band, tolerance)


def forecast_reward_score(
    reward: FloatArray, reward_range: tuple[float, float], quantiles: list[float] | None = None
) -> FloatArray:
    """How good the twin's forecast under the recommendation is, by the pack's own reward R: the mean daily
    α·T − β·A − γ·H of the forecast, the recommendation's dose change included — the outcome the policy was trained on
    and the calibration correlates with.

    Calibrated (``quantiles``, the calibration's forecast rewards at evenly spaced probabilities): the share of
    calibration decisions whose forecast reward is no higher (a forecast as good as the best calibration decisions' scores
    1, one worse than all of them 0). Uncalibrated: (R − worst) / (best − worst) with the reward's worst and best day,
    clipped to [0, 1].

    Measured (Spearman with the realized 7-day reward, the 1,600 calibration decisions, 2026-11-28): warfarin 0.607,
    insulin 0.269, where ``forecast_band_score`` reached 0.427 and 0.197. The calibrated HyperScore's fit-half ρ with
    the CDF scaling (ties counted half) vs the linear one: warfarin 0.683 vs 0.663, insulin 0.360 vs 0.359; counting ties
    whole, as here, the test ρ was the same to ±0.005 and the best forecasts score 1 instead of 0.71."""
    r = np.asarray(reward, dtype=float)
    if quantiles is not None and len(quantiles) > 1:
        q = np.sort(np.asarray(quantiles, dtype=float))
        return np.where(np.isnan(r), np.nan, np.searchsorted(q, r, side="right") / q.size)
    worst, best = reward_range
    return np.clip((r - worst) / (best - worst), 0.0, 1.0)


def forecast_band_score(
    recommended: np.ndarray, keep: np.ndarray, band: tuple[float, float], tolerance: float = 0.5
) -> FloatArray:
    """From the twin's forecasts (n, days) of the primary observation under the recommendation and under keeping the dose:
    ½·exp(−D_rec/τ) (stays in or near the band) + ½·(½ + ½·tanh((D_keep − D_rec)/τ)) (does better than keeping the dose),
    D = mean distance outside the band in band widths, τ = ``tolerance``. 1 = in band where keeping would leave it; 0.75 =
    both in band; ≈ 0.25 = both far out; NaN rows (no forecast) stay NaN."""
    d_rec = band_distance(np.asarray(recommended, dtype=float), band).mean(axis=1)
    d_keep = band_distance(np.asarray(keep, dtype=float), band).mean(axis=1)
    return 0.5 * np.exp(-d_rec / tolerance) + 0.5 * (0.5 + 0.5 * np.tanh((d_keep - d_rec) / tolerance))


@dataclass(frozen=True)
class FeatureStats:
    """The training distribution of the policy's features, for the novelty sub-score; saved as ``feature_stats.json``.

    Features are standardized by the training mean and SD (SD floored at ``SD_FLOOR`` × the feature's FeatureSpec scale,
    so a feature that never varied in training — e.g. "genotype unknown" — makes any state where it differs very novel),
    then the squared Mahalanobis distance uses the shrunk correlation (1 − λ)·R + λ·I, λ = ``SHRINKAGE``.
    ``d2_quantiles`` are the training states' own squared distances at evenly spaced probabilities: novelty = the share of
    training states at least as far away.
    """

    feature_names: tuple[str, ...]
    mean: np.ndarray  # (F,)
    sd: np.ndarray  # (F,)
    precision: np.ndarray  # (F, F) inverse of the shrunk correlation
    d2_quantiles: np.ndarray  # (Q,) at probabilities linspace(0, 1, Q)
    n_samples: int
    source: str = ""

    SD_FLOOR = 0.01
    SHRINKAGE = 0.05
    N_QUANTILES = 201

    @classmethod
    def from_features(cls, x: np.ndarray, pack: TherapyPack, source: str = "") -> FeatureStats:
        """Fit from training feature rows (n, F) of ``pack``."""
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != pack.n_features or x.shape[0] < 2:
            raise ValueError(f"expected at least 2 rows of {pack.n_features} features, got {x.shape}")
        scales = np.array([f.scale if f.scale else 1.0 for f in pack.feature_specs])
        mean = x.mean(axis=0)
        sd = np.maximum(x.std(axis=0), cls.SD_FLOOR * scales)
        z = (x - mean) / sd
        corr = np.atleast_2d(np.cov(z, rowvar=False))
        shrunk = (1.0 - cls.SHRINKAGE) * corr + cls.SHRINKAGE * np.eye(x.shape[1])
        precision = np.linalg.inv(shrunk)
        d2 = np.einsum("ij,jk,ik->i", z, precision, z)
        q = np.quantile(d2, np.linspace(0.0, 1.0, cls.N_QUANTILES))
        return cls(tuple(f.name for f in pack.feature_specs), mean, sd, precision, q, int(x.shape[0]), source)

    def mahalanobis2(self, x: np.ndarray) -> FloatArray:
        z = (np.atleast_2d(np.asarray(x, dtype=float)) - self.mean) / self.sd
        return np.einsum("ij,jk,ik->i", z, self.precision, z)

    def novelty_score(self, x: np.ndarray) -> FloatArray:
        """1 − (empirical CDF of the training distances at this state's distance): 1 = as typical as the most central
        training states, 0 = farther than every training state."""
        p = np.linspace(0.0, 1.0, self.d2_quantiles.shape[0])
        d2 = self.mahalanobis2(x)
        return np.where(d2 > self.d2_quantiles[-1], 0.0, 1.0 - np.interp(d2, self.d2_quantiles, p))

    def check(self, pack: TherapyPack) -> None:
        names = tuple(f.name for f in pack.feature_specs)
        if names != self.feature_names:
            raise ValueError(f"feature_stats were computed for other features than {pack.id}'s")

    def to_json(self) -> str:
        return json.dumps({
            "feature_names": list(self.feature_names), "mean": self.mean.tolist(), "sd": self.sd.tolist(),
            "precision": self.precision.tolist(), "d2_quantiles": self.d2_quantiles.tolist(),
            "n_samples": self.n_samples, "source": self.source,
            "method": f"standardize (SD floor {self.SD_FLOOR}×spec scale), shrunk correlation λ={self.SHRINKAGE}",
        }, indent=1) + "\n"

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        if path.is_dir():
            path = path / FEATURE_STATS_FILE
        path.write_text(self.to_json())
        return path

    @classmethod
    def load(cls, path: Path | str) -> FeatureStats | None:
        """From ``feature_stats.json`` (or the policy directory holding it); None when there is none."""
        path = Path(path)
        if path.is_dir():
            path = path / FEATURE_STATS_FILE
        if not path.is_file():
            return None
        d = json.loads(path.read_text())
        return cls(tuple(d["feature_names"]), np.array(d["mean"]), np.array(d["sd"]), np.array(d["precision"]),
                   np.array(d["d2_quantiles"]), int(d["n_samples"]), d.get("source", ""))


@dataclass
class Scored:
    """Sub-scores, V, HyperScore and the review flag for a batch of recommendations (arrays of shape (n,))."""

    sub_scores: dict[str, FloatArray]
    v: FloatArray
    hyperscore: FloatArray
    needs_review: np.ndarray
    review_reasons: list[list[str]]  # per row, why it needs review ([] when it does not)

    def flag(self, rows: np.ndarray, reason: str) -> None:
        """Flag ``rows`` for review (e.g. no action was allowed), with the reason first."""
        for i in np.flatnonzero(rows).tolist():
            self.needs_review[i] = True
            self.review_reasons[i].insert(0, reason)

    def row(self, i: int) -> dict[str, Any]:
        return self.rows(slice(i, i + 1))[0]

    def rows(self, which: slice = slice(None)) -> list[dict[str, Any]]:
        """The rows as JSON-ready dicts. Arrays become Python floats once (``tolist``), not element by element: indexing a
        numpy array and ``np.isnan`` on a scalar cost ~1 µs each, and a row has a dozen such values."""
        hs, v, review = self.hyperscore[which].tolist(), self.v[which].tolist(), self.needs_review[which].tolist()
        reasons = self.review_reasons[which]
        subs = {k: s[which].tolist() for k, s in self.sub_scores.items()}
        return [{
            "hyperscore": round(hs[i], 2),
            "v": round(v[i], 4),
            "needs_review": bool(review[i]),
            "review_reasons": reasons[i],
            "sub_scores": {k: (None if math.isnan(s[i]) else round(s[i], 4)) for k, s in subs.items()},
        } for i in range(len(hs))]


def sub_scores(
    pack: TherapyPack, view: ClinicView, features: np.ndarray, guard: GuardrailResult, chosen: IntArray, q: np.ndarray,
    q_heads: np.ndarray | None, cfg: HyperScoreConfig, stats: FeatureStats | None,
    forecast: ForecastInputs | None,
) -> dict[str, FloatArray]:
    """All six sub-scores for a batch; a missing input (no stats, no heads, no forecast, no calibrated value scale) makes
    its sub-score NaN. ``forecast``: e.g. ``forecast.Forecast.for_scoring()``."""
    n = view.n
    fc = (forecast_score(forecast, cfg.forecast_tolerance, cfg.forecast_reward_quantiles) if forecast is not None
          else np.full(n, np.nan))
    return {
        "consistency": consistency_score(pack, view, features, guard, chosen, cfg.firing_discount),
        "forecast": fc,
        "novelty": stats.novelty_score(features) if stats is not None else np.full(n, np.nan),
        "impact": impact_score(q, guard.mask, chosen, cfg.impact_scale),
        "reproducibility": reproducibility_score(q_heads, guard.mask, chosen),
        "value": value_score(chosen_q(q, chosen), cfg.value_center, cfg.value_scale),
    }


def score_batch(sub: dict[str, FloatArray], cfg: HyperScoreConfig) -> Scored:
    v, hs, review = score(sub, cfg)
    return Scored(sub_scores=sub, v=v, hyperscore=hs, needs_review=review, review_reasons=review_reasons(sub, hs, cfg))
