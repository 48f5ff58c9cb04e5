from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.action_public import ActionPublic
    from ..models.feature_public import FeaturePublic
    from ..models.therapy_public_observation_kinds import TherapyPublicObservationKinds


T = TypeVar("T", bound="TherapyPublic")


@_attrs_define
class TherapyPublic:
    """A therapy pack as integrators see it (``TherapyPack.describe``).

    Attributes:
        actions (list[ActionPublic]):
        decision_interval_days (float):
        dose_unit (str):
        features (list[FeaturePublic]): The policy's inputs, with units (what attributions refer to).
        id (str):
        max_dose_per_day (float):
        name (str):
        observation_kinds (TherapyPublicObservationKinds): The lab results this therapy reads, by kind.
        required_state_fields (list[str]):
        target_band (list[float]): [low, high] of the primary observation, canonical unit.
        cadences (list[str] | Unset): The visit schedules this therapy's policies are trained and evaluated at (empty: a
            decision every interval).
    """

    actions: list[ActionPublic]
    decision_interval_days: float
    dose_unit: str
    features: list[FeaturePublic]
    id: str
    max_dose_per_day: float
    name: str
    observation_kinds: TherapyPublicObservationKinds
    required_state_fields: list[str]
    target_band: list[float]
    cadences: list[str] | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        actions = []
        for actions_item_data in self.actions:
            actions_item = actions_item_data.to_dict()
            actions.append(actions_item)

        decision_interval_days = self.decision_interval_days

        dose_unit = self.dose_unit

        features = []
        for features_item_data in self.features:
            features_item = features_item_data.to_dict()
            features.append(features_item)

        id = self.id

        max_dose_per_day = self.max_dose_per_day

        name = self.name

        observation_kinds = self.observation_kinds.to_dict()

        required_state_fields = self.required_state_fields

        target_band = self.target_band

        cadences: list[str] | Unset = UNSET
        if not isinstance(self.cadences, Unset):
            cadences = self.cadences

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "actions": actions,
                "decision_interval_days": decision_interval_days,
                "dose_unit": dose_unit,
                "features": features,
                "id": id,
                "max_dose_per_day": max_dose_per_day,
                "name": name,
                "observation_kinds": observation_kinds,
                "required_state_fields": required_state_fields,
                "target_band": target_band,
            }
        )
        if cadences is not UNSET:
            field_dict["cadences"] = cadences

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.action_public import ActionPublic  # noqa: PLC0415
        from ..models.feature_public import FeaturePublic  # noqa: PLC0415
        from ..models.therapy_public_observation_kinds import TherapyPublicObservationKinds  # noqa: PLC0415

        d = dict(src_dict)
        actions = []
        _actions = d.pop("actions")
        for actions_item_data in _actions:
            actions_item = ActionPublic.from_dict(actions_item_data)

            actions.append(actions_item)

        decision_interval_days = d.pop("decision_interval_days")

        dose_unit = d.pop("dose_unit")

        features = []
        _features = d.pop("features")
        for features_item_data in _features:
            features_item = FeaturePublic.from_dict(features_item_data)

            features.append(features_item)

        id = d.pop("id")

        max_dose_per_day = d.pop("max_dose_per_day")

        name = d.pop("name")

        observation_kinds = TherapyPublicObservationKinds.from_dict(d.pop("observation_kinds"))

        required_state_fields = cast(list[str], d.pop("required_state_fields"))

        target_band = cast(list[float], d.pop("target_band"))

        cadences = cast(list[str], d.pop("cadences", UNSET))

        therapy_public = cls(
            actions=actions,
            decision_interval_days=decision_interval_days,
            dose_unit=dose_unit,
            features=features,
            id=id,
            max_dose_per_day=max_dose_per_day,
            name=name,
            observation_kinds=observation_kinds,
            required_state_fields=required_state_fields,
            target_band=target_band,
            cadences=cadences,
        )

        therapy_public.additional_properties = d
        return therapy_public

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
