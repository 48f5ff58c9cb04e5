"""MedicationRequest / MedicationStatement / MedicationAdministration → the therapy's current daily dose, its dose history,
when it began, and the patient's other medications (co-medications).

- Which therapy a medication belongs to: its RxNorm code (``codes.WARFARIN``, ``codes.BASAL_INSULIN``) or its name in the
  concept's text or displays (dosewise.medications for warfarin's names and brands; ``codes.BASAL_INSULIN_NAMES``).
- The current dose: the latest active order (or active statement) per product, times its timing's frequency per day,
  summed over products (a regimen of 5 mg and 1 mg tablets is two orders). An order on record without any dose is an error
  naming it: the mapper never guesses a dose.
- The history: each completed administration is a dose given at its time; a MedicationStatement (active, completed,
  stopped, on-hold) is its daily dose taken every day of its effective period (an active one's: until now), one dose a
  day at its start's time of day, as far back as the pack reads doses (``dose_history_days``). Where statements of one
  product overlap, the one that began latest wins the day; a day with an administration on record is the
  administration's. A statement that is not active and gives no end is not in the history (when it ended is unknown);
  one entered in error, not taken or unknown is not read at all.
- A draft or proposed order (CDS Hooks' draft orders) is not a record of the patient taking the drug.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dosewise import medications as med_names
from dosewise.fhir import codes
from dosewise.fhir.resources import Entry, Report, first_text, instant, words
from dosewise.fhir.resources import codes as codes_of
from dosewise.therapies.registry import get_pack

_ACTIVE_REQUEST = {"active", "on-hold"}
_HISTORY_REQUEST = {"completed", "stopped"}
_NOT_ON_RECORD_INTENT = {"proposal", "plan"}
_ACTIVE_STATEMENT = {"active", "on-hold", "intended"}
_HISTORY_STATEMENT = {"active", "completed", "stopped", "on-hold"}  # R4 MedicationStatementStatus: taken in a period
_DAY = timedelta(days=1)
_GIVEN = {"completed", "in-progress"}
_PER_DAY = {"s": 86400.0, "min": 1440.0, "h": 24.0, "d": 1.0, "wk": 1 / 7, "mo": 1 / 30.4375, "a": 1 / 365.25}
_TABLETS = {"{tbl}", "tbl", "tab", "tablet", "tablets", "{tablet}", "{tablets}"}
_STRENGTH_MG = re.compile(r"(\d+(?:\.\d+)?)\s*mg\b", re.IGNORECASE)
MAX_CO_MEDICATIONS = 50  # PatientState.co_medications
_UNDATED = datetime(1, 1, 1, tzinfo=UTC)  # an order without authoredOn sorts before every dated one


def therapy_of(concept: Any) -> str | None:
    """"warfarin", "insulin_t2d" or None for a medication concept."""
    if concept is None:
        return None
    rx = codes_of(concept, codes.RXNORM)
    text = words(concept)
    if rx & codes.WARFARIN or "warfarin" in med_names.ingredients(text):
        return "warfarin"
    if rx & set(codes.BASAL_INSULIN) or any(re.search(rf"\b{re.escape(n)}\b", text) for n in codes.BASAL_INSULIN_NAMES):
        return "insulin_t2d"
    return None


@dataclass(frozen=True)
class Dose:
    per_day: float  # in the pack's dose unit
    time: datetime | None
    source: str
    product: str  # the medication as named, for messages and to tell products apart


@dataclass(frozen=True)
class Taken:
    """A statement's regimen: ``per_day`` every day from ``start`` until ``end`` (exclusive)."""

    per_day: float
    start: datetime
    end: datetime
    source: str
    product: str


