from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="ObservationKind")


@_attrs_define
class ObservationKind:
    """What a lab or vital value is, its canonical unit and the physiologically possible range (in the canonical unit).

    Attributes:
        high (float):
        low (float):
        quantity (str):
        description (str | Unset):  Default: ''.
        label (str | Unset):  Default: ''.
        loinc (None | str | Unset):
    """

    high: float
    low: float
    quantity: str
    description: str | Unset = ""
    label: str | Unset = ""
    loinc: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        high = self.high

        low = self.low

        quantity = self.quantity

        description = self.description

        label = self.label

        loinc: None | str | Unset
        if isinstance(self.loinc, Unset):
            loinc = UNSET
        else:
            loinc = self.loinc

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "high": high,
                "low": low,
                "quantity": quantity,
            }
        )
        if description is not UNSET:
            field_dict["description"] = description
        if label is not UNSET:
            field_dict["label"] = label
        if loinc is not UNSET:
            field_dict["loinc"] = loinc

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        high = d.pop("high")

        low = d.pop("low")

        quantity = d.pop("quantity")

        description = d.pop("description", UNSET)

        label = d.pop("label", UNSET)

        def _parse_loinc(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        loinc = _parse_loinc(d.pop("loinc", UNSET))

        observation_kind = cls(
            high=high,
            low=low,
            quantity=quantity,
            description=description,
            label=label,
            loinc=loinc,
        )

        observation_kind.additional_properties = d
        return observation_kind

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
