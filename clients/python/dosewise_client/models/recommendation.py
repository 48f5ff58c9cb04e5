from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.action_value import ActionValue
    from ..models.dose_plan import DosePlan
    from ..models.dose_quantity import DoseQuantity
    from ..models.explanation import Explanation
    from ..models.guardrail_firing import GuardrailFiring
    from ..models.hyper_score_out import HyperScoreOut
    from ..models.policy_ref import PolicyRef


T = TypeVar("T", bound="Recommendation")


@_attrs_define
class Recommendation:
    """A stored dosing recommendation. Made by ``policy``; decided on by a clinician.

    Attributes:
        action (str):
        action_label (str):
        action_values (list[ActionValue]):
        created_at (datetime.datetime):
        current_dose (DoseQuantity):
        patient_ref (str): The pseudonymized reference as stored (not the caller's raw reference).
        policy (PolicyRef): Which policy made a decision: every response carries it.
        recommendation_id (UUID):
        recommended_dose (DoseQuantity):
        therapy (str):
        disclaimer (str | Unset):  Default: 'Decision support for a clinician, not an autonomous prescriber: review the
            recommendation against the whole patient before acting on it.'.
        explanation (Explanation | None | Unset): Present for single recommendations; omitted in batches.
        guardrails (list[GuardrailFiring] | Unset):
        plan (DosePlan | None | Unset): The dose until the next visit and the recheck date.
        score (HyperScoreOut | None | Unset):
        warnings (list[str] | Unset):
    """

    action: str
    action_label: str
    action_values: list[ActionValue]
    created_at: datetime.datetime
    current_dose: DoseQuantity
    patient_ref: str
    policy: PolicyRef
    recommendation_id: UUID
    recommended_dose: DoseQuantity
    therapy: str
    disclaimer: str | Unset = (
        "Decision support for a clinician, not an autonomous prescriber: review the recommendation against the whole patient before acting on it."
    )
    explanation: Explanation | None | Unset = UNSET
    guardrails: list[GuardrailFiring] | Unset = UNSET
    plan: DosePlan | None | Unset = UNSET
    score: HyperScoreOut | None | Unset = UNSET
    warnings: list[str] | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.dose_plan import DosePlan  # noqa: PLC0415
        from ..models.explanation import Explanation  # noqa: PLC0415
        from ..models.hyper_score_out import HyperScoreOut  # noqa: PLC0415

        action = self.action

        action_label = self.action_label

        action_values = []
        for action_values_item_data in self.action_values:
            action_values_item = action_values_item_data.to_dict()
            action_values.append(action_values_item)

        created_at = self.created_at.isoformat()

        current_dose = self.current_dose.to_dict()

        patient_ref = self.patient_ref

        policy = self.policy.to_dict()

        recommendation_id = str(self.recommendation_id)

        recommended_dose = self.recommended_dose.to_dict()

        therapy = self.therapy

        disclaimer = self.disclaimer

        explanation: dict[str, Any] | None | Unset
        if isinstance(self.explanation, Unset):
            explanation = UNSET
        elif isinstance(self.explanation, Explanation):
            explanation = self.explanation.to_dict()
        else:
            explanation = self.explanation

        guardrails: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.guardrails, Unset):
            guardrails = []
            for guardrails_item_data in self.guardrails:
                guardrails_item = guardrails_item_data.to_dict()
                guardrails.append(guardrails_item)

        plan: dict[str, Any] | None | Unset
        if isinstance(self.plan, Unset):
            plan = UNSET
        elif isinstance(self.plan, DosePlan):
            plan = self.plan.to_dict()
        else:
            plan = self.plan

        score: dict[str, Any] | None | Unset
        if isinstance(self.score, Unset):
            score = UNSET
        elif isinstance(self.score, HyperScoreOut):
            score = self.score.to_dict()
        else:
            score = self.score

        warnings: list[str] | Unset = UNSET
        if not isinstance(self.warnings, Unset):
            warnings = self.warnings

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "action": action,
                "action_label": action_label,
                "action_values": action_values,
                "created_at": created_at,
                "current_dose": current_dose,
                "patient_ref": patient_ref,
                "policy": policy,
                "recommendation_id": recommendation_id,
                "recommended_dose": recommended_dose,
                "therapy": therapy,
            }
        )
        if disclaimer is not UNSET:
            field_dict["disclaimer"] = disclaimer
        if explanation is not UNSET:
            field_dict["explanation"] = explanation
        if guardrails is not UNSET:
            field_dict["guardrails"] = guardrails
        if plan is not UNSET:
            field_dict["plan"] = plan
        if score is not UNSET:
            field_dict["score"] = score
        if warnings is not UNSET:
            field_dict["warnings"] = warnings

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.action_value import ActionValue  # noqa: PLC0415
        from ..models.dose_plan import DosePlan  # noqa: PLC0415
        from ..models.dose_quantity import DoseQuantity  # noqa: PLC0415
        from ..models.explanation import Explanation  # noqa: PLC0415
        from ..models.guardrail_firing import GuardrailFiring  # noqa: PLC0415
        from ..models.hyper_score_out import HyperScoreOut  # noqa: PLC0415
        from ..models.policy_ref import PolicyRef  # noqa: PLC0415

        d = dict(src_dict)
        action = d.pop("action")

        action_label = d.pop("action_label")

        action_values = []
        _action_values = d.pop("action_values")
        for action_values_item_data in _action_values:
            action_values_item = ActionValue.from_dict(action_values_item_data)

            action_values.append(action_values_item)

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        current_dose = DoseQuantity.from_dict(d.pop("current_dose"))

        patient_ref = d.pop("patient_ref")

        policy = PolicyRef.from_dict(d.pop("policy"))

        recommendation_id = UUID(d.pop("recommendation_id"))

        recommended_dose = DoseQuantity.from_dict(d.pop("recommended_dose"))

        therapy = d.pop("therapy")

        disclaimer = d.pop("disclaimer", UNSET)

        def _parse_explanation(data: object) -> Explanation | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                explanation_type_0 = Explanation.from_dict(data)

                return explanation_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Explanation | None | Unset, data)

        explanation = _parse_explanation(d.pop("explanation", UNSET))

        _guardrails = d.pop("guardrails", UNSET)
        guardrails: list[GuardrailFiring] | Unset = UNSET
        if _guardrails is not UNSET:
            guardrails = []
            for guardrails_item_data in _guardrails:
                guardrails_item = GuardrailFiring.from_dict(guardrails_item_data)

                guardrails.append(guardrails_item)

        def _parse_plan(data: object) -> DosePlan | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                plan_type_0 = DosePlan.from_dict(data)

                return plan_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(DosePlan | None | Unset, data)

        plan = _parse_plan(d.pop("plan", UNSET))

        def _parse_score(data: object) -> HyperScoreOut | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                score_type_0 = HyperScoreOut.from_dict(data)

                return score_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(HyperScoreOut | None | Unset, data)

        score = _parse_score(d.pop("score", UNSET))

        warnings = cast(list[str], d.pop("warnings", UNSET))

        recommendation = cls(
            action=action,
            action_label=action_label,
            action_values=action_values,
            created_at=created_at,
            current_dose=current_dose,
            patient_ref=patient_ref,
            policy=policy,
            recommendation_id=recommendation_id,
            recommended_dose=recommended_dose,
            therapy=therapy,
            disclaimer=disclaimer,
            explanation=explanation,
            guardrails=guardrails,
            plan=plan,
            score=score,
            warnings=warnings,
        )

        recommendation.additional_properties = d
        return recommendation

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
