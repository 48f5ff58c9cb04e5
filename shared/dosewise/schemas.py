"""API contracts shared by the gateway, inference and trainer (pydantic v2).

Every number carries its unit, either in the field name (``age_years``) or next to it (``{value, unit}``). Inputs in other units
are converted to the canonical unit on validation (``units.py``), so code downstream never guesses. Physiologically impossible
values are rejected with a field-level error.
"""

from __future__ import annotations

import time
import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    TypeAdapter,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from dosewise import units
from dosewise.text import CleanText
from dosewise.therapies.base import CYP2C9_GENOTYPES, RACES, VKORC1_GENOTYPES
from dosewise.therapies.registry import OBSERVATION_KINDS, PACKS

# A JSON number, finite: Python's JSON parser (the frameworks') accepts the non-standard NaN and Infinity literals, and a NaN
# dose passed every range check written as "value < 0" (it reached inference and came back as a 503).
StrictNum = Annotated[float, Field(strict=True, allow_inf_nan=False)]
CLOCK_SKEW = timedelta(minutes=5)  # how far in the future a timestamp may lie before we call it impossible

DISCLAIMER = (
    "Decision support for a clinician, not an autonomous prescriber: review the recommendation against the whole patient "
    "before acting on it."
)


# pydantic-core parses every zero UTC offset ("Z", "+00:00") to this one shared tzinfo object. CPython compares and subtracts
# two datetimes that share a tzinfo object field by field, and otherwise calls utcoffset() on both: 0.04 vs 0.87 µs a
# comparison (timeit). "Now" in this tzinfo keeps the dozen timestamp checks of a patient state cheap.
UTC_TZ = TypeAdapter(datetime).validate_python("2000-01-01T00:00:00Z").tzinfo


def utc_now() -> datetime:
    """The current time, aware, in pydantic's UTC tzinfo (``UTC_TZ``)."""
    return datetime.now(UTC_TZ)


_latest: tuple[float, datetime] = (float("-inf"), datetime.min)  # (monotonic clock expiry, latest allowed timestamp)


def _latest_allowed() -> datetime:
    """Now plus the clock skew, read at most once a second (a state holds a dozen timestamps, a batch thousands): it can lag
    the clock by up to 1 s, which makes the 5-minute allowance at most 1 s stricter."""
    global _latest
    expires, latest = _latest
    tick = time.monotonic()
    if tick >= expires:
        latest = utc_now() + CLOCK_SKEW
        _latest = (tick + 1.0, latest)
    return latest


# The earliest clinical time any contract accepts: observations, doses, therapy_started and as_of of a PatientState, and an
# outcome's given_at, observations and adverse events (``PastDatetime``, the one type they all use). A genuine time of a
# patient dosed today is later: born in 1900 they would be over 120, the contract's age cap (``age_years``). Earlier times
# are what EHR and database software write for "unknown": 0001-01-01 (.NET DateTime.MinValue, Go's zero time), 1753-01-01
# (SQL Server datetime's minimum), 1899-12-30 (OLE Automation and Excel day 0). A fixed date rather than "now minus 120
# years", so a stored request validates the same way for ever (the trainer re-validates stored states). Later placeholders
# (1900-01-01 itself, SQL Server's zero; 1970-01-01, Unix time's) are refused by PatientState where they precede the
# patient's birth, which it knows from the age.
EARLIEST_CLINICAL_TIME = datetime(1900, 1, 1, tzinfo=UTC_TZ)
_EARLIEST_ISO = EARLIEST_CLINICAL_TIME.isoformat().replace("+00:00", "Z")
_TOO_EARLY = (f"time lies before {_EARLIEST_ISO[:10]}, the earliest accepted (0001-01-01 or 1899-12-30 is a placeholder "
              "for an unknown date: send the real time, or leave the entry out)")


