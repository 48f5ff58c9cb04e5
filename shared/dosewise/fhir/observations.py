"""Observations by LOINC → the values PatientState takes, each in its canonical unit with its time and its resource.

Series (INR, fasting glucose) keep every dated value; single values (weight, height, eGFR, creatinine, HbA1c, genotypes)
keep the latest, its time beside it. What cannot be read (no unit where two are in use, a unit of another quantity, no
time) is an error naming the resource; a result without a value (``dataAbsentReason``) is skipped with a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dosewise.fhir import codes, fasting
from dosewise.fhir import units as fhir_units
from dosewise.fhir.resources import Entry, Report, first_text, instant
from dosewise.therapies.base import CYP2C9_GENOTYPES

_SKIPPED_STATUS = {"entered-in-error", "cancelled", "registered"}  # not a result (R4 ObservationStatus)
_QUANTITY_OF = {
    **dict.fromkeys(codes.INR, "inr"), **dict.fromkeys(codes.GLUCOSE, "glucose"), **dict.fromkeys(codes.HBA1C, "hba1c"),
    **dict.fromkeys(codes.EGFR, "egfr"), **dict.fromkeys(codes.CREATININE, "creatinine"),
    **dict.fromkeys(codes.WEIGHT, "mass"), **dict.fromkeys(codes.HEIGHT, "length"),
}
# What no living patient's sample shows (a unit mix-up): refused, as PatientState refuses its own values. Creatinine: our
# choice, 0.05–40 mg/dL (4.4–3,500 µmol/L); HbA1c: 3–25 % (the DCCT-aligned assay range and beyond).
PLAUSIBLE = {"creatinine": (0.05, 40.0), "hba1c": (3.0, 25.0)}
_NAMES = {"inr": "INR", "glucose": "glucose", "hba1c": "HbA1c", "egfr": "eGFR", "creatinine": "creatinine",
          "mass": "body weight", "length": "body height"}


@dataclass(frozen=True)
class Value:
    value: float  # canonical unit (fhir.units.CANONICAL)
    time: datetime
    source: str  # "Observation/abc"


@dataclass
class Found:
    """Everything the observations of one patient say, by what the mapping needs."""

    inr: list[Value] = field(default_factory=list)
    glucose_fasting: list[Value] = field(default_factory=list)
    glucose_other: list[Value] = field(default_factory=list)  # not marked fasting: the policy does not read them
    latest: dict[str, Value] = field(default_factory=dict)  # "mass", "length", "egfr", "creatinine", "hba1c"
    genotype: dict[str, tuple[str, datetime, str]] = field(default_factory=dict)  # gene → (diplotype, time, source)


def _time(o: Any) -> datetime | None:
    if o.effectiveDateTime is not None:
        return instant(o.effectiveDateTime)
    if o.effectiveInstant is not None:
        return instant(o.effectiveInstant)
    if o.effectivePeriod is not None:
        return instant(o.effectivePeriod.end or o.effectivePeriod.start)
    return instant(o.issued)


def _quantity(entry: Entry, quantity: str, loinc: str, report: Report) -> float | None:
    """The observation's value in the canonical unit, or None (skipped with a warning, or an error)."""
    o = entry.resource
    q = o.valueQuantity
    name = f"{_NAMES[quantity]} (LOINC {loinc})"
    if q is None or q.value is None:
        why = f" ({first_text(o.dataAbsentReason)})" if o.dataAbsentReason is not None else ""
        report.warn(f"{entry.label}: {name} has no valueQuantity{why}; not used")
        return None
    unit = q.code if q.code and (q.system in (None, codes.UCUM)) else q.unit
    if not unit:
        if quantity not in fhir_units.DEFAULT_UNIT:
            report.error(entry.label, f"{name} has no unit; expected {_expected(quantity)}", "fhir_unit",
                         "valueQuantity", "unit")
            return None
        unit = fhir_units.DEFAULT_UNIT[quantity]
        report.warn(f"{entry.label}: {name} has no unit; read as {unit}, the only unit in use for it")
    try:
        value, note = fhir_units.to_canonical(float(q.value), str(unit), quantity)
    except fhir_units.QuantityError as e:
        report.error(entry.label, f"{name}: {e}", "fhir_unit", "valueQuantity", "unit")
        return None
    if note:
        report.warn(f"{entry.label}: {note}")
    low, high = PLAUSIBLE.get(quantity, (float("-inf"), float("inf")))
    if not low <= value <= high:
        report.error(entry.label, f"{name} of {value:g} {fhir_units.CANONICAL[quantity]} is physiologically impossible; "
                     f"allowed {low:g}–{high:g}", "fhir_value", "valueQuantity", "value")
        return None
    return value


def _expected(quantity: str) -> str:
    return {"glucose": "mg/dL or mmol/L", "creatinine": "mg/dL or umol/L", "mass": "kg or [lb_av]",
            "length": "cm or [in_i]"}.get(quantity, fhir_units.CANONICAL[quantity])


