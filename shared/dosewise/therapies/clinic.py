"""The clinic protocol: decisions at visits, the chosen regimen given every day until the next visit.

A clinic does not decide every day. At a visit it measures (INR, or reads the patient's fasting-glucose log), decides a
regimen change that holds until the next visit, possibly after a hold of N doses, and sets the next visit. This module is
that protocol, shared by training, evaluation and serving so all three use the same cadence:

- ``VisitPlan``: one decision for N patients (doses to hold, the regimen after the hold, days to the recheck, the action),
  and ``VisitPolicy``: anything that plans visits (the guideline, a learned policy, the model-predictive controller); both
  in base.py, since a pack returns its visit guideline.
- ``ActionVisitPolicy``: a learned "features → Q-values" policy as a VisitPolicy, masked by the pack's guardrails, with the
  pack's start rule for patients not yet on the drug.
- ``Schedule`` / ``SCHEDULES``: the visit cadences a clinic keeps (fixed days, or the plan's own recheck).
- ``ClinicTwin``: the minimum a twin model must offer to be driven by the protocol (any published model can implement it,
  so a policy can be evaluated on models it never trained on). ``SimulatorTwin`` makes a pack's own simulator one.
- ``ClinicNoise``: what a real clinic adds: assay noise, missed doses, late and missed visits.
- ``clinic_rollout``: drive N twins through D days under a schedule and a policy; returns a ``ClinicTrajectory`` (base.py:
  a pack's clinic metrics read it).

Time line of day d in ``clinic_rollout`` (every patient at once, a Python loop over days only):

1. Morning: a self-monitoring pack's patient (``pack.self_monitored``, e.g. a fasting-glucose meter) reads the primary
   observation; otherwise it is measured only when the patient visits. Measured = the twin's true value × exp(N(0, cv²)).
   With ``result_delay_prob`` a visit's decision reads a result 1–2 days old: the visit's INR was drawn that many days
   before (never before the previous one), or the glucose log is read before the day's reading (and the day before's).
2. A patient whose visit falls today is seen: the protocol builds the ClinicView from what a clinic knows (the regimen in
   force, the doses actually taken, the measured values and their ages, the twin's covariates; never a twin's hidden
   state), the policy plans, and the next visit is set by the schedule (fixed days, or the plan's recheck in [1, 28] days).
   A due visit is missed with ``missed_visit_prob`` (the plan runs on until the next one) or happens 1–3 days late with
   ``late_visit_prob``. Day 0 is everyone's first visit and is never late or missed.
3. The day's dose of the plan in force is given: nothing while doses are held, then the regimen; each dose is taken with
   probability ``adherence``. The twin advances 24 h.

All the noise of a rollout is drawn per (patient, day) from ``seed`` before the first day, so two policies run with the same
seed see the same assay errors, missed doses and late or missed visits on the same days: a paired comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dosewise.therapies.base import (
    BoolArray,
    ClinicTrajectory,
    ClinicView,
    FloatArray,
    IntArray,
    TherapyPack,
    VectorSimulator,
    VisitPlan,
    VisitPolicy,
)

RECHECK_MIN_DAYS = 1  # a recheck schedule sees the patient again no sooner than tomorrow ...
RECHECK_MAX_DAYS = 28  # ... and no later than 4 weeks: the longest INR interval of ACCP/CHEST 2012 (Holbrook, Chest 141:e152S)
LATE_VISIT_DAYS = (1, 3)  # a late visit happens this many days late, uniformly (ClinicNoise.late_visit_prob)
RESULT_DELAY_DAYS = (1, 2)  # a delayed result was measured this many days before the decision (ClinicNoise.result_delay_prob)
DOSE_TAKEN_KEY = "dose_taken"  # a twin's truth may report the dose the patient really took (its own adherence model)


QFn = Callable[[np.ndarray], np.ndarray]  # features (n, F) float32 → Q-values (n, A)


def keep_action_index(pack: TherapyPack) -> int:
    """The pack's "keep the regimen" action (a change or scale of 0): how a start is rechecked. 0 if the pack has none."""
    for i, a in enumerate(pack.actions):
        if a.kind in ("change", "scale") and a.delta == 0.0:
            return i
    return 0


