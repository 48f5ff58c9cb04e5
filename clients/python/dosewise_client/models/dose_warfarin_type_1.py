from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.dose_warfarin_type_1_unit import DoseWarfarinType1Unit

T = TypeVar("T", bound="DoseWarfarinType1")


@_attrs_define
class DoseWarfarinType1:
    """
    Attributes:
        unit (DoseWarfarinType1Unit):
        value (float):
    """

    unit: DoseWarfarinType1Unit
    value: float

    def to_dict(self) -> dict[str, Any]:
        unit = self.unit.value

        value = self.value

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "unit": unit,
                "value": value,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        unit = DoseWarfarinType1Unit(d.pop("unit"))

        value = d.pop("value")

        dose_warfarin_type_1 = cls(
            unit=unit,
            value=value,
        )

        return dose_warfarin_type_1
