from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="Observation")


@_attrs_define
class Observation:
    """One lab result. ``kind`` decides the unit family and the plausible range; the value is normalized on validation.

    Attributes:
        kind (str): One of: inr, glucose_fasting, pathogen_load, organ_damage, plasma_cells, antibodies
        time (datetime.datetime): When the sample was taken (ISO 8601 with time zone).
        unit (str): UCUM unit, e.g. {INR}, mg/dL, mmol/L; stored as the kind's canonical unit.
        value (float): Value in `unit`; stored in the kind's canonical unit (INR: {INR}; glucose: mg/dL).
    """

    kind: str
    time: datetime.datetime
    unit: str
    value: float

    def to_dict(self) -> dict[str, Any]:
        kind = self.kind

        time = self.time.isoformat()

        unit = self.unit

        value = self.value

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "kind": kind,
                "time": time,
                "unit": unit,
                "value": value,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        kind = d.pop("kind")

        time = datetime.datetime.fromisoformat(d.pop("time"))

        unit = d.pop("unit")

        value = d.pop("value")

        observation = cls(
            kind=kind,
            time=time,
            unit=unit,
            value=value,
        )

        return observation
