"""The dose decision form, built from a therapy pack's own description (what GET /v1/therapies shows), and the way back:
the posted form turned into a PatientState body, and the API's problem+json entries placed beside the fields they name.

Nothing here knows a therapy: the fields come from ``required_state_fields``, the lab rows from ``observation_kinds``, the
dose unit from ``dose_unit``; the unit choices are those ``dosewise.units`` accepts (UCUM spelling first).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dosewise import units
from dosewise.schemas import OBSERVATION_KINDS, PatientState
from dosewise.therapies.base import TherapyPack

OBSERVATION_ROWS = 4  # empty rows are ignored; a clinician with more results sends a FHIR bundle or uses the API
DOSE_ROWS = 7  # a week of daily doses
GENOTYPES = {"cyp2c9": ("*1/*1", "*1/*2", "*1/*3", "*2/*2", "*2/*3", "*3/*3"), "vkorc1": ("G/G", "G/A", "A/A")}


def unit_choices(quantity: str, first: str | None = None) -> list[str]:
    """The spellings of ``quantity`` a form offers: ``first`` (default: the canonical unit), then one spelling per other
    factor (the UCUM one, ``[lb_av]`` or ``{INR}``, where there is one)."""
    spellings = units.spellings(quantity)
    canonical = first if first in spellings else units.canonical_unit(quantity)
    choices, seen = [canonical], {spellings[canonical]}
    for unit in sorted(spellings, key=lambda u: ("[" not in u and "{" not in u, u)):
        if spellings[unit] not in seen:
            seen.add(spellings[unit])
            choices.append(unit)
    return choices


def _description(name: str) -> str:
    info = PatientState.model_fields.get(name)
    return (info.description or "") if info else ""


@dataclass(frozen=True)
class FieldSpec:
    """One input (or value + unit pair) of the form. ``name`` is the PatientState field; ``kind`` picks the widget."""

    name: str
    label: str
    kind: str  # number | measure | text | select | datetime
    required: bool
    help: str = ""
    units: tuple[str, ...] = ()
    choices: tuple[tuple[str, str], ...] = ()  # (value, label)
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class TherapyForm:
    """Everything the template needs to draw one therapy's form."""

    therapy: str
    name: str
    dose_unit: str
    fields: tuple[FieldSpec, ...]
    observation_kinds: tuple[tuple[str, str, tuple[str, ...]], ...]  # (kind, label, unit choices)
    dose_units: tuple[str, ...]
    target_band: tuple[float, float]
    genotype: bool = field(default=True)

    @property
    def observation_units(self) -> list[str]:
        """Every unit any of the therapy's lab results may be entered in (the schema checks it fits the kind)."""
        return list(dict.fromkeys(u for _k, _label, us in self.observation_kinds for u in us))


def therapy_form(pack: TherapyPack) -> TherapyForm:
    """The form of ``pack``: its required fields first (as the pack lists them), then the optional ones."""
    d = pack.describe()
    required = set(d["required_state_fields"])
    dose_units = tuple(unit_choices(pack.dose_quantity, first=pack.dose_unit))  # as the pack names it ("a.u.", not "1")
    specs = {
        "patient_ref": FieldSpec("patient_ref", "Patient reference (pseudonymous)", "text", True,
                                 "Letters, digits and . _ : - only; no names, no MRN."),
        "age_years": FieldSpec("age_years", "Age", "number", True, "years", min=0, max=120),
        "sex": FieldSpec("sex", "Sex assigned at birth", "select", True, _description("sex"),
                         choices=(("female", "female"), ("male", "male"))),
        "weight": FieldSpec("weight", "Weight", "measure", True, "", units=tuple(unit_choices("mass"))),
        "height": FieldSpec("height", "Height", "measure", True, "", units=tuple(unit_choices("length"))),
        "current_dose": FieldSpec("current_dose", "Current daily dose", "measure", True,
                                  f"per day; 0 when not yet on {d['name']}", units=dose_units),
        "egfr_ml_min_1_73m2": FieldSpec("egfr_ml_min_1_73m2", "eGFR", "number", False, "mL/min/1.73 m² (CKD-EPI)",
                                        min=1, max=200),
        "race": FieldSpec("race", "Race", "select", False, _description("race"),
                          choices=tuple((r, r) for r in ("unknown", "white", "black", "asian", "other"))),
        "pregnant": FieldSpec("pregnant", "Pregnant", "select", False, "",
                              choices=(("", "not recorded"), ("false", "no"), ("true", "yes"))),
        "co_medications": FieldSpec("co_medications", "Co-medications", "text", False,
                                    "Comma-separated, as recorded (e.g. amiodarone, metoprolol)."),
        "comorbidities": FieldSpec("comorbidities", "Comorbidities", "text", False, "Comma-separated."),
        "therapy_started": FieldSpec("therapy_started", "Therapy started", "datetime", False,
                                     "UTC; for a patient on long-term therapy whose record holds only recent doses."),
        "as_of": FieldSpec("as_of", "Decision time", "datetime", False, "UTC; empty: now."),
    }
    # Genotype and race feed only a pack whose features read them (warfarin's IWPC dose and genotype one-hots); the other
    # therapies' forms leave them out rather than ask for what their policy never reads.
    pharmacogenetic = any(f.name.startswith(("cyp2c9_", "vkorc1_")) for f in pack.feature_specs)
    if not pharmacogenetic:
        specs.pop("race")
    order = [n for n in d["required_state_fields"] if n in specs] + [n for n in specs if n not in required]
    fields = tuple(FieldSpec(**{**specs[n].__dict__, "required": n in required}) for n in order)
    kinds = tuple((k, OBSERVATION_KINDS[k].label or k.replace("_", " "), tuple(unit_choices(v["quantity"])))
                  for k, v in d["observation_kinds"].items())
    return TherapyForm(therapy=pack.id, name=d["name"], dose_unit=d["dose_unit"], fields=fields, observation_kinds=kinds,
                       dose_units=dose_units, target_band=(d["target_band"][0], d["target_band"][1]),
                       genotype=pharmacogenetic and "genotype" in PatientState.model_fields)


