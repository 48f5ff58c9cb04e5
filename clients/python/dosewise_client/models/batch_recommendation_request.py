from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.patient_state_immune import PatientStateImmune
    from ..models.patient_state_insulin_t2d import PatientStateInsulinT2D
    from ..models.patient_state_warfarin import PatientStateWarfarin


T = TypeVar("T", bound="BatchRecommendationRequest")


@_attrs_define
class BatchRecommendationRequest:
    """Up to 1,000 patients (any mix of therapies) scored in one call.

    Attributes:
        patients (list[PatientStateImmune | PatientStateInsulinT2D | PatientStateWarfarin]):
    """

    patients: list[PatientStateImmune | PatientStateInsulinT2D | PatientStateWarfarin]

    def to_dict(self) -> dict[str, Any]:
        from ..models.patient_state_insulin_t2d import PatientStateInsulinT2D  # noqa: PLC0415
        from ..models.patient_state_warfarin import PatientStateWarfarin  # noqa: PLC0415

        patients = []
        for patients_item_data in self.patients:
            patients_item: dict[str, Any]
            if isinstance(patients_item_data, PatientStateWarfarin):
                patients_item = patients_item_data.to_dict()
            elif isinstance(patients_item_data, PatientStateInsulinT2D):
                patients_item = patients_item_data.to_dict()
            else:
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
        from ..models.patient_state_immune import PatientStateImmune  # noqa: PLC0415
        from ..models.patient_state_insulin_t2d import PatientStateInsulinT2D  # noqa: PLC0415
        from ..models.patient_state_warfarin import PatientStateWarfarin  # noqa: PLC0415

        d = dict(src_dict)
        patients = []
        _patients = d.pop("patients")
        for patients_item_data in _patients:

            def _parse_patients_item(
                data: object,
            ) -> PatientStateImmune | PatientStateInsulinT2D | PatientStateWarfarin:
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_patient_state_type_0 = PatientStateWarfarin.from_dict(data)

                    return componentsschemas_patient_state_type_0
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_patient_state_type_1 = PatientStateInsulinT2D.from_dict(data)

                    return componentsschemas_patient_state_type_1
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_patient_state_type_2 = PatientStateImmune.from_dict(data)

                return componentsschemas_patient_state_type_2

            patients_item = _parse_patients_item(patients_item_data)

            patients.append(patients_item)

        batch_recommendation_request = cls(
            patients=patients,
        )

        return batch_recommendation_request
