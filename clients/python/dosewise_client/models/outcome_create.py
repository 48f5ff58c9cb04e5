from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.adverse_event import AdverseEvent
    from ..models.dose_immune_type_0 import DoseImmuneType0
    from ..models.dose_insulin_t2d_type_0 import DoseInsulinT2DType0
    from ..models.dose_warfarin_type_0 import DoseWarfarinType0
    from ..models.dose_warfarin_type_1 import DoseWarfarinType1
    from ..models.dose_warfarin_type_2 import DoseWarfarinType2
    from ..models.feedback import Feedback
    from ..models.observation_glucose_fasting_type_0 import ObservationGlucoseFastingType0
    from ..models.observation_glucose_fasting_type_1 import ObservationGlucoseFastingType1
    from ..models.observation_inr_type_0 import ObservationInrType0
    from ..models.observation_organ_damage_type_0 import ObservationOrganDamageType0
    from ..models.observation_pathogen_load_type_0 import ObservationPathogenLoadType0


T = TypeVar("T", bound="OutcomeCreate")


@_attrs_define
class OutcomeCreate:
    """What happened after one recommendation.

    Attributes:
        dose_given (DoseImmuneType0 | DoseInsulinT2DType0 | DoseWarfarinType0 | DoseWarfarinType1 | DoseWarfarinType2):
            A daily dose in the unit family of the recommendation's therapy (checked against it; a 422 names the field
            otherwise).
        feedback (Feedback): The clinician's decision on the recommendation. Overrides are evidence: say why.
        recommendation_id (UUID): The recommendation this outcome answers.
        adverse_events (list[AdverseEvent] | Unset):
        course_ended (bool | Unset): Therapy stopped after this interval (the course ends here). Default: False.
        given_at (datetime.datetime | None | Unset): When the dose was given. Default: the decision time.
        observations (list[ObservationGlucoseFastingType0 | ObservationGlucoseFastingType1 | ObservationInrType0 |
            ObservationOrganDamageType0 | ObservationPathogenLoadType0] | Unset): Lab results that followed the dose (same
            rules as PatientState).
        regimen (DoseImmuneType0 | DoseInsulinT2DType0 | DoseWarfarinType0 | DoseWarfarinType1 | DoseWarfarinType2 |
            None | Unset): The daily regimen now in force, when it differs from the dose given (e.g. a held dose keeps the
            regimen). Default: the dose given.
    """

    dose_given: DoseImmuneType0 | DoseInsulinT2DType0 | DoseWarfarinType0 | DoseWarfarinType1 | DoseWarfarinType2
    feedback: Feedback
    recommendation_id: UUID
    adverse_events: list[AdverseEvent] | Unset = UNSET
    course_ended: bool | Unset = False
    given_at: datetime.datetime | None | Unset = UNSET
    observations: (
        list[
            ObservationGlucoseFastingType0
            | ObservationGlucoseFastingType1
            | ObservationInrType0
            | ObservationOrganDamageType0
            | ObservationPathogenLoadType0
        ]
        | Unset
    ) = UNSET
    regimen: (
        DoseImmuneType0 | DoseInsulinT2DType0 | DoseWarfarinType0 | DoseWarfarinType1 | DoseWarfarinType2 | None | Unset
    ) = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.dose_immune_type_0 import DoseImmuneType0  # noqa: PLC0415
        from ..models.dose_insulin_t2d_type_0 import DoseInsulinT2DType0  # noqa: PLC0415
        from ..models.dose_warfarin_type_0 import DoseWarfarinType0  # noqa: PLC0415
        from ..models.dose_warfarin_type_1 import DoseWarfarinType1  # noqa: PLC0415
        from ..models.dose_warfarin_type_2 import DoseWarfarinType2  # noqa: PLC0415
        from ..models.observation_glucose_fasting_type_0 import ObservationGlucoseFastingType0  # noqa: PLC0415
        from ..models.observation_glucose_fasting_type_1 import ObservationGlucoseFastingType1  # noqa: PLC0415
        from ..models.observation_inr_type_0 import ObservationInrType0  # noqa: PLC0415
        from ..models.observation_pathogen_load_type_0 import ObservationPathogenLoadType0  # noqa: PLC0415

        dose_given: dict[str, Any]
        if isinstance(self.dose_given, DoseWarfarinType0):
            dose_given = self.dose_given.to_dict()
        elif isinstance(self.dose_given, DoseWarfarinType1):
            dose_given = self.dose_given.to_dict()
        elif isinstance(self.dose_given, DoseWarfarinType2):
            dose_given = self.dose_given.to_dict()
        elif isinstance(self.dose_given, DoseInsulinT2DType0):
            dose_given = self.dose_given.to_dict()
        else:
            dose_given = self.dose_given.to_dict()

        feedback = self.feedback.to_dict()

        recommendation_id = str(self.recommendation_id)

        adverse_events: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.adverse_events, Unset):
            adverse_events = []
            for adverse_events_item_data in self.adverse_events:
                adverse_events_item = adverse_events_item_data.to_dict()
                adverse_events.append(adverse_events_item)

        course_ended = self.course_ended

        given_at: None | str | Unset
        if isinstance(self.given_at, Unset):
            given_at = UNSET
        elif isinstance(self.given_at, datetime.datetime):
            given_at = self.given_at.isoformat()
        else:
            given_at = self.given_at

        observations: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.observations, Unset):
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

        regimen: dict[str, Any] | None | Unset
        if isinstance(self.regimen, Unset):
            regimen = UNSET
        elif isinstance(self.regimen, DoseWarfarinType0):
            regimen = self.regimen.to_dict()
        elif isinstance(self.regimen, DoseWarfarinType1):
            regimen = self.regimen.to_dict()
        elif isinstance(self.regimen, DoseWarfarinType2):
            regimen = self.regimen.to_dict()
        elif isinstance(self.regimen, DoseInsulinT2DType0):
            regimen = self.regimen.to_dict()
        elif isinstance(self.regimen, DoseImmuneType0):
            regimen = self.regimen.to_dict()
        else:
            regimen = self.regimen

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "dose_given": dose_given,
                "feedback": feedback,
                "recommendation_id": recommendation_id,
            }
        )
        if adverse_events is not UNSET:
            field_dict["adverse_events"] = adverse_events
        if course_ended is not UNSET:
            field_dict["course_ended"] = course_ended
        if given_at is not UNSET:
            field_dict["given_at"] = given_at
        if observations is not UNSET:
            field_dict["observations"] = observations
        if regimen is not UNSET:
            field_dict["regimen"] = regimen

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.adverse_event import AdverseEvent  # noqa: PLC0415
        from ..models.dose_immune_type_0 import DoseImmuneType0  # noqa: PLC0415
        from ..models.dose_insulin_t2d_type_0 import DoseInsulinT2DType0  # noqa: PLC0415
        from ..models.dose_warfarin_type_0 import DoseWarfarinType0  # noqa: PLC0415
        from ..models.dose_warfarin_type_1 import DoseWarfarinType1  # noqa: PLC0415
        from ..models.dose_warfarin_type_2 import DoseWarfarinType2  # noqa: PLC0415
        from ..models.feedback import Feedback  # noqa: PLC0415
        from ..models.observation_glucose_fasting_type_0 import ObservationGlucoseFastingType0  # noqa: PLC0415
        from ..models.observation_glucose_fasting_type_1 import ObservationGlucoseFastingType1  # noqa: PLC0415
        from ..models.observation_inr_type_0 import ObservationInrType0  # noqa: PLC0415
        from ..models.observation_organ_damage_type_0 import ObservationOrganDamageType0  # noqa: PLC0415
        from ..models.observation_pathogen_load_type_0 import ObservationPathogenLoadType0  # noqa: PLC0415

        d = dict(src_dict)

        def _parse_dose_given(
            data: object,
        ) -> DoseImmuneType0 | DoseInsulinT2DType0 | DoseWarfarinType0 | DoseWarfarinType1 | DoseWarfarinType2:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_dose_warfarin_type_0 = DoseWarfarinType0.from_dict(data)

                return componentsschemas_dose_warfarin_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_dose_warfarin_type_1 = DoseWarfarinType1.from_dict(data)

                return componentsschemas_dose_warfarin_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_dose_warfarin_type_2 = DoseWarfarinType2.from_dict(data)

                return componentsschemas_dose_warfarin_type_2
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_dose_insulin_t_2_d_type_0 = DoseInsulinT2DType0.from_dict(data)

                return componentsschemas_dose_insulin_t_2_d_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            componentsschemas_dose_immune_type_0 = DoseImmuneType0.from_dict(data)

            return componentsschemas_dose_immune_type_0

        dose_given = _parse_dose_given(d.pop("dose_given"))

        feedback = Feedback.from_dict(d.pop("feedback"))

        recommendation_id = UUID(d.pop("recommendation_id"))

        _adverse_events = d.pop("adverse_events", UNSET)
        adverse_events: list[AdverseEvent] | Unset = UNSET
        if _adverse_events is not UNSET:
            adverse_events = []
            for adverse_events_item_data in _adverse_events:
                adverse_events_item = AdverseEvent.from_dict(adverse_events_item_data)

                adverse_events.append(adverse_events_item)

        course_ended = d.pop("course_ended", UNSET)

        def _parse_given_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                given_at_type_0 = datetime.datetime.fromisoformat(data)

                return given_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        given_at = _parse_given_at(d.pop("given_at", UNSET))

        _observations = d.pop("observations", UNSET)
        observations: (
            list[
                ObservationGlucoseFastingType0
                | ObservationGlucoseFastingType1
                | ObservationInrType0
                | ObservationOrganDamageType0
                | ObservationPathogenLoadType0
            ]
            | Unset
        ) = UNSET
        if _observations is not UNSET:
            observations = []
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
                        componentsschemas_observation_pathogen_load_type_0 = ObservationPathogenLoadType0.from_dict(
                            data
                        )

                        return componentsschemas_observation_pathogen_load_type_0
                    except (TypeError, ValueError, AttributeError, KeyError):
                        pass
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_observation_organ_damage_type_0 = ObservationOrganDamageType0.from_dict(data)

                    return componentsschemas_observation_organ_damage_type_0

                observations_item = _parse_observations_item(observations_item_data)

                observations.append(observations_item)

        def _parse_regimen(
            data: object,
        ) -> (
            DoseImmuneType0
            | DoseInsulinT2DType0
            | DoseWarfarinType0
            | DoseWarfarinType1
            | DoseWarfarinType2
            | None
            | Unset
        ):
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_dose_warfarin_type_0 = DoseWarfarinType0.from_dict(data)

                return componentsschemas_dose_warfarin_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_dose_warfarin_type_1 = DoseWarfarinType1.from_dict(data)

                return componentsschemas_dose_warfarin_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_dose_warfarin_type_2 = DoseWarfarinType2.from_dict(data)

                return componentsschemas_dose_warfarin_type_2
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_dose_insulin_t_2_d_type_0 = DoseInsulinT2DType0.from_dict(data)

                return componentsschemas_dose_insulin_t_2_d_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_dose_immune_type_0 = DoseImmuneType0.from_dict(data)

                return componentsschemas_dose_immune_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(
                DoseImmuneType0
                | DoseInsulinT2DType0
                | DoseWarfarinType0
                | DoseWarfarinType1
                | DoseWarfarinType2
                | None
                | Unset,
                data,
            )

        regimen = _parse_regimen(d.pop("regimen", UNSET))

        outcome_create = cls(
            dose_given=dose_given,
            feedback=feedback,
            recommendation_id=recommendation_id,
            adverse_events=adverse_events,
            course_ended=course_ended,
            given_at=given_at,
            observations=observations,
            regimen=regimen,
        )

        return outcome_create
