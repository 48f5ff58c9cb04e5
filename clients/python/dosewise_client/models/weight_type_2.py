from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.weight_type_2_unit import WeightType2Unit

T = TypeVar("T", bound="WeightType2")


@_attrs_define
class WeightType2:
    """
    Attributes:
        unit (WeightType2Unit):
        value (float):
    """

    unit: WeightType2Unit
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
        unit = WeightType2Unit(d.pop("unit"))

        value = d.pop("value")

        weight_type_2 = cls(
            unit=unit,
            value=value,
        )

        return weight_type_2
