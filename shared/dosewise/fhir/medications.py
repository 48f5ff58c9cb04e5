"""MedicationRequest / MedicationStatement / MedicationAdministration → the therapy's current daily dose, its dose history,
when it began, and the patient's other medications (co-medications).

- Which therapy a medication belongs to: its RxNorm code (``codes.WARFARIN``, ``codes.BASAL_INSULIN``) or its name in the
  concept's text or displays (dosewise.medications for warfarin's names and brands; ``codes.BASAL_INSULIN_NAMES``).
- The current dose: the latest active order (or active statement) per product, times its timing's frequency per day,
  summed over products (a regimen of 5 mg and 1 mg tablets is two orders). An order on record without any dose is an error
  naming it: the mapper never guesses a dose.
- The history: each completed administration is a dose given at its time.
- A draft or proposed order (CDS Hooks' draft orders) is not a record of the patient taking the drug.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
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


@dataclass
class Found:
    therapy_orders: list[Entry] = field(default_factory=list)  # on record, of the therapy's drug
    current: list[Dose] = field(default_factory=list)
    given: list[Dose] = field(default_factory=list)  # administrations: per_day is the amount given at ``time``
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


def read(entries: list[Entry], therapy: str, media: dict[str, Any], report: Report) -> Found:
    """What the medication resources say about ``therapy`` and the other drugs. ``media``: Medication resources' codes by
    the references that point to them."""
    found = Found()
    orders: list[tuple[datetime, Any]] = []  # (authoredOn, medication) of the therapy's active orders
    current: dict[str, Dose] = {}
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
            if r.status not in _ACTIVE_STATEMENT:
                continue
            if not mine:
                found.co_medications += _co_medication(concept)
                continue
            found.therapy_orders.append(entry)
            when = instant(r.effectiveDateTime) or (instant(r.effectivePeriod.start) if r.effectivePeriod else None)
            if when is not None:
                found.started = when if found.started is None else min(found.started, when)
            per_day = _dosage_per_day(r.dosage or [], product, therapy, entry.label, report)
            key = product.lower()
            if per_day is not None and key not in current:  # an active order's dose wins over a statement's
                current[key] = Dose(per_day, when, entry.label, product)
        elif rtype == "MedicationAdministration":
            if not mine or r.status not in _GIVEN:
                continue
            when = instant(r.effectiveDateTime) or (instant(r.effectivePeriod.start) if r.effectivePeriod else None)
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
    found.current = list(current.values())
    if len(found.current) > 1:
        report.warn("current dose: the sum of the active orders of " + ", ".join(
            f"{d.product} ({d.source}, {d.per_day:g}/day)" for d in found.current))
    if orders and (concept := max(orders, key=lambda o: o[0])[1]) is not None:
        found.medication = concept.model_dump(mode="json", exclude_none=True)
    found.co_medications = list(dict.fromkeys(found.co_medications))[:MAX_CO_MEDICATIONS]
    return found
