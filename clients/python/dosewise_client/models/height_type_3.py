from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.height_type_3_unit import HeightType3Unit

T = TypeVar("T", bound="HeightType3")


@_attrs_define
class HeightType3:
    """
    Attributes:
        unit (HeightType3Unit):
        value (float):
    """

    unit: HeightType3Unit
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
        unit = HeightType3Unit(d.pop("unit"))

        value = d.pop("value")

        height_type_3 = cls(
            unit=unit,
            value=value,
        )

        return height_type_3