def plan_from_actions(pack: TherapyPack, view: ClinicView, action: IntArray) -> VisitPlan:
    """The visit plan of chosen action indices, with the pack's start rule where ``pack.needs_start`` (and the pack has one):
    the hold and regimen by ``pack.apply_actions`` / ``hold_doses``, the recheck by ``pack.recheck_days``."""
    n = view.n
    action = np.asarray(action, dtype=np.int64).reshape(n)
    start = pack.start_regimen(view) if n else None
    started = pack.needs_start(view) if start is not None else np.zeros(n, dtype=bool)
    chosen = np.where(started, keep_action_index(pack), action)
    _, regimen = pack.apply_actions(view.current_dose, chosen)
    if start is not None:
        regimen = np.where(started, np.clip(np.asarray(start, dtype=float), 0.0, pack.max_dose), regimen)
    hold = np.where(started, 0, pack.hold_doses(chosen)).astype(np.int64)
    recheck = np.asarray(pack.recheck_days(view, chosen), dtype=float).reshape(n)
    return VisitPlan(hold_doses=hold, regimen=np.asarray(regimen, dtype=float), recheck_days=recheck,
                     action=np.where(started, -1, action), started=started)


def plan_choosing(pack: TherapyPack, view: ClinicView, choose: Callable[[ClinicView], IntArray]) -> VisitPlan:
    """A visit plan whose action ``choose`` picks for the patients already on the drug (a sub-view of them alone: the
    costly choosers, the MPC and the shield, fit no twin for a patient the start rule doses); the start rule's rows as
    ``plan_from_actions`` sets them."""
    n = view.n
    has_start = n > 0 and pack.start_regimen(view) is not None
    to_start = pack.needs_start(view) if has_start else np.zeros(n, dtype=bool)
    action = np.full(n, keep_action_index(pack), dtype=np.int64)
    on_drug = np.flatnonzero(~to_start)
    if on_drug.size:
        action[on_drug] = choose(view.take(on_drug))
    return plan_from_actions(pack, view, action)


# --- what the packs' visit guidelines share -------------------------------------------------------------------------
def _other_doses(view: ClinicView) -> BoolArray:
    """(n, H) recorded days with a dose taken that is not the regimen in force (0 and unrecorded days are neither)."""
    doses = view.dose_history
    return ~np.isnan(doses) & (doses > 0.0) & (np.abs(doses - view.current_dose[:, None]) > 1e-6)


def previous_regimen(view: ClinicView) -> tuple[FloatArray, BoolArray]:
    """((n,) the regimen before the one in force: the most recent dose taken that differs from it; (n,) whether the
    record shows one)."""
    other = _other_doses(view)
    j = np.argmax(other, axis=1)
    return np.nan_to_num(view.dose_history, nan=0.0)[np.arange(view.n), j], other.any(axis=1)


def days_on_regimen(view: ClinicView) -> FloatArray:
    """(n,) days the regimen in force has been taken, as far as the record shows: the leading days of the dose record that
    are the current regimen or a missed (0) or unrecorded day, at most the days of therapy and the record's length.

    The days of therapy are the day bins the first dose falls in: bin j holds the doses (j, j + 1] days old, so a first
    dose ``day`` days ago lies in bin ceil(day) − 1. A twin decides on whole days (``day`` doses taken); a clinic's
    evening doses and morning visit give half days: seven evening doses seen the next morning are 6.5 days of therapy and
    seven days on the regimen, as a record whose older days held another dose counts them."""
    h = view.dose_history.shape[1]
    other = _other_doses(view)
    first_other = np.where(other.any(axis=1), np.argmax(other, axis=1), h)
    return np.minimum(first_other.astype(float), np.maximum(np.ceil(view.day - 1e-9), 0.0))


def action_index(pack: TherapyPack, action_id: str) -> int:
    """The index of the pack's action ``action_id`` (KeyError names the known ones)."""
    for i, a in enumerate(pack.actions):
        if a.id == action_id:
            return i
    raise KeyError(f"{pack.id} has no action {action_id!r}; known: {[a.id for a in pack.actions]}")


