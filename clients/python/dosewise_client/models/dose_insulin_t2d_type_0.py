from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.dose_insulin_t2d_type_0_unit import DoseInsulinT2DType0Unit

T = TypeVar("T", bound="DoseInsulinT2DType0")


@_attrs_define
class DoseInsulinT2DType0:
    """
    Attributes:
        unit (DoseInsulinT2DType0Unit):
        value (float):
    """

    unit: DoseInsulinT2DType0Unit
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
        unit = DoseInsulinT2DType0Unit(d.pop("unit"))

        value = d.pop("value")

        dose_insulin_t2d_type_0 = cls(
            unit=unit,
            value=value,
        )

        return dose_insulin_t2d_type_0
