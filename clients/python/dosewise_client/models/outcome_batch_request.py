from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.outcome_batch_item import OutcomeBatchItem


T = TypeVar("T", bound="OutcomeBatchRequest")


@_attrs_define
class OutcomeBatchRequest:
    """Up to 1,000 outcomes recorded in one transaction.

    Attributes:
        outcomes (list[OutcomeBatchItem]):
    """

    outcomes: list[OutcomeBatchItem]

    def to_dict(self) -> dict[str, Any]:
        outcomes = []
        for outcomes_item_data in self.outcomes:
            outcomes_item = outcomes_item_data.to_dict()
            outcomes.append(outcomes_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "outcomes": outcomes,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.outcome_batch_item import OutcomeBatchItem  # noqa: PLC0415

        d = dict(src_dict)
        outcomes = []
        _outcomes = d.pop("outcomes")
        for outcomes_item_data in _outcomes:
            outcomes_item = OutcomeBatchItem.from_dict(outcomes_item_data)

            outcomes.append(outcomes_item)

        outcome_batch_request = cls(
            outcomes=outcomes,
        )

        return outcome_batch_request
