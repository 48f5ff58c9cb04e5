"""A FHIR R4 Bundle → the PatientState of its patient for one therapy, or every reason it cannot be one.

``map_bundle`` reads the Patient, the Observations, Conditions and medication resources (resources.py selects and parses
only those), decides the therapy (given, or from the active order's RxNorm code) and builds the PatientState the JSON route
takes. Errors name the resource, the code and what was expected; PatientState's own checks (ranges, times) are reported on
the resource a value came from. Warnings list every normalization, and every value read but not used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from dosewise.fhir import codes, fasting, medications, observations, patient
from dosewise.fhir import units as fhir_units
from dosewise.fhir.resources import Entry, Report, reference, select
from dosewise.fhir.resources import codes as codes_of
from dosewise.schemas import PatientState

THERAPIES = ("warfarin", "insulin_t2d")  # the packs whose inputs a FHIR record carries
MAX_OBSERVATIONS, MAX_DOSES = 500, 1000  # PatientState's limits: the latest are kept
_LOINC_LISTS = {"inr": "/".join(codes.INR),
                "glucose_fasting": "1558-6, or 2339-0/2345-7/41653-7 named 'fasting' or with a fasting status 49541-6 "
                                   "or a specimen's fastingStatus"}
_ACTIVE_CONDITION = {"active", "recurrence", "relapse"}


class BundleError(ValueError):
    """The bundle cannot be mapped: ``errors`` in pydantic's shape (loc, msg, type), for problems.validation_problem."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} problem(s) in the bundle")
        self.errors = errors


@dataclass(frozen=True)
class Mapped:
    state: PatientState
    warnings: tuple[str, ...]
    patient: str  # "Patient/<id>", the subject of a FHIR answer
    medication: dict[str, Any] | None  # the therapy's medicationCodeableConcept as the bundle codes it


def _subject(r: Any) -> str | None:
    return reference(getattr(r, "subject", None))


def _mine(entry: Entry, refs: set[str]) -> bool:
    ref = _subject(entry.resource)
    return ref is None or ref in refs or any(ref.endswith("/" + r) for r in refs if r.startswith("Patient/"))


def _therapy(given: str | None, orders: list[Entry], report: Report) -> str | None:
    if given is not None:
        if given not in THERAPIES:
            report.error("query", f"therapy {given!r} cannot be read from FHIR; expected one of {', '.join(THERAPIES)}",
                         "fhir_therapy", "therapy")
            return None
        return given
    found: dict[str, list[str]] = {}
    for e in orders:
        r = e.resource
        if r.status in ("active", "on-hold") and r.intent not in ("proposal", "plan"):
            if (t := medications.therapy_of(r.medicationCodeableConcept)) is not None:
                found.setdefault(t, []).append(e.label)
    if len(found) == 1:
        therapy = next(iter(found))
        report.warn(f"therapy {therapy} inferred from the active order {found[therapy][0]}")
        return therapy
    if not found:
        report.error("query", "no therapy given, and no active MedicationRequest of warfarin (RxNorm 11289 or its "
                     "products) or of a basal insulin to infer it from: pass ?therapy=warfarin or ?therapy=insulin_t2d",
                     "fhir_therapy", "therapy")
    else:
        report.error("query", "no therapy given, and active orders of several: " + "; ".join(
            f"{t} ({', '.join(labels)})" for t, labels in found.items()) + ": pass ?therapy=", "fhir_therapy", "therapy")
    return None


def _series(values: list[observations.Value], kind: str, report: Report) -> tuple[list[dict[str, Any]], list[str]]:
    """One observation per time (the same result under two codes is one sample), the latest MAX_OBSERVATIONS."""
    by_time: dict[datetime, observations.Value] = {}
    for v in sorted(values, key=lambda v: v.time):
        old = by_time.get(v.time)
        if old is not None and abs(old.value - v.value) > 1e-9:
            report.error(v.source, f"{kind} {v.value:g} at {v.time.isoformat()}, and {old.value:g} at the same time in "
                         f"{old.source}: which is the result?", "fhir_ambiguous", "value")
        by_time[v.time] = v
    kept = sorted(by_time.values(), key=lambda v: v.time)[-MAX_OBSERVATIONS:]
    unit = "{INR}" if kind == "inr" else "mg/dL"
    return ([{"kind": kind, "value": round(v.value, 4), "unit": unit, "time": v.time} for v in kept],
            [v.source for v in kept])