def _clinical_time(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError("timestamps need a time zone (e.g. 2026-11-20T08:00:00Z)")
    if t > _latest_allowed():
        raise ValueError("time lies in the future")
    if t < EARLIEST_CLINICAL_TIME:
        # A custom type whose ``ge`` the 422 shows as the field's ``allowed`` bound (problems.validation_problem).
        raise PydanticCustomError("time_too_early", _TOO_EARLY, {"ge": _EARLIEST_ISO})
    return t


def require_iso_8601(v: object) -> object:
    """Only ISO 8601 text (or a datetime, from Python callers): pydantic would otherwise read 1700000000 or "1700000000" as
    Unix time, a silent number-to-date coercion."""
    if isinstance(v, datetime) or (isinstance(v, str) and len(v) >= 10 and v[4] == "-" and v[7] == "-"):
        return v
    raise ValueError("expected an ISO 8601 date-time with time zone, e.g. 2026-11-20T08:00:00Z")


# Every clinical time of the contracts: ISO 8601 with a zone, from EARLIEST_CLINICAL_TIME to now plus the clock skew. JSON
# Schema has no bound for a date-time: the pattern states the year, and "not in the future" only the description can.
PAST_DATETIME_JSON_SCHEMA: dict[str, Any] = {
    "type": "string", "format": "date-time", "pattern": "^(19[0-9]{2}|[2-9][0-9]{3})-",
    "description": f"An instant: RFC 3339 date-time with an offset (Z or ±hh:mm), from {_EARLIEST_ISO} (an offset east of "
                   f"UTC can still put the first hours of {_EARLIEST_ISO[:4]} in the year before) to now plus "
                   f"{CLOCK_SKEW.total_seconds() / 60:g} minutes of clock skew.",
}
PastDatetime = Annotated[datetime, BeforeValidator(require_iso_8601), AfterValidator(_clinical_time),
                         WithJsonSchema(PAST_DATETIME_JSON_SCHEMA)]


# Ranges reject values that cannot come from a living patient (or are unit mix-ups), not merely abnormal ones.
WEIGHT_KG = (0.3, 400.0)  # PatientState.weight, in kg
HEIGHT_CM = (20.0, 250.0)  # PatientState.height, in cm
# Observation kinds (id → ObservationKind) are the packs': registry.OBSERVATION_KINDS holds every registered pack's.


class Measure(BaseModel):
    """A number with its unit, as EHRs send it."""

    model_config = ConfigDict(extra="forbid")
    value: StrictNum
    unit: str = Field(min_length=1, max_length=32)


class Observation(BaseModel):
    """One lab result. ``kind`` decides the unit family and the plausible range; the value is normalized on validation."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(description="One of: " + ", ".join(OBSERVATION_KINDS), examples=["inr"])
    unit: str = Field(max_length=32, description="UCUM unit, e.g. {INR}, mg/dL, mmol/L; stored as the kind's canonical unit.")
    value: StrictNum = Field(description="Value in `unit`; stored in the kind's canonical unit (INR: {INR}; glucose: mg/dL).")
    time: PastDatetime = Field(description="When the sample was taken (ISO 8601 with time zone).")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        if v not in OBSERVATION_KINDS:
            raise ValueError(f"unknown observation kind {v!r}; allowed: {', '.join(OBSERVATION_KINDS)}")
        return v

    @field_validator("unit")
    @classmethod
    def _unit_fits_kind(cls, v: str, info: ValidationInfo) -> str:
        kind = OBSERVATION_KINDS.get(info.data.get("kind", ""))
        if kind is not None:
            try:
                units.to_canonical(1.0, v, kind.quantity)
            except units.UnitError as e:
                raise ValueError(str(e)) from None
        return v

    @field_validator("value")
    @classmethod
    def _plausible(cls, v: float, info: ValidationInfo) -> float:
        """Convert to the canonical unit and reject values no living patient has (or unit mix-ups)."""
        kind = OBSERVATION_KINDS.get(info.data.get("kind", ""))
        unit = info.data.get("unit")
        if kind is None or unit is None:
            return v  # the kind or unit error is reported on its own field
        value = units.to_canonical(v, unit, kind.quantity)
        cu = units.canonical_unit(kind.quantity)
        if not (kind.low <= value <= kind.high):
            raise ValueError(
                f"{info.data['kind']} of {value:g} {cu} is physiologically impossible; allowed {kind.low:g}–{kind.high:g} {cu}"
            )
        return value

    @model_validator(mode="after")
    def _canonical_unit(self) -> Observation:
        cu = units.canonical_unit(OBSERVATION_KINDS[self.kind].quantity)
        if self.unit != cu:  # pydantic's __setattr__ costs ~2 µs, and most results arrive in the canonical unit
            self.unit = cu
        return self


class DoseEvent(BaseModel):
    """A dose given (or scheduled daily dose taken) at a time; unit family is checked against the therapy."""

    model_config = ConfigDict(extra="forbid")
    amount: StrictNum = Field(ge=0, description="Amount given, in `unit` (warfarin: mg; insulin: U).")
    unit: str = Field(max_length=32, examples=["mg"])
    time: PastDatetime = Field(description="When it was given (ISO 8601 with time zone).")


class Genotype(BaseModel):
    """Pharmacogenomic results relevant to dosing; ``None`` means not tested (the policy sees 'unknown')."""

    model_config = ConfigDict(extra="forbid")
    # Literal[tuple]: the spellings of base.CYP2C9_GENOTYPES / VKORC1_GENOTYPES, whose order codes them in a ClinicView.
    cyp2c9: Literal[CYP2C9_GENOTYPES] | None = None  # type: ignore[valid-type]
    vkorc1: Literal[VKORC1_GENOTYPES] | None = Field(None, description="VKORC1 -1639G>A genotype")  # type: ignore[valid-type]
    cyp2c19: Annotated[str, CleanText(max_length=16)] | None = Field(None, description="Recorded, not yet used by any pack")


class PatientState(BaseModel):
    """Everything a dosing decision may look at, for one patient at one time. Never a name: ``patient_ref`` is pseudonymous."""

    model_config = ConfigDict(extra="forbid")

    therapy: str = Field(description="Therapy pack id (GET /v1/therapies).", examples=["warfarin"])
    patient_ref: str = Field(
        min_length=4, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$",
        description="Pseudonymous patient reference (no names, no MRNs); pseudonymized again before storage.",
    )
    age_years: StrictNum = Field(ge=0, le=120, description="Age, years.")
    sex: Literal["female", "male"] = Field(description="Sex assigned at birth (drives pharmacokinetic covariates).")
    weight: Measure = Field(description="Body weight; kg or lb ([lb_av]); stored in kg; 0.3–400 kg.")
    height: Measure = Field(description="Height; cm, m or in ([in_i]); stored in cm; 20–250 cm.")
    egfr_ml_min_1_73m2: StrictNum | None = Field(
        None, ge=1, le=200, description="Estimated GFR, mL/min/1.73 m² (CKD-EPI); null when unknown."
    )
    race: Literal[(*RACES, "unknown")] = Field(  # type: ignore[valid-type]  # base.RACES, or unknown
        "unknown", description="Only because the IWPC dosing equation uses it."
    )
    current_dose: Measure = Field(description="Current daily dose (warfarin mg/day; basal insulin U/day).")
    observations: list[Observation] = Field(default_factory=list, max_length=500, description="Recent lab results.")
    doses: list[DoseEvent] = Field(default_factory=list, max_length=1000, description="Recent doses given.")
    genotype: Genotype | None = None
    comorbidities: list[Annotated[str, CleanText(max_length=64)]] = Field(default_factory=list, max_length=50)
    pregnant: StrictBool | None = None  # true/false only: "yes", "0" or 1 are errors, not silently booleans
    co_medications: list[Annotated[str, CleanText(max_length=64)]] = Field(
        default_factory=list, max_length=50,
        description="As recorded: generic or brand name in any common spelling, salt and strength allowed ('Amiodarone HCl "
                    "200 mg', 'Cordarone', 'amiodarona'), or an RxNorm code ('rxnorm:703'); matched on its letters "
                    "(dosewise/medications.py). Invisible format characters are removed and control characters refused "
                    "(dosewise/text.py). Every entry the therapy's interaction checks do not know is named in the answer's "
                    "warnings.",
    )
    as_of: PastDatetime | None = Field(None, description="Decision time; default now. Observations after it are rejected.")
    therapy_started: PastDatetime | None = Field(
        None, description="When this therapy began (its first dose ever). Default: the first dose in `doses`, i.e. a "
                          "course that began inside the record. Send it for a patient on long-term therapy whose record "
                          "holds only recent doses: otherwise the decision treats the patient as in the record's first days "
                          "of therapy (initiation rules, a twin started drug-naive).")

    @field_validator("weight")
    @classmethod
    def _weight_kg(cls, m: Measure) -> Measure:
        kg = _convert(m, "mass")
        if not WEIGHT_KG[0] <= kg <= WEIGHT_KG[1]:
            raise ValueError(f"weight of {kg:g} kg is impossible; allowed {WEIGHT_KG[0]:g}–{WEIGHT_KG[1]:g} kg")
        # Already in kg (the value is a float: strict float turns ints into floats), else a float from a validated Measure:
        # nothing to re-check either way (model_construct costs ~3 µs).
        return m if m.unit == "kg" else Measure.model_construct(value=kg, unit="kg")

    @field_validator("height")
    @classmethod
    def _height_cm(cls, m: Measure) -> Measure:
        cm = _convert(m, "length")
        if not HEIGHT_CM[0] <= cm <= HEIGHT_CM[1]:
            raise ValueError(f"height of {cm:g} cm is impossible; allowed {HEIGHT_CM[0]:g}–{HEIGHT_CM[1]:g} cm")
        return m if m.unit == "cm" else Measure.model_construct(value=cm, unit="cm")

    @field_validator("comorbidities")
    @classmethod
    def _lower(cls, v: list[str]) -> list[str]:
        return [s.strip().lower() for s in v]

    @field_validator("co_medications")
    @classmethod
    def _stripped(cls, v: list[str]) -> list[str]:
        # Kept in the case written: the matcher casefolds itself, and reads a look-alike capital as the capital it shows
        # (Greek Ν is an N; its small letter ν a v): lower-casing here made "ΝEXTERONE" a v-word (dosewise/medications.py).
        return [s.strip() for s in v]

    @model_validator(mode="after")
    def _therapy_rules(self) -> PatientState:
        """Checks that need the therapy pack: known therapy, dose units, observation kinds, times before ``as_of``."""
        errors: list[InitErrorDetails] = []

        def bad(loc: tuple[str | int, ...], msg: str, value: object) -> None:
            errors.append(InitErrorDetails(type=PydanticCustomError("therapy_rule", msg), loc=loc, input=value))

        pack = PACKS.get(self.therapy)
        if pack is None:
            bad(("therapy",), f"unknown therapy; allowed: {', '.join(PACKS)}", self.therapy)
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        as_of = self.decision_time
        # Nothing of this patient's record predates their birth. An age in whole years may be rounded down or to the
        # nearest year, so the birth lies after as_of minus age + 1 years (of 366 days: never a day too late).
        born_after = as_of - timedelta(days=366 * (self.age_years + 1))

        def before_birth(what: str) -> str:
            return (f"{what} lies before the patient's birth (age_years {self.age_years:g} at the decision time: born after "
                    f"{born_after.date().isoformat()})")

        if self.current_dose.unit != pack.dose_unit:
            try:
                self.current_dose = Measure.model_construct(
                    value=units.to_canonical(self.current_dose.value, self.current_dose.unit, pack.dose_quantity),
                    unit=pack.dose_unit,
                )
            except units.UnitError as e:
                bad(("current_dose", "unit"), str(e), self.current_dose.unit)
        if self.current_dose.unit == pack.dose_unit and (problem := pack.dose_problem(self.current_dose.value)):
            bad(("current_dose", "value"), problem, self.current_dose.value)
        for i, d in enumerate(self.doses):
            if d.unit != pack.dose_unit:  # most doses arrive in the canonical unit: no conversion, no pydantic __setattr__
                try:
                    d.amount, d.unit = units.to_canonical(d.amount, d.unit, pack.dose_quantity), pack.dose_unit
                except units.UnitError as e:
                    bad(("doses", i, "unit"), str(e), d.unit)
                    continue
            if (problem := pack.dose_problem(d.amount)) is not None:
                bad(("doses", i, "amount"), problem, d.amount)
            if d.time > as_of:
                bad(("doses", i, "time"), "dose time lies after the decision time as_of", d.time.isoformat())
            elif d.time < born_after:
                bad(("doses", i, "time"), before_birth("dose time"), d.time.isoformat())
        if (started := self.therapy_started) is not None:
            if started > as_of:
                bad(("therapy_started",), "the therapy start lies after the decision time as_of", started.isoformat())
            elif started < born_after:
                bad(("therapy_started",), before_birth("the therapy start"), started.isoformat())
            elif before := [i for i, d in enumerate(self.doses) if d.time < started]:
                bad(("therapy_started",), f"dose entry {before[0]} precedes the therapy start: send the start of the whole "
                    "course", started.isoformat())
        seen: dict[tuple[str, datetime], int] = {}
        for i, o in enumerate(self.observations):
            if (o.kind, o.time) in seen:
                bad(("observations", i, "time"), f"two {o.kind} results at the same time (entries {seen[(o.kind, o.time)]} "
                    f"and {i}): send one value per sample", o.time.isoformat())
            seen[(o.kind, o.time)] = i
            if o.kind not in pack.observation_kinds:
                bad(("observations", i, "kind"), f"{self.therapy} uses observation kinds {', '.join(pack.observation_kinds)}",
                    o.kind)
            if o.time > as_of:
                bad(("observations", i, "time"), "observation time lies after the decision time as_of", o.time.isoformat())
            elif o.time < born_after:
                bad(("observations", i, "time"), before_birth("observation time"), o.time.isoformat())
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    @property
    def decision_time(self) -> datetime:
        return self.as_of or utc_now()


def _convert(m: Measure, quantity: str) -> float:
    try:
        return units.to_canonical(m.value, m.unit, quantity)
    except units.UnitError as e:
        raise ValueError(str(e)) from None


PolicyStatus = Literal["untrained", "candidate", "active", "retired", "rejected"]  # a registry row's (models.Policy.status)


class PolicyRef(BaseModel):
    """Which policy made a decision: every response carries it."""

    id: str
    therapy: str
    version: str
    status: PolicyStatus
    sha256: str


class ActionValue(BaseModel):
    action: str = Field(description="Action id, e.g. 'hold2-15%', '+7.5%' (warfarin), '-4U' (insulin).")
    label: str
    q_value: float = Field(description="The policy's estimated value of taking this action (higher is better).")
    allowed: bool = Field(description="False when a guardrail masked the action.")


class GuardrailFiring(BaseModel):
    rule: str
    message: str = Field(description="Why, in words a clinician reads.")


class DoseQuantity(BaseModel):
    value: float
    unit: str


class HyperScoreOut(BaseModel):
    """How much to trust this recommendation (HSDPO HyperScore). Calibrated on held-out twins so that a higher score ranks a
    better realized outcome — the therapy's reward over the next 28 days, discounted as the policy was trained — (Spearman
    warfarin 0.73, insulin 0.53 for the shipped policies; README, "HyperScore")."""

    hyperscore: float = Field(description="100·[1 + σ(β·ln V + γ)^κ]; see score_range.")
    v: float = Field(description="Weighted fusion of the sub-scores, in [0, 1].")
    needs_review: bool = Field(description="True below the configured review threshold, for a patient whose data lie "
                                           "outside the training states (novelty below review_novelty_below), or when no "
                                           "action was safe.")
    review_reasons: list[str] = Field(default_factory=list, description="Why it needs review, in words; empty when not.")
    sub_scores: dict[str, float | None] = Field(
        description="consistency, forecast, novelty, impact, reproducibility, value (the policy's expected outcome for this "
                    "patient relative to its calibration cohort) — each in [0, 1]; null when not computable."
    )
    score_range: list[float] | None = None
    review_below: float | None = None
    review_novelty_below: float | None = None


class Explanation(BaseModel):
    """Why: every action's value, the features that drove the choice, the personalized forecast, and a plain rationale."""

    q_values: list[dict[str, Any]] = Field(description="Per action: Q, allowed, chosen, spread across ensemble heads.")
    attributions: dict[str, Any] = Field(description="Integrated-gradient attributions of the chosen action's Q (top features).")
    forecast: dict[str, Any] | None = Field(
        description="The patient's twin rolled forward under the recommended dose and under keeping the dose, with the band; "
                    "mean_daily_reward: the therapy's own reward of each forecast (the recommendation's dose change "
                    "included), which the forecast sub-score ranks among the calibration's decisions; measured: the "
                    "latest measurements (days before the decision as negative days) and which of them the twin was "
                    "fitted to."
    )
    rationale: str = Field(description="One paragraph built from the facts above (template; no free-text generation).")