@dataclass
class Found:
    therapy_orders: list[Entry] = field(default_factory=list)  # on record, of the therapy's drug
    current: list[Dose] = field(default_factory=list)
    given: list[Dose] = field(default_factory=list)  # administrations: per_day is the amount given at ``time``
    stated: list[Dose] = field(default_factory=list)  # the statements' days (module docstring), one dose a day
    started: datetime | None = None
    co_medications: list[str] = field(default_factory=list)
    medication: dict[str, Any] | None = None  # the latest active order's medicationCodeableConcept (for FHIR out)


def _amount(quantity: Any, product: str, therapy: str, where: str, report: Report) -> float | None:
    """A dose quantity in the pack's dose unit; None after an error naming ``where``."""
    pack = get_pack(therapy)
    if quantity is None or quantity.value is None:
        return None
    unit = (quantity.code or quantity.unit or "").strip()
    value = float(quantity.value)
    if not unit:
        if therapy == "insulin_t2d":
            report.warn(f"{where}: dose {value:g} has no unit; read as U (insulin is dosed in units)")
            return value
        report.error(where, f"dose {value:g} has no unit: mg or tablets of {product!r}? Send doseQuantity with unit "
                     f"{pack.dose_unit}", "fhir_unit", "doseQuantity", "unit")
        return None
    if unit.lower() in _TABLETS:
        m = _STRENGTH_MG.search(product)
        if therapy == "warfarin" and m is not None:
            report.warn(f"{where}: read {value:g} tablet(s) of {product!r} as {value * float(m.group(1)):g} mg")
            return value * float(m.group(1))
        report.error(where, f"dose in tablets of {product!r}, whose strength in mg is not named; send the dose in "
                     f"{pack.dose_unit}", "fhir_unit", "doseQuantity", "unit")
        return None
    from dosewise import units

    try:
        return units.to_canonical(value, unit, pack.dose_quantity)
    except units.UnitError as e:
        report.error(where, str(e), "fhir_unit", "doseQuantity", "unit")
        return None


def _per_day(timing: Any, where: str, report: Report) -> float | None:
    """Administrations per day of a Timing; 1 (with a warning) when it gives none."""
    repeat = getattr(timing, "repeat", None) if timing is not None else None
    if repeat is None:
        report.warn(f"{where}: no timing; read as once a day")
        return 1.0
    frequency = float(repeat.frequency or 1)
    period = float(repeat.period or 1)
    unit = repeat.periodUnit or "d"
    if unit not in _PER_DAY or period <= 0:
        report.error(where, f"timing period {period:g} {unit} cannot be read as doses per day", "fhir_timing", "timing")
        return None
    days = len(set(repeat.dayOfWeek)) / 7 if repeat.dayOfWeek else 1.0
    return frequency / period * _PER_DAY[unit] * days


def _dosage_per_day(dosages: list[Any], product: str, therapy: str, where: str, report: Report) -> float | None:
    """The daily dose of a list of Dosage (summed: "5 mg Mon–Fri" and "2.5 mg Sat, Sun" are one regimen), or None."""
    total, found = 0.0, False
    for i, d in enumerate(dosages):
        if d.asNeededBoolean or d.asNeededCodeableConcept is not None:
            continue
        rate = (d.doseAndRate or [None])[0]
        if rate is None or (rate.doseQuantity is None and rate.doseRange is None):
            continue
        at = f"{where}.dosage[{i}]"
        if rate.doseQuantity is None:
            report.error(where, "dose given as a range (doseRange): which dose the patient takes is ambiguous; send "
                         "doseQuantity", "fhir_dose", "doseAndRate", 0, "doseRange")
            return None
        amount = _amount(rate.doseQuantity, product, therapy, at, report)
        times = _per_day(d.timing, at, report)
        if amount is None or times is None:
            return None
        total, found = total + amount * times, True
    return total if found else None


def order_dose_per_day(entry: Entry, therapy: str, report: Report) -> float | None:
    """The daily dose a MedicationRequest orders, in ``therapy``'s pack unit (a CDS Hooks draft order), or None."""
    r = entry.resource
    product = first_text(_concept(r, {})) or "the medication"
    return _dosage_per_day(list(r.dosageInstruction or []), product, therapy, entry.label, report)