def _pregnant(conditions: list[Entry]) -> bool | None:
    state: bool | None = None
    for e in conditions:
        c = e.resource
        if not codes_of(c.code, codes.SNOMED) & codes.PREGNANT:
            continue
        status = codes_of(c.clinicalStatus) if c.clinicalStatus is not None else {"active"}
        if codes_of(c.verificationStatus) & {"refuted", "entered-in-error"}:
            continue
        state = True if status & _ACTIVE_CONDITION else (state or False)
    return state


def _problems(e: ValidationError, where: dict[tuple[str | int, ...], str]) -> list[dict[str, Any]]:
    """PatientState's errors on the resource each value came from ("Observation/abc"), the field path after it."""
    out = []
    for err in e.errors():
        loc = tuple(err.get("loc", ()))
        source = next((where[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in where), "PatientState")
        out.append({"loc": (source, *loc), "msg": err.get("msg", "invalid"), "type": err.get("type", "value_error"),
                    "ctx": err.get("ctx")})
    return out


def map_bundle(bundle: Any, therapy: str | None = None, now: datetime | None = None) -> Mapped:
    """The PatientState of the bundle's patient for ``therapy`` (None: inferred). Raises BundleError naming every problem."""
    from dosewise.schemas import utc_now

    now = now or utc_now()
    report = Report()
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        rtype = bundle.get("resourceType") if isinstance(bundle, dict) else type(bundle).__name__
        raise BundleError([{"loc": ("(body)",), "msg": f"expected a FHIR R4 Bundle, got {rtype!r}", "type": "fhir_bundle"}])
    if not isinstance(bundle.get("entry", []), list):
        raise BundleError([{"loc": ("Bundle", "entry"), "msg": "Bundle.entry must be a list", "type": "fhir_bundle"}])
    entries = list(select(bundle, report))
    by_type: dict[str, list[Entry]] = {}
    for e in entries:
        by_type.setdefault(type(e.resource).__name__, []).append(e)

    patients = by_type.get("Patient", [])
    if len(patients) != 1:
        kinds = sorted({str(x.get("resource", {}).get("resourceType")) for x in bundle.get("entry") or []
                        if isinstance(x, dict) and isinstance(x.get("resource"), dict)})
        msg = (f"no Patient in the bundle (it holds {', '.join(kinds) or 'no resources'}): a recommendation needs one "
               "patient's record" if not patients else
               f"{len(patients)} Patients in the bundle ({', '.join(p.label for p in patients)}): send one patient's record")
        raise BundleError([*report.errors, {"loc": ("Bundle", "entry"), "msg": msg, "type": "fhir_patient"}])
    p = patients[0]
    refs = set(p.refs)
    others = [e for t in ("Observation", "Condition", "MedicationRequest", "MedicationStatement",
                          "MedicationAdministration") for e in by_type.get(t, [])]
    foreign = [e.label for e in others if not _mine(e, refs)]
    if foreign:
        report.warn(f"{len(foreign)} resource(s) about another subject than the bundle's Patient were not used: "
                    + ", ".join(foreign[:5]) + (" …" if len(foreign) > 5 else ""))
    mine = {t: [e for e in by_type.get(t, []) if _mine(e, refs)] for t in by_type}

    demographics = patient.read(p, next(iter(r for r in p.refs if r.startswith("urn:")), None), now, report)
    orders = mine.get("MedicationRequest", [])
    chosen = _therapy(therapy, orders, report)
    if demographics is None or chosen is None:
        raise BundleError(report.errors)

    qualifiers = fasting.Context.of(e for t in ("Observation", "Specimen", "ServiceRequest") for e in mine.get(t, []))
    found = observations.read(mine.get("Observation", []), report, qualifiers)
    media = {ref: e.resource.code for e in mine.get("Medication", []) for ref in e.refs}
    meds = medications.read(orders + mine.get("MedicationStatement", []) + mine.get("MedicationAdministration", []),
                            chosen, media, report, now)
    where: dict[tuple[str | int, ...], str] = {("age_years",): p.label, ("sex",): p.label, ("race",): p.label}
    state: dict[str, Any] = {"therapy": chosen, "patient_ref": demographics.patient_ref, "age_years": demographics.age_years,
                             "sex": demographics.sex, "race": demographics.race}

    for key, quantity, loinc, unit in (("weight", "mass", codes.WEIGHT[0], "kg"), ("height", "length", codes.HEIGHT[0], "cm")):
        v = found.latest.get(quantity)
        if v is None:
            report.error("Bundle", f"no body {'weight' if key == 'weight' else 'height'} (LOINC {loinc}) in the bundle",
                         "fhir_missing", "entry")
            continue
        state[key] = {"value": round(v.value, 3), "unit": unit}
        where[(key,)] = v.source

    if (egfr := found.latest.get("egfr")) is not None:
        state["egfr_ml_min_1_73m2"] = round(egfr.value, 1)
        where[("egfr_ml_min_1_73m2",)] = egfr.source
    elif (scr := found.latest.get("creatinine")) is not None:
        age_then = (scr.time.date() - demographics.born).days / 365.25
        if age_then >= 18:
            value = fhir_units.ckd_epi_2021(scr.value, age_then, demographics.sex == "female")
            capped = min(max(value, 1.0), 200.0)  # PatientState's range
            state["egfr_ml_min_1_73m2"] = round(capped, 1)
            where[("egfr_ml_min_1_73m2",)] = scr.source
            report.warn(f"eGFR {value:.0f} mL/min/1.73 m² computed from creatinine {scr.value:.2f} mg/dL ({scr.source}, "
                        f"{scr.time.date().isoformat()}) by CKD-EPI 2021 (Inker et al., NEJM 2021;385:1737)"
                        + (f", used as {capped:g}" if capped != value else ""))
        else:
            report.warn(f"creatinine of {scr.source} not used: CKD-EPI is an adult equation (age {age_then:.0f})")
    if (a1c := found.latest.get("hba1c")) is not None:
        report.warn(f"HbA1c {a1c.value:g} % ({a1c.source}, {a1c.time.date().isoformat()}) read; no policy uses it yet")

    kind = "inr" if chosen == "warfarin" else "glucose_fasting"
    series = found.inr if chosen == "warfarin" else found.glucose_fasting
    obs, sources = _series(series, kind, report)
    state["observations"] = obs
    where |= {("observations", i): s for i, s in enumerate(sources)}
    if chosen == "insulin_t2d" and found.glucose_other:
        report.warn(f"{len(found.glucose_other)} glucose result(s) not marked fasting were not used: the policy reads "
                    "fasting glucose (LOINC 1558-6)")

    doses = sorted(meds.given + meds.stated, key=lambda d: d.time or now)[-MAX_DOSES:]
    given = sorted(meds.given, key=lambda d: d.time or now)
    pack_unit = "mg" if chosen == "warfarin" else "U"
    state["doses"] = [{"amount": round(d.per_day, 4), "unit": pack_unit, "time": d.time} for d in doses]
    where |= {("doses", i): d.source for i, d in enumerate(doses)}
    on_record = bool(meds.therapy_orders or doses)
    if meds.current:
        state["current_dose"] = {"value": round(sum(d.per_day for d in meds.current), 4), "unit": pack_unit}
        where[("current_dose",)] = meds.current[0].source
    elif given:
        last = given[-1]
        state["current_dose"] = {"value": round(sum(d.per_day for d in given if d.time and last.time
                                                    and last.time - d.time < timedelta(hours=24)), 4), "unit": pack_unit}
        where[("current_dose",)] = last.source
        report.warn(f"current dose: no active order with a dose; read from the administrations of the day up to {last.source}")
    elif doses:
        state["current_dose"] = {"value": 0.0, "unit": pack_unit}
        report.warn(f"current dose: 0, no active order or statement; the last statement on record, {doses[-1].source}, "
                    "has ended")
    elif not on_record:
        state["current_dose"] = {"value": 0.0, "unit": pack_unit}
    name = "warfarin" if chosen == "warfarin" else "basal insulin"
    if not obs:
        loincs = _LOINC_LISTS[kind]
        label = "INR" if kind == "inr" else "fasting glucose"
        if chosen == "warfarin" and not on_record:
            report.warn(f"no INR and no {name} on record: the decision is the therapy's start")
        else:
            report.error("Bundle", f"no {label} (LOINC {loincs}) in the bundle", "fhir_missing", "entry")
    elif not on_record:
        report.warn(f"no {name} on record (no active order, statement or administration): the decision is the "
                    "therapy's start")
    if meds.started is not None and on_record:
        state["therapy_started"] = meds.started
        where[("therapy_started",)] = (meds.therapy_orders[0].label if meds.therapy_orders else doses[0].source)
    if found.genotype:
        state["genotype"] = {gene.lower(): d for gene, (d, _, _) in found.genotype.items()}
        where |= {("genotype", gene.lower()): src for gene, (_, _, src) in found.genotype.items()}
    if (pregnant := _pregnant(mine.get("Condition", []))) is not None:
        state["pregnant"] = pregnant
    state["co_medications"] = meds.co_medications
    if report.errors:
        raise BundleError(report.errors)
    try:
        model = PatientState.model_validate(state)
    except ValidationError as e:
        raise BundleError(_problems(e, where)) from None
    return Mapped(model, tuple(report.warnings), p.label if "[" not in p.label else "Patient", meds.medication)
