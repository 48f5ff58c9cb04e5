"""A Recommendation → CDS Hooks cards (CDS Hooks 2.0 §CDS Service Response, https://cds-hooks.hl7.org/2.0/#card-attributes).

- ``patient-view``: one info-style card (latest value, where the patient stands against the target, the policy's suggestion
  in words) with a ``smart`` link to the patient in the Dosewise UI. No draft order, so no suggestion.
- ``order-select`` / ``order-sign``: the same card with one suggestion (``selectionBehavior: at-most-one``): an ``update``
  action carrying the whole draft MedicationRequest at the recommended dose.

Every card: ``uuid``; ``summary`` under 140 characters (the spec's limit); ``indicator`` from the guardrails and the
HyperScore (``indicator``); markdown ``detail`` with the rationale, the forecast in words and the guardrails that fired;
``source`` naming the policy version with a URL to its model card and gate report; coded ``overrideReasons``. Pure: ids
and URLs are given.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B.medicationrequest import MedicationRequest

from dosewise.fhir import extensions
from dosewise.fhir.out import medication_request
from dosewise.forecast import observation_name
from dosewise.schemas import Observation, PatientState, Recommendation
from dosewise.therapies.registry import get_pack

SUMMARY_MAX = 139  # "summary ... SHOULD be under a 140-character limit" (§Card Attributes)
OVERRIDE_SYSTEM = f"{extensions.BASE}/CodeSystem/override-reason"
# The outcome loop's reason codes (dosewise_api.outcomes.REASON_CODES), offered per therapy; a test keeps them in step.
_REASONS = {
    "clinical_judgement": "Clinical judgement", "patient_factors": "Patient factors not in the record",
    "bleeding_risk": "Bleeding risk", "thrombosis_risk": "Thrombosis risk", "hypoglycaemia_risk": "Hypoglycaemia risk",
    "lab_error": "Doubtful lab value", "adherence": "Adherence", "guideline": "Local guideline", "other": "Other",
}
_THERAPY_REASONS = {"warfarin": ("bleeding_risk", "thrombosis_risk"), "insulin_t2d": ("hypoglycaemia_risk",)}


@dataclass(frozen=True)
class Links:
    """Where a card points: the policy version's model card and gate report, and the patient in the Dosewise UI."""

    policy_url: str
    patient_url: str


def override_reasons(therapy: str) -> list[dict[str, str]]:
    codes = ("clinical_judgement", *_THERAPY_REASONS.get(therapy, ()), "patient_factors", "lab_error", "adherence",
             "guideline", "other")
    return [{"system": OVERRIDE_SYSTEM, "code": c, "display": _REASONS[c]} for c in codes]


def reason_code(coding: object) -> str | None:
    """The outcome loop's reason code of an overrideReason coding of ours, or None."""
    if isinstance(coding, dict) and coding.get("system") == OVERRIDE_SYSTEM and coding.get("code") in _REASONS:
        return str(coding["code"])
    return None


def indicator(rec: Recommendation) -> str:
    """critical: no action was safe to choose (every action masked, or the policy's choice failed the final check: hold
    and refer); warning: a guardrail fired or the HyperScore asks for review; info otherwise."""
    refer = not any(a.allowed for a in rec.action_values) or any(g.rule == "final_check" for g in rec.guardrails)
    if refer:
        return "critical"
    if rec.guardrails or (rec.score is not None and rec.score.needs_review):
        return "warning"
    return "info"


def _n(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:.0f}"


def _unit(unit: str, name: str) -> str:
    """" mg/dL", or nothing for a dimensionless value that is its own name ({INR} / INR after "INR 2.4")."""
    bare = unit.strip("{}")
    return "" if not bare or bare.lower() == name.lower() else f" {unit}"


def _latest(state: PatientState, kind: str) -> Observation | None:
    series = [o for o in state.observations if o.kind == kind]
    return max(series, key=lambda o: o.time) if series else None


def standing(rec: Recommendation, state: PatientState) -> str:
    """Where the patient stands: the latest value of the therapy's primary observation against its target."""
    pack = get_pack(rec.therapy)
    kind = pack.observation_kinds[0]
    name, (lo, hi) = observation_name(kind), pack.target_band
    latest = _latest(state, kind)
    if latest is None:
        return f"No {name} on record."
    where = "below" if latest.value < lo else "above" if latest.value > hi else "within"
    unit = _unit(latest.unit, name)
    return (f"Latest {name} {_n(latest.value)}{unit} on {latest.time.date().isoformat()}: {where} the target "
            f"{_n(lo)}–{_n(hi)}{unit}.")


def suggestion_words(rec: Recommendation) -> str:
    unit = rec.recommended_dose.unit
    plan = rec.plan
    if plan and plan.hold_doses:
        return (f"hold {plan.hold_doses} dose(s), then {_n(plan.dose_per_day.value)} {unit}/day"
                f" (from {_n(rec.current_dose.value)})")
    if plan and plan.started:
        return f"start at {_n(rec.recommended_dose.value)} {unit}/day"
    return f"{_n(rec.recommended_dose.value)} {unit}/day (now {_n(rec.current_dose.value)}; {rec.action_label.lower()})"


