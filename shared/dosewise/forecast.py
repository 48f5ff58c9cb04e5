"""Personalized twin forecast: fit one sensitivity parameter to THIS patient's history, then roll forward dose plans.

For each patient (a row of a ClinicView) and a grid of G candidate values of the pack's main sensitivity parameter, n·P·G
twins (P plans × G candidates per patient) replay the patient's known doses, the predicted primary observation is compared
with the measured ones, and the twins then run the plans' days (``plan_paths``: any P plans of daily doses, e.g. every
action of the pack as a visit plan, ``action_plans``: hold N doses, then the new regimen). The explanation's ``forecast``
runs two plans for ``horizon`` decision days:

- **recommended**: the chosen action on the first day, then its new regimen every day;
- **keep**: the current regimen every day.

Every dose is known before the twins run, so a pack whose observation follows from its start and doses alone computes
the whole path at once (``TwinSpec.path``: warfarin, model.inr_paths); the others step one vectorized simulator day by day.

The fit is a MAP estimate on the grid: Gaussian residuals of log(observation) (``residual_log_sd``) and a log-normal prior
on the scale (``prior_log_sd``, centred on the population-typical patient with these covariates). The posterior weights over
the grid give the forecast (weighted mean) and an 80 % band (weighted 10th–90th percentiles) — so a patient with no
measurements simply gets the population forecast with a wide band.

Replay window: the view's dose history (``pack.dose_history_days``, most recent first). When the whole therapy lies inside it
(``day`` ≤ the known span) the twin starts drug-naive at day 0, exactly like the simulator; so it does when the therapy
began at most ``naive_impute_days`` before the recorded doses and a whole week is on record, the unrecorded first days
dosed at the mean of the oldest recorded week. Otherwise the twin starts at the
continuous-infusion steady state of the mean dose of the first replayed week — an approximation (the earlier doses are
unknown), which ``burn_in_days`` of daily dosing at that dose and the replayed days then correct. A pack whose response
forgets old doses quickly (``memory_days``, insulin) replays only from that many days before its oldest observation.
Observations older than the replay window are not used.

The immune pack's state is an infection's course, not a function of the doses: its twins start at the state measured at the
oldest replayed observation (pathogen load, organ damage; unmeasured immune states at their healthy values).

Which parameter is "the" sensitivity, and how its twins are built, is the pack's (``TherapyPack.forecast_twin``, a
``TwinSpec`` from the pack's ``forecast_twin.py``): warfarin scales Hamberg's EC50 (absorbing the CL variability: at steady
state the INR depends on dose/(CL·EC50)), insulin scales SI, immune scales the drug's kill efficacy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dosewise.hyperscore import ForecastInputs
from dosewise.schemas import OBSERVATION_KINDS
from dosewise.therapies.base import ClinicView, FloatArray, IntArray, TherapyPack, TwinSpec

DEFAULT_GRID_SIZE = 21
GRID_HALF_WIDTH_SD = 3.0  # the grid spans the prior's ±3 SD in log scale
BAND_QUANTILES = (0.1, 0.9)


def twin_spec(pack: TherapyPack) -> TwinSpec | None:
    """The personalization recipe of a pack (its ``forecast_twin``), or None when it has none (then there is no forecast)."""
    return pack.forecast_twin()


@dataclass
class Forecast:
    """Forecasts for n patients over ``days`` (1 … horizon days after the decision), arrays (n, horizon) unless noted."""

    observation: str
    unit: str
    target_band: tuple[float, float]
    parameter: str
    days: np.ndarray  # (horizon,)
    recommended: FloatArray
    keep: FloatArray
    recommended_band: tuple[FloatArray, FloatArray]
    keep_band: tuple[FloatArray, FloatArray]
    sensitivity: FloatArray  # (n,) posterior mean of the scale (geometric)
    sensitivity_log_sd: FloatArray  # (n,) posterior SD of ln(scale)
    n_observations: IntArray  # (n,) measurements the fit used
    # (n, K) the latest K measurements of the observation (canonical unit, NaN: none), how many days before the decision
    # each was taken, and which of them the fit used (one taken before the replayed course is shown, not fitted)
    measured: FloatArray
    measured_age_days: FloatArray
    measured_used: np.ndarray
    transform: Callable[[FloatArray], FloatArray] | None = None
    # (n,) the pack's mean daily reward α·T − β·A − γ·H of the forecast (``recommended`` / ``keep``) over the horizon, the
    # recommendation's dose change booked on its first day; None when the pack's TwinSpec has no reward_forecast
    recommended_reward: FloatArray | None = None
    keep_reward: FloatArray | None = None
    reward_range: tuple[float, float] | None = None  # (worst, best) day: −β·max A, α·max T

    def for_scoring(self) -> ForecastInputs:
        """What the forecast sub-score reads: the reward of the forecast, and the trajectories and target band in the
        space its band-distance fallback measures distances in."""
        f = self.transform
        rec, keep, band = self.recommended, self.keep, self.target_band
        if f is not None:
            lo, hi = f(np.array(self.target_band, dtype=float))
            rec, keep, band = f(rec), f(keep), (float(lo), float(hi))
        return ForecastInputs(rec, keep, band, self.recommended_reward, self.reward_range)

    def row(self, i: int) -> dict[str, Any]:
        """JSON-able forecast of patient i (what an explanation shows)."""
        r = 4
        return {
            "observation": self.observation, "unit": self.unit, "target_band": list(self.target_band),
            "days_after_decision": self.days.tolist(),
            "recommended": np.round(self.recommended[i], r).tolist(), "keep_dose": np.round(self.keep[i], r).tolist(),
            "recommended_80pct": [np.round(b[i], r).tolist() for b in self.recommended_band],
            "keep_dose_80pct": [np.round(b[i], r).tolist() for b in self.keep_band],
            "personalization": {
                "parameter": self.parameter, "scale": round(float(self.sensitivity[i]), 3),
                "log_sd": round(float(self.sensitivity_log_sd[i]), 3),
                "observations_used": int(self.n_observations[i]),
            },
            "mean_daily_reward": None if self.recommended_reward is None or self.keep_reward is None else {
                "recommended": round(float(self.recommended_reward[i]), r),
                "keep_dose": round(float(self.keep_reward[i]), r),
                "worst_best": None if self.reward_range is None else list(self.reward_range),
            },
            "measured": self._measured_row(i),
        }

    def _measured_row(self, i: int) -> dict[str, list[Any]]:
        """Patient i's measurements, oldest first, at their (negative) day from the decision: what the chart draws beside
        the forecast, and what the twin was fitted to (``used_in_fit``)."""
        values, ages, used = self.measured[i], self.measured_age_days[i], self.measured_used[i]
        order = [j for j in np.argsort(-np.nan_to_num(ages, nan=-np.inf)) if not (np.isnan(values[j]) or np.isnan(ages[j]))]
        return {"days_after_decision": [round(-float(ages[j]), 2) + 0.0 for j in order],  # + 0.0: today is 0, not -0
                "values": [round(float(values[j]), 4) for j in order], "used_in_fit": [bool(used[j]) for j in order]}


def observation_name(observation: str) -> str:
    """How a forecast's observation reads to a clinician: "INR", "fasting glucose" (the kind's label), "pathogen load"."""
    kind = OBSERVATION_KINDS.get(observation)
    return kind.label if kind is not None and kind.label else observation.replace("_", " ")


def _known_span(dose_history: np.ndarray) -> IntArray:
    """Leading run of known (non-NaN) entries per row: how many days back the doses are known without a gap."""
    unknown = np.isnan(dose_history)
    return np.where(unknown.any(axis=1), np.argmax(unknown, axis=1), dose_history.shape[1])


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: tuple[float, ...]) -> list[np.ndarray]:
    """Per row of (m, G) values with (m, G) weights summing to 1: the weighted q-quantile for each q (one sort)."""
    order = np.argsort(values, axis=1)
    v = np.take_along_axis(values, order, axis=1)
    c = np.cumsum(np.take_along_axis(weights, order, axis=1), axis=1)
    rows = np.arange(values.shape[0])
    return [v[rows, np.minimum((c < q).sum(axis=1), values.shape[1] - 1)] for q in qs]


@dataclass
class PlanPaths:
    """Every candidate twin's forecast of P visit plans for n patients, and the posterior over the candidates."""

    paths: FloatArray  # (n, P, G, h) the noise-free primary observation after each of the h plan days
    weights: FloatArray  # (n, G) posterior weight of each grid candidate (rows sum to 1)
    log_grid: FloatArray  # (G,) ln(scale) of the candidates
    usable: np.ndarray  # (n, K) which of the view's measurements the fit used

    @property
    def n_observations(self) -> IntArray:
        return self.usable.sum(axis=1)

    def posterior_mean_log(self) -> FloatArray:
        return (self.weights * self.log_grid).sum(axis=1)


