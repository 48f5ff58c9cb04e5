"""Patient → age, sex at birth and the race the IWPC equation uses."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from dosewise.fhir.resources import Entry, Report

BIRTHSEX_URL = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"
RACE_URL = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
# OMB race categories as US Core codes them (CDC Race & Ethnicity code system, urn:oid:2.16.840.1.113883.6.238) → the
# IWPC equation's groups; American Indian or Alaska Native (1002-5), Native Hawaiian or Other Pacific Islander (2076-8) and
# other (2131-1) are its "mixed or missing" group, as is more than one category.
_OMB_RACE = {"2106-3": "white", "2054-5": "black", "2028-9": "asian"}
_PATIENT_REF = re.compile(r"[^A-Za-z0-9_.:\-]")


@dataclass(frozen=True)
class Demographics:
    age_years: float
    sex: Literal["female", "male"]
    race: str
    patient_ref: str
    born: date


def _born(birth: object, where: str, report: Report) -> date | None:
    if isinstance(birth, date):
        return birth
    if isinstance(birth, str) and re.fullmatch(r"\d{4}(-\d{2})?", birth):
        year, month = int(birth[:4]), int(birth[5:7]) if len(birth) > 4 else 7
        day = 15 if len(birth) > 4 else 1
        report.warn(f"Patient: birthDate {birth} has no day; age counted from {year}-{month:02d}-{day:02d}")
        return date(year, month, day)
    report.error(where, "no birthDate: the age is needed", "fhir_missing", "birthDate")
    return None


def _sex(p: Any, where: str, report: Report) -> Literal["female", "male"] | None:
    for ext in p.extension or []:
        if ext.url == BIRTHSEX_URL and ext.valueCode in ("F", "M"):
            return "female" if ext.valueCode == "F" else "male"
    if p.gender in ("female", "male"):
        return p.gender  # type: ignore[no-any-return]
    report.error(where, f"sex at birth unknown (gender {p.gender!r}, no US Core birthsex F or M): expected female or male, "
                 "the pharmacokinetic covariate", "fhir_missing", "gender")
    return None


def _race(p: Any) -> str:
    found = set()
    for ext in p.extension or []:
        if ext.url == RACE_URL:
            found |= {x.valueCoding.code for x in ext.extension or [] if x.url == "ombCategory" and x.valueCoding}
    if not found:
        return "unknown"
    return _OMB_RACE.get(next(iter(found)), "other") if len(found) == 1 else "other"


def read(entry: Entry, full_url: str | None, now: datetime, report: Report) -> Demographics | None:
    p = entry.resource
    where = entry.label
    if p.deceasedBoolean or p.deceasedDateTime is not None:
        report.error(where, "the patient is recorded as deceased", "fhir_patient", "deceased")
    born, sex = _born(p.birthDate, where, report), _sex(p, where, report)
    if born is None or sex is None:
        return None
    age = (now.date() - born).days / 365.25
    if not 0 <= age <= 120:
        report.error(where, f"birthDate {born.isoformat()} gives an age of {age:.1f} years; expected 0–120",
                     "fhir_patient", "birthDate")
        return None
    rid = p.id or (full_url or "").rsplit(":", 1)[-1] or "unidentified"
    ref = "fhir-" + _PATIENT_REF.sub("-", rid)[:120]
    return Demographics(round(age, 2), sex, _race(p), ref, born)