class DosePlan(BaseModel):
    """What to give until the next visit, and when that visit is: a decision holds until then (issue #25)."""

    hold_doses: int = Field(ge=0, description="Doses to skip first (0: none); then ``dose_per_day``.")
    dose_per_day: DoseQuantity = Field(description="The regimen after any hold, every day until the next visit.")
    dose_per_week: DoseQuantity = Field(description="The same regimen as a weekly total (how nomograms state it).")
    recheck_in_days: float = Field(description="Days until the next measurement and decision.")
    recheck_on: date = Field(description="The date of that recheck (UTC), from the state's decision time.")
    started: bool = Field(description="True when the therapy's starting rule set the dose (the patient was not on it).")
    cadences: list[str] = Field(description="The visit schedules this therapy's policies are trained and evaluated at.")


class Recommendation(BaseModel):
    """A stored dosing recommendation. Made by ``policy``; decided on by a clinician."""

    recommendation_id: uuid.UUID
    therapy: str
    patient_ref: str = Field(description="The pseudonymized reference as stored (not the caller's raw reference).")
    policy: PolicyRef
    current_dose: DoseQuantity
    recommended_dose: DoseQuantity = Field(description="Today's dose (0 during a hold); ``plan`` says what follows.")
    plan: DosePlan | None = Field(None, description="The dose until the next visit and the recheck date.")
    action: str
    action_label: str
    action_values: list[ActionValue]
    guardrails: list[GuardrailFiring] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    score: HyperScoreOut | None = None
    explanation: Explanation | None = Field(None, description="Present for single recommendations; omitted in batches.")
    created_at: datetime
    disclaimer: str = DISCLAIMER


