from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ActionValue")


@_attrs_define
class ActionValue:
    """
    Attributes:
        action (str): Action id, e.g. 'hold2-15%', '+7.5%' (warfarin), '-4U' (insulin).
        allowed (bool): False when a guardrail masked the action.
        label (str):
        q_value (float): The policy's estimated value of taking this action (higher is better).
    """

    action: str
    allowed: bool
    label: str
    q_value: float
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        action = self.action

        allowed = self.allowed

        label = self.label

        q_value = self.q_value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "action": action,
                "allowed": allowed,
                "label": label,
                "q_value": q_value,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        action = d.pop("action")

        allowed = d.pop("allowed")

        label = d.pop("label")

        q_value = d.pop("q_value")

        action_value = cls(
            action=action,
            allowed=allowed,
            label=label,
            q_value=q_value,
        )

        action_value.additional_properties = d
        return action_value

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
