"""The therapy-pack interface: one small contract that training, serving, evaluation and the UI all read.

A pack is plain data (actions, features, limits) plus pure functions over **batches** of patients. The key object is the
``ClinicView``: what a clinic can see for N patients at one decision time (observations, doses, demographics, genotype).
Features, guardrails and guideline policies are computed from a ClinicView only, so

- the simulator (which builds ClinicViews from its hidden state) and
- the gateway (which builds a ClinicView from a ``PatientState``, see ``ClinicView.from_states``)

feed the policy exactly the same numbers. Hidden simulator parameters never enter a ClinicView.

This module is the bottom of the domain: the API contract (dosewise.schemas) validates states against the registered packs
(therapies/registry.py), so nothing here imports it; ``PatientRecord`` names what a view reads of a state.
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any, ClassVar, Literal, Protocol, Self

import numpy as np
from pydantic import BaseModel, ConfigDict

from dosewise.medications import generics

FloatArray = np.ndarray  # float64 unless noted
IntArray = np.ndarray
BoolArray = np.ndarray

# Categorical covariates are integer codes; -1 means unknown / not tested. The contract's Genotype and race accept exactly
# these spellings (schemas.py builds its Literals from them).
CYP2C9_GENOTYPES: tuple[str, ...] = ("*1/*1", "*1/*2", "*1/*3", "*2/*2", "*2/*3", "*3/*3")
VKORC1_GENOTYPES: tuple[str, ...] = ("G/G", "G/A", "A/A")
RACES: tuple[str, ...] = ("white", "black", "asian", "other")

DOSE_IMPLAUSIBLE_FACTOR = 4.0  # product limit: a dose above 4 × a pack's daily maximum is a unit mix-up

# Covariates every ClinicView carries (shape (n,)), in the order _covariate_row lists them. Units in the names. A pack adds
# the 0/1 covariates of the co-medications it reads (TherapyPack.comedication_covariates): TherapyPack.covariate_names.
COVARIATES: tuple[str, ...] = (
    "age_years", "female", "weight_kg", "height_cm", "egfr_ml_min_1_73m2",  # egfr NaN when unknown
    "race", "cyp2c9", "vkorc1",  # integer codes into the tuples above; -1 unknown
    "pregnant",  # 0/1
)


# Packs define the kinds they read (TherapyPack.observation_definitions); the contract accepts every registered pack's
# (schemas.Observation). The docstring is the OpenAPI document's description of GET /v1/therapies' kinds.
class ObservationKind(BaseModel):
    """What a lab or vital value is, its canonical unit and the physiologically possible range (in the canonical unit)."""

    model_config = ConfigDict(frozen=True)
    quantity: str
    low: float
    high: float
    loinc: str | None = None
    description: str = ""
    label: str = ""  # how a sentence names it: "INR", "fasting glucose" (empty: the kind's id, underscores as spaces)


class _Measured(Protocol):
    @property
    def value(self) -> float: ...


class _Dose(Protocol):
    @property
    def amount(self) -> float: ...
    @property
    def time(self) -> datetime: ...


class _Reading(_Measured, Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def time(self) -> datetime: ...


class _Genotype(Protocol):
    @property
    def cyp2c9(self) -> str | None: ...
    @property
    def vkorc1(self) -> str | None: ...


class PatientRecord(Protocol):
    """What ``ClinicView.from_states`` reads of one patient: a validated ``schemas.PatientState`` in canonical units."""

    @property
    def decision_time(self) -> datetime: ...
    @property
    def therapy_started(self) -> datetime | None: ...
    @property
    def age_years(self) -> float: ...
    @property
    def sex(self) -> str: ...
    @property
    def weight(self) -> _Measured: ...
    @property
    def height(self) -> _Measured: ...
    @property
    def egfr_ml_min_1_73m2(self) -> float | None: ...
    @property
    def race(self) -> str: ...
    @property
    def genotype(self) -> _Genotype | None: ...
    @property
    def pregnant(self) -> bool | None: ...
    @property
    def co_medications(self) -> Sequence[str]: ...
    @property
    def current_dose(self) -> _Measured: ...
    @property
    def doses(self) -> Sequence[_Dose]: ...
    @property
    def observations(self) -> Sequence[_Reading]: ...


@dataclass(frozen=True)
class FeatureSpec:
    """One input of the policy network. ``loc``/``scale`` normalize it inside the exported model: (x − loc) / scale."""

    name: str
    unit: str
    description: str
    loc: float = 0.0
    scale: float = 1.0


@dataclass(frozen=True)
class ActionSpec:
    """A discrete decision, taken at a visit and held until the next one. What ``delta`` means depends on ``kind``:

    - ``change``: new regimen = current + delta (pack dose unit per day);
    - ``scale``: new regimen = current × (1 + delta / 100): a percent change of the weekly dose, as nomograms state it;
    - ``hold``: give nothing for the next ``hold_doses`` doses (at least one), then resume at current × (1 + delta / 100)
      (delta ≤ 0: a hold is followed by the same or a lower regimen, never a higher one);
    - ``level``: give exactly ``delta`` (packs whose action is a dose level).

    New regimens are rounded to the pack's ``dose_step`` without losing their direction (``TherapyPack.round_regimen``)."""

    id: str
    label: str
    kind: Literal["hold", "change", "scale", "level"]
    delta: float = 0.0
    hold_doses: int = 0  # kind "hold" only; 0 reads as 1

    @property
    def doses_held(self) -> int:
        return max(1, self.hold_doses) if self.kind == "hold" else 0