def through_guardrails(pack: TherapyPack, view: ClinicView, preferred: IntArray) -> IntArray:
    """The preferred action where the guardrails allow it, else the allowed action whose regimen is nearest to the
    preferred one's (the lower regimen on a tie), else action 0 (the pack's safest, a reduction)."""
    mask = pack.guardrails(view).mask
    preferred = np.asarray(preferred, dtype=np.int64)
    rows = np.arange(view.n)
    proposed = np.clip(pack.proposed_regimens(view.current_dose), 0.0, pack.max_dose)
    distance = np.abs(proposed - proposed[rows, preferred][:, None]) + 1e-6 * proposed  # tie → the lower regimen
    nearest = np.argmin(np.where(mask, distance, np.inf), axis=1)
    chosen = np.where(mask[rows, preferred], preferred, nearest)
    return np.where(mask.any(axis=1), chosen, 0).astype(np.int64)


class ActionGuideline:
    """A guideline algorithm at visits, stated as the action it prefers (``preferred``, each pack's subclass): the pack's
    start where ``needs_start``, else that action through the guardrails (``through_guardrails``), as a VisitPlan."""

    name = "guideline"

    def __init__(self, pack: TherapyPack) -> None:
        self.pack = pack

    def reset(self, n: int) -> None:
        """Stateless: nothing to reset."""

    def preferred(self, view: ClinicView) -> IntArray:
        raise NotImplementedError

    def choose(self, view: ClinicView) -> IntArray:
        """(n,) the action index at this visit (what ``plan`` applies where no start is due)."""
        if view.n == 0:
            return np.zeros(0, dtype=np.int64)
        return through_guardrails(self.pack, view, self.preferred(view))

    def plan(self, view: ClinicView) -> VisitPlan:
        return plan_from_actions(self.pack, view, self.choose(view))


class ActionVisitPolicy:
    """A Q-function as a VisitPolicy: the pack's start rule where ``needs_start``, else the best action the guardrails
    allow (hold-and-refer, action 0, where none is)."""

    def __init__(self, pack: TherapyPack, q_fn: QFn, name: str = "learned") -> None:
        self.pack, self.q_fn, self.name = pack, q_fn, name

    def reset(self, n: int) -> None:
        pass

    def choose(self, view: ClinicView) -> IntArray:
        """Per patient, the allowed action of highest Q (ties: the lowest index); 0 where the guardrails allow none."""
        if view.n == 0:
            return np.zeros(0, dtype=np.int64)
        q = np.asarray(self.q_fn(self.pack.features(view)), dtype=np.float64).reshape(view.n, self.pack.n_actions)
        mask = self.pack.guardrails(view).mask
        best = np.argmax(np.where(mask, q, -np.inf), axis=1)
        return np.where(mask.any(axis=1), best, 0).astype(np.int64)

    def plan(self, view: ClinicView) -> VisitPlan:
        return plan_from_actions(self.pack, view, self.choose(view))


