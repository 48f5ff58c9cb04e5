from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.policy_ref_status import PolicyRefStatus

T = TypeVar("T", bound="PolicyRef")


@_attrs_define
class PolicyRef:
    """Which policy made a decision: every response carries it.

    Attributes:
        id (str):
        sha256 (str):
        status (PolicyRefStatus):
        therapy (str):
        version (str):
    """

    id: str
    sha256: str
    status: PolicyRefStatus
    therapy: str
    version: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        sha256 = self.sha256

        status = self.status.value

        therapy = self.therapy

        version = self.version

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "sha256": sha256,
                "status": status,
                "therapy": therapy,
                "version": version,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        sha256 = d.pop("sha256")

        status = PolicyRefStatus(d.pop("status"))

        therapy = d.pop("therapy")

        version = d.pop("version")

        policy_ref = cls(
            id=id,
            sha256=sha256,
            status=status,
            therapy=therapy,
            version=version,
        )

        policy_ref.additional_properties = d
        return policy_ref

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
