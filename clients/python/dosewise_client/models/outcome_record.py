from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.adverse_event import AdverseEvent
    from ..models.dose_quantity import DoseQuantity
    from ..models.feedback import Feedback
    from ..models.observation_glucose_fasting_type_0 import ObservationGlucoseFastingType0
    from ..models.observation_glucose_fasting_type_1 import ObservationGlucoseFastingType1
    from ..models.observation_inr_type_0 import ObservationInrType0
    from ..models.observation_organ_damage_type_0 import ObservationOrganDamageType0
    from ..models.observation_pathogen_load_type_0 import ObservationPathogenLoadType0


T = TypeVar("T", bound="OutcomeRecord")


@_attrs_define
class OutcomeRecord:
    """A stored outcome, as recorded (canonical units).

    Attributes:
        adverse_events (list[AdverseEvent]):
        course_ended (bool):
        created_at (datetime.datetime):
        dose_given (DoseQuantity):
        feedback (Feedback): The clinician's decision on the recommendation. Overrides are evidence: say why.
        given_at (datetime.datetime):
        observations (list[ObservationGlucoseFastingType0 | ObservationGlucoseFastingType1 | ObservationInrType0 |
            ObservationOrganDamageType0 | ObservationPathogenLoadType0]):
        outcome_id (UUID):
        patient_ref (str): The pseudonymized reference, as stored.
        policy_version (str): The policy that made the recommendation.
        recommendation_id (UUID):
        recommended_dose (DoseQuantity):
        regimen (DoseQuantity):
        therapy (str):
    """

    adverse_events: list[AdverseEvent]
    course_ended: bool
    created_at: datetime.datetime
    dose_given: DoseQuantity
    feedback: Feedback
    given_at: datetime.datetime
    observations: list[
        ObservationGlucoseFastingType0
        | ObservationGlucoseFastingType1
        | ObservationInrType0
        | ObservationOrganDamageType0
        | ObservationPathogenLoadType0
    ]
    outcome_id: UUID
    patient_ref: str
    policy_version: str
    recommendation_id: UUID
    recommended_dose: DoseQuantity
    regimen: DoseQuantity
    therapy: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.observation_glucose_fasting_type_0 import ObservationGlucoseFastingType0  # noqa: PLC0415
        from ..models.observation_glucose_fasting_type_1 import ObservationGlucoseFastingType1  # noqa: PLC0415
        from ..models.observation_inr_type_0 import ObservationInrType0  # noqa: PLC0415
        from ..models.observation_pathogen_load_type_0 import ObservationPathogenLoadType0  # noqa: PLC0415

        adverse_events = []
        for adverse_events_item_data in self.adverse_events:
            adverse_events_item = adverse_events_item_data.to_dict()
            adverse_events.append(adverse_events_item)

        course_ended = self.course_ended

        created_at = self.created_at.isoformat()

        dose_given = self.dose_given.to_dict()

        feedback = self.feedback.to_dict()

        given_at = self.given_at.isoformat()

        observations = []
        for observations_item_data in self.observations:
            observations_item: dict[str, Any]
            if isinstance(observations_item_data, ObservationInrType0):
                observations_item = observations_item_data.to_dict()
            elif isinstance(observations_item_data, ObservationGlucoseFastingType0):
                observations_item = observations_item_data.to_dict()
            elif isinstance(observations_item_data, ObservationGlucoseFastingType1):
                observations_item = observations_item_data.to_dict()
            elif isinstance(observations_item_data, ObservationPathogenLoadType0):
                observations_item = observations_item_data.to_dict()
            else:
                observations_item = observations_item_data.to_dict()

            observations.append(observations_item)

        outcome_id = str(self.outcome_id)

        patient_ref = self.patient_ref

        policy_version = self.policy_version

        recommendation_id = str(self.recommendation_id)

        recommended_dose = self.recommended_dose.to_dict()

        regimen = self.regimen.to_dict()

        therapy = self.therapy

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "adverse_events": adverse_events,
                "course_ended": course_ended,
                "created_at": created_at,
                "dose_given": dose_given,
                "feedback": feedback,
                "given_at": given_at,
                "observations": observations,
                "outcome_id": outcome_id,
                "patient_ref": patient_ref,
                "policy_version": policy_version,
                "recommendation_id": recommendation_id,
                "recommended_dose": recommended_dose,
                "regimen": regimen,
                "therapy": therapy,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.adverse_event import AdverseEvent  # noqa: PLC0415
        from ..models.dose_quantity import DoseQuantity  # noqa: PLC0415
        from ..models.feedback import Feedback  # noqa: PLC0415
        from ..models.observation_glucose_fasting_type_0 import ObservationGlucoseFastingType0  # noqa: PLC0415
        from ..models.observation_glucose_fasting_type_1 import ObservationGlucoseFastingType1  # noqa: PLC0415
        from ..models.observation_inr_type_0 import ObservationInrType0  # noqa: PLC0415
        from ..models.observation_organ_damage_type_0 import ObservationOrganDamageType0  # noqa: PLC0415
        from ..models.observation_pathogen_load_type_0 import ObservationPathogenLoadType0  # noqa: PLC0415

        d = dict(src_dict)
        adverse_events = []
        _adverse_events = d.pop("adverse_events")
        for adverse_events_item_data in _adverse_events:
            adverse_events_item = AdverseEvent.from_dict(adverse_events_item_data)

            adverse_events.append(adverse_events_item)

        course_ended = d.pop("course_ended")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        dose_given = DoseQuantity.from_dict(d.pop("dose_given"))

        feedback = Feedback.from_dict(d.pop("feedback"))

        given_at = datetime.datetime.fromisoformat(d.pop("given_at"))

        observations = []
        _observations = d.pop("observations")
        for observations_item_data in _observations:

            def _parse_observations_item(
                data: object,
            ) -> (
                ObservationGlucoseFastingType0
                | ObservationGlucoseFastingType1
                | ObservationInrType0
                | ObservationOrganDamageType0
                | ObservationPathogenLoadType0
            ):
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_observation_inr_type_0 = ObservationInrType0.from_dict(data)

                    return componentsschemas_observation_inr_type_0
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_observation_glucose_fasting_type_0 = ObservationGlucoseFastingType0.from_dict(
                        data
                    )

                    return componentsschemas_observation_glucose_fasting_type_0
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_observation_glucose_fasting_type_1 = ObservationGlucoseFastingType1.from_dict(
                        data
                    )

                    return componentsschemas_observation_glucose_fasting_type_1
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_observation_pathogen_load_type_0 = ObservationPathogenLoadType0.from_dict(data)

                    return componentsschemas_observation_pathogen_load_type_0
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_observation_organ_damage_type_0 = ObservationOrganDamageType0.from_dict(data)

                return componentsschemas_observation_organ_damage_type_0

            observations_item = _parse_observations_item(observations_item_data)

            observations.append(observations_item)

        outcome_id = UUID(d.pop("outcome_id"))

        patient_ref = d.pop("patient_ref")

        policy_version = d.pop("policy_version")

        recommendation_id = UUID(d.pop("recommendation_id"))

        recommended_dose = DoseQuantity.from_dict(d.pop("recommended_dose"))

        regimen = DoseQuantity.from_dict(d.pop("regimen"))

        therapy = d.pop("therapy")

        outcome_record = cls(
            adverse_events=adverse_events,
            course_ended=course_ended,
            created_at=created_at,
            dose_given=dose_given,
            feedback=feedback,
            given_at=given_at,
            observations=observations,
            outcome_id=outcome_id,
            patient_ref=patient_ref,
            policy_version=policy_version,
            recommendation_id=recommendation_id,
            recommended_dose=recommended_dose,
            regimen=regimen,
            therapy=therapy,
        )

        outcome_record.additional_properties = d
        return outcome_record

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