def action_plans(pack: TherapyPack, current_dose: FloatArray, horizon_days: int) -> tuple[FloatArray, FloatArray]:
    """Every action of the pack as a visit plan over ``horizon_days`` days from the visit: nothing for the action's held
    doses (``pack.hold_doses``), then its new regimen (``pack.proposed_regimens``, clipped to [0, max_dose] as
    ``apply_actions`` does) every day. Returns (given (n, A, h), regimen (n, A)); day 0 is the visit's day."""
    current = np.asarray(current_dose, dtype=float)
    regimen = np.clip(pack.proposed_regimens(current), 0.0, pack.max_dose)  # (n, A)
    held = pack.hold_doses(np.arange(pack.n_actions))  # (A,)
    skip = np.arange(horizon_days)[None, :] < held[:, None]  # (A, h)
    return np.where(skip[None], 0.0, regimen[:, :, None]), regimen


def _taken_share(view: ClinicView) -> FloatArray:
    """(n,) the share of last week's known days on which a dose was taken (1 where none is known)."""
    week = view.dose_history[:, :7]
    known = ~np.isnan(week)
    return np.where(known.any(axis=1),
                    (known & (np.nan_to_num(week) > 0)).sum(axis=1) / np.maximum(known.sum(axis=1), 1), 1.0)