def _concept(resource: Any, media: dict[str, Any]) -> Any:
    if resource.medicationCodeableConcept is not None:
        return resource.medicationCodeableConcept
    ref = getattr(resource.medicationReference, "reference", None)
    if ref and ref.startswith("#"):
        for c in resource.contained or []:
            if getattr(c, "id", None) == ref[1:]:
                return getattr(c, "code", None)
    return media.get(ref or "")


def _co_medication(concept: Any) -> list[str]:
    """The generics the warfarin table knows, by name; else the medication as named (reported as not recognized)."""
    text = first_text(concept)
    rx = sorted(codes_of(concept, codes.RXNORM))
    entry = " ".join([text, *(f"(rxnorm:{c})" for c in rx)])
    generics = med_names.ingredients(entry)
    if generics:
        return sorted(generics)
    return [text[:64]] if text else []


def _effective_start(r: Any) -> datetime | None:
    """When a statement's or an administration's effective[x] begins (a dateTime, or a Period's start)."""
    return instant(r.effectiveDateTime) or (instant(r.effectivePeriod.start) if r.effectivePeriod else None)


def _taken(entry: Entry, per_day: float, product: str, now: datetime, report: Report) -> Taken | None:
    """The period a statement says its dose was taken, or None (with a warning when it is on record but not placeable)."""
    r = entry.resource
    start = _effective_start(r)
    end = instant(r.effectivePeriod.end) if r.effectivePeriod else None
    if start is None:
        report.warn(f"{entry.label}: no effective time with a time zone; not in the dose history")
        return None
    if end is None and r.status != "active":
        report.warn(f"{entry.label}: {r.status} without effectivePeriod.end (when it ended is unknown); not in the dose "
                    "history")
        return None
    end = min(end or now, now)  # an active statement's course runs until now; none is a record of days to come
    return Taken(per_day, start, end, entry.label, product) if end > start else None


def stated_days(taken: list[Taken], given: list[Dose], first: datetime) -> list[Dose]:
    """The statements' daily doses from ``first`` on (module docstring): the latest-begun statement of a product wins a
    day, and a day with an administration is left to it."""
    administered: set[date] = {d.time.date() for d in given if d.time is not None}
    best: dict[tuple[str, date], tuple[datetime, Dose]] = {}
    for t in taken:
        day = t.start + max(0, math.ceil((first - t.start) / _DAY)) * _DAY
        while day < t.end:
            key = (t.product.lower(), day.date())
            if (old := best.get(key)) is None or t.start >= old[0]:
                best[key] = (t.start, Dose(t.per_day, day, t.source, t.product))
            day += _DAY
    return sorted((d for (_, on), (_, d) in best.items() if on not in administered), key=lambda d: d.time or first)