@dataclass(frozen=True)
class Schedule:
    """A visit cadence. ``fixed_days``: the visit days of a fixed schedule (day 0 is the first visit; after the last
    listed day, every ``then_every_days``); ``follow_recheck``: visits when each plan's ``recheck_days`` says."""

    name: str
    description: str
    fixed_days: tuple[int, ...] = ()
    then_every_days: int = 7
    follow_recheck: bool = False

    def next_visit(self, day: IntArray, recheck_days: FloatArray | None = None) -> IntArray:
        """The day of the next visit after a visit on ``day`` (n,): ``day`` + the plan's recheck rounded and kept in
        [RECHECK_MIN_DAYS, RECHECK_MAX_DAYS] for a ``follow_recheck`` schedule, else the schedule's next listed day (then
        every ``then_every_days`` after the last), counted from day 0 whatever day the visit really fell on."""
        day = np.asarray(day, dtype=np.int64)
        if self.follow_recheck:
            if recheck_days is None:
                raise ValueError(f"schedule {self.name!r} follows each plan's recheck: give recheck_days")
            r = np.clip(np.rint(np.asarray(recheck_days, dtype=float)), RECHECK_MIN_DAYS, RECHECK_MAX_DAYS)
            return day + r.astype(np.int64)
        fixed = np.asarray(self.fixed_days or (0,), dtype=np.int64)
        every = max(1, self.then_every_days)
        last = int(fixed[-1])
        after_last = last + every * ((np.maximum(day - last, 0) // every) + 1)
        idx = np.searchsorted(fixed, day, side="right")
        listed = fixed[np.minimum(idx, fixed.size - 1)]
        return np.where(idx < fixed.size, listed, after_last).astype(np.int64)

    def visit_days(self, days: int, recheck_days: float = 7.0) -> list[int]:
        """The visit days within [0, days) with no noise (a ``follow_recheck`` schedule: every plan rechecking after
        ``recheck_days``)."""
        out, d = [], np.zeros(1, dtype=np.int64)
        while int(d[0]) < days:
            out.append(int(d[0]))
            d = self.next_visit(d, np.full(1, recheck_days))
        return out


SCHEDULES: Mapping[str, Schedule] = {
    s.name: s
    for s in (
        Schedule("every-3-days", "a visit every 3 days", (0,), 3),
        # The warfarin twins' former fixed INR days (simulator.py): daily during initiation, twice weekly, then weekly
        # (ACCP/CHEST 2012, Ageno et al. Chest 141:e44S: frequent tests until the INR settles).
        Schedule("early-then-weekly", "days 0–4, 7, 10 and 14, then weekly", (0, 1, 2, 3, 4, 7, 10, 14), 7),
        Schedule("weekly", "a visit every 7 days", (0,), 7),
        Schedule("recheck", f"each plan's own recheck, {RECHECK_MIN_DAYS}–{RECHECK_MAX_DAYS} days", (0,),
                 follow_recheck=True),
    )
}


def get_schedule(schedule: Schedule | str) -> Schedule:
    """A Schedule, or the one named; KeyError names the known ones."""
    if isinstance(schedule, Schedule):
        return schedule
    try:
        return SCHEDULES[schedule]
    except KeyError:
        raise KeyError(f"unknown schedule {schedule!r}; known: {', '.join(SCHEDULES)}") from None


@dataclass(frozen=True)
class ClinicNoise:
    """What a real clinic adds to a twin. Zero everywhere = the ideal clinic."""

    assay_cv: float = 0.0  # measured = true × exp(N(0, cv²)) (INR assays: CV 5–15 %)
    adherence: float = 1.0  # probability each day's dose is taken
    late_visit_prob: float = 0.0  # a visit happens 1–3 days late
    missed_visit_prob: float = 0.0  # a visit does not happen (the plan runs on until the next one)
    # The decision reads a measurement 1–2 days old: an INR drawn at the lab and reviewed (phoned back) the next day, or a
    # glucose log read before the day's fasting reading. Real requests come like this (the API's examples: an INR from
    # yesterday); a policy that only ever saw fresh values would meet every such request outside its training.
    result_delay_prob: float = 0.0


class ClinicTwin(Protocol):
    """The minimum a twin model offers the clinic protocol. ``advance_day(given)`` gives each patient ``given`` (pack dose
    unit) today and advances 24 h, returning the true values of the day (at least ``truth_key``, the primary observation
    the clinic measures, and whatever the pack's clinic metrics read). ``covariates``: the pack's ``covariate_names``, what
    a clinic sees. A twin with its own adherence model may report the dose really taken under ``DOSE_TAKEN_KEY``."""

    n: int
    truth_key: str
    covariates: dict[str, FloatArray]

    def truth_now(self) -> dict[str, FloatArray]: ...

    def advance_day(self, given: FloatArray) -> dict[str, FloatArray]: ...


class SimulatorTwin:
    """A pack's own VectorSimulator as a ClinicTwin: today's dose is ``sim.step(given, given)`` (the simulator's own
    decision schedule and measurements are ignored: the protocol measures), the truth of the day its ``StepResult.info``
    (the primary observation under ``<kind>_true``: warfarin "inr_true", insulin "glucose_fasting_true"), and the dose
    really taken the simulator's own dose history (a simulator may drop doses by its own adherence model).

    ``initial_truth(sim)``: the true values before the first dose, for a simulator that exposes them; without it, day 0's
    truth is the simulator's own first reading of the primary observation (its measurement error included)."""

    def __init__(self, pack: TherapyPack, sim: VectorSimulator, covariates: Mapping[str, FloatArray],
                 initial_truth: Callable[[VectorSimulator], Mapping[str, FloatArray]] | None = None) -> None:
        kind = pack.observation_kinds[0]
        self.n, self.sim, self.truth_key = sim.n, sim, f"{kind}_true"
        self.covariates = {k: np.asarray(v) for k, v in covariates.items()}
        view = sim.reset()
        first = initial_truth(sim) if initial_truth is not None else {self.truth_key: view.obs[kind][:, 0]}
        self._now = {k: np.asarray(v, dtype=float).copy() for k, v in first.items()}

    @classmethod
    def of_cohort(cls, pack: TherapyPack, cohort_n: int, seed: int,
                  initial_truth: Callable[[VectorSimulator], Mapping[str, FloatArray]] | None = None) -> SimulatorTwin:
        """``cohort_n`` patients of the pack's own cohort sampler on its simulator, both from ``seed``."""
        cohort = pack.sample_cohort(cohort_n, seed)
        return cls(pack, pack.simulator(cohort, seed + 1), cohort.covariates, initial_truth)

    def truth_now(self) -> dict[str, FloatArray]:
        return self._now

    def advance_day(self, given: FloatArray) -> dict[str, FloatArray]:
        given = np.asarray(given, dtype=float)
        res = self.sim.step(given, given)
        now = {k: np.asarray(v, dtype=float).copy() for k, v in res.info.items()}
        now[DOSE_TAKEN_KEY] = np.asarray(res.view.dose_history[:, 0], dtype=float).copy()
        self._now = now
        return now


@dataclass(frozen=True)
class _Draws:
    """Every random draw of a rollout, per (patient, day), made before the first day (see the module docstring)."""

    assay: FloatArray  # multiplicative assay error
    taken: BoolArray  # the dose of the day is taken
    late_by: IntArray  # days a visit due that day is late (0: on time)
    missed: BoolArray  # a visit due that day does not happen
    delay: IntArray  # days before a visit on that day that the measurement it reads was taken (0: at the visit)

    @classmethod
    def of(cls, n: int, days: int, noise: ClinicNoise, seed: int) -> _Draws:
        # The fifth stream is the result delay's: the first four are the children they always were (SeedSequence.spawn
        # is by index), so a rollout without delays draws what it drew before.
        s_assay, s_adh, s_late, s_miss, s_delay = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5))
        assay = np.exp(s_assay.normal(0.0, noise.assay_cv, (n, days))) if noise.assay_cv > 0 else np.ones((n, days))
        taken = s_adh.random((n, days)) < noise.adherence
        late = s_late.random((n, days)) < noise.late_visit_prob
        late_by = np.where(late, s_late.integers(LATE_VISIT_DAYS[0], LATE_VISIT_DAYS[1] + 1, (n, days)), 0)
        missed = s_miss.random((n, days)) < noise.missed_visit_prob
        delayed = s_delay.random((n, days)) < noise.result_delay_prob
        delay = np.where(delayed, s_delay.integers(RESULT_DELAY_DAYS[0], RESULT_DELAY_DAYS[1] + 1, (n, days)), 0)
        late_by[:, 0], missed[:, 0], delay[:, 0] = 0, False, 0  # the first visit starts the course
        return cls(assay=assay, taken=taken, late_by=late_by.astype(np.int64), missed=missed,
                   delay=delay.astype(np.int64))


