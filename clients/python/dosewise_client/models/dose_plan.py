from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.dose_quantity import DoseQuantity


T = TypeVar("T", bound="DosePlan")


@_attrs_define
class DosePlan:
    """What to give until the next visit, and when that visit is: a decision holds until then (issue #25).

    Attributes:
        cadences (list[str]): The visit schedules this therapy's policies are trained and evaluated at.
        dose_per_day (DoseQuantity):
        dose_per_week (DoseQuantity):
        hold_doses (int): Doses to skip first (0: none); then ``dose_per_day``.
        recheck_in_days (float): Days until the next measurement and decision.
        recheck_on (datetime.date): The date of that recheck (UTC), from the state's decision time.
        started (bool): True when the therapy's starting rule set the dose (the patient was not on it).
    """

    cadences: list[str]
    dose_per_day: DoseQuantity
    dose_per_week: DoseQuantity
    hold_doses: int
    recheck_in_days: float
    recheck_on: datetime.date
    started: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        cadences = self.cadences

        dose_per_day = self.dose_per_day.to_dict()

        dose_per_week = self.dose_per_week.to_dict()

        hold_doses = self.hold_doses

        recheck_in_days = self.recheck_in_days

        recheck_on = self.recheck_on.isoformat()

        started = self.started

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "cadences": cadences,
                "dose_per_day": dose_per_day,
                "dose_per_week": dose_per_week,
                "hold_doses": hold_doses,
                "recheck_in_days": recheck_in_days,
                "recheck_on": recheck_on,
                "started": started,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.dose_quantity import DoseQuantity  # noqa: PLC0415

        d = dict(src_dict)
        cadences = cast(list[str], d.pop("cadences"))

        dose_per_day = DoseQuantity.from_dict(d.pop("dose_per_day"))

        dose_per_week = DoseQuantity.from_dict(d.pop("dose_per_week"))

        hold_doses = d.pop("hold_doses")

        recheck_in_days = d.pop("recheck_in_days")

        recheck_on = datetime.date.fromisoformat(d.pop("recheck_on"))

        started = d.pop("started")

        dose_plan = cls(
            cadences=cadences,
            dose_per_day=dose_per_day,
            dose_per_week=dose_per_week,
            hold_doses=hold_doses,
            recheck_in_days=recheck_in_days,
            recheck_on=recheck_on,
            started=started,
        )

        dose_plan.additional_properties = d
        return dose_plan

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