def read(entries: list[Entry], therapy: str, media: dict[str, Any], report: Report, now: datetime) -> Found:
    """What the medication resources say about ``therapy`` and the other drugs at ``now``. ``media``: Medication
    resources' codes by the references that point to them."""
    found = Found()
    orders: list[tuple[datetime, Any]] = []  # (authoredOn, medication) of the therapy's active orders
    current: dict[str, Dose] = {}
    stated_current: dict[str, Dose] = {}  # the latest active statement's dose per product (an order's wins)
    taken: list[Taken] = []
    for entry in entries:
        r = entry.resource
        rtype = type(r).__name__
        concept = _concept(r, media)
        product = first_text(concept) or "the medication"
        mine = therapy_of(concept) == therapy
        if rtype == "MedicationRequest":
            on_record = r.intent not in _NOT_ON_RECORD_INTENT and r.status in _ACTIVE_REQUEST | _HISTORY_REQUEST
            if not on_record:
                continue
            when = instant(r.authoredOn)
            if not mine:
                if r.status in _ACTIVE_REQUEST:
                    found.co_medications += _co_medication(concept)
                continue
            if r.status not in _ACTIVE_REQUEST:
                continue
            found.therapy_orders.append(entry)
            if when is not None:
                found.started = when if found.started is None else min(found.started, when)
            orders.append((when or _UNDATED, concept))
            if therapy == "insulin_t2d" and any(re.search(rf"\b{n}\b", words(concept)) for n in codes.PRANDIAL_INSULIN_NAMES):
                report.warn(f"{entry.label}: {product} is a premix with a prandial insulin; the policy titrates basal "
                            "insulin alone")
            per_day = _dosage_per_day(r.dosageInstruction or [], product, therapy, entry.label, report)
            if per_day is None:
                if not any(e["loc"][0] == entry.label for e in report.errors):
                    report.error(entry.label, f"{product} order has no dose (dosageInstruction[].doseAndRate[]."
                                 "doseQuantity)", "fhir_missing", "dosageInstruction")
                continue
            key = product.lower()
            old = current.get(key)
            if old is None or (when is not None and (old.time is None or when >= old.time)):
                current[key] = Dose(per_day, when, entry.label, product)
        elif rtype == "MedicationStatement":
            active = r.status in _ACTIVE_STATEMENT
            if not mine:
                if active:
                    found.co_medications += _co_medication(concept)
                continue
            if not active and r.status not in _HISTORY_STATEMENT:
                continue  # entered-in-error, not-taken, unknown
            when = _effective_start(r)
            if active:
                found.therapy_orders.append(entry)
                if when is not None:
                    found.started = when if found.started is None else min(found.started, when)
            per_day = _dosage_per_day(r.dosage or [], product, therapy, entry.label, report)
            if per_day is None:
                continue
            key = product.lower()
            old_stated = stated_current.get(key)
            if active and (old_stated is None or (when is not None and (old_stated.time is None or when >= old_stated.time))):
                stated_current[key] = Dose(per_day, when, entry.label, product)
            if r.status in _HISTORY_STATEMENT and (span := _taken(entry, per_day, product, now, report)) is not None:
                taken.append(span)
        elif rtype == "MedicationAdministration":
            if not mine or r.status not in _GIVEN:
                continue
            when = _effective_start(r)
            if when is None:
                report.error(entry.label, "administration has no effective time with a time zone", "fhir_time",
                             "effectiveDateTime")
                continue
            amount = _amount(r.dosage.dose if r.dosage else None, product, therapy, entry.label, report)
            if amount is None:
                if not any(e["loc"][0] == entry.label for e in report.errors):
                    report.error(entry.label, f"{product} administration has no dose (dosage.dose)", "fhir_missing",
                                 "dosage", "dose")
                continue
            found.given.append(Dose(amount, when, entry.label, product))
            found.started = when if found.started is None else min(found.started, when)
    found.current = list((stated_current | current).values())  # an active order's dose wins over a statement's
    first = now - get_pack(therapy).dose_history_days * _DAY
    found.stated = stated_days(taken, found.given, first)
    unit = get_pack(therapy).dose_unit
    for t in taken:
        days = sum(1 for d in found.stated if d.source == t.source)
        if t.end > first:  # the statement's course reaches into the history: it began the therapy no later than its start
            found.started = t.start if found.started is None else min(found.started, t.start)
        if days:
            report.warn(f"{t.source}: {t.per_day:g} {unit}/day taken {t.start.date().isoformat()} to "
                        f"{'now' if t.end >= now else t.end.date().isoformat()} read as {days} daily dose(s) of the dose "
                        "history")
    if len(found.current) > 1:
        report.warn("current dose: the sum of the active orders of " + ", ".join(
            f"{d.product} ({d.source}, {d.per_day:g}/day)" for d in found.current))
    if orders and (concept := max(orders, key=lambda o: o[0])[1]) is not None:
        found.medication = concept.model_dump(mode="json", exclude_none=True)
    found.co_medications = list(dict.fromkeys(found.co_medications))[:MAX_CO_MEDICATIONS]
    return found
