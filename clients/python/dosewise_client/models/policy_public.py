from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.policy_public_status import PolicyPublicStatus

if TYPE_CHECKING:
    from ..models.policy_public_model_card import PolicyPublicModelCard


T = TypeVar("T", bound="PolicyPublic")


@_attrs_define
class PolicyPublic:
    """A registry row: one policy version of a therapy (its artifact's server path is not shown).

    Attributes:
        activated_at (datetime.datetime | None):
        activated_by (None | str):
        created_at (datetime.datetime):
        id (str):
        model_card (PolicyPublicModelCard): Training data, algorithm, evaluation and the gate's report.
        sha256 (str): Of the ONNX artifact; inference verifies it on every load.
        status (PolicyPublicStatus): At most one active policy per therapy; inference serves the active one (or the
            untrained network).
        therapy (str):
        version (str):
    """

    activated_at: datetime.datetime | None
    activated_by: None | str
    created_at: datetime.datetime
    id: str
    model_card: PolicyPublicModelCard
    sha256: str
    status: PolicyPublicStatus
    therapy: str
    version: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        activated_at: None | str
        if isinstance(self.activated_at, datetime.datetime):
            activated_at = self.activated_at.isoformat()
        else:
            activated_at = self.activated_at

        activated_by: None | str
        activated_by = self.activated_by

        created_at = self.created_at.isoformat()

        id = self.id

        model_card = self.model_card.to_dict()

        sha256 = self.sha256

        status = self.status.value

        therapy = self.therapy

        version = self.version

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "activated_at": activated_at,
                "activated_by": activated_by,
                "created_at": created_at,
                "id": id,
                "model_card": model_card,
                "sha256": sha256,
                "status": status,
                "therapy": therapy,
                "version": version,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.policy_public_model_card import PolicyPublicModelCard  # noqa: PLC0415

        d = dict(src_dict)

        def _parse_activated_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                activated_at_type_0 = datetime.datetime.fromisoformat(data)

                return activated_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        activated_at = _parse_activated_at(d.pop("activated_at"))

        def _parse_activated_by(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        activated_by = _parse_activated_by(d.pop("activated_by"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        id = d.pop("id")

        model_card = PolicyPublicModelCard.from_dict(d.pop("model_card"))

        sha256 = d.pop("sha256")

        status = PolicyPublicStatus(d.pop("status"))

        therapy = d.pop("therapy")

        version = d.pop("version")

        policy_public = cls(
            activated_at=activated_at,
            activated_by=activated_by,
            created_at=created_at,
            id=id,
            model_card=model_card,
            sha256=sha256,
            status=status,
            therapy=therapy,
            version=version,
        )

        policy_public.additional_properties = d
        return policy_public

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
