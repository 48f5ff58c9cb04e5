"""A hook request's data → one FHIR Bundle for ``dosewise.fhir.map_bundle``, and the draft order a card answers.

CDS Hooks 2.0 §Prefetch (https://cds-hooks.hl7.org/2.0/#prefetch-template): each prefetch key the service asked for is
a resource (a read) or a searchset Bundle (a search). A key that is **absent** was not filled by the client: the service
fetches it from ``fhirServer``; a key whose value is **null** means the client found no data for it. A client that failed a
prefetch may send an OperationOutcome instead (§Prefetch, 2.0): treated as absent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dosewise.fhir import medications
from dosewise.fhir.resources import Report, parse

# An R4 resource id (https://hl7.org/fhir/R4/datatypes.html#id): what a context id may be before it goes into a URL.
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


class HookRequestError(ValueError):
    """The hook request cannot be read (a 400 of the spec's: a malformed request)."""


def missing(prefetch: object, templates: dict[str, str]) -> list[str]:
    """The prefetch keys the client did not fill (absent, or an OperationOutcome in place of the data)."""
    given = prefetch if isinstance(prefetch, dict) else {}
    return [k for k in templates if k not in given
            or (isinstance(given[k], dict) and given[k].get("resourceType") == "OperationOutcome")]


def resources_of(value: object) -> list[dict[str, Any]]:
    """The resources a prefetch value holds: none (null), itself (a resource) or its entries' (a Bundle)."""
    if not isinstance(value, dict):
        return []
    if value.get("resourceType") == "Bundle":
        return [e["resource"] for e in value.get("entry") or []
                if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    return [value] if isinstance(value.get("resourceType"), str) else []


def _entries(value: object) -> list[dict[str, Any]]:
    """Bundle entries of a prefetch value, each with its ``fullUrl`` when the client's search gave one."""
    if isinstance(value, dict) and value.get("resourceType") == "Bundle":
        return [{k: e[k] for k in ("fullUrl", "resource") if k in e} for e in value.get("entry") or []
                if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    return [{"resource": r} for r in resources_of(value)]


def bundle_of(data: dict[str, Any]) -> dict[str, Any]:
    """One collection Bundle of every resource of the prefetch values (each resource once, by type and id)."""
    seen: set[tuple[str, str]] = set()
    entries: list[dict[str, Any]] = []
    for value in data.values():
        for e in _entries(value):
            r = e["resource"]
            key = (str(r.get("resourceType")), str(r.get("id")))
            if r.get("id") is not None and key in seen:
                continue
            seen.add(key)
            entries.append(e)
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def patient_id(context: object) -> str:
    pid = context.get("patientId") if isinstance(context, dict) else None
    if not isinstance(pid, str) or not FHIR_ID.fullmatch(pid):
        raise HookRequestError("context.patientId must be a FHIR resource id ([A-Za-z0-9-.]{1,64})")
    return pid


@dataclass(frozen=True)
class DraftOrder:
    """The draft MedicationRequest of the therapy's drug a card answers, as the client sent it."""

    id: str
    resource: dict[str, Any]
    dose_per_day: float | None  # the drafted daily dose in the pack's unit, when it has one
    warnings: tuple[str, ...]


def draft_order(context: object, therapy: str) -> DraftOrder | None:
    """The draft order of ``therapy``'s drug in ``context.draftOrders`` (for order-select, among ``context.selections``
    when it names some), or None when the client is ordering something else."""
    drafts = context.get("draftOrders") if isinstance(context, dict) else None
    if not isinstance(drafts, dict) or drafts.get("resourceType") != "Bundle":
        raise HookRequestError("context.draftOrders must be a FHIR Bundle of the draft orders")
    selections = context.get("selections") if isinstance(context, dict) else None
    chosen = {s for s in selections if isinstance(s, str)} if isinstance(selections, list) else set()
    for i, raw in enumerate(resources_of(drafts)):
        if raw.get("resourceType") != "MedicationRequest" or not isinstance(raw.get("id"), str):
            continue
        if chosen and f"MedicationRequest/{raw['id']}" not in chosen:
            continue
        report = Report()
        entry = parse(raw, i, None, report)
        if entry is None or medications.therapy_of(entry.resource.medicationCodeableConcept) != therapy:
            continue
        per_day = medications.order_dose_per_day(entry, therapy, report)
        return DraftOrder(raw["id"], raw, per_day, tuple(report.warnings))
    return None
