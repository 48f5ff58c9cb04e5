"""Whether a glucose Observation was drawn fasting: its code, its name, or a fasting qualifier on it or beside it.

The insulin policy titrates on fasting glucose alone, so a result counts as fasting only where the record says so, and a
qualifier that says "not fasting" wins over every other statement (a post-meal value read as fasting would raise the dose).
What is read, and where each form is defined:

- the code: LOINC 1558-6 "Fasting glucose [Mass/volume] in Serum or Plasma" (``codes.GLUCOSE_FASTING``);
- the name: the code's ``text`` or a coding's ``display`` saying fasting ("Fasting glucose, meter"; a v2 feed's local code
  displayed "Glucose fasting"), unless it says non-fasting or not fasting;
- a ``component`` coded LOINC 49541-6 "Fasting status - Reported" (loinc.org; R4 names this form in its comment on
  Specimen.collection.fastingStatus[x], https://hl7.org/fhir/R4/specimen-definitions.html);
- the Observation's ``specimen`` (contained or in the bundle): ``Specimen.collection.fastingStatus[x]``, a CodeableConcept
  bound to HL7 v2 table 0916 (F fasting, NF not fasting, NG not asked; https://terminology.hl7.org/ValueSet-v2-0916.html)
  or a Duration of the fast (at least 8 h is fasting: the ADA's definition, "no caloric intake for at least 8 h", ADA
  Standards of Care, Classification and Diagnosis of Diabetes [secondary: quoted by laboratories' reference pages]);
- a 49541-6 Observation of the same order: in ``supportingInfo`` of the ServiceRequest the glucose is ``basedOn`` (the
  R4 example servicerequest-example-lipid: a contained 49541-6 Observation answered v2-0136 "Y"), sharing the glucose's
  ``basedOn`` or ``specimen``, or named in its ``hasMember`` / ``derivedFrom``.

A 49541-6 answer is read from HL7 v2 table 0136 (Y / N, the R4 example's), LOINC answers LA33-6 "Yes" / LA32-8 "No"
[secondary: third-party FHIR Questionnaires code them so], v2 table 0916 (F / NF), ``valueBoolean``, or the words of a
``valueString`` or the concept's text ("Yes, fasting > 8 hrs", "No"). Any other answer (not asked, unknown) says nothing.
No Observation extension or ``method`` carries a fasting status in R4 or in the IGs found, so neither is read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dosewise.fhir import codes
from dosewise.fhir.resources import Entry, Report, words

FASTING_STATUS = "49541-6"  # LOINC "Fasting status - Reported"
_V2_0136 = {"http://terminology.hl7.org/CodeSystem/v2-0136", "http://hl7.org/fhir/v2/0136"}
# The ValueSet URL stands in for the code system in some exports (an NHS CareConnect example codes NF so).
_V2_0916 = {"http://terminology.hl7.org/CodeSystem/v2-0916", "http://hl7.org/fhir/v2/0916",
            "http://terminology.hl7.org/ValueSet/v2-0916"}
_ANSWERS: dict[tuple[frozenset[str | None], str], bool] = {
    (frozenset({*_V2_0136, None}), "Y"): True, (frozenset({*_V2_0136, None}), "N"): False,
    (frozenset({codes.LOINC, None}), "LA33-6"): True, (frozenset({codes.LOINC, None}), "LA32-8"): False,
    (frozenset({*_V2_0916, None}), "F"): True, (frozenset({*_V2_0916, None}), "NF"): False,
}
_NOT_FASTING = re.compile(r"\b(?:non|not|no)[\s-]*fast(?:ing|ed)?\b")
_FASTING = re.compile(r"\bfast(?:ing|ed)\b")
_NO = re.compile(r"^\s*(?:no|n|false)\s*(?:$|[,.;:(])")  # an answer's words
_YES = re.compile(r"^\s*(?:yes|y|true)\s*(?:$|[,.;:(])")
_HOURS = {"h": 1.0, "hr": 1.0, "hrs": 1.0, "hour": 1.0, "hours": 1.0, "min": 1 / 60, "d": 24.0, "day": 24.0, "days": 24.0}
FAST_HOURS = 8.0  # ADA: fasting is no caloric intake for at least 8 h
_REFERENCE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def key(ref: str) -> str:
    """A reference as "Type/id" wherever it points (relative, absolute, versioned); a urn:uuid as written."""
    m = _REFERENCE.search(ref)
    return m.group(1) if m and not ref.startswith("urn:") else ref


def _ref(reference: Any) -> str | None:
    return getattr(reference, "reference", None) if reference is not None else None


def _name_says(text: str) -> bool | None:
    """A test's name: False when it says non-fasting, True when it says fasting, else None."""
    t = text.lower()
    if _NOT_FASTING.search(t):
        return False
    return True if _FASTING.search(t) else None


def _text_says(text: str) -> bool | None:
    """An answer in words: "No", "not fasting" → False; "Yes, fasting > 8 hrs", "fasting" → True."""
    t = text.lower()
    if _NO.search(t):
        return False
    if _YES.search(t):
        return True
    return _name_says(t)


def _concept_says(concept: Any) -> bool | None:
    for c in getattr(concept, "coding", None) or []:
        for (systems, code), says in _ANSWERS.items():
            if c.code == code and c.system in systems:
                return says
    return _text_says(words(concept)) if concept is not None else None