# ------------------------------------------------------------------------------------------------------ form → body
def _number(raw: str) -> float | str:
    """A number as typed (comma decimal accepted), or the text itself: the schema then says what is wrong with it."""
    try:
        return float(raw.strip().replace(",", "."))
    except ValueError:
        return raw


def _instant(raw: str) -> str:
    """``datetime-local`` (no zone) read as UTC, the zone the form labels; anything else as typed."""
    raw = raw.strip()
    try:
        t = datetime.fromisoformat(raw)
    except ValueError:
        return raw
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).isoformat()


def _csv(raw: str) -> list[str]:
    return [p.strip() for p in raw.split(",") if p.strip()]


def state_body(therapy: str, form: Mapping[str, str]) -> dict[str, Any]:
    """The PatientState JSON body of a posted form (empty optional inputs and empty rows left out), for validation."""
    get = lambda k: (form.get(k) or "").strip()  # noqa: E731
    body: dict[str, Any] = {"therapy": therapy, "patient_ref": get("patient_ref"), "sex": get("sex")}
    if get("age_years"):
        body["age_years"] = _number(get("age_years"))
    for m in ("weight", "height", "current_dose"):
        body[m] = {"value": _number(get(f"{m}.value")), "unit": get(f"{m}.unit")}
    if get("egfr_ml_min_1_73m2"):
        body["egfr_ml_min_1_73m2"] = _number(get("egfr_ml_min_1_73m2"))
    if get("race"):
        body["race"] = get("race")
    if get("pregnant") in ("true", "false"):
        body["pregnant"] = get("pregnant") == "true"
    for name in ("co_medications", "comorbidities"):
        if get(name):
            body[name] = _csv(get(name))
    for name in ("as_of", "therapy_started"):
        if get(name):
            body[name] = _instant(get(name))
    genotype = {g: get(f"genotype.{g}") for g in GENOTYPES if get(f"genotype.{g}")}
    if genotype:
        body["genotype"] = genotype
    body["observations"] = [
        {"kind": get(f"observations.{i}.kind"), "value": _number(get(f"observations.{i}.value")),
         "unit": get(f"observations.{i}.unit"), "time": _instant(get(f"observations.{i}.time"))}
        for i in range(OBSERVATION_ROWS) if get(f"observations.{i}.value") or get(f"observations.{i}.time")]
    body["doses"] = [
        {"amount": _number(get(f"doses.{i}.amount")), "unit": get(f"doses.{i}.unit"),
         "time": _instant(get(f"doses.{i}.time"))}
        for i in range(DOSE_ROWS) if get(f"doses.{i}.amount") or get(f"doses.{i}.time")]
    return body


def field_errors(problem: Mapping[str, Any]) -> dict[str, list[str]]:
    """The entries of a 422 problem by field path (``weight.value``, ``observations.1.time``), messages with what is allowed.
    Rows posted are numbered as the form numbers them: empty rows are dropped before numbering, so the paths are mapped back
    by the caller (``renumber``)."""
    out: dict[str, list[str]] = {}
    for e in problem.get("errors", []):
        # pydantic's own message already states a bound or a choice ("less than or equal to 120"): no "(allowed: le 120.0)"
        said = e.get("type") in ("less_than_equal", "greater_than_equal", "less_than", "greater_than", "literal_error")
        msg = e["message"] + (f" (allowed: {e['allowed']})" if e.get("allowed") and not said else "")
        out.setdefault(e["field"], []).append(msg)
    return out


def row_numbers(form: Mapping[str, str], prefix: str, rows: int, keys: Iterable[str]) -> list[int]:
    """The form's row numbers of the rows ``state_body`` sent, in order (so ``observations.0`` of the body may be row 2)."""
    return [i for i in range(rows) if any((form.get(f"{prefix}.{i}.{k}") or "").strip() for k in keys)]


def renumber(errors: dict[str, list[str]], form: Mapping[str, str]) -> dict[str, list[str]]:
    """``errors`` with body row indices replaced by the form's row numbers."""
    maps = {"observations": row_numbers(form, "observations", OBSERVATION_ROWS, ("value", "time")),
            "doses": row_numbers(form, "doses", DOSE_ROWS, ("amount", "time"))}
    out: dict[str, list[str]] = {}
    for key, msgs in errors.items():
        parts = key.split(".")
        if len(parts) > 1 and parts[0] in maps and parts[1].isdigit() and int(parts[1]) < len(maps[parts[0]]):
            parts[1] = str(maps[parts[0]][int(parts[1])])
        out.setdefault(".".join(parts), []).extend(msgs)
    return out