def _covariate_row(pack: TherapyPack, s: PatientRecord) -> tuple[float, ...]:
    """One state's ``pack.covariate_names`` in order, then its current dose."""
    g = s.genotype
    return (
        s.age_years, 1.0 if s.sex == "female" else 0.0, s.weight.value, s.height.value,
        np.nan if s.egfr_ml_min_1_73m2 is None else s.egfr_ml_min_1_73m2,
        RACES.index(s.race) if s.race in RACES else -1,
        CYP2C9_GENOTYPES.index(g.cyp2c9) if g and g.cyp2c9 else -1,
        VKORC1_GENOTYPES.index(g.vkorc1) if g and g.vkorc1 else -1,
        1.0 if s.pregnant else 0.0,
        *pack.comedication_flags(generics(s.co_medications) if s.co_medications else frozenset()),
        s.current_dose.value,
    )


@dataclass
class ClinicView:
    """What a clinic sees for N patients at one decision time. Most recent first in every history array.

    - ``day``: days since the start of therapy (decision index · interval; for a PatientState its ``therapy_started``,
      else its record's first dose), shape (n,).
    - ``current_dose``: the regimen in force before this decision (pack dose unit per day), (n,).
    - ``dose_history``: amount given on each of the last H days, [:, 0] = yesterday; NaN unknown, (n, H).
    - ``obs[kind]`` / ``obs_age_days[kind]``: the last K measured values (canonical unit) and how many days before the
      decision each was taken; NaN where fewer than K exist, (n, K).
    - ``covariates``: ``TherapyPack.covariate_names`` (COVARIATES and the pack's co-medication covariates), each (n,).
    """

    day: FloatArray
    current_dose: FloatArray
    dose_history: FloatArray
    obs: dict[str, FloatArray]
    obs_age_days: dict[str, FloatArray]
    covariates: dict[str, FloatArray]

    @property
    def n(self) -> int:
        return int(self.current_dose.shape[0])

    def take(self, idx: IntArray | slice) -> ClinicView:
        """A sub-batch (used by tests and per-patient explanations)."""
        return ClinicView(
            day=self.day[idx], current_dose=self.current_dose[idx], dose_history=self.dose_history[idx],
            obs={k: v[idx] for k, v in self.obs.items()}, obs_age_days={k: v[idx] for k, v in self.obs_age_days.items()},
            covariates={k: v[idx] for k, v in self.covariates.items()},
        )

    @classmethod
    def from_states(cls, pack: TherapyPack, states: Sequence[PatientRecord]) -> ClinicView:
        """Build the batch view of validated PatientStates (already in canonical units) at each one's decision time.

        Built in Python lists and turned into arrays once: reading or writing one numpy element costs ~0.3 µs, and a state
        has dozens (timeit: 30 µs a state that way in a batch of 1,000 and 27 µs for one; 16 and 23 µs this way).
        Whole-array numpy (``np.add.at`` and masks) made 12 µs of the batch's but 82 µs of the single state's, the common
        request."""
        H, K, kinds = pack.dose_history_days, pack.obs_history, pack.observation_kinds
        times = [s.decision_time for s in states]
        dose_rows, days = [], []
        obs_rows: dict[str, list[list[float]]] = {k: [] for k in kinds}
        age_rows: dict[str, list[list[float]]] = {k: [] for k in kinds}
        for t, s in zip(times, states, strict=True):
            # Doses: bin into whole days before the decision, (0, 1] days → [0] = "yesterday", as the simulators do (a dose
            # given at the previous daily decision, exactly 24 h ago, is yesterday's); several doses in one bin add up.
            row = [math.nan] * H
            first = 0.0
            for d in s.doses:
                days_before = (t - d.time).total_seconds() / 86400.0
                first = max(first, days_before)
                b = max(0, math.ceil(days_before) - 1)
                if b < H:
                    row[b] = (0.0 if math.isnan(row[b]) else row[b]) + d.amount
            if s.doses:  # days with no recorded dose inside the recorded span were days without a dose
                for j in range(min(H, max(1, math.ceil(first)))):
                    if math.isnan(row[j]):
                        row[j] = 0.0
            dose_rows.append(row)
            # Day of therapy: from the whole course's start when the caller knows it, else from the record's first dose.
            started = 0.0 if s.therapy_started is None else (t - s.therapy_started).total_seconds() / 86400.0
            days.append(max(first, started))
            for kind in kinds:
                recent = sorted((o for o in s.observations if o.kind == kind), key=attrgetter("time"), reverse=True)[:K]
                pad = [math.nan] * (K - len(recent))
                obs_rows[kind].append([o.value for o in recent] + pad)
                age_rows[kind].append([(t - o.time).total_seconds() / 86400.0 for o in recent] + pad)
        n = len(states)
        names = pack.covariate_names
        cov = np.array([_covariate_row(pack, s) for s in states], dtype=float).reshape(n, len(names) + 1).T.copy()
        return cls(
            day=np.array(days, dtype=float).reshape(n), current_dose=cov[-1],
            dose_history=np.array(dose_rows, dtype=float).reshape(n, H),
            obs={k: np.array(v, dtype=float).reshape(n, K) for k, v in obs_rows.items()},
            obs_age_days={k: np.array(v, dtype=float).reshape(n, K) for k, v in age_rows.items()},
            covariates={c: cov[j] for j, c in enumerate(names)},
        )


