from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.audit_event_public import AuditEventPublic


T = TypeVar("T", bound="AuditEventsPublic")


@_attrs_define
class AuditEventsPublic:
    """
    Attributes:
        count (int):
        data (list[AuditEventPublic]):
        next_after_id (int | None):
    """

    count: int
    data: list[AuditEventPublic]
    next_after_id: int | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        count = self.count

        data = []
        for data_item_data in self.data:
            data_item = data_item_data.to_dict()
            data.append(data_item)

        next_after_id: int | None
        next_after_id = self.next_after_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "count": count,
                "data": data,
                "next_after_id": next_after_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.audit_event_public import AuditEventPublic  # noqa: PLC0415

        d = dict(src_dict)
        count = d.pop("count")

        data = []
        _data = d.pop("data")
        for data_item_data in _data:
            data_item = AuditEventPublic.from_dict(data_item_data)

            data.append(data_item)

        def _parse_next_after_id(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        next_after_id = _parse_next_after_id(d.pop("next_after_id"))

        audit_events_public = cls(
            count=count,
            data=data,
            next_after_id=next_after_id,
        )

        audit_events_public.additional_properties = d
        return audit_events_public

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
