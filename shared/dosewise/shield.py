"""A model-predictive shield over a learned policy: actions the patient's own fitted twin forecasts as unsafe are taken
out of the learned policy's choice (issue #25: "serve what can: the MPC as a shield over the policy").

The learned policy decides; the shield only removes options. For each action the pack's forecast twin (``forecast``: the
MAP grid fitted to the patient's measurements, with each candidate's posterior weight) forecasts the primary observation
from the visit until ``mpc.AFTER_RECHECK_DAYS`` after the action's recheck — the plans and horizon the MPC scores. For
each of the pack's ``shield_limits`` (e.g. insulin: fasting glucose below 70 mg/dL on at most 4 % of days, the CGM
consensus's time below range) the action's **share** is the expected fraction of those days outside the limit: per day
the probability that the morning's value, log-normal about the twin's noise-free path (``day_scatter``), crosses the
bound, averaged over the days and over the posterior. An action's **excess** is its largest share ÷ allowed share over
the limits; the shield blocks an action whose excess is above 1 and above the least excess among the actions the
guardrails allow. So it never leaves a patient without an action the guardrails allow, and where every allowed action
is forecast unsafe it keeps the safest of them.

Why a shield and not the MPC itself: the learned policy reaches the target range faster (it titrates more boldly than
the MPC's expected-cost choice), and the harm it does is lows a forecast can see coming. Why the share of days and not
the lowest day: a patient's mornings scatter day to day about the path (the twin's process noise, the meter), so a mean
forecast safely above the bound still gives some low mornings, and the share of them is what the consensus bounds.

Pure functions of the patient's view (deterministic), used in evaluation (``ShieldedPolicy``) and serving (inference's
policy store) alike.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from dosewise import forecast as fc
from dosewise import mpc
from dosewise.therapies.base import BoolArray, ClinicView, FloatArray, GuardrailResult, IntArray, ShieldLimit, TherapyPack
from dosewise.therapies.clinic import QFn, VisitPlan, plan_choosing

# Readings needed before the patient's own scatter replaces the fit's residual SD: a standard deviation of fewer than
# three points says little. Our choice.
MIN_READINGS = 3
RULE = "model_shield"  # the firing's rule id where the shield removed an action the guardrails allowed


def has_shield(pack: TherapyPack) -> bool:
    """Whether a shield can guard this pack: it needs the pack's forecast twin and limits to hold the forecasts to."""
    return fc.twin_spec(pack) is not None and bool(pack.shield_limits)


def _spec(pack: TherapyPack) -> fc.TwinSpec:
    spec = fc.twin_spec(pack)
    if spec is None or not pack.shield_limits:
        raise ValueError(f"the {pack.id} pack has no shield (it needs a forecast twin and shield_limits)")
    return spec


def day_scatter(pack: TherapyPack, view: ClinicView, floor: float) -> FloatArray:
    """(n,) the log-SD of one day's observation about the twin's noise-free path: the SD of the log of the patient's own
    recent readings of the primary observation (``MIN_READINGS`` or more), never below the fit's residual SD ``floor``.
    A patient whose mornings swing widely has lows at a mean the forecast puts safely above the bound."""
    values = view.obs[pack.observation_kinds[0]]
    seen = ~np.isnan(values) & (np.nan_to_num(values, nan=0.0) > 0)
    logs = np.log(np.where(seen, values, 1.0))
    count = seen.sum(axis=1)
    mean = np.where(seen, logs, 0.0).sum(axis=1) / np.maximum(count, 1)
    var = np.where(seen, (logs - mean[:, None]) ** 2, 0.0).sum(axis=1) / np.maximum(count - 1, 1)
    own = np.where(count >= MIN_READINGS, np.sqrt(var), 0.0)
    return np.maximum(own, floor)


def limit_shares(pack: TherapyPack, view: ClinicView, grid_size: int = mpc.DEFAULT_GRID_SIZE) -> FloatArray:
    """(n, A, L) each action's expected share of forecast days outside each of the pack's ``shield_limits`` (module
    docstring)."""
    spec = _spec(pack)
    limits = pack.shield_limits
    out = np.zeros((view.n, pack.n_actions, len(limits)))
    if view.n == 0:
        return out
    horizon = mpc.action_horizons(pack, view)
    scatter = day_scatter(pack, view, spec.residual_log_sd)
    for lo in range(0, view.n, mpc.BLOCK):
        rows = slice(lo, min(lo + mpc.BLOCK, view.n))
        out[rows] = _block_shares(pack, view.take(rows), horizon[rows], grid_size, spec, limits, scatter[rows])
    return out