def answer(element: Any) -> bool | None:
    """What a 49541-6 Observation or component answers: True fasting, False not, None nothing readable."""
    if (b := getattr(element, "valueBoolean", None)) is not None:
        return bool(b)
    if (concept := getattr(element, "valueCodeableConcept", None)) is not None:
        return _concept_says(concept)
    if isinstance(s := getattr(element, "valueString", None), str):
        return _text_says(s)
    return None


def _specimen_says(specimen: Any) -> bool | None:
    collection = getattr(specimen, "collection", None)
    if collection is None:
        return None
    if (concept := collection.fastingStatusCodeableConcept) is not None:
        return _concept_says(concept)
    duration = collection.fastingStatusDuration
    if duration is None or duration.value is None:
        return None
    per_hour = _HOURS.get(str(duration.code or duration.unit or "").strip().lower())
    return None if per_hour is None else float(duration.value) * per_hour >= FAST_HOURS


def _is_fasting_status(o: Any) -> bool:
    return type(o).__name__ == "Observation" and FASTING_STATUS in {
        c.code for c in (o.code.coding or []) if c.system in (codes.LOINC, None)}


@dataclass
class Context:
    """The bundle's resources a qualifier can sit in: by the "Type/id" (or urn) that names them, and the 49541-6
    Observations by the order and the specimen they belong to."""

    by_key: dict[str, Any] = field(default_factory=dict)
    labels: dict[int, str] = field(default_factory=dict)  # id(resource) → its label, for messages
    by_order: dict[str, list[Any]] = field(default_factory=dict)
    by_specimen: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, entries: Iterable[Entry]) -> Context:
        ctx = cls()
        for e in entries:
            r = e.resource
            ctx.labels[id(r)] = e.label
            for ref in e.refs:
                ctx.by_key[key(ref)] = r
            if _is_fasting_status(r) and r.status not in ("entered-in-error", "cancelled"):
                for based in r.basedOn or []:
                    if (ref := _ref(based)) is not None:
                        ctx.by_order.setdefault(key(ref), []).append(r)
                if (ref := _ref(r.specimen)) is not None and not ref.startswith("#"):
                    ctx.by_specimen.setdefault(key(ref), []).append(r)
        return ctx

    def resolve(self, holder: Any, reference: Any) -> Any | None:
        """The resource a Reference on ``holder`` points to: contained in it ("#id") or in the bundle."""
        ref = _ref(reference)
        if ref is None:
            return None
        if ref.startswith("#"):
            return next((c for c in getattr(holder, "contained", None) or [] if getattr(c, "id", None) == ref[1:]), None)
        return self.by_key.get(key(ref))


def _statements(o: Any, ctx: Context) -> list[tuple[bool, str]]:
    """What the glucose Observation ``o`` and the resources beside it say about fasting, each with where it says it."""
    out: list[tuple[bool, str]] = []
    for i, c in enumerate(o.component or []):
        if FASTING_STATUS in {x.code for x in (c.code.coding or [])} and (says := answer(c)) is not None:
            out.append((says, f"component[{i}] (LOINC {FASTING_STATUS})"))
    if (specimen := ctx.resolve(o, o.specimen)) is not None and (says := _specimen_says(specimen)) is not None:
        out.append((says, f"its specimen's fastingStatus ({ctx.labels.get(id(specimen), 'contained')})"))
    related: dict[int, tuple[Any, str]] = {}
    for based in o.basedOn or []:
        order = ctx.resolve(o, based)
        for info in getattr(order, "supportingInfo", None) or []:
            if _is_fasting_status(found := ctx.resolve(order, info)):
                related[id(found)] = (found, f"its order's supportingInfo ({ctx.labels.get(id(order), 'order')})")
        if (ref := _ref(based)) is not None:
            for found in ctx.by_order.get(key(ref), []):
                related.setdefault(id(found), (found, f"{ctx.labels.get(id(found))} of the same order"))
    if (ref := _ref(o.specimen)) is not None:
        for found in ctx.by_specimen.get(key(ref), []):
            related.setdefault(id(found), (found, f"{ctx.labels.get(id(found))} of the same specimen"))
    for link in (*(o.hasMember or []), *(o.derivedFrom or [])):
        if _is_fasting_status(found := ctx.resolve(o, link)):
            related.setdefault(id(found), (found, f"{ctx.labels.get(id(found), 'contained')} it names"))
    for found, where in related.values():
        if (says := answer(found)) is not None:
            out.append((says, f"{where}, LOINC {FASTING_STATUS}"))
    return out


def is_fasting(entry: Entry, loincs: set[str], ctx: Context, report: Report) -> bool:
    """True when the glucose of ``entry`` was drawn fasting (module docstring); a contradiction is warned and read as not
    fasting."""
    o = entry.resource
    said = _statements(o, ctx)
    name = _name_says(words(o.code))
    if name is not None:
        said.append((name, "its name"))
    if loincs & codes.GLUCOSE_FASTING:
        said.append((True, f"its code (LOINC {', '.join(sorted(loincs & codes.GLUCOSE_FASTING))})"))
    yes = [where for says, where in said if says]
    no = [where for says, where in said if not says]
    if yes and no:
        report.warn(f"{entry.label}: {'; '.join(yes)} say(s) fasting, {'; '.join(no)} not fasting: read as not fasting")
    return bool(yes) and not no
