"""A patient's course on one time axis: the doses given, the measurements, and every recommendation with what became of it
(accepted, overridden, or still pending), built from the stored recommendations and outcomes (what the clinician UI's course
page draws). Pure: the rows come from ``RecommendationRepository.course``.

Each recommendation stored the patient state it was made from, so the same dose or measurement appears in several states;
they are listed once (same kind, time and value). An outcome adds the dose actually given and the results that followed.
Erased recommendations (a patient's erasure request) show only that they were erased.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from dosewise.erasure import is_tombstone
from dosewise.storage.models import Outcome, Recommendation

Status = Literal["accepted", "overridden", "pending", "erased"]


@dataclass(frozen=True)
class Point:
    """A dose (``kind`` "dose") or a measurement (its observation kind), in canonical units."""

    time: datetime
    kind: str
    value: float
    unit: str
    source: Literal["record", "outcome"]  # sent in a patient state, or reported with an outcome


@dataclass(frozen=True)
class Decision:
    time: datetime
    recommendation_id: str
    therapy: str
    policy_version: str
    action_label: str
    current_dose: float
    recommended_dose: float
    dose_given: float | None
    dose_unit: str
    status: Status
    reason_code: str | None
    reason: str | None


@dataclass(frozen=True)
class Course:
    decisions: list[Decision]
    doses: list[Point]
    measurements: list[Point]

    @property
    def start(self) -> datetime | None:
        times = [p.time for p in (*self.doses, *self.measurements)] + [d.time for d in self.decisions]
        return min(times) if times else None


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def build(rows: list[tuple[Recommendation, Outcome | None]]) -> Course:
    """The course of one patient from its recommendations (oldest first) and their outcomes."""
    doses: dict[tuple[datetime, float], Point] = {}
    measurements: dict[tuple[str, datetime, float], Point] = {}
    decisions: list[Decision] = []
    for rec, outcome in rows:
        if is_tombstone(rec.state) or is_tombstone(rec.response):
            decisions.append(Decision(rec.created_at, str(rec.id), rec.therapy, rec.policy_version, "(erased)",
                                      float("nan"), float("nan"), None, rec.dose_unit, "erased", None, None))
            continue
        state, response = rec.state, rec.response
        for d in state.get("doses", []):
            t = _time(d["time"])
            doses.setdefault((t, float(d["amount"])), Point(t, "dose", float(d["amount"]), str(d["unit"]), "record"))
        for o in state.get("observations", []):
            t = _time(o["time"])
            key = (str(o["kind"]), t, float(o["value"]))
            measurements.setdefault(key, Point(t, str(o["kind"]), float(o["value"]), str(o["unit"]), "record"))
        decided = _time(state["as_of"]) if state.get("as_of") else rec.created_at
        status: Status = "pending"
        given = reason_code = reason = None
        if outcome is not None and not is_tombstone(outcome.payload):
            record = outcome.payload["record"]
            feedback = record.get("feedback") or {}
            status = "overridden" if feedback.get("decision") == "overridden" else "accepted"
            reason_code, reason = feedback.get("reason_code"), feedback.get("reason")
            given = float(record["dose_given"]["value"])
            t = _time(record["given_at"])
            doses[(t, given)] = Point(t, "dose", given, str(record["dose_given"]["unit"]), "outcome")
            for o in record.get("observations", []):
                ot = _time(o["time"])
                measurements.setdefault((str(o["kind"]), ot, float(o["value"])),
                                        Point(ot, str(o["kind"]), float(o["value"]), str(o["unit"]), "outcome"))
        decisions.append(Decision(decided, str(rec.id), rec.therapy, rec.policy_version,
                                  str(response.get("action_label", rec.action_id)), rec.current_dose, rec.recommended_dose,
                                  given, rec.dose_unit, status, reason_code, reason))
    return Course(decisions=sorted(decisions, key=lambda d: d.time), doses=sorted(doses.values(), key=lambda p: p.time),
                  measurements=sorted(measurements.values(), key=lambda p: p.time))
