from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.action_public_kind import ActionPublicKind
from ..types import UNSET, Unset

T = TypeVar("T", bound="ActionPublic")


@_attrs_define
class ActionPublic:
    """
    Attributes:
        delta (float):
        id (str):
        kind (ActionPublicKind): change: new daily dose = current + delta; scale: current × (1 + delta/100), a percent
            change of the weekly dose; hold: no dose for hold_doses doses, then current × (1 + delta/100); level: exactly
            delta a day. Each holds until the next visit.
        label (str):
        hold_doses (int | Unset): Doses skipped first (hold only). Default: 0.
    """

    delta: float
    id: str
    kind: ActionPublicKind
    label: str
    hold_doses: int | Unset = 0
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        delta = self.delta

        id = self.id

        kind = self.kind.value

        label = self.label

        hold_doses = self.hold_doses

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "delta": delta,
                "id": id,
                "kind": kind,
                "label": label,
            }
        )
        if hold_doses is not UNSET:
            field_dict["hold_doses"] = hold_doses

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        delta = d.pop("delta")

        id = d.pop("id")

        kind = ActionPublicKind(d.pop("kind"))

        label = d.pop("label")

        hold_doses = d.pop("hold_doses", UNSET)

        action_public = cls(
            delta=delta,
            id=id,
            kind=kind,
            label=label,
            hold_doses=hold_doses,
        )

        action_public.additional_properties = d
        return action_public

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
