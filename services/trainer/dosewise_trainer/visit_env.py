"""The visit-level environment for training: one step of a patient = one clinic visit, run by the clinic protocol itself.

Training runs ``clinic.clinic_rollout`` — the very protocol evaluation runs and serving answers for (decisions at visits,
the plan's doses given daily until the next visit, the pack's cadences, late and missed visits, missed doses, assay
noise) — with an exploring policy that records what it saw at each visit; ``visit_transitions`` then cuts the trajectory
into visit-level transitions. So the learner cannot be trained at a cadence, or on a protocol detail, that evaluation and
serving do not share.

Spec sheet (Gymnasium style):

- **Step** (per patient): from a visit on day v_k to the patient's next visit v_{k+1}. N patients step together in one
  rollout, each on its own visit days.
- **Observation / action mask**: ``pack.features`` of the visit's ClinicView and ``pack.guardrails(view).mask`` (action 0
  where nothing is allowed, ``common.allowed_actions``), as serving computes them. Actions are the pack's (a regimen change
  held until the next visit, possibly after a hold of N doses), turned into a plan by ``clinic.plan_from_actions``.
- **Start**: every patient is naive on day 0; the pack's start rule sets the first regimen (no transition: the rule, not
  the learner, chose it), so the first learned decision is the second visit, when the response has barely begun.
- **Reward of a step**: Σ over the days v_k … v_{k+1} − 1 of the pack's daily α·T − β·A on the twin's true primary value
  at the end of each day (``pack.reward_terms``: the terms the trainer also computes from real outcomes), minus
  γ·H for the regimen change made at the visit, minus ``reversal_penalty`` when the decision reverses the previous one
  without new evidence (``is_reversal``).
- **Discount**: γ_day^(v_{k+1} − v_k) (``interval_discount``): a weekly step discounts like seven daily steps, so returns
  mean the same whatever the cadence. With ``n_step`` > 1 a transition sums the patient's next visit steps too, each
  discounted by the days from the decision to its visit.
- **Episode end**: after the rollout's days. The interval still open then has no next visit and is not a transition (its
  reward is unfinished); the twins have no terminal state.

The reversal penalty is a product choice, not a literature value (issue #25, "steady regimens"): a clinic that raises the
dose at one visit and lowers it at the next, when the measurement in between did not move the way that would justify it,
is oscillating on noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from dosewise.therapies.base import ClinicView, Cohort, FloatArray, IntArray, TherapyPack
from dosewise.therapies.clinic import ClinicTrajectory, ClinicTwin, SimulatorTwin, VisitPlan, plan_from_actions
from dosewise_trainer.algorithms.common import allowed_actions, epsilon_greedy

# "Did not move": a change of the primary observation smaller than this fraction of the target band's width (INR 2–3: 0.1;
# fasting glucose 80–130 mg/dL: 5 mg/dL). Product choice: about one assay's noise (INR CV ~5 % at 2.5 ≈ 0.12; a meter's
# CV ~5 % at 100 mg/dL), so a smaller difference is no evidence.
STILL_FRACTION_OF_BAND = 0.1
REVERSAL_PENALTY = 1.0  # product choice: an unjustified reversal costs as much as one adverse-event day


# ------------------------------------------------------------------------------------------------------ decision rules


def regimen_direction(current: FloatArray, regimen: FloatArray, hold_doses: IntArray) -> IntArray:
    """−1, 0 or +1 per decision: the direction of the regimen change. A hold lowers what is given (−1) whatever it
    resumes at (base.ActionSpec: a hold never resumes higher)."""
    diff = np.asarray(regimen, dtype=float) - np.asarray(current, dtype=float)
    d = np.where(diff > 1e-9, 1, np.where(diff < -1e-9, -1, 0)).astype(np.int64)
    return np.where(np.asarray(hold_doses) > 0, -1, d)


def is_reversal(prev_direction: IntArray, direction: IntArray, measured_change: FloatArray, effect_sign: int,
                still: float) -> np.ndarray:
    """True where a decision reverses the previous one without new evidence.

    A reversal: the previous decision and this one changed the regimen in opposite directions (a hold counts as a
    decrease; a kept regimen has no direction, so keep-then-change is never one). It is *justified* when the primary
    observation, from the reading the previous decision saw to the one this decision sees, moved by at least ``still`` the
    way the previous change pushes it (``effect_sign`` · previous direction: a warfarin increase raises the INR, an insulin
    increase lowers glucose): the response arrived, perhaps too strongly. It is penalized when the observation moved the
    other way, did not move, or is unknown (NaN): nothing new justifies undoing the previous decision."""
    prev_direction, direction = np.asarray(prev_direction), np.asarray(direction)
    flips = (prev_direction * direction) < 0
    pushed = effect_sign * prev_direction * np.asarray(measured_change, dtype=float)
    justified = np.nan_to_num(pushed, nan=-np.inf) >= still
    return flips & ~justified


def interval_discount(gamma_per_day: float, days: FloatArray) -> FloatArray:
    """γ_day^days: the discount of a step that lasts ``days`` days."""
    return np.power(gamma_per_day, np.asarray(days, dtype=float))


# ------------------------------------------------------------------------------------------------------ the policy


@dataclass
class VisitRecord:
    """What the exploring policy saw and chose at each visit of a rollout, in call order (one entry per visit day)."""

    day: list[int] = field(default_factory=list)
    features: list[np.ndarray] = field(default_factory=list)  # (m, F) of the m patients seen that day, in patient order
    mask: list[np.ndarray] = field(default_factory=list)  # (m, A)
    action: list[np.ndarray] = field(default_factory=list)  # (m,) −1 where the start rule planned
    latest: list[np.ndarray] = field(default_factory=list)  # (m,) the latest measured primary observation
    current: list[np.ndarray] = field(default_factory=list)  # (m,) the regimen in force before the decision
    plan: list[VisitPlan] = field(default_factory=list)


class ExploringVisitPolicy:
    """ε-greedy over the guardrail-allowed actions of ``q_fn``, as a clinic.VisitPolicy (the pack's start rule where the
    patient is naive, as ``clinic.ActionVisitPolicy``), recording every visit for ``visit_transitions``. ε = 0 is the
    greedy policy ActionVisitPolicy serves."""

    def __init__(self, pack: TherapyPack, q_fn: Callable[[np.ndarray], np.ndarray], epsilon: float,
                 rng: np.random.Generator, name: str = "exploring") -> None:
        self.pack, self.q_fn, self.epsilon, self.rng, self.name = pack, q_fn, epsilon, rng, name
        self.record = VisitRecord()

    def reset(self, n: int) -> None:
        self.record = VisitRecord()

    def plan(self, view: ClinicView) -> VisitPlan:
        pack = self.pack
        features = pack.features(view)
        mask = allowed_actions(pack.guardrails(view).mask)
        q = np.asarray(self.q_fn(features), dtype=np.float64).reshape(view.n, pack.n_actions)
        plan = plan_from_actions(pack, view, epsilon_greedy(q, mask, self.epsilon, self.rng))
        kind = pack.observation_kinds[0]
        r = self.record
        r.day.append(round(float(view.day[0])))
        r.features.append(features)
        r.mask.append(mask)
        r.action.append(np.asarray(plan.action, dtype=np.int64))
        r.latest.append(np.asarray(view.obs[kind][:, 0], dtype=float))
        r.current.append(np.asarray(view.current_dose, dtype=float))
        r.plan.append(plan)
        return plan


# ------------------------------------------------------------------------------------------------- transitions


@dataclass
class VisitTransitions:
    """Visit-level transitions of one rollout (one row per learned decision followed by another visit)."""

    patient: IntArray
    day: IntArray  # the decision's visit day
    obs: np.ndarray
    actions: IntArray
    reward: FloatArray  # the (n-step) return: Σ daily α·T − β·A over the interval − γ·H − reversal penalty, per step
    days: FloatArray  # the decision's own interval (to the next visit)
    discount: FloatArray  # γ_day^(days from the decision to the visit it bootstraps from)
    next_obs: np.ndarray  # the features of that visit
    next_mask: np.ndarray
    reversal: np.ndarray  # the decision was a penalized reversal
    direction_change: np.ndarray  # the decision reversed the previous one's direction (penalized or not)
    one_step_reward: FloatArray  # the decision's own interval's reward (= reward when n_step = 1)

    @property
    def n(self) -> int:
        return int(self.actions.shape[0])


def daily_rewards(pack: TherapyPack, traj: ClinicTrajectory) -> FloatArray:
    """(n, D) α·T − β·A of each day on the twin's true primary value at the day's end (day index d + 1 of therapy)."""
    value = traj.truth[traj.truth_key]
    n, days = value.shape
    w = pack.reward_weights
    out = np.zeros((n, days))
    for d in range(days):
        t, a, _ = pack.reward_terms(value[:, d], np.full(n, d + 1.0), np.zeros(n))
        out[:, d] = w.alpha * t - w.beta * a
    return out


def visit_transitions(pack: TherapyPack, traj: ClinicTrajectory, record: VisitRecord, gamma_per_day: float,
                      reversal_penalty: float = REVERSAL_PENALTY, still_fraction: float = STILL_FRACTION_OF_BAND,
                      n_step: int = 1) -> VisitTransitions:
    """Cut a clinic rollout driven by an ``ExploringVisitPolicy`` into visit-level transitions (module docstring).
    ``n_step`` > 1: each transition sums up to that many of the patient's visit steps (Sutton & Barto 2018, §7.1), each
    step's reward discounted by the days from the decision to that step's visit, and bootstraps where they end."""
    # Every visit as one row, sorted by (patient, day): the policy saw the patients of a day in patient order.
    patient = np.concatenate([np.flatnonzero(traj.visit[:, d]) for d in record.day]) if record.day else np.zeros(0, int)
    day = np.concatenate([np.full(len(a), d) for d, a in zip(record.day, record.action, strict=True)]) \
        if record.day else np.zeros(0, int)

    def cat(parts: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros((0, *shape))

    feats, masks = cat(record.features, (pack.n_features,)), cat(record.mask, (pack.n_actions,)).astype(bool)
    action = cat(record.action, ()).astype(np.int64)
    latest, current = cat(record.latest, ()), cat(record.current, ())
    regimen = cat([p.regimen for p in record.plan], ())
    hold = cat([p.hold_doses for p in record.plan], ()).astype(np.int64)
    order = np.lexsort((day, patient))
    patient, day, feats, masks, action = patient[order], day[order], feats[order], masks[order], action[order]
    latest, current, regimen, hold = latest[order], current[order], regimen[order], hold[order]

    direction = np.where(action < 0, 0, regimen_direction(current, regimen, hold))  # a start is no direction
    first = np.ones(len(patient), bool)
    first[1:] = patient[1:] != patient[:-1]
    prev_dir = np.where(first, 0, np.roll(direction, 1))
    prev_latest = np.where(first, np.nan, np.roll(latest, 1))
    lo, hi = pack.target_band
    rev = is_reversal(prev_dir, direction, latest - prev_latest, pack.dose_effect_sign,
                      still_fraction * (hi - lo))
    has_next = np.zeros(len(patient), bool)
    has_next[:-1] = ~first[1:]
    valid = (action >= 0) & has_next  # learned decisions whose interval closed at a next visit
    k = np.flatnonzero(valid)
    nxt = k + 1

    # One-step rewards of every row (0 where the row is no closed learned decision).
    daily = np.cumsum(np.concatenate([np.zeros((traj.n, 1)), daily_rewards(pack, traj)], axis=1), axis=1)
    following = np.minimum(np.arange(len(day)) + 1, max(len(day) - 1, 0))
    _, _, h = pack.reward_terms(np.full(len(day), np.nan), day.astype(float), regimen - current)
    one_step = np.where(valid, daily[patient, day[following]] - daily[patient, day] - pack.reward_weights.gamma * h
                        - reversal_penalty * rev, 0.0) if len(day) else np.zeros(0)
    # n-step: add the next learned steps of the same patient, each discounted by the days since this decision, and
    # bootstrap from the visit where the window ends (an open interval ends a window early).
    reward, end = one_step[k].copy(), nxt.copy()
    run = np.ones(k.size, bool)
    for j in range(1, max(1, n_step)):
        row = k + j
        inside = row < len(day)
        row = np.minimum(row, max(len(day) - 1, 0))
        run &= inside & valid[row] & (patient[row] == patient[k])
        reward += np.where(run, interval_discount(gamma_per_day, day[row] - day[k]) * one_step[row], 0.0)
        end = np.where(run, row + 1, end)
    days = (day[end] - day[k]).astype(float)
    return VisitTransitions(
        patient=patient[k], day=day[k], obs=feats[k].astype(np.float32), actions=action[k], reward=reward,
        days=(day[nxt] - day[k]).astype(float), discount=interval_discount(gamma_per_day, days),
        next_obs=feats[end].astype(np.float32), next_mask=masks[end], reversal=rev[k],
        direction_change=(prev_dir * direction < 0)[k], one_step_reward=one_step[k],
    )


# ------------------------------------------------------------------------------------------------------ twins

TwinFactory = Callable[[int, int], ClinicTwin]  # (n patients, seed) → n twins of one training model


def widen_cohort(cohort: Cohort, sd: float, rng: np.random.Generator) -> Cohort:
    """The cohort with every continuous positive hidden parameter multiplied by exp(N(0, sd²)), each patient its own draw
    (integer codes such as true genotypes untouched; probabilities kept ≤ 1): a wider family than the simulator's own
    population, so the policy does not learn one model's parameters. A training-robustness choice, not a clinical value."""
    hidden: dict[str, FloatArray] = {}
    for k, v in cohort.hidden.items():
        v = np.asarray(v, dtype=float)
        if np.all(v > 0) and not np.all(v == np.round(v)):
            w = v * np.exp(rng.normal(0.0, sd, v.shape))
            hidden[k] = np.minimum(w, 1.0) if np.all(v <= 1.0) else w
        else:
            hidden[k] = v
    return Cohort(dict(cohort.covariates), hidden, cohort.seed)


def pack_simulator_family(pack: TherapyPack, population: Cohort, parameter_sd: float) -> TwinFactory:
    """Twins drawn from ``population`` on the pack's own simulator (clinic.SimulatorTwin), parameters widened by
    ``parameter_sd``: the training family's stand-in where no named twin model is registered."""

    def make(n: int, seed: int) -> ClinicTwin:
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(population.n, size=n, replace=n > population.n))
        cohort = widen_cohort(population.take(idx), parameter_sd, rng)
        return SimulatorTwin(pack, pack.simulator(cohort, int(rng.integers(2**31 - 1))), cohort.covariates)

    return make
