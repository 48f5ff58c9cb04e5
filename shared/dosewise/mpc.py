"""A model-predictive controller (MPC): each visit's dose chosen by the patient's own fitted twin.

Model-informed precision dosing the way its tools do it, as a comparator for the learned policies (issue #25):

1. **Fit.** The pack's forecast twin (``forecast.TwinSpec``) is fitted to the patient's measured history: a MAP grid over
   one sensitivity scale, with the posterior weight of every grid candidate (``forecast.plan_paths``).
2. **Roll forward every action.** Each action of the pack is a visit plan (``forecast.action_plans``: hold its doses, then
   its new regimen every day); every plan runs on every grid candidate at once, vectorized over patients × actions × grid.
3. **Score.** The primary observation's forecast of each day, from the visit until ``AFTER_RECHECK_DAYS`` after the
   action's recheck (``pack.recheck_days``), costed by the therapy's ``pack.mpc_objective`` in expectation over the day's
   scatter around the twin's noise-free path (log-normal, the fit's own residual SD) and averaged over those days; the
   expected cost over the posterior (or, risk-averse, a posterior quantile of it); plus ``change_cost`` per relative
   regimen change, which breaks ties toward the smaller change and damps back-and-forth titration.
4. **Choose** the best action the guardrails allow (``pack.guardrails``: a high INR leaves only the holds, which resume at a
   lower regimen); hold-and-refer (action 0) where the guardrails allow none. Patients not yet on the drug get the pack's
   start rule (``pack.start_regimen``).

Nothing here names a therapy: what is therapy-specific comes from the pack (actions, guardrails, objective, recheck, start)
or from the pack's forecast TwinSpec (the twin). The served "Q-values" of this policy are ``action_scores``: minus the
expected cost, so that larger is better as for a learned policy's Q-values and the gateway can mask and show them alike.
"""

from __future__ import annotations

import numpy as np

from dosewise import forecast as fc
from dosewise.therapies.base import ClinicView, FloatArray, IntArray, TherapyPack
from dosewise.therapies.clinic import VisitPlan, plan_choosing

# The forecast runs until this many days after the next visit: the dose chosen now also shapes the observation the next
# visit acts on and the days that next decision needs to take effect (a week: warfarin's INR responds over 5–7 days,
# clinical.md §1; basal insulin settles in about 3 days, §2). Our choice, after the comparator issue #25 describes.
AFTER_RECHECK_DAYS = 7
# Grid candidates of the sensitivity scale: fewer than the explanation's forecast (21) since every action runs on each;
# the posterior over ±3 prior SDs is smooth on 15 points (the expected cost changed by < 1 % of its action-to-action
# spread on the tests' twins). Our choice.
DEFAULT_GRID_SIZE = 15
# Cost per relative regimen change |new − current| / max(current, dose step): breaks ties toward the smaller change and
# damps back-and-forth titration (issue #25 item 3). Our choice: under clinic_rollout (Hamberg 2007 twins, visits days 0–4,
# 7, 10, 14 then weekly, 500 patients, 90 days) 0.002 / 0.03 / 0.1 gave 3.7 / 0.8 / 0.2 direction changes per patient
# and 88.8 / 88.4 / 86.6 % of days in range.
DEFAULT_CHANGE_COST = 0.03
# Quadrature points of the expected objective over a day's scatter around the forecast (``_scattered_objective``).
SCATTER_NODES = 5
# Patients per vectorized block: the paths array is n × A × G × days floats; 250 patients keep it near 100 MB at most.
BLOCK = 250


def action_horizons(pack: TherapyPack, view: ClinicView) -> IntArray:
    """(n, A) forecast days that score each action: its recheck (``pack.recheck_days``) plus ``AFTER_RECHECK_DAYS``."""
    a_count = pack.n_actions
    recheck = np.stack([pack.recheck_days(view, np.full(view.n, a, dtype=np.int64)) for a in range(a_count)], axis=1)
    return np.ceil(np.asarray(recheck, dtype=float) - 1e-9).astype(np.int64) + AFTER_RECHECK_DAYS


def expected_costs(
    pack: TherapyPack,
    view: ClinicView,
    horizon_days: int | IntArray | None = None,
    grid_size: int = DEFAULT_GRID_SIZE,
    risk_quantile: float | None = None,
    change_cost: float = DEFAULT_CHANGE_COST,
    scatter: bool = True,
) -> FloatArray | None:
    """(n, A) each action's mean daily ``pack.mpc_objective`` over its horizon, in expectation over the fitted posterior
    (``risk_quantile`` q: the posterior's q-quantile of it instead, e.g. 0.8 for a risk-averse choice), plus
    ``change_cost`` per relative regimen change. ``horizon_days``: days scored, one number for every action, (n, A), or
    None for each action's own (``action_horizons``). None when the pack has no forecast twin."""
    spec = fc.twin_spec(pack)
    if spec is None:
        return None
    n, a_count = view.n, pack.n_actions
    if horizon_days is None:
        horizon = action_horizons(pack, view)
    else:
        horizon = np.broadcast_to(np.asarray(horizon_days, dtype=np.int64), (n, a_count))
    out = np.empty((n, a_count))
    for lo in range(0, n, BLOCK):
        rows = slice(lo, min(lo + BLOCK, n))
        out[rows] = _block_costs(pack, view.take(rows), horizon[rows], grid_size, risk_quantile, spec, scatter)
    current = np.asarray(view.current_dose, dtype=float)
    regimen = np.clip(pack.proposed_regimens(current), 0.0, pack.max_dose)
    scale = np.maximum(current, max(pack.dose_step, 1e-9))[:, None]
    return out + change_cost * np.abs(regimen - current[:, None]) / scale