# --- genotypes (HL7 Genomics Reporting) --------------------------------------------------------------------------------
_STAR = re.compile(r"\*\s*(\d+)\s*/\s*\*\s*(\d+)")
_BASES = re.compile(r"(?<![A-Za-z])([ACGT])\s*/\s*([ACGT])(?![A-Za-z])")
_PAIR = re.compile(r"(?<![A-Za-z>])([GA])([GA])(?![A-Za-z])")
# VKORC1 -1639G>A is rs9923231; dbSNP reports it on the forward strand as C>T (the gene lies on the reverse strand), so
# rs9923231 C/T is -1639 G/A (CPIC warfarin guideline, Johnson et al., Clin Pharmacol Ther 2017;102:397) [secondary].
_RS9923231 = {"C": "G", "T": "A", "G": "G", "A": "A"}


def cyp2c9_diplotype(text: str) -> str | None:
    """"CYP2C9 *3/*1" → "*1/*3" (alleles in ascending order); None when no star-allele pair is written."""
    m = _STAR.search(text)
    if m is None:
        return None
    a, b = sorted((int(m.group(1)), int(m.group(2))))
    return f"*{a}/*{b}"


def vkorc1_genotype(text: str) -> str | None:
    """"VKORC1 -1639 A/G" or "rs9923231 C/T" → "G/A"; None when no genotype of the -1639 position is written."""
    forward = "rs9923231" in text.lower()
    m = _BASES.search(text) or _PAIR.search(text.upper())
    if m is None:
        return None
    table = _RS9923231 if forward else {"G": "G", "A": "A"}
    if m.group(1) not in table or m.group(2) not in table:
        return None
    alleles = sorted((table[m.group(1)], table[m.group(2)]), key="GA".index)
    return "/".join(alleles)


def _gene(o: Any, text: str) -> str | None:
    for c in o.component or []:
        if codes.GENE_STUDIED in {x.code for x in (c.code.coding or [])}:
            concept = c.valueCodeableConcept
            found = {x.code for x in (concept.coding or [])} | {x.display for x in (concept.coding or [])} | {concept.text}
            for gene, hgnc in codes.GENES.items():
                if hgnc in found or any(isinstance(v, str) and gene in v.upper() for v in found):
                    return gene
    return next((g for g in codes.GENES if g.lower() in text.lower()), None)


def _genotype(entry: Entry, when: datetime, found: Found, report: Report) -> None:
    o = entry.resource
    text = " ".join(filter(None, [first_text(o.valueCodeableConcept), o.valueString or "",
                                  " ".join(c.display or "" for c in (o.valueCodeableConcept.coding or []))
                                  if o.valueCodeableConcept else ""]))
    gene = _gene(o, text)
    if gene is None:
        return  # a gene the packs do not use
    diplotype = cyp2c9_diplotype(text) if gene == "CYP2C9" else vkorc1_genotype(text)
    if diplotype is None:
        report.warn(f"{entry.label}: {gene} result {text.strip()!r} names no diplotype we read (CYP2C9 '*1/*3', VKORC1 "
                    "'G/A' or rs9923231 'C/T'); treated as not tested")
        return
    if gene == "CYP2C9" and diplotype not in CYP2C9_GENOTYPES:  # what schemas.Genotype accepts
        known = ", ".join(CYP2C9_GENOTYPES)
        report.warn(f"{entry.label}: CYP2C9 {diplotype} is not among the diplotypes the policy knows ({known}); treated as "
                    "not tested")
        return
    old = found.genotype.get(gene)
    if old is not None and old[0] != diplotype:
        report.warn(f"{gene}: {old[2]} says {old[0]} and {entry.label} says {diplotype}; the latest is used")
    if old is None or when >= old[1]:
        found.genotype[gene] = (diplotype, when, entry.label)


# ----------------------------------------------------------------------------------------------------------- reading
def read(entries: list[Entry], report: Report, context: fasting.Context | None = None) -> Found:
    """The observations' values; ``context``: the resources a glucose's fasting qualifier may sit in (fasting.py)."""
    found = Found()
    context = context if context is not None else fasting.Context.of(entries)
    for entry in entries:
        o = entry.resource
        if o.status in _SKIPPED_STATUS:
            continue
        loincs = {c.code for c in (o.code.coding or []) if c.code and c.system in (codes.LOINC, None)}
        genotype = bool(loincs & set(codes.GENOTYPE))
        mapped = sorted(c for c in loincs if c in _QUANTITY_OF)
        if not mapped and not genotype:
            continue
        when = _time(o)
        if when is None:
            what = "genotype" if genotype else f"{_NAMES[_QUANTITY_OF[mapped[0]]]} (LOINC {mapped[0]})"
            report.error(entry.label, f"{what} has no effective time with a time zone (effectiveDateTime, "
                         "effectivePeriod or issued)", "fhir_time", "effectiveDateTime")
            continue
        if genotype:
            _genotype(entry, when, found, report)
            continue
        loinc = mapped[0]
        quantity = _QUANTITY_OF[loinc]
        value = _quantity(entry, quantity, loinc, report)
        if value is None:
            continue
        v = Value(value, when, entry.label)
        if quantity == "inr":
            found.inr.append(v)
        elif quantity == "glucose":
            drawn_fasting = fasting.is_fasting(entry, loincs, context, report)
            (found.glucose_fasting if drawn_fasting else found.glucose_other).append(v)
        elif (old := found.latest.get(quantity)) is None or when >= old.time:
            found.latest[quantity] = v
    return found