@dataclass
class Cohort:
    """N virtual patients: the covariates a clinic sees plus hidden simulator parameters (never shown to a policy)."""

    covariates: dict[str, FloatArray]
    hidden: dict[str, FloatArray]
    seed: int

    @property
    def n(self) -> int:
        return int(next(iter(self.covariates.values())).shape[0])

    def take(self, idx: IntArray) -> Cohort:
        return Cohort({k: v[idx] for k, v in self.covariates.items()}, {k: v[idx] for k, v in self.hidden.items()}, self.seed)

    @classmethod
    def from_view(cls, view: ClinicView, hidden: dict[str, FloatArray]) -> Cohort:
        """The patients of a clinic view with these hidden parameters: what a forecast twin is built from."""
        return cls(covariates={k: np.asarray(v, dtype=float) for k, v in view.covariates.items()}, hidden=hidden, seed=0)


@dataclass
class StepResult:
    """One decision step for N patients. ``info`` holds per-patient diagnostics (reward terms R_T, R_A, R_H; the true
    physiological value for metrics) — for evaluation and logs, never for the learner's input."""

    view: ClinicView
    reward: FloatArray
    terminated: BoolArray
    truncated: BoolArray
    info: dict[str, FloatArray] = field(default_factory=dict)


@dataclass
class Trajectory:
    """One rollout of N patients over T decision steps (built by ``rollout.rollout``); input to ``TherapyPack.metrics``.

    Arrays are (n, T) per decision step unless noted. ``info`` stacks each StepResult.info key over time (n, T), e.g. the
    hidden true physiological value that metrics and plots need. ``features`` (n, T, F) only when recorded.
    """

    cohort: Cohort
    given: FloatArray
    regimen: FloatArray
    reward: FloatArray
    terminated: BoolArray
    info: dict[str, FloatArray]
    features: np.ndarray | None = None
    actions: IntArray | None = None  # (n, T) action indices when the policy chose from the action set, else -1

    @property
    def n(self) -> int:
        return int(self.given.shape[0])

    @property
    def steps(self) -> int:
        return int(self.given.shape[1])


class VectorSimulator(ABC):
    """N digital twins stepping together with numpy; no Python loop over patients. One call = one decision interval."""

    n: int

    @abstractmethod
    def reset(self) -> ClinicView:
        """Start every patient's course; returns the view at the first decision."""

    @abstractmethod
    def step(self, given: FloatArray, regimen: FloatArray) -> StepResult:
        """Give ``given`` (dose per day over the next interval) and set the regimen to ``regimen``; advance one interval."""

    def fork(self, seed: int) -> Self:
        """An independent copy of these twins as they are now, whose future noise (every numpy Generator it holds) is drawn
        from ``seed``: the same patients in the same state with fresh luck, e.g. to measure how much of an outcome is
        chance (test–retest). A simulator keeping generators elsewhere must override this."""
        twin = copy.deepcopy(self)
        generators = sorted(k for k, v in vars(twin).items() if isinstance(v, np.random.Generator))
        for k, child in zip(generators, np.random.SeedSequence(seed).spawn(len(generators)), strict=True):
            setattr(twin, k, np.random.default_rng(child))
        return twin