MAX_BATCH = 1000  # patients per batch request: one onnxruntime run


class BatchRecommendationRequest(BaseModel):
    """Up to 1,000 patients (any mix of therapies) scored in one call."""

    model_config = ConfigDict(extra="forbid")
    patients: list[PatientState] = Field(min_length=1, max_length=MAX_BATCH)


class BatchRecommendationResponse(BaseModel):
    data: list[Recommendation]
    count: int


class InferRequest(BaseModel):
    """Gateway → inference: feature vectors (units as in GET /v1/therapies) and optional action masks (True = allowed)."""

    model_config = ConfigDict(extra="forbid")
    therapy: str
    features: list[list[float]] = Field(min_length=1, max_length=MAX_BATCH)
    action_mask: list[list[bool]] | None = None


class RecommendItem(BaseModel):
    q_values: list[float]
    head_q_values: list[list[float]] | None = Field(None, description="[head][action] when the model has heads.")
    action: int = Field(description="Chosen action index after the guardrail mask; −1 when nothing was allowed.")
    behaviour_probability: float
    action_mask: list[bool]
    score: dict[str, Any] = Field(description="HyperScore, sub-scores and (when explained) the explanation.")


class RecommendResponse(BaseModel):
    therapy: str
    policy: PolicyRef
    items: list[RecommendItem]


