from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.adverse_event_severity import AdverseEventSeverity

T = TypeVar("T", bound="AdverseEvent")


@_attrs_define
class AdverseEvent:
    """A clinical adverse event observed after the dose (e.g. major_bleeding, thromboembolism, severe_hypoglycaemia).

    Attributes:
        kind (str):
        severity (AdverseEventSeverity):
        time (datetime.datetime): An instant: RFC 3339 date-time with an offset (Z or ±hh:mm), from 1900-01-01T00:00:00Z
            (an offset east of UTC can still put the first hours of 1900 in the year before) to now plus 5 minutes of clock
            skew.
    """

    kind: str
    severity: AdverseEventSeverity
    time: datetime.datetime

    def to_dict(self) -> dict[str, Any]:
        kind = self.kind

        severity = self.severity.value

        time = self.time.isoformat()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "kind": kind,
                "severity": severity,
                "time": time,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        kind = d.pop("kind")

        severity = AdverseEventSeverity(d.pop("severity"))

        time = datetime.datetime.fromisoformat(d.pop("time"))

        adverse_event = cls(
            kind=kind,
            severity=severity,
            time=time,
        )

        return adverse_event