def clinic_rollout(
    pack: TherapyPack,
    twin: ClinicTwin,
    policy: VisitPolicy,
    schedule: Schedule | str,
    days: int,
    noise: ClinicNoise | None = None,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> ClinicTrajectory:
    """Drive ``twin``'s N patients through ``days`` days under ``policy`` at ``schedule``'s visits (module docstring).
    Patients start with no drug (regimen 0, no dose on record), so the pack's start rule sets the first regimen. Same
    (twin, policy, schedule, noise, seed) → same trajectory."""
    sched = get_schedule(schedule)
    noise = noise or ClinicNoise()
    n, D = twin.n, int(days)
    kind = pack.observation_kinds[0]
    H, K = pack.dose_history_days, pack.obs_history
    self_monitored = pack.self_monitored
    draws = _Draws.of(n, D, noise, seed)
    rows = np.arange(n)
    policy.reset(n)

    # What the clinic knows.
    regimen = np.zeros(n)  # the regimen in force: nothing yet
    hold_left = np.zeros(n, dtype=np.int64)
    dose_hist = np.full((n, H), np.nan)  # no record yet
    obs = np.full((n, K), np.nan)
    obs_day = np.full((n, K), np.nan)
    recent = np.full((n, RESULT_DELAY_DAYS[1] + 1), np.nan)  # today's assay value, then the days before
    # The next visit: ``due`` its nominal day by the schedule, ``at`` the day it happens (late by the noise), ``skip`` it
    # is missed (checked on its nominal day).
    due = np.zeros(n, dtype=np.int64)
    last_interval = np.full(n, max(1, sched.then_every_days), dtype=np.int64)

    def _noise_of(nominal: IntArray) -> tuple[IntArray, BoolArray]:
        j = np.minimum(nominal, D - 1)
        skip = draws.missed[rows, j]
        return nominal + np.where(skip, 0, draws.late_by[rows, j]), skip

    at, skip = _noise_of(due)

    out_given, out_regimen = np.zeros((n, D)), np.zeros((n, D))
    out_visit, out_held = np.zeros((n, D), dtype=bool), np.zeros((n, D), dtype=bool)
    out_measured, out_readings = np.full((n, D), np.nan), np.full((n, D), np.nan)
    out_actions = np.full((n, D), -1, dtype=np.int64)
    out_started, out_missed = np.zeros((n, D), dtype=bool), np.zeros((n, D), dtype=bool)
    out_recheck = np.full((n, D), np.nan)
    truth_cols: dict[str, list[FloatArray]] = {}
    truth = twin.truth_now()

    for d in range(D):
        # A visit missed today: the plan runs on; the next one is due on the schedule's next day (recheck: after the last
        # interval again).
        missed = (at == d) & skip
        if missed.any():
            out_missed[missed, d] = True
            nxt = due + last_interval if sched.follow_recheck else sched.next_visit(due)
            due = np.where(missed, nxt, due)
            new_at, new_skip = _noise_of(due)
            at, skip = np.where(missed, new_at, at), np.where(missed, new_skip, skip)
        visit = (at == d) & ~skip

        # Morning: what an assay would read today (kept for RESULT_DELAY_DAYS[1] days, for delayed results). Every patient
        # of a self-monitoring pack reads it; otherwise the patients seen today are measured — with a delayed result, on
        # the day it was drawn (never before the last measurement on record).
        measured_today = truth[twin.truth_key] * draws.assay[:, d]
        recent = np.concatenate([measured_today[:, None], recent[:, :-1]], axis=1)
        delay = np.where(visit, draws.delay[:, d], 0)
        if not self_monitored:
            last = np.nan_to_num(obs_day[:, 0], nan=-1.0)
            delay = np.clip(np.minimum(delay, d - last - 1), 0, None).astype(np.int64)
        read = np.ones(n, dtype=bool) if self_monitored else visit
        if read.any():
            lag = np.zeros(n, dtype=np.int64) if self_monitored else delay
            value, on_day = recent[rows, lag], float(d) - lag
            obs = np.where(read[:, None], np.concatenate([value[:, None], obs[:, :-1]], axis=1), obs)
            obs_day = np.where(read[:, None], np.concatenate([on_day[:, None], obs_day[:, :-1]], axis=1), obs_day)
            out_readings[rows[read], on_day[read].astype(np.int64)] = value[read]

        who = np.flatnonzero(visit)
        if who.size:
            seen, seen_day = obs[who].copy(), obs_day[who].copy()
            if self_monitored:  # a delayed log: today's (and yesterday's) reading not yet in it
                hide = obs_day[who] > (d - delay[who])[:, None]
                order = np.argsort(hide, axis=1, kind="stable")  # the readings it has first, newest first
                seen = np.where(np.take_along_axis(hide, order, 1), np.nan, np.take_along_axis(seen, order, 1))
                seen_day = np.where(np.take_along_axis(hide, order, 1), np.nan, np.take_along_axis(seen_day, order, 1))
            view = ClinicView(
                day=np.full(who.size, float(d)), current_dose=regimen[who].copy(), dose_history=dose_hist[who].copy(),
                obs={kind: seen}, obs_age_days={kind: float(d) - seen_day},
                covariates={k: np.asarray(v)[who] for k, v in twin.covariates.items()},
            )
            plan = policy.plan(view)
            regimen[who] = np.clip(np.asarray(plan.regimen, dtype=float), 0.0, pack.max_dose)
            hold_left[who] = np.maximum(np.asarray(plan.hold_doses, dtype=np.int64), 0)
            out_visit[who, d] = True
            out_measured[who, d] = seen[:, 0]  # what the decision read (a delayed result: measured before today)
            out_actions[who, d] = plan.action
            out_started[who, d] = plan.started
            out_recheck[who, d] = plan.recheck_days
            # The next visit: the schedule's next day after today (a late visit stands in for the nominal days it
            # passed), or the plan's recheck from today.
            if sched.follow_recheck:
                nxt = sched.next_visit(np.full(who.size, d), plan.recheck_days)
                last_interval[who] = nxt - d
            else:
                nxt = sched.next_visit(np.full(who.size, d))
            due[who] = nxt
            new_at, new_skip = _noise_of(due)
            at[who], skip[who] = new_at[who], new_skip[who]

        # The day's dose: nothing while doses are held, then the regimen; taken with probability ``adherence``.
        held = hold_left > 0
        given = np.where(held, 0.0, regimen) * draws.taken[:, d]
        hold_left = np.maximum(hold_left - 1, 0)
        truth = twin.advance_day(given)
        taken = np.asarray(truth.get(DOSE_TAKEN_KEY, given), dtype=float)
        dose_hist = np.concatenate([taken[:, None], dose_hist[:, :-1]], axis=1)
        out_given[:, d], out_regimen[:, d], out_held[:, d] = taken, regimen, held
        for k, v in truth.items():
            truth_cols.setdefault(k, []).append(np.asarray(v, dtype=float).copy())
        if progress is not None:
            progress(d + 1)

    return ClinicTrajectory(
        given=out_given, regimen=out_regimen, truth={k: np.stack(v, axis=1) for k, v in truth_cols.items()},
        visit=out_visit, measured=out_measured, actions=out_actions,
        covariates={k: np.asarray(v) for k, v in twin.covariates.items()}, readings=out_readings, held=out_held,
        started=out_started, recheck_days=out_recheck, missed_visit=out_missed, truth_key=twin.truth_key,
        schedule=sched.name, policy=getattr(policy, "name", type(policy).__name__),
    )


def visit_directions(traj: ClinicTrajectory) -> IntArray:
    """(n, D): at each visit, the direction of its decision: −1 for a hold or a lower regimen, +1 for a higher one, 0 for
    the same regimen; 0 on days without a visit and at the visit that started the drug (a start has no direction)."""
    before = np.concatenate([np.zeros((traj.n, 1)), traj.regimen[:, :-1]], axis=1)
    step = np.sign(np.round(traj.regimen - before, 9)).astype(np.int64)
    held = traj.held if traj.held is not None else np.zeros_like(traj.visit)
    started = traj.started if traj.started is not None else np.zeros_like(traj.visit)
    direction = np.where(held, -1, step)
    return np.where(traj.visit & ~started, direction, 0)


def direction_changes(traj: ClinicTrajectory) -> FloatArray:
    """(n,): how often a decision went the other way from the decision at the visit before it (up then down, or down then
    up, at consecutive visits): the oscillation issue #25 asks to report."""
    dirs = visit_directions(traj)
    count = np.zeros(traj.n)
    prev = np.zeros(traj.n, dtype=np.int64)
    for d in range(traj.days):  # a loop over days only
        seen = traj.visit[:, d]
        now = dirs[:, d]
        count += seen & (now * prev < 0)
        prev = np.where(seen, now, prev)
    return count
