from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from dosewise.therapies.base import ObservationKind
from dosewise.therapies.registry import PACKS
from dosewise_api.deps import AnyCaller

router = APIRouter(prefix="/v1/therapies", tags=["therapies"])


class ActionPublic(BaseModel):
    id: str
    label: str
    kind: Literal["hold", "change", "scale", "level"] = Field(
        description="change: new daily dose = current + delta; scale: current × (1 + delta/100), a percent change of the "
                    "weekly dose; hold: no dose for hold_doses doses, then current × (1 + delta/100); level: exactly delta "
                    "a day. Each holds until the next visit.")
    delta: float
    hold_doses: int = Field(0, description="Doses skipped first (hold only).")


class FeaturePublic(BaseModel):
    name: str
    unit: str
    description: str


class TherapyPublic(BaseModel):
    """A therapy pack as integrators see it (``TherapyPack.describe``)."""

    id: str
    name: str
    dose_unit: str
    max_dose_per_day: float
    decision_interval_days: float
    cadences: list[str] = Field(default_factory=list, description="The visit schedules this therapy's policies are "
                                "trained and evaluated at (empty: a decision every interval).")
    observation_kinds: dict[str, ObservationKind] = Field(description="The lab results this therapy reads, by kind.")
    target_band: list[float] = Field(description="[low, high] of the primary observation, canonical unit.")
    actions: list[ActionPublic]
    features: list[FeaturePublic] = Field(description="The policy's inputs, with units (what attributions refer to).")
    required_state_fields: list[str]


class TherapiesPublic(BaseModel):
    data: list[TherapyPublic]
    count: int


@router.get("", response_model=TherapiesPublic, operation_id="therapies_list",
            summary="Registered therapies with their action sets, features (with units) and required state fields")
async def list_therapies(caller: AnyCaller) -> dict[str, Any]:
    data = [p.describe() for p in PACKS.values()]
    return {"data": data, "count": len(data)}
