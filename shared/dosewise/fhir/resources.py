"""Reading a bundle's resources: select by resourceType from the raw JSON, normalize known EHR deviations, parse with
``fhir.resources`` (R4B), and collect what could not be read.

Only the types the mapping uses are parsed (``MAPPED_TYPES``): a Claim or an ExplanationOfBenefit the library would refuse
never fails a bundle, and a Synthea bundle of 1.3 MB parses in a fraction of the time a full parse takes (issue #26: ~19 vs
~95 ms median).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

MAPPED_TYPES = ("Patient", "Observation", "Condition", "Medication", "MedicationRequest", "MedicationStatement",
                "MedicationAdministration")
# Read only for what they say about an Observation (its specimen's fasting status, its order's fasting answer: fasting.py):
# one that does not parse is passed over with a warning, never a refusal of the bundle.
QUALIFIER_TYPES = ("Specimen", "ServiceRequest")
_DOSAGE_FIELDS = {"MedicationRequest": "dosageInstruction", "MedicationStatement": "dosage"}


@dataclass
class Report:
    """What a mapping found wrong (``errors``, pydantic-shaped: loc, msg, type) and what it normalized (``warnings``).

    Warnings are stored with the recommendation: they never name the Patient by its id (a record number, often), which
    is stored only pseudonymized; errors are only answered (a 422 stores nothing) and name every resource."""

    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def error(self, where: str, msg: str, kind: str = "fhir_missing", *rest: str | int) -> None:
        self.errors.append({"loc": (where, *rest), "msg": msg, "type": kind})

    def warn(self, msg: str) -> None:
        if msg not in self.warnings:
            self.warnings.append(msg)


@dataclass(frozen=True)
class Entry:
    """One parsed resource: its model, the label errors name it by ("Observation/abc") and the references that point to it."""

    resource: Any
    label: str
    refs: frozenset[str]


def label(raw: dict[str, Any], index: int) -> str:
    rid = raw.get("id")
    return f"{raw.get('resourceType')}/{rid}" if isinstance(rid, str) and rid else f"{raw.get('resourceType')}[entry {index}]"


def _normalize_dosage(raw: dict[str, Any], where: str, report: Report) -> dict[str, Any]:
    """The two dosage deviations of EHR exports and the CDS Hooks examples, as R4 writes them (each reported)."""
    d = dict(raw)
    if isinstance(d.get("doseAndRate"), dict):
        d["doseAndRate"] = [d["doseAndRate"]]
        report.warn(f"{where}: read doseAndRate given as an object (R4 has a list)")
    for key in ("doseQuantity", "doseRange", "rateQuantity", "rateRatio", "rateRange"):
        if key in d:  # the STU3 Dosage carried dose and rate directly
            value = d.pop(key)
            rates = d.get("doseAndRate")
            if not isinstance(rates, list) or not rates or not isinstance(rates[0], dict):
                rates = [{}]
            d["doseAndRate"] = [{**rates[0], key: value}, *rates[1:]]
            report.warn(f"{where}: read {key} directly on Dosage (the STU3 shape) as doseAndRate[0].{key}")
    return d


def normalized(raw: dict[str, Any], where: str, report: Report) -> dict[str, Any]:
    """A copy of ``raw`` with the known deviations repaired; the caller's JSON stays as sent."""
    rtype = raw.get("resourceType")
    out = raw
    if rtype in _DOSAGE_FIELDS or rtype == "MedicationAdministration":
        out = copy.copy(raw)
        if rtype == "MedicationAdministration":
            if isinstance(out.get("dosage"), dict) and isinstance(out["dosage"].get("doseAndRate"), (dict, list)):
                dosage = dict(out["dosage"])
                rates = dosage.pop("doseAndRate")
                first = rates[0] if isinstance(rates, list) and rates else rates
                if isinstance(first, dict) and "doseQuantity" in first and "dose" not in dosage:
                    dosage["dose"] = first["doseQuantity"]
                    report.warn(f"{where}: read dosage.doseAndRate.doseQuantity as dosage.dose (a MedicationRequest's "
                                "shape on an administration)")
                out["dosage"] = dosage
        else:
            key = _DOSAGE_FIELDS[str(rtype)]
            dosages = out.get(key)
            if isinstance(dosages, dict):
                dosages = [dosages]
                report.warn(f"{where}: read {key} given as an object (R4 has a list)")
            if isinstance(dosages, list):
                out[key] = [_normalize_dosage(d, f"{where}.{key}[{i}]", report) if isinstance(d, dict) else d
                            for i, d in enumerate(dosages)]
    return out


def parse(raw: dict[str, Any], index: int, full_url: str | None, report: Report, strict: bool = True) -> Entry | None:
    """The resource parsed with fhir.resources R4B, or None (with an error naming each invalid element; not ``strict``:
    a warning that it was not read)."""
    where = label(raw, index)
    try:
        model = get_fhir_model_class(str(raw["resourceType"])).model_validate(normalized(raw, where, report))
    except ValidationError as e:
        if not strict:
            report.warn(f"{where}: not a valid R4 {raw['resourceType']} ({e.error_count()} error(s)); not read")
            return None
        for err in e.errors()[:20]:
            report.error(where, f"not a valid R4 {raw['resourceType']}: {err['msg']}", "fhir_invalid",
                         *(str(p) for p in err.get("loc", ())))
        return None
    refs = {where} if "[" not in where else set()
    if full_url:
        refs.add(full_url)
    return Entry(model, where, frozenset(refs))


def select(bundle: dict[str, Any], report: Report) -> Iterator[Entry]:
    """The bundle's resources of the mapped and qualifier types, parsed, in entry order; the rest untouched."""
    for i, e in enumerate(bundle.get("entry") or []):
        raw = e.get("resource") if isinstance(e, dict) else None
        rtype = raw.get("resourceType") if isinstance(raw, dict) else None
        if rtype not in MAPPED_TYPES and rtype not in QUALIFIER_TYPES:
            continue
        assert isinstance(raw, dict)
        url = e.get("fullUrl")
        entry = parse(raw, i, url if isinstance(url, str) else None, report, strict=rtype in MAPPED_TYPES)
        if entry is not None:
            yield entry


# ---------------------------------------------------------------------------------------------------------- values
def instant(value: object) -> datetime | None:
    """An aware datetime for a FHIR dateTime/instant (a whole day: its midnight UTC); None for a partial date ("2026-11")
    or a time without zone, which cannot be placed."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo is not None else None
    if isinstance(value, date):
        return datetime.combine(value, time(0, 0), UTC)
    return None


def codes(concept: Any, system: str | None = None) -> set[str]:
    """The codes of a CodeableConcept (of ``system`` when given)."""
    return {c.code for c in (getattr(concept, "coding", None) or [])
            if c.code and (system is None or c.system == system)}


def words(concept: Any) -> str:
    """A concept's text and displays, lower case, for name matching."""
    parts = [getattr(concept, "text", None) or ""]
    parts += [c.display or "" for c in (getattr(concept, "coding", None) or [])]
    return " ".join(parts).lower()


def first_text(concept: Any) -> str:
    """How a person would name the concept: its text, else the first display, else the first code."""
    if concept is None:
        return ""
    if getattr(concept, "text", None):
        return str(concept.text)
    for c in concept.coding or []:
        if c.display:
            return str(c.display)
    return next((str(c.code) for c in concept.coding or [] if c.code), "")


def reference(ref: Any) -> str | None:
    return getattr(ref, "reference", None) if ref is not None else None
