from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.patient_state import PatientState


T = TypeVar("T", bound="BatchRecommendationRequest")


@_attrs_define
class BatchRecommendationRequest:
    """Up to 1,000 patients (any mix of therapies) scored in one call.

    Attributes:
        patients (list[PatientState]):
    """

    patients: list[PatientState]

    def to_dict(self) -> dict[str, Any]:
        patients = []
        for patients_item_data in self.patients:
            patients_item = patients_item_data.to_dict()
            patients.append(patients_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "patients": patients,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.patient_state import PatientState  # noqa: PLC0415

        d = dict(src_dict)
        patients = []
        _patients = d.pop("patients")
        for patients_item_data in _patients:
            patients_item = PatientState.from_dict(patients_item_data)

            patients.append(patients_item)

        batch_recommendation_request = cls(
            patients=patients,
        )

        return batch_recommendation_request
