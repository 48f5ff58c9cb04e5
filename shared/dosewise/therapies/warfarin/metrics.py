"""Per-patient warfarin outcomes of a rollout (each an (n,) array; efficacy first, then adverse events).

- ``time_in_range_pct``: Rosendaal et al. 1993 (Thromb Haemost 69:236) time in therapeutic range 2.0–3.0 — the INR is
  interpolated linearly between consecutive **measured** INRs, the clinic standard (../shared/clinical.md §1). The schedule
  is the same for every policy, so the comparison is fair. It spans the first to the last INR of the rollout (day 1 on),
  initiation included; published TTRs often exclude the first week, so expect ours to be a little lower.
- ``time_in_range_true_pct``: the same on the **true** daily INR, which only a twin knows.
- Adverse events count days on the true daily INR (a clinic would miss most of them): ``days_inr_above_4`` (bleeding-risk
  proxy) and ``days_inr_below_1_5_after_day_7`` (thrombosis-risk proxy); ``adverse_event_days`` is their sum.
- Doses: ``mean_dose_mg_per_day`` over the whole course; ``maintenance_dose_mg_per_day`` = mean dose given over the last
  60 days (days 30–89 of a 90-day course: the stable dose); ``final_dose_mg_per_day`` = the regimen at the end.
"""

from __future__ import annotations

import numpy as np

from dosewise.therapies.base import FloatArray, Trajectory
from dosewise.therapies.warfarin.simulator import CLOT_RISK_AFTER_DAY, INR_BLEED_RISK, INR_CLOT_RISK, INR_HIGH, INR_LOW

MAINTENANCE_WINDOW_DAYS = 60
# What tables call each metric (TherapyPack.metric_labels): words a clinician reads, each with its unit.
LABELS = {
    "time_in_range_pct": "Time in range 2–3 (%)",
    "time_in_range_true_pct": "True time in range (%)",
    "adverse_event_days": "Adverse-event days",
    "days_inr_above_4": "Days INR > 4",
    "days_inr_below_1_5_after_day_7": "Days INR < 1.5 after day 7",
    "mean_dose_mg_per_day": "Mean dose (mg/day)",
    "maintenance_dose_mg_per_day": "Maintenance dose (mg/day)",
    "final_dose_mg_per_day": "Final dose (mg/day)",
}


def _segment_fraction_in_range(a: FloatArray, b: FloatArray, low: float, high: float) -> FloatArray:
    """Share of the straight line from INR a to INR b that lies inside [low, high] (Rosendaal interpolation)."""
    flat = np.isclose(a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        s_low, s_high = (low - a) / (b - a), (high - a) / (b - a)
    start = np.clip(np.minimum(s_low, s_high), 0.0, 1.0)
    end = np.clip(np.maximum(s_low, s_high), 0.0, 1.0)
    inside_flat = ((a >= low) & (a <= high)).astype(float)
    return np.where(flat, inside_flat, np.clip(end - start, 0.0, 1.0))


def rosendaal_ttr_pct(days: FloatArray, inr: FloatArray, low: float = INR_LOW, high: float = INR_HIGH) -> FloatArray:
    """Rosendaal TTR (%) per patient. ``inr`` (n, T) is NaN where nothing was measured; ``days`` (T,) or (n, T).

    Loops over time columns only (never over patients). NaN for a patient with fewer than two INRs.
    """
    inr = np.asarray(inr, dtype=float)
    n, steps = inr.shape
    days = np.broadcast_to(np.asarray(days, dtype=float), (n, steps))
    prev_val = np.full(n, np.nan)
    prev_day = np.full(n, np.nan)
    in_range_days = np.zeros(n)
    total_days = np.zeros(n)
    for t in range(steps):
        now = inr[:, t]
        measured = ~np.isnan(now)
        seg = measured & ~np.isnan(prev_val)
        span = np.where(seg, days[:, t] - prev_day, 0.0)
        frac = _segment_fraction_in_range(np.where(seg, prev_val, 0.0), np.where(seg, now, 0.0), low, high)
        in_range_days += np.where(seg, frac * span, 0.0)
        total_days += span
        prev_val = np.where(measured, now, prev_val)
        prev_day = np.where(measured, days[:, t], prev_day)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total_days > 0, 100.0 * in_range_days / total_days, np.nan)


def warfarin_metrics(traj: Trajectory) -> dict[str, FloatArray]:
    """All warfarin metrics of a rollout; needs ``info`` keys ``inr_true``, ``inr_measured`` and ``day``."""
    inr_true = traj.info["inr_true"]
    inr_meas = traj.info["inr_measured"]
    day = traj.info["day"]
    above = (inr_true > INR_BLEED_RISK).sum(axis=1).astype(float)
    below = ((inr_true < INR_CLOT_RISK) & (day > CLOT_RISK_AFTER_DAY)).sum(axis=1).astype(float)
    window = min(MAINTENANCE_WINDOW_DAYS, traj.steps)
    return {
        "time_in_range_pct": rosendaal_ttr_pct(day, inr_meas),
        "time_in_range_true_pct": rosendaal_ttr_pct(day, inr_true),
        "adverse_event_days": above + below,
        "days_inr_above_4": above,
        "days_inr_below_1_5_after_day_7": below,
        "mean_dose_mg_per_day": traj.given.mean(axis=1),
        "maintenance_dose_mg_per_day": traj.given[:, -window:].mean(axis=1),
        "final_dose_mg_per_day": traj.regimen[:, -1],
    }
