from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, cast

from attrs import define as _attrs_define

from ..models.observation_glucose_fasting_type_0_unit import ObservationGlucoseFastingType0Unit

T = TypeVar("T", bound="ObservationGlucoseFastingType0")


@_attrs_define
class ObservationGlucoseFastingType0:
    """
    Attributes:
        kind (Literal['glucose_fasting']):
        time (datetime.datetime): An instant: RFC 3339 date-time with an offset (Z or ±hh:mm), from 1900-01-01T00:00:00Z
            (an offset east of UTC can still put the first hours of 1900 in the year before) to now plus 5 minutes of clock
            skew.
        unit (ObservationGlucoseFastingType0Unit):
        value (float):
    """

    kind: Literal["glucose_fasting"]
    time: datetime.datetime
    unit: ObservationGlucoseFastingType0Unit
    value: float

    def to_dict(self) -> dict[str, Any]:
        kind = self.kind

        time = self.time.isoformat()

        unit = self.unit.value

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
        kind = cast(Literal["glucose_fasting"], d.pop("kind"))
        if kind != "glucose_fasting":
            raise ValueError(f"kind must match const 'glucose_fasting', got '{kind}'")

        time = datetime.datetime.fromisoformat(d.pop("time"))

        unit = ObservationGlucoseFastingType0Unit(d.pop("unit"))

        value = d.pop("value")

        observation_glucose_fasting_type_0 = cls(
            kind=kind,
            time=time,
            unit=unit,
            value=value,
        )

        return observation_glucose_fasting_type_0
