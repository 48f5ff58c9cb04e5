from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.dose_event_insulin_t2d_type_0_unit import DoseEventInsulinT2DType0Unit

T = TypeVar("T", bound="DoseEventInsulinT2DType0")


@_attrs_define
class DoseEventInsulinT2DType0:
    """
    Attributes:
        amount (float):
        time (datetime.datetime): An instant: RFC 3339 date-time with an offset (Z or ±hh:mm), from 1900-01-01T00:00:00Z
            (an offset east of UTC can still put the first hours of 1900 in the year before) to now plus 5 minutes of clock
            skew.
        unit (DoseEventInsulinT2DType0Unit):
    """

    amount: float
    time: datetime.datetime
    unit: DoseEventInsulinT2DType0Unit

    def to_dict(self) -> dict[str, Any]:
        amount = self.amount

        time = self.time.isoformat()

        unit = self.unit.value

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "amount": amount,
                "time": time,
                "unit": unit,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        amount = d.pop("amount")

        time = datetime.datetime.fromisoformat(d.pop("time"))

        unit = DoseEventInsulinT2DType0Unit(d.pop("unit"))

        dose_event_insulin_t2d_type_0 = cls(
            amount=amount,
            time=time,
            unit=unit,
        )

        return dose_event_insulin_t2d_type_0
