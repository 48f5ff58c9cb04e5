from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.feedback_decision import FeedbackDecision
from ..models.feedback_reason_code_type_0 import FeedbackReasonCodeType0
from ..types import UNSET, Unset

T = TypeVar("T", bound="Feedback")


@_attrs_define
class Feedback:
    """The clinician's decision on the recommendation. Overrides are evidence: say why.

    Attributes:
        decision (FeedbackDecision):
        reason (None | str | Unset): Why, in words (no patient identifiers); one line: control characters (newlines too)
            are refused, invisible format characters removed (dosewise/text.py).
        reason_code (FeedbackReasonCodeType0 | None | Unset): Why it was overridden, coded.
    """

    decision: FeedbackDecision
    reason: None | str | Unset = UNSET
    reason_code: FeedbackReasonCodeType0 | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        decision = self.decision.value

        reason: None | str | Unset
        if isinstance(self.reason, Unset):
            reason = UNSET
        else:
            reason = self.reason

        reason_code: None | str | Unset
        if isinstance(self.reason_code, Unset):
            reason_code = UNSET
        elif isinstance(self.reason_code, FeedbackReasonCodeType0):
            reason_code = self.reason_code.value
        else:
            reason_code = self.reason_code

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "decision": decision,
            }
        )
        if reason is not UNSET:
            field_dict["reason"] = reason
        if reason_code is not UNSET:
            field_dict["reason_code"] = reason_code

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        decision = FeedbackDecision(d.pop("decision"))

        def _parse_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reason = _parse_reason(d.pop("reason", UNSET))

        def _parse_reason_code(data: object) -> FeedbackReasonCodeType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                reason_code_type_0 = FeedbackReasonCodeType0(data)

                return reason_code_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(FeedbackReasonCodeType0 | None | Unset, data)

        reason_code = _parse_reason_code(d.pop("reason_code", UNSET))

        feedback = cls(
            decision=decision,
            reason=reason,
            reason_code=reason_code,
        )

        return feedback
