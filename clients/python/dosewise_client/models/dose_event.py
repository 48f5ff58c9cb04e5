from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="DoseEvent")


@_attrs_define
class DoseEvent:
    """A dose given (or scheduled daily dose taken) at a time; unit family is checked against the therapy.

    Attributes:
        amount (float): Amount given, in `unit` (warfarin: mg; insulin: U).
        time (datetime.datetime): When it was given (ISO 8601 with time zone).
        unit (str):
    """

    amount: float
    time: datetime.datetime
    unit: str

    def to_dict(self) -> dict[str, Any]:
        amount = self.amount

        time = self.time.isoformat()

        unit = self.unit

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

        unit = d.pop("unit")

        dose_event = cls(
            amount=amount,
            time=time,
            unit=unit,
        )

        return dose_event
