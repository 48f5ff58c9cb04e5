from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="AuditEventPublic")


@_attrs_define
class AuditEventPublic:
    """One audit event exactly as stored, hashes included, so a reader can re-verify the chain around it.

    Attributes:
        action (str):
        actor (str):
        hash_ (str):
        id (int):
        input_hash (None | str):
        occurred_at (datetime.datetime):
        patient_ref (None | str):
        policy_version (None | str):
        prev_hash (str):
        role (str):
        subject_id (None | str):
    """

    action: str
    actor: str
    hash_: str
    id: int
    input_hash: None | str
    occurred_at: datetime.datetime
    patient_ref: None | str
    policy_version: None | str
    prev_hash: str
    role: str
    subject_id: None | str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        action = self.action

        actor = self.actor

        hash_ = self.hash_

        id = self.id

        input_hash: None | str
        input_hash = self.input_hash

        occurred_at = self.occurred_at.isoformat()

        patient_ref: None | str
        patient_ref = self.patient_ref

        policy_version: None | str
        policy_version = self.policy_version

        prev_hash = self.prev_hash

        role = self.role

        subject_id: None | str
        subject_id = self.subject_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "action": action,
                "actor": actor,
                "hash": hash_,
                "id": id,
                "input_hash": input_hash,
                "occurred_at": occurred_at,
                "patient_ref": patient_ref,
                "policy_version": policy_version,
                "prev_hash": prev_hash,
                "role": role,
                "subject_id": subject_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        action = d.pop("action")

        actor = d.pop("actor")

        hash_ = d.pop("hash")

        id = d.pop("id")

        def _parse_input_hash(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        input_hash = _parse_input_hash(d.pop("input_hash"))

        occurred_at = datetime.datetime.fromisoformat(d.pop("occurred_at"))

        def _parse_patient_ref(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        patient_ref = _parse_patient_ref(d.pop("patient_ref"))

        def _parse_policy_version(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        policy_version = _parse_policy_version(d.pop("policy_version"))

        prev_hash = d.pop("prev_hash")

        role = d.pop("role")

        def _parse_subject_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        subject_id = _parse_subject_id(d.pop("subject_id"))

        audit_event_public = cls(
            action=action,
            actor=actor,
            hash_=hash_,
            id=id,
            input_hash=input_hash,
            occurred_at=occurred_at,
            patient_ref=patient_ref,
            policy_version=policy_version,
            prev_hash=prev_hash,
            role=role,
            subject_id=subject_id,
        )

        audit_event_public.additional_properties = d
        return audit_event_public

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
