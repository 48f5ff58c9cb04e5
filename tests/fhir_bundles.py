"""Generated FHIR bundles for property tests (hypothesis), built from the shapes of the fixtures: a random subset of the
resources of tests/fixtures/fhir (the Synthea patients and our own bundles), each perhaps altered the ways EHR exports
differ — a value, unit, code, status or time changed, an element dropped, a dosage in the STU3 shape — and entries
duplicated or mixed across patients."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from dosewise.fhir import codes

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "fhir"
FIXTURE_BUNDLES: list[dict[str, Any]] = [json.loads(path.read_text()) for path in sorted(FIXTURES.rglob("*.json"))]
ENTRIES: list[dict[str, Any]] = [e for b in FIXTURE_BUNDLES for e in b["entry"]]
RICH = [b for b in FIXTURE_BUNDLES if len(b["entry"]) > 3]  # not the one-Patient bundles of the log scan
_LOINCS = [*codes.INR, *codes.GLUCOSE, *codes.HBA1C, *codes.EGFR, *codes.CREATININE, *codes.WEIGHT, *codes.HEIGHT,
           *codes.GENOTYPE, "8867-4"]
_UNITS = ["mg/dL", "mmol/L", "kg", "[lb_av]", "cm", "[in_i]", "", "mL/min", "mL/min/{1.73_m2}", "%", "{INR}", "U", "mg",
          "{tbl}", "umol/L", "furlong"]
_TIMES = ["2026-11-20T08:00:00Z", "2026-11-20", "2026-11", "1890-01-01T00:00:00Z", "2099-01-01T00:00:00Z",
          "2026-11-20T08:00:00", "2026-11-22T07:00:00+02:00"]
_STATUSES = ["active", "completed", "stopped", "draft", "entered-in-error", "final", "amended", "cancelled", "on-hold"]
_DROP = ["valueQuantity", "birthDate", "gender", "effectiveDateTime", "subject", "dosageInstruction", "status", "code",
         "medicationCodeableConcept", "authoredOn", "dosage", "component"]
_numbers = st.one_of(st.floats(min_value=-10, max_value=1e4, allow_nan=False, allow_infinity=False),
                     st.integers(min_value=0, max_value=500))


@st.composite
def altered(draw: st.DrawFn, entry: dict[str, Any]) -> dict[str, Any]:
    e = copy.deepcopy(entry)
    r = e["resource"]
    how = draw(st.sampled_from(["none"] * 12 + ["value", "unit", "code", "status", "time", "drop", "dose", "stu3", "object"]))
    if how == "value" and isinstance(r.get("valueQuantity"), dict):
        r["valueQuantity"]["value"] = draw(_numbers)
    elif how == "unit" and isinstance(r.get("valueQuantity"), dict):
        unit = draw(st.sampled_from(_UNITS))
        r["valueQuantity"] = {k: v for k, v in r["valueQuantity"].items() if k not in ("unit", "code", "system")}
        if unit:
            r["valueQuantity"] |= {"unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
    elif how == "code" and r.get("resourceType") == "Observation":
        r["code"] = {"coding": [{"system": "http://loinc.org", "code": draw(st.sampled_from(_LOINCS))}]}
    elif how == "status" and "status" in r:
        r["status"] = draw(st.sampled_from(_STATUSES))
    elif how == "time":
        for key in ("effectiveDateTime", "authoredOn", "birthDate"):
            if key in r:
                r[key] = draw(st.sampled_from(_TIMES))[: 10 if key == "birthDate" else None]
    elif how == "drop":
        r.pop(draw(st.sampled_from(_DROP)), None)
    elif how == "dose" and r.get("resourceType") == "MedicationRequest":
        r["dosageInstruction"] = [{"timing": {"repeat": {"frequency": draw(st.integers(1, 3)), "period": 1,
                                                          "periodUnit": draw(st.sampled_from(["d", "wk", "h"]))}},
                                   "doseAndRate": [{"doseQuantity": {"value": draw(_numbers),
                                                                     "unit": draw(st.sampled_from(_UNITS))}}]}]
    elif how in ("stu3", "object") and r.get("resourceType") == "MedicationRequest":
        for d in r.get("dosageInstruction") or []:
            rates = d.get("doseAndRate")
            if isinstance(rates, list) and rates:
                if how == "stu3":
                    d.pop("doseAndRate")
                    d |= {k: v for k, v in rates[0].items() if k != "type"}
                else:
                    d["doseAndRate"] = rates[0]
    return e


@st.composite
def bundles(draw: st.DrawFn) -> dict[str, Any]:
    """One fixture bundle, most of its entries kept and some altered, plus a few entries of the others (perhaps another
    Patient); or, now and then, a random handful of entries (mostly without a Patient)."""
    if draw(st.integers(0, 9)) == 0:
        picked = draw(st.lists(st.sampled_from(ENTRIES), min_size=0, max_size=25))
    else:
        base = draw(st.sampled_from(RICH if draw(st.integers(0, 4)) else FIXTURE_BUNDLES))["entry"]
        picked = [e for e in base if draw(st.integers(0, 19)) > 0]
        picked += draw(st.lists(st.sampled_from(ENTRIES), max_size=3))
    entries = [draw(altered(e)) for e in picked]
    return {"resourceType": "Bundle", "type": draw(st.sampled_from(["collection", "transaction", "searchset"])),
            "entry": entries}
