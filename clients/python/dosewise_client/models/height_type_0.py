from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.height_type_0_unit import HeightType0Unit

T = TypeVar("T", bound="HeightType0")


@_attrs_define
class HeightType0:
    """
    Attributes:
        unit (HeightType0Unit):
        value (float):
    """

    unit: HeightType0Unit
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
        unit = HeightType0Unit(d.pop("unit"))

        value = d.pop("value")

        height_type_0 = cls(
            unit=unit,
            value=value,
        )

        return height_type_0
