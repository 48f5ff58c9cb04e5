"""The gateway → inference contract (dosewise/inference_contract.py): the view the gateway builds from the states it
validated reaches inference bit for bit, every such view passes inference's cheap check, and what no validated state can
give is refused with the cell named."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from pydantic import ValidationError

from dosewise.inference_contract import MalformedView, RecommendRequest, layout
from dosewise.schemas import INSULIN_STATE_EXAMPLE, PATIENT_STATE_EXAMPLE, PatientState
from dosewise.therapies.base import ClinicView, TherapyPack
from dosewise.therapies.registry import PACKS, get_pack
from tests.unit.test_guardrail_properties import SETTINGS, patient

WARFARIN = get_pack("warfarin")


def view_of(*states: dict) -> ClinicView:
    validated = [PatientState.model_validate(s) for s in states]
    return ClinicView.from_states(get_pack(validated[0].therapy), validated)


def sent(pack: TherapyPack, view: ClinicView) -> ClinicView:
    """The view as inference reads it from the JSON the gateway sends (parsed as FastAPI parses a body)."""
    body = RecommendRequest.of(pack, view, explain=False).model_dump_json()
    return RecommendRequest.model_validate(json.loads(body)).clinic_view(pack)


def assert_same(a: ClinicView, b: ClinicView) -> None:
    for name in ("day", "current_dose", "dose_history"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.shape == y.shape and x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True), name
    for name in ("obs", "obs_age_days", "covariates"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.keys() == y.keys(), name
        for key in x:
            assert x[key].shape == y[key].shape and np.array_equal(x[key], y[key], equal_nan=True), (name, key)
            assert y[key].flags.c_contiguous, (name, key)  # as from_states lays it out: reductions round alike


def matrix(view: ClinicView, pack: TherapyPack = WARFARIN) -> np.ndarray:
    return layout(pack).encode(view)


def refusal(x: np.ndarray, pack: TherapyPack = WARFARIN, columns: list[str] | None = None) -> str:
    body = RecommendRequest.of(pack, ClinicView.from_states(pack, [PatientState.model_validate(PATIENT_STATE_EXAMPLE)]),
                               explain=True)
    body.view.rows, body.view.data = x.shape[0], x.astype("<f8").tobytes()
    if columns is not None:
        body.view.columns = columns
    with pytest.raises(MalformedView) as refused:
        body.clinic_view(pack)
    return str(refused.value)


class TestTheViewArrivesAsBuilt:
    @pytest.mark.parametrize("example", [PATIENT_STATE_EXAMPLE, INSULIN_STATE_EXAMPLE], ids=["warfarin", "insulin"])
    def test_a_batch_round_trips_bit_for_bit_and_decides_the_same(self, example: dict) -> None:
        states = [example | {"patient_ref": f"contract-{i:04d}", "current_dose": {"value": 1 + i % 9, "unit":
                                                                                  example["current_dose"]["unit"]}}
                  for i in range(50)]
        states[3] = states[3] | {"observations": example["observations"][:1], "egfr_ml_min_1_73m2": None}  # NaN padding
        pack = get_pack(example["therapy"])
        view = view_of(*states)
        back = sent(pack, view)
        assert_same(view, back)
        assert np.array_equal(pack.features(view), pack.features(back))
        assert np.array_equal(pack.guardrails(view).mask, pack.guardrails(back).mask)

    @SETTINGS
    @given(state=patient("warfarin"))
    def test_every_validated_warfarin_state_passes_the_check(self, state: PatientState) -> None:
        view = ClinicView.from_states(WARFARIN, [state])
        assert layout(WARFARIN).problems(matrix(view)) == []
        assert_same(view, sent(WARFARIN, view))

    @SETTINGS
    @given(state=patient("insulin_t2d"))
    def test_every_validated_insulin_state_passes_the_check(self, state: PatientState) -> None:
        pack = get_pack("insulin_t2d")
        view = ClinicView.from_states(pack, [state])
        assert layout(pack).problems(matrix(view, pack)) == []

    def test_every_pack_has_a_layout_of_its_view(self) -> None:
        for pack in PACKS.values():
            shape = layout(pack)
            assert len(set(shape.names)) == len(shape.names)
            assert shape.names[:2] == ("day", "current_dose")


class TestMalformedIsRefused:
    x = staticmethod(lambda: matrix(view_of(PATIENT_STATE_EXAMPLE)))

    def column(self, name: str) -> int:
        return layout(WARFARIN).names.index(name)

    def test_a_missing_number_where_one_is_required(self) -> None:
        x = self.x()
        x[0, self.column("weight_kg")] = math.nan
        assert "patient 0, weight_kg = NaN: missing (NaN) where a number is required" in refusal(x)

    @pytest.mark.parametrize(("name", "value"), [("weight_kg", 0.1), ("age_years", 121), ("obs.inr.0", 40.0),
                                                 ("current_dose", -1.0), ("current_dose", math.inf), ("day", -3.0),
                                                 ("dose_history.0", -0.5), ("egfr_ml_min_1_73m2", 0.0)])
    def test_a_value_no_validated_state_gives(self, name: str, value: float) -> None:
        x = self.x()
        x[0, self.column(name)] = value
        assert f"patient 0, {name} = {value:g}: outside the column's range" in refusal(x)

    @pytest.mark.parametrize(("name", "value"), [("cyp2c9", 2.5), ("female", 0.5)])
    def test_a_code_or_flag_that_names_nothing(self, name: str, value: float) -> None:
        x = self.x()
        x[0, self.column(name)] = value
        assert f"patient 0, {name} = {value:g}: not a whole number" in refusal(x)

    def test_a_code_past_its_list(self) -> None:
        x = self.x()
        x[0, self.column("vkorc1")] = 3.0
        assert "vkorc1 = 3: outside the column's range" in refusal(x)

    def test_a_measurement_without_its_age_and_a_gap_in_the_history(self) -> None:
        x = self.x()
        x[0, self.column("obs_age_days.inr.0")] = math.nan
        assert "obs_age_days.inr.0 = NaN: a measurement without its age" in refusal(x)
        x = self.x()
        x[0, self.column("obs.inr.0")] = x[0, self.column("obs_age_days.inr.0")] = math.nan
        assert "obs.inr.1 = 1.9: a measurement after a missing one" in refusal(x)

    def test_another_layout_is_refused_before_any_number_is_read(self) -> None:
        names = list(layout(WARFARIN).names)
        assert "the columns are not warfarin's layout" in refusal(self.x(), columns=names[::-1])
        insulin = layout(get_pack("insulin_t2d")).names
        assert "the columns are not warfarin's layout" in refusal(self.x(), columns=list(insulin))

    def test_bytes_that_are_not_rows_of_the_layout(self) -> None:
        x = self.x()
        assert "bytes are not 1 rows of" in refusal(x[:, :-1], columns=list(layout(WARFARIN).names))

    def test_no_more_than_a_few_cells_are_named(self) -> None:
        x = np.repeat(self.x(), 40, axis=0)
        x[:, self.column("day")] = math.nan
        assert refusal(x).count("patient ") == 10

    def test_data_that_is_not_base64_fails_validation(self) -> None:
        body = json.loads(RecommendRequest.of(WARFARIN, view_of(PATIENT_STATE_EXAMPLE), True).model_dump_json())
        body["view"]["data"] = body["view"]["data"][:-4] + "*@@="
        with pytest.raises(ValidationError, match="not base64"):
            RecommendRequest.model_validate(body)