@dataclass(frozen=True)
class RewardWeights:
    """R = α·T − β·A − γ·H (HSDPO, source document 001): therapeutic effect, adverse events, dose-change penalty."""

    alpha: float = 1.0
    beta: float = 1.0
    gamma: float = 0.1

    def combine(self, t: FloatArray, a: FloatArray, h: FloatArray) -> FloatArray:
        return self.alpha * t - self.beta * a - self.gamma * h


@dataclass
class GuardrailResult:
    """Per patient: which actions are allowed, and the rules that fired with a clinician-readable reason."""

    mask: BoolArray  # (n, A)
    firings: list[list[tuple[str, str]]]  # per patient: (rule id, message)


class DosingPolicy(Protocol):
    """Anything that doses a batch: the guideline, a learned policy, a fixed dose. Stateful policies reset per cohort."""

    name: str

    def reset(self, n: int) -> None: ...

    def act(self, view: ClinicView) -> tuple[FloatArray, FloatArray]:
        """Return (given dose per day over the next interval, new regimen) per patient."""
        ...


@dataclass(frozen=True)
class ShieldLimit:
    """One limit of a pack's shield (dosewise.shield): the forecast share of days whose primary observation is below
    ``below`` (or above ``above``; canonical unit) may be at most ``max_share``. ``source``: where the limit comes from."""

    max_share: float
    source: str
    below: float | None = None
    above: float | None = None

    def __post_init__(self) -> None:
        if (self.below is None) == (self.above is None):
            raise ValueError("a shield limit bounds one side: give below or above")
        if not 0.0 <= self.max_share <= 1.0:
            raise ValueError(f"max_share must be in [0, 1], got {self.max_share}")


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
    """Anything that plans visits for a batch. ``plan`` receives the patients seen today (a sub-batch of the cohort, in
    patient order), so a policy reads everything it needs from the view; ``reset(n)`` starts a cohort of n."""

    name: str

    def reset(self, n: int) -> None: ...

    def plan(self, view: ClinicView) -> VisitPlan: ...


@dataclass
class ClinicTrajectory:
    """N patients over D days under the clinic protocol. Daily arrays are (n, D), column d = day d.

    ``truth[k][:, d]``: the twin's true values at the end of day d (the morning of day d + 1), as ``advance_day`` returned
    them; ``measured[:, d]``: the primary observation measured at a visit on the morning of day d (NaN elsewhere);
    ``readings``: every value the clinic received (= ``measured`` unless the pack is self-monitored)."""

    given: FloatArray  # dose taken on day d (0 on a held or missed dose)
    regimen: FloatArray  # the regimen in force on day d (the plan's regimen after its hold)
    truth: dict[str, FloatArray]
    visit: BoolArray  # (n, D) True on the days a decision was made
    measured: FloatArray  # (n, D) the measured primary observation on visit days, NaN elsewhere
    actions: IntArray  # (n, D) the action chosen on visit days, -1 elsewhere
    covariates: dict[str, FloatArray] = field(default_factory=dict)
    readings: FloatArray | None = None  # (n, D) every measured primary observation, NaN on days without one
    held: BoolArray | None = None  # (n, D) True on days the plan held the dose
    started: BoolArray | None = None  # (n, D) True at a visit where the start rule set the regimen
    recheck_days: FloatArray | None = None  # (n, D) each visit's plan's recheck, NaN elsewhere
    missed_visit: BoolArray | None = None  # (n, D) a visit was due and did not happen
    truth_key: str = ""
    schedule: str = ""
    policy: str = ""

    @property
    def n(self) -> int:
        return int(self.given.shape[0])

    @property
    def days(self) -> int:
        return int(self.given.shape[1])