def _scattered_objective(pack: TherapyPack, paths: FloatArray, log_sd: float) -> FloatArray:
    """``pack.mpc_objective`` of each day in expectation over the measurement's scatter around the twin's noise-free path:
    log-normal with ``log_sd`` (the fit's own residual model), by SCATTER_NODES-point Gauss–Hermite quadrature."""
    if log_sd <= 0:
        return np.asarray(pack.mpc_objective(paths), dtype=float)
    z, w = np.polynomial.hermite_e.hermegauss(SCATTER_NODES)
    w = w / w.sum()
    total = np.zeros(np.shape(paths))
    for zk, wk in zip(z, w, strict=True):
        total += wk * np.asarray(pack.mpc_objective(paths * np.exp(log_sd * zk)), dtype=float)
    return total


def _block_costs(pack: TherapyPack, view: ClinicView, horizon: IntArray, grid_size: int, risk_quantile: float | None,
                 spec: fc.TwinSpec, scatter: bool) -> FloatArray:
    """``expected_costs`` without the change cost, for one block of rows."""
    n = view.n
    if n == 0:
        return np.empty((0, pack.n_actions))
    days = int(horizon.max())
    given, regimen = fc.action_plans(pack, view.current_dose, days)
    fitted = fc.plan_paths(pack, view, given, regimen, grid_size, spec)
    assert fitted is not None
    daily = _scattered_objective(pack, fitted.paths, spec.residual_log_sd if scatter else 0.0)  # (n, A, G, days)
    scored = np.arange(days)[None, None, :] < horizon[:, :, None]  # (n, A, days)
    per_candidate = np.einsum("nagd,nad->nag", daily, scored.astype(float)) / np.maximum(horizon, 1)[:, :, None]
    w = fitted.weights  # (n, G)
    if risk_quantile is None:
        return np.einsum("nag,ng->na", per_candidate, w)
    a_count, g_size = per_candidate.shape[1:]
    flat = per_candidate.reshape(n * a_count, g_size)
    (q,) = fc._weighted_quantiles(flat, np.repeat(w, a_count, axis=0), (risk_quantile,))
    return q.reshape(n, a_count)


def action_scores(pack: TherapyPack, view: ClinicView, horizon_days: int | IntArray | None = None,
                  grid_size: int = DEFAULT_GRID_SIZE, risk_quantile: float | None = None,
                  change_cost: float = DEFAULT_CHANGE_COST, scatter: bool = True) -> FloatArray:
    """(n, A) the MPC's "Q-values": minus ``expected_costs`` (larger is better), finite for every action. Unmasked: the
    caller masks them with ``pack.guardrails`` as it masks a learned policy's. A pack without a forecast twin scores
    every action 0."""
    costs = expected_costs(pack, view, horizon_days, grid_size, risk_quantile, change_cost, scatter)
    if costs is None:
        return np.zeros((view.n, pack.n_actions))
    return -costs


def choose(scores: FloatArray, mask: np.ndarray) -> IntArray:
    """Per row, the best allowed action; hold-and-refer (action 0) where none is allowed. Ties: the lowest index."""
    masked = np.where(mask, scores, -np.inf)
    best = np.argmax(masked, axis=1)
    return np.where(mask.any(axis=1), best, 0).astype(np.int64)


class MpcPolicy:
    """The MPC as a ``clinic.VisitPolicy``: the pack's start rule for patients not yet on the drug, else the allowed action
    whose twin forecast scores best (module docstring). Stateless and deterministic."""

    def __init__(self, pack: TherapyPack, grid_size: int = DEFAULT_GRID_SIZE, risk_quantile: float | None = None,
                 change_cost: float = DEFAULT_CHANGE_COST, scatter: bool = True, name: str = "mpc") -> None:
        self.pack, self.grid_size, self.risk_quantile, self.change_cost = pack, grid_size, risk_quantile, change_cost
        self.scatter = scatter
        self.name = name

    def reset(self, n: int) -> None:
        pass

    def scores(self, view: ClinicView) -> FloatArray:
        return action_scores(self.pack, view, None, self.grid_size, self.risk_quantile, self.change_cost, self.scatter)

    def plan(self, view: ClinicView) -> VisitPlan:
        return plan_choosing(self.pack, view, lambda sub: choose(self.scores(sub), self.pack.guardrails(sub).mask))