def _block_shares(pack: TherapyPack, view: ClinicView, horizon: IntArray, grid_size: int, spec: fc.TwinSpec,
                  limits: tuple[ShieldLimit, ...], scatter: FloatArray) -> FloatArray:
    days = int(horizon.max())
    given, regimen = fc.action_plans(pack, view.current_dose, days)
    fitted = fc.plan_paths(pack, view, given, regimen, grid_size, spec)
    assert fitted is not None
    log_path = np.log(np.maximum(fitted.paths, 1e-9))  # (n, A, G, days)
    scored = (np.arange(days)[None, None, :] < horizon[:, :, None]).astype(float)  # (n, A, days)
    sd = scatter[:, None, None, None]
    shares = []
    for limit in limits:
        if limit.below is not None:
            p_day = ndtr((np.log(limit.below) - log_path) / sd)
        else:
            assert limit.above is not None
            p_day = ndtr((log_path - np.log(limit.above)) / sd)
        per_candidate = np.einsum("nagd,nad->nag", p_day, scored) / np.maximum(horizon, 1)[:, :, None]
        shares.append(np.einsum("nag,ng->na", per_candidate, fitted.weights))
    return np.stack(shares, axis=2)


def action_excess(pack: TherapyPack, view: ClinicView, grid_size: int = mpc.DEFAULT_GRID_SIZE) -> FloatArray:
    """(n, A) each action's largest forecast share ÷ allowed share over the pack's limits: above 1 is unsafe."""
    allowed = np.array([max(limit.max_share, 1e-12) for limit in pack.shield_limits])
    return (limit_shares(pack, view, grid_size) / allowed).max(axis=2)


def shield_mask(pack: TherapyPack, view: ClinicView, guard_mask: BoolArray,
                grid_size: int = mpc.DEFAULT_GRID_SIZE) -> BoolArray:
    """(n, A) the actions left to the learned policy: those the guardrails allow (``guard_mask``) whose excess is at most
    1, or at most the least excess of any allowed action (a row the guardrails leave open stays open). Rows the guardrails
    close entirely stay closed (hold-and-refer, as without a shield)."""
    guard_mask = np.asarray(guard_mask, dtype=bool)
    if view.n == 0:
        return guard_mask.copy()
    excess = action_excess(pack, view, grid_size)
    safest = np.min(np.where(guard_mask, excess, np.inf), axis=1, keepdims=True)
    return guard_mask & ((excess <= 1.0) | (excess <= safest + 1e-12))


def apply(pack: TherapyPack, view: ClinicView, guard: GuardrailResult,
          grid_size: int = mpc.DEFAULT_GRID_SIZE) -> GuardrailResult:
    """The guardrails' result narrowed by the shield: ``shield_mask`` as the mask, and where the shield removed an action
    the guardrails allowed, a ``RULE`` firing that names them, so the explanation and the HyperScore's consistency see
    it as they see a guardrail."""
    mask = shield_mask(pack, view, guard.mask, grid_size)
    unit = _spec(pack).unit
    limits = " or ".join((f"below {lim.below:g}" if lim.below is not None else f"above {lim.above:g}")
                         + f" {unit} on more than {100 * lim.max_share:g} % of days" for lim in pack.shield_limits)
    firings = []
    for i in range(view.n):
        blocked = [pack.actions[j].label for j in np.flatnonzero(guard.mask[i] & ~mask[i])]
        extra = [(RULE, f"Held back by the forecast of the patient's fitted twin ({pack.observation_kinds[0].replace('_', ' ')} "
                        f"{limits}): {', '.join(blocked)}. The policy chose among the rest.")] if blocked else []
        firings.append([*guard.firings[i], *extra])
    return GuardrailResult(mask=mask, firings=firings)


class ShieldedPolicy:
    """A Q-function behind the shield, as a ``clinic.VisitPolicy``: the pack's start rule where ``needs_start``, else the
    allowed action of highest Q among those the shield leaves; hold-and-refer (action 0) where the guardrails allow none."""

    def __init__(self, pack: TherapyPack, q_fn: QFn, name: str = "learned+shield",
                 grid_size: int = mpc.DEFAULT_GRID_SIZE) -> None:
        _spec(pack)
        self.pack, self.q_fn, self.name, self.grid_size = pack, q_fn, name, grid_size

    def reset(self, n: int) -> None:
        pass

    def choose(self, view: ClinicView) -> IntArray:
        pack = self.pack
        if view.n == 0:
            return np.zeros(0, dtype=np.int64)
        q = np.asarray(self.q_fn(pack.features(view)), dtype=np.float64).reshape(view.n, pack.n_actions)
        return mpc.choose(q, shield_mask(pack, view, pack.guardrails(view).mask, self.grid_size))

    def plan(self, view: ClinicView) -> VisitPlan:
        return plan_choosing(self.pack, view, self.choose)