@dataclass(frozen=True)
class TwinSpec:
    """How dosewise.forecast personalizes a pack's twin to one patient (``TherapyPack.forecast_twin``): which parameter
    one scale multiplies, its prior, and noise-free twins whose hidden parameters are population-typical for a view's
    covariates × that scale, starting drug-naive, at the steady state of a dose, or at the state observed before the
    decision. ``StepResult.info[truth_key]`` carries their true primary observation. The forecast's module docstring
    describes the fit."""

    parameter: str  # what the scale multiplies, e.g. "EC50"
    description: str
    unit: str  # of the primary observation
    prior_log_sd: float
    residual_log_sd: float
    truth_key: str  # StepResult.info key of the noise-free primary observation
    # (pack, view of B rows, scale (B,)) → twins, reset (every pack's simulator resets in its constructor)
    build: Callable[[TherapyPack, ClinicView, FloatArray], VectorSimulator]
    set_steady_state: Callable[[VectorSimulator, np.ndarray, FloatArray], None] | None = None  # (sim, rows (B,), dose (B,))
    memory_days: int | None = None  # doses this many days before the oldest observation no longer matter; None = all do
    burn_in_days: int = 0  # days at the steady dose before a steady-state start's replay (dosewise.forecast's docstring)
    # A course that began at most this many days before its recorded doses still starts drug-naive at day 0, the
    # unrecorded first days dosed at the mean of the oldest recorded week: a steady-state start overstates the effect a
    # course only weeks old has built up (warfarin, true EC50 scale 1.0 at day 15–21: fitted 1.1–2.0 with a steady start).
    naive_impute_days: int = 0
    # Packs whose state is not a function of the dose history (immune: the infection's course) start every twin at the
    # state observed ``age`` days before the decision instead: (sim, view of B rows, age (B,)) → None.
    set_observed_state: Callable[[VectorSimulator, ClinicView, IntArray], None] | None = None
    score_transform: Callable[[FloatArray], FloatArray] | None = None  # e.g. log10 for a pathogen load; None = as is
    # Packs whose patients miss doses at random (insulin: the view records the doses actually taken) forecast with the
    # planned dose × the share of the last week's known days on which a dose was taken.
    adherence_from_history: bool = False
    # One day without the reward, measurement and clinic view that ``VectorSimulator.step`` also builds: (sim, given (B,),
    # regimen (B,)) → the noise-free primary observation (B,), the same numbers ``step(...).info[truth_key]`` gives (tested).
    # Most of a forecast's time is those per-day extras (bench: warfarin 7 → 4 ms per single-patient forecast). None = step.
    advance: Callable[[VectorSimulator, FloatArray, FloatArray], FloatArray] | None = None
    # The whole path at once, for packs whose noise-free primary observation follows from the start and the doses alone
    # (a forecast's doses are all known before it runs; nothing feeds back): (pack, view of n rows, scales (G,), start
    # dose (n,): 0 = drug-naive, else the steady state ``set_steady_state`` would set, doses given (n, P, L)) → the
    # observation after each day (n, P, G, L), what ``advance`` gives day by day (tested). Warfarin's single-patient
    # forecast 1.4 → 0.44 ms (timeit). None = build the simulator and step it. Not used for observed starts.
    path: Callable[[TherapyPack, ClinicView, FloatArray, FloatArray, FloatArray], FloatArray] | None = None
    # True: the forecast books the pack's ``reward_terms`` on each forecast day, so it carries the reward the policy is
    # trained and the HyperScore calibrated on. False where the pack's simulator reward needs states the forecast does not
    # return (immune), or its ``reward_terms`` are not that reward: then no reward forecast.
    reward_forecast: bool = False
    outcome_bounds: tuple[float, float] = (1.0, 1.0)  # largest T and largest A of one day: the reward's best and worst day


