"""The CDS Services Dosewise offers: one per therapy and hook, each with its prefetch templates.

Discovery (CDS Hooks 2.0 §Discovery, https://cds-hooks.hl7.org/2.0/#discovery): ``{"services": [{hook, id, title,
description, prefetch}]}``. Prefetch templates are FHIR R4 searches relative to the EHR's FHIR server with ``{{context.
patientId}}`` tokens (§Prefetch Template); sorted latest first in R4's syntax, ``_sort=-<param>``
(https://hl7.org/fhir/R4/search.html#_sort), not the spec example's pre-R4 ``sort:desc=date``, on each resource's own date
parameter (R4 search parameters: Observation ``date``, MedicationRequest ``authoredon``, MedicationStatement ``effective``,
MedicationAdministration ``effective-time``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dosewise.fhir import codes

HOOKS = ("patient-view", "order-select", "order-sign")
ORDER_HOOKS = frozenset({"order-select", "order-sign"})
THERAPY_TITLES = {"warfarin": "warfarin", "insulin_t2d": "basal insulin (type 2 diabetes)"}
PATIENT_TOKEN = "{{context.patientId}}"
SERIES_COUNT = 100  # the latest results of the therapy's series: PatientState keeps 500, a policy reads far fewer
OTHER_COUNT = 50  # the latest other measurements, orders and statements

# The observations each therapy's mapping reads (dosewise/fhir/bundle.py): its series (the policy's input), and the patient's
# body size, kidney function and genotype, in a search of their own (a long INR series must not push the weight out of
# the latest 100 results).
THERAPY_SERIES: dict[str, tuple[str, ...]] = {"warfarin": codes.INR, "insulin_t2d": codes.GLUCOSE}
THERAPY_OTHER: dict[str, tuple[str, ...]] = {
    "warfarin": (*codes.WEIGHT, *codes.HEIGHT, *codes.EGFR, *codes.CREATININE, *codes.GENOTYPE),
    "insulin_t2d": (*codes.WEIGHT, *codes.HEIGHT, *codes.EGFR, *codes.CREATININE, *codes.HBA1C),
}


@dataclass(frozen=True)
class Service:
    id: str
    hook: str
    therapy: str

    @property
    def title(self) -> str:
        return f"Dosewise {THERAPY_TITLES[self.therapy]} dose ({self.hook})"

    @property
    def description(self) -> str:
        what = ("the next dose, with the patient's latest values and a link to the patient in Dosewise"
                if self.hook == "patient-view" else
                f"the recommended dose for a draft {THERAPY_TITLES[self.therapy]} order, as an update of that order")
        return f"Dosewise recommends {what}. Decision support only: a clinician decides."

    @property
    def prefetch(self) -> dict[str, str]:
        return prefetch_templates(self.therapy)

    def discovery(self) -> dict[str, Any]:
        return {"hook": self.hook, "id": self.id, "title": self.title, "description": self.description,
                "prefetch": self.prefetch}


def service_id(therapy: str, hook: str) -> str:
    return f"dosewise-{therapy.replace('_', '-')}-{hook}"


SERVICES: dict[str, Service] = {service_id(t, h): Service(service_id(t, h), h, t) for t in THERAPY_SERIES for h in HOOKS}


def _codes(loincs: tuple[str, ...]) -> str:
    return ",".join(f"{codes.LOINC}|{c}" for c in loincs)


def prefetch_templates(therapy: str) -> dict[str, str]:
    """The patient, the therapy's observations (latest first) and the patient's medication records and conditions."""
    return {
        "patient": f"Patient/{PATIENT_TOKEN}",
        "series": f"Observation?patient={PATIENT_TOKEN}&code={_codes(THERAPY_SERIES[therapy])}&_sort=-date"
                  f"&_count={SERIES_COUNT}",
        "measurements": f"Observation?patient={PATIENT_TOKEN}&code={_codes(THERAPY_OTHER[therapy])}&_sort=-date"
                        f"&_count={OTHER_COUNT}",
        "medications": f"MedicationRequest?patient={PATIENT_TOKEN}&_sort=-authoredon&_count={OTHER_COUNT}",
        "statements": f"MedicationStatement?patient={PATIENT_TOKEN}&_sort=-effective&_count={OTHER_COUNT}",
        "administrations": f"MedicationAdministration?patient={PATIENT_TOKEN}&status=completed&_sort=-effective-time"
                           f"&_count={SERIES_COUNT}",
        "conditions": f"Condition?patient={PATIENT_TOKEN}&clinical-status=active",
    }


def render(template: str, context: dict[str, Any]) -> str | None:
    """A template with its context tokens filled in, or None when the context lacks one (§Prefetch tokens)."""
    out = template
    for key in ("patientId", "userId", "encounterId"):
        token = "{{context." + key + "}}"
        if token in out:
            value = context.get(key)
            if not isinstance(value, str) or not value:
                return None
            out = out.replace(token, value)
    return out