def forecast_words(rec: Recommendation) -> str | None:
    f = rec.explanation.forecast if rec.explanation else None
    if not f or not f.get("recommended") or not f.get("days_after_decision"):
        return None
    name = observation_name(str(f.get("observation", "")))
    unit = _unit(str(f.get("unit") or ""), name)
    lo, hi = f.get("target_band") or (None, None)
    days = f["days_after_decision"][-1]
    keep = f.get("keep_dose") or []
    text = f"The patient's twin forecasts {name} {_n(f['recommended'][-1])}{unit} in {_n(days)} days with this dose"
    if keep:
        text += f", {_n(keep[-1])}{unit} if the dose is kept"
    if lo is not None and hi is not None:
        text += f" (target {_n(lo)}–{_n(hi)})"
    return text + "."


def summary(rec: Recommendation) -> str:
    drug = "Warfarin" if rec.therapy == "warfarin" else "Basal insulin" if rec.therapy == "insulin_t2d" else rec.therapy
    text = f"Dosewise: {drug} {suggestion_words(rec)}"
    if rec.score is not None and rec.score.needs_review:
        text += " (review)"
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1].rstrip() + "…"


def detail(rec: Recommendation, state: PatientState) -> str:
    parts = [f"**{standing(rec, state)}**", "",
             f"**Suggestion:** {suggestion_words(rec)}"
             + (f"; recheck on {rec.plan.recheck_on.isoformat()}." if rec.plan else "."), ""]
    if (fc := forecast_words(rec)) is not None:
        parts += [f"**Forecast:** {fc}", ""]
    if rec.explanation:
        parts += [f"**Why:** {rec.explanation.rationale}", ""]
    if rec.guardrails:
        parts += ["**Guardrails that fired:**", *[f"- `{g.rule}`: {g.message}" for g in rec.guardrails], ""]
    else:
        parts += ["**Guardrails:** none fired.", ""]
    if rec.score is not None:
        line = f"**HyperScore** {rec.score.hyperscore:.0f}"
        if rec.score.needs_review:
            line += ": a clinician should review it (" + "; ".join(rec.score.review_reasons) + ")"
        parts += [line + ".", ""]
    if rec.warnings:
        parts += ["**Notes:**", *[f"- {w}" for w in rec.warnings], ""]
    parts.append(f"_{rec.disclaimer}_ Recommendation `{rec.recommendation_id}`, policy {rec.policy.version}.")
    return "\n".join(parts)


def _card(rec: Recommendation, state: PatientState, card_id: str, links: Links) -> dict[str, Any]:
    return {
        "uuid": card_id,
        "summary": summary(rec),
        "indicator": indicator(rec),
        "detail": detail(rec, state),
        "source": {"label": f"Dosewise policy {rec.policy.version}", "url": links.policy_url},
        "overrideReasons": override_reasons(rec.therapy),
    }


def patient_view_card(rec: Recommendation, state: PatientState, card_id: str, links: Links) -> dict[str, Any]:
    """The patient-view card: no suggestion (no draft order), a SMART link to the patient in the Dosewise UI."""
    return _card(rec, state, card_id, links) | {
        "links": [{"label": "Open the patient in Dosewise", "url": links.patient_url, "type": "smart"}]}


def updated_order(draft: dict[str, Any], rec: Recommendation) -> dict[str, Any]:
    """The whole draft MedicationRequest, its dosage replaced by the recommended one (dosewise/fhir/out.py's, a hold
    included) and the recommendation named by its extension; everything else as the EHR drafted it."""
    ours = medication_request(rec)
    order = copy.deepcopy(draft)
    order["dosageInstruction"] = ours["dosageInstruction"]
    ext = [e for e in order.get("extension") or [] if isinstance(e, dict) and e.get("url") != extensions.RECOMMENDATION_ID]
    order["extension"] = [*ext, {"url": extensions.RECOMMENDATION_ID, "valueUuid": f"urn:uuid:{rec.recommendation_id}"}]
    MedicationRequest.model_validate(order)  # raises if the update would carry an invalid resource
    return order


def order_card(rec: Recommendation, state: PatientState, card_id: str, suggestion_id: str, draft: dict[str, Any],
               links: Links) -> dict[str, Any]:
    """The order card: one suggestion, an update of the draft order to the recommended dose."""
    label = f"Set the dose to {suggestion_words(rec)}"
    return _card(rec, state, card_id, links) | {
        "selectionBehavior": "at-most-one",
        "suggestions": [{
            "label": label if len(label) <= SUMMARY_MAX else label[: SUMMARY_MAX - 1] + "…",
            "uuid": suggestion_id,
            "isRecommended": True,
            "actions": [{"type": "update", "description": "Update the draft order to the dose Dosewise recommends",
                         "resource": updated_order(draft, rec)}],
        }],
        "links": [{"label": "Open the patient in Dosewise", "url": links.patient_url, "type": "smart"}],
    }
