from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.hyper_score_out_sub_scores import HyperScoreOutSubScores


T = TypeVar("T", bound="HyperScoreOut")


@_attrs_define
class HyperScoreOut:
    """How much to trust this recommendation (HSDPO HyperScore). Calibrated on held-out twins so that a higher score ranks
    a
    better realized outcome — the therapy's reward over the next 28 days, discounted as the policy was trained —
    (Spearman
    warfarin 0.73, insulin 0.53 for the shipped policies; README, "HyperScore").

        Attributes:
            hyperscore (float): 100·[1 + σ(β·ln V + γ)^κ]; see score_range.
            needs_review (bool): True below the configured review threshold, for a patient whose data lie outside the
                training states (novelty below review_novelty_below), or when no action was safe.
            sub_scores (HyperScoreOutSubScores): consistency, forecast, novelty, impact, reproducibility, value (the
                policy's expected outcome for this patient relative to its calibration cohort) — each in [0, 1]; null when not
                computable.
            v (float): Weighted fusion of the sub-scores, in [0, 1].
            review_below (float | None | Unset):
            review_novelty_below (float | None | Unset):
            review_reasons (list[str] | Unset): Why it needs review, in words; empty when not.
            score_range (list[float] | None | Unset):
    """

    hyperscore: float
    needs_review: bool
    sub_scores: HyperScoreOutSubScores
    v: float
    review_below: float | None | Unset = UNSET
    review_novelty_below: float | None | Unset = UNSET
    review_reasons: list[str] | Unset = UNSET
    score_range: list[float] | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        hyperscore = self.hyperscore

        needs_review = self.needs_review

        sub_scores = self.sub_scores.to_dict()

        v = self.v

        review_below: float | None | Unset
        if isinstance(self.review_below, Unset):
            review_below = UNSET
        else:
            review_below = self.review_below

        review_novelty_below: float | None | Unset
        if isinstance(self.review_novelty_below, Unset):
            review_novelty_below = UNSET
        else:
            review_novelty_below = self.review_novelty_below

        review_reasons: list[str] | Unset = UNSET
        if not isinstance(self.review_reasons, Unset):
            review_reasons = self.review_reasons

        score_range: list[float] | None | Unset
        if isinstance(self.score_range, Unset):
            score_range = UNSET
        elif isinstance(self.score_range, list):
            score_range = self.score_range

        else:
            score_range = self.score_range

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "hyperscore": hyperscore,
                "needs_review": needs_review,
                "sub_scores": sub_scores,
                "v": v,
            }
        )
        if review_below is not UNSET:
            field_dict["review_below"] = review_below
        if review_novelty_below is not UNSET:
            field_dict["review_novelty_below"] = review_novelty_below
        if review_reasons is not UNSET:
            field_dict["review_reasons"] = review_reasons
        if score_range is not UNSET:
            field_dict["score_range"] = score_range

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.hyper_score_out_sub_scores import HyperScoreOutSubScores  # noqa: PLC0415

        d = dict(src_dict)
        hyperscore = d.pop("hyperscore")

        needs_review = d.pop("needs_review")

        sub_scores = HyperScoreOutSubScores.from_dict(d.pop("sub_scores"))

        v = d.pop("v")

        def _parse_review_below(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        review_below = _parse_review_below(d.pop("review_below", UNSET))

        def _parse_review_novelty_below(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        review_novelty_below = _parse_review_novelty_below(d.pop("review_novelty_below", UNSET))

        review_reasons = cast(list[str], d.pop("review_reasons", UNSET))

        def _parse_score_range(data: object) -> list[float] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                score_range_type_0 = cast(list[float], data)

                return score_range_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[float] | None | Unset, data)

        score_range = _parse_score_range(d.pop("score_range", UNSET))

        hyper_score_out = cls(
            hyperscore=hyperscore,
            needs_review=needs_review,
            sub_scores=sub_scores,
            v=v,
            review_below=review_below,
            review_novelty_below=review_novelty_below,
            review_reasons=review_reasons,
            score_range=score_range,
        )

        hyper_score_out.additional_properties = d
        return hyper_score_out

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
