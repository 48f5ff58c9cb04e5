"""The clinic protocol: decisions at visits, the chosen regimen given every day until the next visit.

A clinic does not decide every day. At a visit it measures (INR, or reads the patient's fasting-glucose log), decides a
regimen change that holds until the next visit, possibly after a hold of N doses, and sets the next visit. This module is
that protocol, shared by training, evaluation and serving so all three use the same cadence:

- ``VisitPlan``: one decision for N patients (doses to hold, the regimen after the hold, days to the recheck, the action).
- ``VisitPolicy``: anything that plans visits (the guideline, a learned policy, the model-predictive controller).
- ``ActionVisitPolicy``: a learned "features → Q-values" policy as a VisitPolicy, masked by the pack's guardrails, with the
  pack's start rule for patients not yet on the drug.
- ``Schedule`` / ``SCHEDULES``: the visit cadences a clinic keeps (fixed days, or the plan's own recheck).
- ``ClinicTwin``: the minimum a twin model must offer to be driven by the protocol (any published model can implement it,
  so a policy can be evaluated on models it never trained on).
- ``ClinicNoise``: what a real clinic adds: assay noise, missed doses, late and missed visits.
- ``clinic_rollout``: drive N twins through D days under a schedule and a policy; returns a ``ClinicTrajectory``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from dosewise.therapies.base import BoolArray, ClinicView, FloatArray, IntArray, TherapyPack


@dataclass
class VisitPlan:
    """One visit's decision for N patients, each (n,)."""

    hold_doses: IntArray  # doses to skip from today, then ``regimen``
    regimen: FloatArray  # pack dose unit per day, after the hold, until the next visit
    recheck_days: FloatArray  # days until the next measurement and decision
    action: IntArray  # index into pack.actions; -1 where the plan did not come from the action set (start, guideline)
    started: BoolArray  # True where the pack's start rule set the regimen (patient not yet on the drug)

    @property
    def n(self) -> int:
        return int(self.regimen.shape[0])

    def given_on(self, day_since_visit: int) -> FloatArray:
        """The dose given on the k-th day after the visit (0 = the visit's day)."""
        return np.where(self.hold_doses > day_since_visit, 0.0, self.regimen)


class VisitPolicy(Protocol):
    """Anything that plans visits for a batch. Stateful policies reset per cohort."""

    name: str

    def reset(self, n: int) -> None: ...

    def plan(self, view: ClinicView) -> VisitPlan: ...


QFn = Callable[[np.ndarray], np.ndarray]  # features (n, F) float32 → Q-values (n, A)


class ActionVisitPolicy:
    """A Q-function as a VisitPolicy: the pack's start rule where ``needs_start``, else the best action the guardrails
    allow (hold-and-refer, action 0, where none is)."""

    def __init__(self, pack: TherapyPack, q_fn: QFn, name: str = "learned") -> None:
        self.pack, self.q_fn, self.name = pack, q_fn, name

    def reset(self, n: int) -> None:
        pass

    def plan(self, view: ClinicView) -> VisitPlan:
        raise NotImplementedError  # implemented with clinic_rollout


@dataclass(frozen=True)
class Schedule:
    """A visit cadence. ``fixed_days``: the visit days of a fixed schedule (day 0 is the first visit; after the last
    listed day, every ``then_every_days``); ``follow_recheck``: visits when each plan's ``recheck_days`` says."""

    name: str
    description: str
    fixed_days: tuple[int, ...] = ()
    then_every_days: int = 7
    follow_recheck: bool = False


SCHEDULES: Mapping[str, Schedule] = {}  # filled with the cadences packs declare (pack.cadences)


@dataclass(frozen=True)
class ClinicNoise:
    """What a real clinic adds to a twin. Zero everywhere = the ideal clinic."""

    assay_cv: float = 0.0  # measured = true × exp(N(0, cv²)) (INR assays: CV 5–15 %)
    adherence: float = 1.0  # probability each day's dose is taken
    late_visit_prob: float = 0.0  # a visit happens 1–3 days late
    missed_visit_prob: float = 0.0  # a visit does not happen (the plan runs on until the next one)


class ClinicTwin(Protocol):
    """The minimum a twin model offers the clinic protocol. ``advance_day(given)`` gives each patient ``given`` (pack dose
    unit) today and advances 24 h, returning the true values of the day (at least ``truth_key``, the primary observation
    the clinic measures, and whatever the pack's clinic metrics read). ``covariates``: the COVARIATES a clinic sees."""

    n: int
    truth_key: str
    covariates: dict[str, FloatArray]

    def truth_now(self) -> dict[str, FloatArray]: ...

    def advance_day(self, given: FloatArray) -> dict[str, FloatArray]: ...


@dataclass
class ClinicTrajectory:
    """N patients over D days under the clinic protocol. Daily arrays are (n, D); ``truth[k]`` the twin's true values."""

    given: FloatArray
    regimen: FloatArray
    truth: dict[str, FloatArray]
    visit: BoolArray  # (n, D) True on the days a decision was made
    measured: FloatArray  # (n, D) the measured primary observation on visit days, NaN elsewhere
    actions: IntArray  # (n, D) the action chosen on visit days, -1 elsewhere
    covariates: dict[str, FloatArray] = field(default_factory=dict)