def plan_paths(
    pack: TherapyPack,
    view: ClinicView,
    given: FloatArray,
    regimen: FloatArray,
    grid_size: int = DEFAULT_GRID_SIZE,
    spec: TwinSpec | None = None,
) -> PlanPaths | None:
    """Fit the sensitivity to each row's history (the module docstring) and roll P visit plans forward from the decision
    for every grid candidate at once: ``given`` (n, P, h) the dose of each plan day (as prescribed: a pack whose twins take
    the adherence from the history scales it here), ``regimen`` (n, P) each plan's standing regimen (what a day-by-day
    simulator is told). None when the pack has no TwinSpec."""
    spec = spec or twin_spec(pack)
    if spec is None:
        return None
    given, regimen = np.asarray(given, dtype=float), np.asarray(regimen, dtype=float)
    n, plans = given.shape[:2]
    kind = pack.observation_kinds[0]
    obs, age = view.obs[kind], np.round(view.obs_age_days[kind])
    hist = view.dose_history
    span = _known_span(hist)
    day = np.round(view.day).astype(int)
    # A naive start imputes the unrecorded first days from the oldest recorded week: only with a whole week on record.
    naive = (day <= span) | ((span >= 7) & (day <= span + spec.naive_impute_days))
    replay = np.where(naive, day, span)  # days to replay
    on_record = np.minimum(replay, span)  # ... of which the dose is on record (the rest: the oldest recorded week's mean)
    if spec.memory_days is not None:  # older doses no longer matter: start later, from a steady (or observed) state
        seen = ~np.isnan(obs) & ~np.isnan(age)
        need = np.where(seen.any(axis=1), np.nanmax(np.where(seen, age, -1.0), axis=1), 0.0).astype(int) + spec.memory_days
        shorter = need < replay
        replay, naive = np.where(shorter, need, replay), naive & ~shorter
        on_record = np.minimum(on_record, replay)
    observed = spec.set_observed_state is not None
    if observed:
        naive = np.zeros(n, dtype=bool)
        groups = np.unique(replay)
        if groups.size > 1:  # an observed start is not stationary: rows with different windows run apart
            parts = []
            for g in groups:
                idx = np.flatnonzero(replay == g)
                part = plan_paths(pack, view.take(idx), given[idx], regimen[idx], grid_size, spec)
                assert part is not None
                parts.append((idx, part))
            return _stack_paths(parts, n)
    burn_in = 0 if observed else spec.burn_in_days
    length = int((replay + np.where(naive, 0, burn_in)).max()) if n else 0

    g_size = grid_size
    log_grid = np.linspace(-GRID_HALF_WIDTH_SD, GRID_HALF_WIDTH_SD, g_size) * spec.prior_log_sd
    idx = np.arange(hist.shape[1])[None, :]
    first_week = (idx >= (on_record - 7)[:, None]) & (idx < on_record[:, None])  # the oldest replayed week on record
    hist_known = np.nan_to_num(hist)  # unrecorded days as no dose
    week_sum = np.where(first_week, hist_known, 0.0).sum(axis=1)
    week_mean = week_sum / np.maximum(first_week.sum(axis=1), 1)
    pad = np.where(naive, 0.0, week_mean)  # before the replay: no drug yet (naive) or the steady dose

    # Replay doses. Drug-naive and steady starts are stationary under their pad dose (0 / the steady dose), so step 0 just
    # yields the value at age `length`; step s gives the dose of index k = length − s (index k = given k + 1 days before
    # the decision), after which the value is at age length − s: the recorded dose where k < on_record, the oldest
    # recorded week's mean where on_record ≤ k < replay (a naive start's unrecorded first days), else the pad dose. An
    # observed start begins at age `length` itself (its step 0 is never run).
    k = length - np.arange(length + 1)
    replay_dose = np.where(k < on_record[:, None], hist_known[:, np.minimum(k, hist.shape[1] - 1)],
                           np.where(k < replay[:, None], week_mean[:, None], pad[:, None]))  # (n, length + 1)

    if spec.adherence_from_history:
        taken = _taken_share(view)
        given, regimen = given * taken[:, None, None], regimen * taken[:, None]

    if spec.path is not None and not observed:
        doses = np.concatenate([np.broadcast_to(replay_dose[:, None, :], (n, plans, length + 1)), given], axis=2)
        whole = spec.path(pack, view, np.exp(log_grid), np.where(naive, 0.0, week_mean), doses)  # (n, P, G, L)
        fit_pred, traj = whole[:, 0, :, : length + 1], whole[:, :, :, length + 1 :]
    else:
        fit_pred, traj = _step_twins(pack, view, spec, log_grid, observed, naive, replay, week_mean, replay_dose,
                                     given, regimen)

    # Fit: log-residuals at the measured ages, log-normal prior.
    usable = ~np.isnan(obs) & ~np.isnan(age) & (age >= 0) & (age <= replay[:, None]) & (obs > 0)
    if observed:
        usable &= age < replay[:, None]  # the start state was set from that observation: fitting it is circular
    col = np.clip(length - np.nan_to_num(age, nan=0.0), 0, length).astype(int)  # (n, K)
    at_obs = np.take_along_axis(fit_pred, np.broadcast_to(col[:, None, :], (n, g_size, col.shape[1])), axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_pred = np.log(np.maximum(at_obs, 1e-12))
        resid = np.where(usable[:, None, :], np.log(np.where(usable, obs, 1.0))[:, None, :] - log_pred, 0.0)
    nlp = (resid**2).sum(axis=2) / (2 * spec.residual_log_sd**2) + log_grid[None, :] ** 2 / (2 * spec.prior_log_sd**2)
    w = np.exp(-(nlp - nlp.min(axis=1, keepdims=True)))
    w /= w.sum(axis=1, keepdims=True)  # (n, G)
    return PlanPaths(paths=traj, weights=w, log_grid=log_grid, usable=usable)


def _stack_paths(parts: list[tuple[np.ndarray, PlanPaths]], n: int) -> PlanPaths:
    """One PlanPaths of n rows from those of disjoint row subsets (``idx``, part)."""
    first = parts[0][1]

    def put(get: Callable[[PlanPaths], np.ndarray]) -> np.ndarray:
        sample = get(first)
        out = np.empty((n, *sample.shape[1:]), dtype=sample.dtype)
        for idx, f in parts:
            out[idx] = get(f)
        return out

    return PlanPaths(paths=put(lambda f: f.paths), weights=put(lambda f: f.weights), log_grid=first.log_grid,
                     usable=put(lambda f: f.usable))


def forecast(
    pack: TherapyPack,
    view: ClinicView,
    recommended: IntArray,
    horizon_days: int = 7,
    grid_size: int = DEFAULT_GRID_SIZE,
    spec: TwinSpec | None = None,
) -> Forecast | None:
    """Fit the sensitivity to each row's history and forecast the primary observation under the recommended action and
    under keeping the dose. None when the pack has no TwinSpec."""
    spec = spec or twin_spec(pack)
    if spec is None:
        return None
    n = view.n
    kind = pack.observation_kinds[0]
    # The two plans' days: 0 the recommended action on the first day, then its new regimen; 1 keep the current regimen.
    rec_given, rec_regimen = pack.apply_actions(view.current_dose, np.maximum(np.asarray(recommended), 0))
    current = view.current_dose
    change = np.abs(rec_regimen - current)  # the prescription's change, before any adherence scaling
    plan_given = np.empty((n, 2, horizon_days))
    plan_given[:, 0], plan_given[:, 1] = rec_regimen[:, None], current[:, None]
    if horizon_days:
        plan_given[:, 0, 0] = rec_given
    fitted = plan_paths(pack, view, plan_given, np.stack([rec_regimen, current], axis=1), grid_size, spec)
    assert fitted is not None
    traj, w, log_grid, g_size = fitted.paths, fitted.weights, fitted.log_grid, grid_size
    mean_log = fitted.posterior_mean_log()
    sd_log = np.sqrt(np.maximum((w * (log_grid - mean_log[:, None]) ** 2).sum(axis=1), 0.0))

    # Posterior mean and 80 % band of each plan's trajectory (the band: one sort for both plans and both quantiles).
    rec_mean, keep_mean = (np.einsum("ng,ngh->nh", w, traj[:, p]) for p in (0, 1))
    flat = traj.transpose(0, 1, 3, 2).reshape(n * 2 * horizon_days, g_size)
    (rec_lo, keep_lo), (rec_hi, keep_hi) = (
        band.reshape(n, 2, horizon_days).transpose(1, 0, 2)
        for band in _weighted_quantiles(flat, np.repeat(w, 2 * horizon_days, axis=0), BAND_QUANTILES))
    reward, reward_range = None, None
    if spec.reward_forecast:
        # The reward of the forecast shown (the posterior-mean trajectory). The posterior-weighted reward of each
        # candidate's trajectory was the alternative: on the fitting half of the calibration decisions its Spearman ρ
        # with the realized 7-day reward was 0.440 vs 0.552 (warfarin) and 0.283 vs 0.273 (insulin), 2026-11-28.
        booked_day = view.day[:, None, None] + np.arange(1, horizon_days + 1) * pack.decision_interval_days
        changed = np.zeros((n, 2, horizon_days))
        changed[:, 0, 0] = change  # the recommendation's change is booked on its first day; keeping changes nothing
        rw = pack.reward_weights
        daily = rw.combine(*pack.reward_terms(np.stack([rec_mean, keep_mean], axis=1), booked_day, changed))
        reward = daily.mean(axis=2)  # (n, 2)
        t_max, a_max = spec.outcome_bounds
        reward_range = (-rw.beta * a_max, rw.alpha * t_max)
    return Forecast(
        observation=kind, unit=spec.unit, target_band=pack.target_band, parameter=spec.parameter,
        days=np.arange(1, horizon_days + 1) * pack.decision_interval_days,
        recommended=rec_mean, keep=keep_mean, recommended_band=(rec_lo, rec_hi), keep_band=(keep_lo, keep_hi),
        sensitivity=np.exp(mean_log), sensitivity_log_sd=sd_log, n_observations=fitted.n_observations,
        transform=spec.score_transform,
        recommended_reward=None if reward is None else reward[:, 0], keep_reward=None if reward is None else reward[:, 1],
        reward_range=reward_range, measured=view.obs[kind], measured_age_days=view.obs_age_days[kind],
        measured_used=fitted.usable,
    )


def _step_twins(pack: TherapyPack, view: ClinicView, spec: TwinSpec, log_grid: FloatArray, observed: bool,
                naive: np.ndarray, replay: IntArray, week_mean: FloatArray, replay_dose: FloatArray,
                plan_given: FloatArray, plan_regimen: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``plan_paths``'s twins simulated day by day: the replay's prediction (n, G, length + 1) and every plan's horizon
    (n, P, G, h), the plans' doses given (n, P, h) and regimens (n, P). One vectorized simulator of n·P·G twins,
    patient-major, then plan, then grid candidate (every plan replays the same history: each plan's twins go on from
    it)."""
    n, g_size = view.n, log_grid.size
    plans, horizon_days = plan_given.shape[1:]
    length = replay_dose.shape[1] - 1
    rows = np.repeat(np.arange(n), plans * g_size)
    big = view.take(rows)
    b = rows.shape[0]
    sim = spec.build(pack, big, np.exp(np.tile(log_grid, plans * n)))  # reset already: a second reset cost ~3 % of a forecast
    if observed:
        assert spec.set_observed_state is not None
        spec.set_observed_state(sim, big, replay[rows])
    elif (~naive).any():
        assert spec.set_steady_state is not None, "a pack without set_steady_state needs memory_days=None and full histories"
        spec.set_steady_state(sim, ~naive[rows], week_mean[rows])
    day_step = spec.advance or (lambda sim_, given_, regimen_: sim_.step(given_, regimen_).info[spec.truth_key])
    pred = np.full((b, length + 1), np.nan)
    for s in range(1 if observed else 0, length + 1):
        dose = replay_dose[rows, s]
        pred[:, s] = day_step(sim, dose, dose)
    traj = np.empty((b, horizon_days))
    regimen = np.repeat(plan_regimen, g_size, axis=1).ravel()
    for t in range(horizon_days):
        traj[:, t] = day_step(sim, np.repeat(plan_given[:, :, t], g_size, axis=1).ravel(), regimen)
    return pred.reshape(n, plans, g_size, length + 1)[:, 0], traj.reshape(n, plans, g_size, horizon_days)
