"""The forecast chart (shared/dosewise/forecast_chart.py): a well-formed SVG that shows what the explanation says."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from dosewise import forecast as fc
from dosewise.forecast_chart import DISCLAIMER_LINE, figure, forecast_svg
from dosewise.therapies.base import TherapyPack
from dosewise.therapies.registry import get_pack


def forecast_row(pack: TherapyPack, action: int, days: int = 20) -> dict:
    sim = pack.simulator(pack.sample_cohort(1, 1), 0)
    view = sim.reset()
    for _ in range(days):
        view = sim.step(view.current_dose, view.current_dose).view
    f = fc.forecast(pack, view, np.array([action]))
    assert f is not None
    return f.row(0)


@pytest.fixture(scope="module")
def insulin() -> tuple[TherapyPack, dict]:
    pack = get_pack("insulin_t2d")
    return pack, forecast_row(pack, 5)


def texts(svg: bytes) -> str:
    return " ".join(t.strip() for t in ET.fromstring(svg).itertext() if t.strip())


def test_the_chart_is_svg_with_the_band_both_plans_and_the_disclaimer(insulin: tuple[TherapyPack, dict]) -> None:
    pack, row = insulin
    label = pack.actions[5].label
    svg = forecast_svg(row, label)
    assert ET.fromstring(svg).tag.endswith("svg")
    words = texts(svg)
    assert "target 80–130" in words and f"recommended ({label})" in words and "keep the current dose" in words
    assert "fasting glucose (mg/dL)" in words and "days from the decision" in words
    assert f"fitted to {row['personalization']['observations_used']} measurements" in words
    assert "Decision support" in words and DISCLAIMER_LINE.split(":")[0] in words


def test_the_same_forecast_gives_the_same_bytes(insulin: tuple[TherapyPack, dict]) -> None:
    _, row = insulin
    assert forecast_svg(row, "x") == forecast_svg(row, "x")  # no timestamp: cacheable, comparable


def test_the_plotted_lines_are_the_forecast(insulin: tuple[TherapyPack, dict]) -> None:
    _, row = insulin
    ax = figure(row, "x").axes[0]
    rec, keep = ax.get_lines()[:2]
    np.testing.assert_allclose(rec.get_ydata()[1:], row["recommended"])
    np.testing.assert_allclose(keep.get_ydata()[1:], row["keep_dose"])
    assert list(rec.get_xdata()[1:]) == row["days_after_decision"]


def test_inr_is_named_inr_and_a_load_spanning_decades_gets_a_log_axis() -> None:
    warfarin = get_pack("warfarin")
    assert figure(forecast_row(warfarin, 4), "Keep").axes[0].get_ylabel() == "INR"
    row = forecast_row(warfarin, 4) | {"recommended": [1e-3, 1e-2, 1.0, 10.0], "keep_dose": [1.0] * 4,
                                       "days_after_decision": [1, 2, 3, 4], "recommended_80pct": None,
                                       "keep_dose_80pct": None}
    assert figure(row, "x").axes[0].get_yscale() == "symlog"


def test_charts_rendered_in_parallel_threads_are_the_same_as_alone(insulin: tuple[TherapyPack, dict]) -> None:
    """The gateway renders in worker threads: concurrent charts must not change each other's output."""
    from concurrent.futures import ThreadPoolExecutor

    _, row = insulin
    alone = forecast_svg(row, "x")
    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(lambda _: forecast_svg(row, "x"), range(8))) == {alone}


def test_the_measurements_are_drawn_before_the_decision_filled_where_the_twin_was_fitted_to_them() -> None:
    from dosewise import decision
    from dosewise.schemas import PATIENT_STATE_EXAMPLE, PatientState

    prep = decision.prepare([PatientState.model_validate(PATIENT_STATE_EXAMPLE)])
    row = fc.forecast(prep.pack, prep.view, np.array([4])).row(0)  # type: ignore[union-attr]
    ax = figure(row, "Keep").axes[0]
    points = {line.get_label(): line for line in ax.get_lines() if line.get_label().startswith("measured")}
    fitted, not_fitted = points["measured (the twin is fitted to these)"], points["measured, not used in the fit"]
    # The README example: INR 1.6 the morning before the first dose (7 days back), then 1.9 and 2.4.
    assert list(fitted.get_xdata()) == [-4.0, -1.0] and list(fitted.get_ydata()) == [1.9, 2.4]
    assert list(not_fitted.get_xdata()) == [-7.0] and list(not_fitted.get_ydata()) == [1.6]
    assert not_fitted.get_markerfacecolor() == "white"
    assert ax.get_xlim()[0] < -7.0


def test_an_answer_stored_without_measurements_still_draws() -> None:
    row = forecast_row(get_pack("warfarin"), 4)
    del row["measured"]
    ax = figure(row, "Keep").axes[0]
    assert not [line for line in ax.get_lines() if line.get_label().startswith("measured")]
    assert ax.get_xlim()[0] == pytest.approx(-0.3)