class TherapyPack(ABC):
    """One therapy. Subclasses set the class attributes and implement the abstract methods; see warfarin.py."""

    id: ClassVar[str]
    name: ClassVar[str]
    dose_unit: ClassVar[str]  # canonical dose unit, e.g. "mg", "U"
    dose_quantity: ClassVar[str]  # units.QUANTITIES key for dose conversion
    observation_kinds: ClassVar[tuple[str, ...]]  # the kinds the pack reads; the first is the primary one
    # Every kind in observation_kinds, and any the pack records without reading: id → kind. The registry refuses a pack
    # whose kind another pack defines differently.
    observation_definitions: ClassVar[Mapping[str, ObservationKind]] = {}
    target_band: ClassVar[tuple[float, float]]  # of the primary observation, canonical unit
    decision_interval_days: ClassVar[float] = 1.0
    dose_history_days: ClassVar[int] = 14
    obs_history: ClassVar[int] = 3
    max_dose: ClassVar[float]  # per day, pack dose unit
    dose_step: ClassVar[float] = 0.0  # regimen granularity (per day, pack dose unit); 0 = none (round_regimen)
    # Clinic visit schedules (keys of clinic.SCHEDULES) this pack's decisions are defined for, first the default one.
    # Empty: a daily-decision pack (the immune model).
    cadences: ClassVar[tuple[str, ...]] = ()
    # True when the patient measures the primary observation every morning (a glucose meter): the clinic protocol reads
    # it daily and decides at visits only; False: it is measured at visits (an INR in the clinic). clinic.clinic_rollout.
    self_monitored: ClassVar[bool] = False
    # +1 when more drug raises the primary observation (warfarin: INR), −1 when it lowers it (insulin: glucose). The
    # trainer's reversal penalty reads it to tell a response to evidence from an oscillation (dosewise_trainer.visit_env).
    dose_effect_sign: ClassVar[int] = 1
    # What a model-predictive shield keeps a learned policy's forecasts inside (dosewise.shield). Empty: no shield.
    shield_limits: ClassVar[tuple[ShieldLimit, ...]] = ()
    actions: ClassVar[tuple[ActionSpec, ...]]
    feature_specs: ClassVar[tuple[FeatureSpec, ...]]
    # (low, high) of each feature in feature_specs order: the Gymnasium observation Box (gym_env.py); None: unbounded.
    feature_bounds: ClassVar[tuple[tuple[float, float], ...] | None] = None
    reward_weights: RewardWeights = RewardWeights()
    # Training: a course's length in days (the trainer's episodes, gym_env's time limit; 90: the HSDPO evaluation
    # horizon), and Args fields of the trainer's DQN that follow from this pack's simulator cost rather than from the
    # budget (e.g. how many patients one vectorized step carries). Arguments given to the trainer win.
    episode_days: ClassVar[float] = 90.0
    training_defaults: ClassVar[Mapping[str, Any]] = {}

    # --- data -------------------------------------------------------------------------------------------------------
    def dose_problem(self, value: float) -> str | None:
        """Why a dose (canonical unit, one day's or one administration's) cannot be real, or None. Above
        ``DOSE_IMPLAUSIBLE_FACTOR`` × the daily maximum it is a unit mix-up (µg as mg, a weekly total), not a clinical
        choice; between the maximum and that, it is possible but outside the policy's range (guardrail
        ``dose_record_above_max``)."""
        if value < 0:
            return "dose cannot be negative"
        if value > DOSE_IMPLAUSIBLE_FACTOR * self.max_dose:
            return (f"{value:g} {self.dose_unit} is implausible (over {DOSE_IMPLAUSIBLE_FACTOR:g} × the {self.max_dose:g} "
                    f"{self.dose_unit}/day limit): check the unit")
        return None

    # 0/1 covariates of the co-medications this pack's features, rules and twins read (warfarin: its interaction table's),
    # after COVARIATES in every view of the pack; ``comedication_flags`` gives them for a patient's generics.
    comedication_covariates: ClassVar[tuple[str, ...]] = ()

    @property
    def covariate_names(self) -> tuple[str, ...]:
        """The covariates of this pack's clinic views and cohorts: COVARIATES, then ``comedication_covariates``."""
        return COVARIATES + self.comedication_covariates

    def comedication_flags(self, generic_names: frozenset[str]) -> tuple[float, ...]:
        """``comedication_covariates`` in order for a patient taking these generics (dosewise.medications.generics)."""
        return ()

    def comedication_warnings(self, co_medications: Sequence[str]) -> list[str]:
        """What the answer must say about a patient's co-medications as recorded, e.g. the entries whose interactions
        this pack could not check. Default: nothing, for a pack that reads no co-medication."""
        return []

    @property
    def n_actions(self) -> int:
        return len(self.actions)

    @property
    def n_features(self) -> int:
        return len(self.feature_specs)

    def describe(self) -> dict[str, Any]:
        """What GET /v1/therapies shows."""
        return {
            "id": self.id,
            "name": self.name,
            "dose_unit": self.dose_unit,
            "max_dose_per_day": self.max_dose,
            "decision_interval_days": self.decision_interval_days,
            "observation_kinds": {k: self.observation_definitions[k].model_dump() for k in self.observation_kinds},
            "target_band": list(self.target_band),
            "actions": [{"id": a.id, "label": a.label, "kind": a.kind, "delta": a.delta, "hold_doses": a.doses_held}
                        for a in self.actions],
            "cadences": list(self.cadences),
            "features": [{"name": f.name, "unit": f.unit, "description": f.description} for f in self.feature_specs],
            "required_state_fields": list(self.required_state_fields()),
        }

    def required_state_fields(self) -> tuple[str, ...]:
        return ("therapy", "patient_ref", "age_years", "sex", "weight", "height", "current_dose", "observations", "doses")

    # --- decision ---------------------------------------------------------------------------------------------------
    @abstractmethod
    def features(self, view: ClinicView) -> np.ndarray:
        """(n, n_features) float32, in the units of ``feature_specs``; finite for every valid view."""

    def round_regimen(self, proposed: FloatArray, current: FloatArray, direction: FloatArray | None = None) -> FloatArray:
        """Round proposed regimens to ``dose_step`` without turning a change into none or into the other direction: a
        decrease stays at least one step below ``current`` (down to 0), an increase at least one step above it. The
        direction is ``sign(direction)`` where given (the action's), else that of ``proposed − current``. Shapes
        broadcast; ``dose_step`` 0 leaves the values as they are."""
        proposed, current = np.asarray(proposed, dtype=float), np.asarray(current, dtype=float)
        if direction is None:
            down, up = proposed < current, proposed > current
        else:
            direction = np.asarray(direction, dtype=float)
            down, up = (direction < 0) & (current > 0), direction > 0
        step = self.dose_step
        if step <= 0:
            # Still never a decrease that does not lower (a percent of a denormal regimen underflows to itself).
            return np.where(down & (proposed >= current), 0.0, proposed)
        rounded = np.round(proposed / step) * step
        rounded = np.where(down & (rounded > current - step + 1e-9), np.maximum(current - step, 0.0), rounded)
        rounded = np.where(up & (rounded < current + step - 1e-9), current + step, rounded)
        return np.where(~(down | up), proposed, rounded)

    def proposed_regimens(self, current_dose: FloatArray) -> FloatArray:
        """(n, A): the regimen each action would set after any hold, rounded but not clipped to [0, max_dose] (the
        guardrails judge these)."""
        cur = np.asarray(current_dose, dtype=float)[:, None]
        kinds = np.array([a.kind for a in self.actions])
        deltas = np.array([a.delta for a in self.actions], dtype=float)[None, :]
        raw = np.where(kinds == "change", cur + deltas,
                       np.where(kinds == "level", np.broadcast_to(deltas, (cur.shape[0], deltas.shape[1])),
                                cur * (1.0 + deltas / 100.0)))  # scale and hold
        rounded = self.round_regimen(raw, np.broadcast_to(cur, raw.shape), np.broadcast_to(deltas, raw.shape))
        return np.where(kinds == "level", raw, rounded)

    def apply_actions(self, current_dose: FloatArray, action_idx: IntArray) -> tuple[FloatArray, FloatArray]:
        """Map action indices to (given per day on the first day, new regimen), clipped to [0, max_dose]. A hold gives
        nothing on its first day; ``hold_doses`` says for how many doses."""
        current_dose = np.asarray(current_dose, dtype=float)
        idx = np.asarray(action_idx, dtype=np.int64)
        regimen = np.clip(self.proposed_regimens(current_dose)[np.arange(current_dose.shape[0]), idx], 0.0, self.max_dose)
        held = self.hold_doses(idx)
        given = np.where(held > 0, 0.0, regimen)
        return given, regimen

    def hold_doses(self, action_idx: IntArray) -> IntArray:
        """Doses skipped before the new regimen starts, per chosen action (0 for every kind but hold)."""
        return np.array([a.doses_held for a in self.actions], dtype=np.int64)[np.asarray(action_idx, dtype=np.int64)]

    def recheck_days(self, view: ClinicView, action_idx: IntArray) -> FloatArray:
        """Days until the next measurement and decision that the answer asks for, per patient. Default: the pack's
        decision interval; visit-based packs set it from their guideline (sooner after a change or an out-of-range
        value)."""
        return np.full(view.n, float(self.decision_interval_days))

    def start_regimen(self, view: ClinicView) -> FloatArray | None:
        """The starting regimen for patients with no dose yet (``needs_start``), or None for a pack with no start rule."""
        return None

    def needs_start(self, view: ClinicView) -> BoolArray:
        """(n,) True for a patient not yet on the drug: no regimen and no dose on record."""
        no_dose = np.all(np.isnan(view.dose_history) | (view.dose_history <= 0.0), axis=1)
        return (view.current_dose <= 0.0) & no_dose

    def guardrails(self, view: ClinicView) -> GuardrailResult:
        """Hard limits as an action mask. Default: no regimen above max_dose or below zero. Packs override this with their
        rules (see dosewise.guardrails)."""
        proposed = self.proposed_regimens(view.current_dose)
        holds = np.array([a.kind == "hold" for a in self.actions])[None, :]  # a hold never raises the regimen
        mask = ((proposed <= self.max_dose + 1e-9) & (proposed >= -1e-9)) | holds
        return GuardrailResult(mask=mask, firings=[[] for _ in range(view.n)])

    def reward_terms(self, observation: FloatArray, day: FloatArray, dose_change: FloatArray,
                     ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The HSDPO terms (T, A, H) of one day from the primary observation alone, broadcasting: ``observation`` in the
        canonical unit (NaN: none that day), ``day`` the day of therapy the reward is booked on, ``dose_change`` the new
        regimen minus the previous one (pack dose unit per day). What the trainer books from an observed outcome
        (dosewise_trainer.transitions), the visit-level environment on a twin's true value and the forecast on its
        prediction (``TwinSpec.reward_forecast``), combined by ``reward_weights``. Default, from ``target_band`` alone:
        T = 1 inside the band, no observation-based A, H = |dose_change|. Packs whose simulator books another reward
        override it with that reward's terms."""
        low, high = self.target_band
        value = np.asarray(observation, dtype=float)
        return ((value >= low) & (value <= high)).astype(float), np.zeros_like(value), np.abs(dose_change)

    def mpc_objective(self, predicted: FloatArray) -> FloatArray:
        """The model-predictive controller's cost of each forecast day (dosewise.mpc): ``predicted`` primary observations
        (canonical unit, any shape) → a cost of the same shape, lower is better. Default, from ``target_band`` alone: the
        squared distance to the band's middle in band widths, plus 1 for a day outside the band. Packs with clinical
        thresholds (a bleeding-risk INR, hypoglycaemia) override it."""
        lo, hi = self.target_band
        y = np.asarray(predicted, dtype=float)
        mid, width = 0.5 * (lo + hi), max(hi - lo, 1e-12)
        return ((y - mid) / width) ** 2 + ((y < lo) | (y > hi))

    # --- digital twin (issue: digital twins) --------------------------------------------------------------------------
    def sample_cohort(self, n: int, seed: int) -> Cohort:
        raise NotImplementedError(f"{self.id}: no cohort sampler yet")

    def simulator(self, cohort: Cohort, seed: int) -> VectorSimulator:
        raise NotImplementedError(f"{self.id}: no simulator yet")

    def guideline_policy(self) -> DosingPolicy:
        raise NotImplementedError(f"{self.id}: no guideline policy yet")

    def forecast_twin(self) -> TwinSpec | None:
        """How dosewise.forecast fits this pack's twin to one patient (the pack's ``forecast_twin.py``); None: the pack
        has no forecast (nor a model-predictive controller)."""
        return None

    def visit_guideline_policy(self, cadence: str | None = None) -> VisitPolicy:
        """The pack's guideline at clinic visits (a clinic.VisitPolicy): the floor every learned policy is held to.
        ``cadence``: the visit schedule (a key of clinic.SCHEDULES) it is for, when the guideline depends on it; None:
        the pack's default (its first cadence)."""
        raise NotImplementedError(f"{self.id}: no visit-level guideline yet")

    def clinic_metrics(self, trajectory: ClinicTrajectory) -> dict[str, FloatArray]:
        """Per-patient outcomes of a clinic.clinic_rollout, each (n,): efficacy first, then adverse events (names carry
        units; ``metric_labels`` names them for tables)."""
        raise NotImplementedError(f"{self.id}: no clinic metrics yet")

    def clinic_groups(self, covariates: Mapping[str, FloatArray], hidden: Mapping[str, FloatArray]) -> dict[str, IntArray]:
        """Clinically meaningful patient groups of a twin cohort: group name → (n,) integer codes into
        ``clinic_group_labels[name]`` (-1: not classifiable). Reads a twin model's covariates and hidden data."""
        raise NotImplementedError(f"{self.id}: no clinic groups yet")

    def clinic_notes(self, trajectory: ClinicTrajectory) -> list[str]:
        """What a report must say about how ``clinic_metrics`` read this twin (e.g. a fallback it used). Default: nothing."""
        return []

    clinic_group_labels: ClassVar[Mapping[str, tuple[str, ...]]] = {}  # group name → label of each code
    clinic_metric_labels: ClassVar[Mapping[str, str]] = {}  # clinic metric name → its label in tables, with its unit

    def metrics(self, trajectory: Trajectory) -> dict[str, FloatArray]:
        """Per-patient metrics, each (n,): efficacy first, then adverse events. Names carry units."""
        raise NotImplementedError(f"{self.id}: no metrics yet")

    def primary_metrics(self) -> tuple[str, str]:
        """(efficacy metric name, adverse-event-days metric name) used by evaluation targets and HyperScore calibration."""
        raise NotImplementedError(f"{self.id}: no metrics yet")

    metric_labels: ClassVar[Mapping[str, str]] = {}  # metric name → what a person reads in a table, with its unit

    def metric_label(self, name: str) -> str:
        """How tables name a metric: the pack's label, else the metric's own name (which carries its unit too)."""
        return self.metric_labels.get(name, name)
