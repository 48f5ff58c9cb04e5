from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.explanation_attributions import ExplanationAttributions
    from ..models.explanation_forecast_type_0 import ExplanationForecastType0
    from ..models.explanation_q_values_item import ExplanationQValuesItem


T = TypeVar("T", bound="Explanation")


@_attrs_define
class Explanation:
    """Why: every action's value, the features that drove the choice, the personalized forecast, and a plain rationale.

    Attributes:
        attributions (ExplanationAttributions): Integrated-gradient attributions of the chosen action's Q (top
            features).
        forecast (ExplanationForecastType0 | None): The patient's twin rolled forward under the recommended dose and
            under keeping the dose, with the band; mean_daily_reward: the therapy's own reward of each forecast (the
            recommendation's dose change included), which the forecast sub-score ranks among the calibration's decisions;
            measured: the latest measurements (days before the decision as negative days) and which of them the twin was
            fitted to.
        q_values (list[ExplanationQValuesItem]): Per action: Q, allowed, chosen, spread across ensemble heads.
        rationale (str): One paragraph built from the facts above (template; no free-text generation).
    """

    attributions: ExplanationAttributions
    forecast: ExplanationForecastType0 | None
    q_values: list[ExplanationQValuesItem]
    rationale: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.explanation_forecast_type_0 import ExplanationForecastType0  # noqa: PLC0415

        attributions = self.attributions.to_dict()

        forecast: dict[str, Any] | None
        if isinstance(self.forecast, ExplanationForecastType0):
            forecast = self.forecast.to_dict()
        else:
            forecast = self.forecast

        q_values = []
        for q_values_item_data in self.q_values:
            q_values_item = q_values_item_data.to_dict()
            q_values.append(q_values_item)

        rationale = self.rationale

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "attributions": attributions,
                "forecast": forecast,
                "q_values": q_values,
                "rationale": rationale,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.explanation_attributions import ExplanationAttributions  # noqa: PLC0415
        from ..models.explanation_forecast_type_0 import ExplanationForecastType0  # noqa: PLC0415
        from ..models.explanation_q_values_item import ExplanationQValuesItem  # noqa: PLC0415

        d = dict(src_dict)
        attributions = ExplanationAttributions.from_dict(d.pop("attributions"))

        def _parse_forecast(data: object) -> ExplanationForecastType0 | None:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                forecast_type_0 = ExplanationForecastType0.from_dict(data)

                return forecast_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ExplanationForecastType0 | None, data)

        forecast = _parse_forecast(d.pop("forecast"))

        q_values = []
        _q_values = d.pop("q_values")
        for q_values_item_data in _q_values:
            q_values_item = ExplanationQValuesItem.from_dict(q_values_item_data)

            q_values.append(q_values_item)

        rationale = d.pop("rationale")

        explanation = cls(
            attributions=attributions,
            forecast=forecast,
            q_values=q_values,
            rationale=rationale,
        )

        explanation.additional_properties = d
        return explanation

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