class InferResponse(BaseModel):
    therapy: str
    policy: PolicyRef
    q_values: list[list[float]] = Field(description="Mean over ensemble heads, one row per input, one column per action.")
    head_q_values: list[list[list[float]]] | None = Field(None, description="[head][row][action], when the model has heads.")
    actions: list[int] = Field(description="Chosen action per row among the allowed ones (the masked argmax; sampled when "
                               "exploration is on); -1 when the mask allows nothing.")
    behaviour_probability: list[float] = Field(description="Probability the serving policy gave the chosen action.")


# The one complete example: the OpenAPI document shows it and the README's curl example sends it.
PATIENT_STATE_EXAMPLE: dict = {
    "therapy": "warfarin",
    "patient_ref": "ward7-bed12-episode3",
    "age_years": 67,
    "sex": "female",
    "weight": {"value": 172, "unit": "[lb_av]"},
    "height": {"value": 165, "unit": "cm"},
    "egfr_ml_min_1_73m2": 72,
    "race": "white",
    "current_dose": {"value": 5, "unit": "mg"},
    "observations": [
        {"kind": "inr", "value": 1.6, "unit": "{INR}", "time": "2026-11-16T08:00:00Z"},
        {"kind": "inr", "value": 1.9, "unit": "{INR}", "time": "2026-11-19T08:00:00Z"},
        {"kind": "inr", "value": 2.4, "unit": "{INR}", "time": "2026-11-22T08:00:00Z"},
    ],
    "doses": [{"amount": 5, "unit": "mg", "time": f"2026-11-{d:02d}T20:00:00Z"} for d in range(16, 23)],
    "genotype": {"cyp2c9": "*1/*2", "vkorc1": "G/A"},
    "comorbidities": ["atrial fibrillation"],
    "pregnant": False,
    "co_medications": ["metoprolol"],
    "as_of": "2026-11-23T08:00:00Z",
}
# Basal insulin: fasting readings on some mornings only (the latest yesterday's), doses every evening of the last week.
INSULIN_STATE_EXAMPLE: dict = {
    "therapy": "insulin_t2d",
    "patient_ref": "clinic3-pt0412",
    "age_years": 58,
    "sex": "male",
    "weight": {"value": 92, "unit": "kg"},
    "height": {"value": 178, "unit": "cm"},
    "egfr_ml_min_1_73m2": 75,
    "current_dose": {"value": 20, "unit": "U"},
    "observations": [
        {"kind": "glucose_fasting", "value": v, "unit": "mg/dL", "time": f"2026-11-{d:02d}T07:00:00Z"}
        for d, v in ((18, 190), (20, 182), (22, 171))
    ],
    "doses": [{"amount": 20, "unit": "U", "time": f"2026-11-{d:02d}T21:00:00Z"} for d in range(16, 23)],
    "as_of": "2026-11-23T08:00:00Z",
}
PatientState.model_config["json_schema_extra"] = {"examples": [PATIENT_STATE_EXAMPLE, INSULIN_STATE_EXAMPLE]}
PatientState.model_rebuild(force=True)
