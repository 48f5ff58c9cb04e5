"""The basal-insulin training twins (Aradóttir wide, Hovorka 2004 T2D), their family, and the registry entries of all
insulin twin models, including the held-out Dalla Man twin driven by the clinic protocol."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dosewise.therapies.base import COVARIATES, ClinicView
from dosewise.therapies.clinic import ClinicNoise, VisitPlan, clinic_rollout
from dosewise.therapies.insulin_t2d.cohort import CohortConfig
from dosewise.therapies.insulin_t2d.twin_aradottir import AradottirT2DTwin
from dosewise.therapies.insulin_t2d.twin_hovorka import HovorkaT2DConfig, HovorkaT2DTwin
from dosewise.therapies.registry import get_pack
from dosewise.therapies.twin_models import get_twin_model, twin_models

TRAINING = (AradottirT2DTwin, HovorkaT2DTwin)


def _after(make: type, u_per_kg: float, n: int = 120, days: int = 12, seed: int = 4) -> tuple[object, dict[str, np.ndarray]]:
    twin = make(n, seed)
    dose = np.round(u_per_kg * twin.covariates["weight_kg"])
    out: dict[str, np.ndarray] = {}
    for _ in range(days):
        out = twin.advance_day(dose)
    return twin, out


def test_the_registry_holds_two_training_models_a_family_and_a_heldout_model_for_insulin() -> None:
    names = {m.name: m.role for m in twin_models("insulin_t2d")}
    assert names["aradottir2019_wide"] == names["hovorka2004_t2d"] == names["insulin_t2d_family"] == "train"
    assert names["dallaman2007_t2d"] == "heldout"
    assert all(m.citation for m in twin_models("insulin_t2d"))


@pytest.mark.parametrize("name", ["aradottir2019_wide", "hovorka2004_t2d", "insulin_t2d_family", "dallaman2007_t2d"])
def test_every_model_shows_the_clinic_every_covariate_and_reports_fasting_and_night_minimum(name: str) -> None:
    twin, groups = get_twin_model(name).build(30, 2)
    assert set(COVARIATES) <= set(twin.covariates) and twin.n == 30
    assert groups["si"].shape == (30,) and np.all(np.isfinite(groups["si"]))
    day = twin.advance_day(np.full(30, 10.0))
    assert day["glucose_fasting_true"].shape == day["glucose_night_min_mg_dl"].shape == (30,)
    assert np.all(day["glucose_night_min_mg_dl"] <= day["glucose_mean_24h_mg_dl"])


def test_the_wide_aradottir_family_spans_more_than_the_papers_cohort() -> None:
    si = AradottirT2DTwin(2000, 1).hidden["si"]
    paper = CohortConfig().si_range
    assert si.min() < paper[0] - 0.2 and si.max() > paper[1] + 0.2
    assert 0.6 <= si.min() and si.max() <= 2.8


def test_the_aradottir_night_minimum_is_the_24_hour_minimum() -> None:
    _, day = _after(AradottirT2DTwin, 0.2, days=3)
    np.testing.assert_array_equal(day["glucose_night_min_mg_dl"], day["glucose_min_24h_mg_dl"])
    assert np.all(day["glucose_night_min_mg_dl"] <= day["glucose_fasting_true"])  # the reading ends the 24 h it spans


@pytest.mark.parametrize("make", TRAINING)
def test_fasting_glucose_falls_with_dose_and_by_a_larger_share_for_sensitive_patients(make: type) -> None:
    # relative, not absolute: in Aradóttir's model the resistant patients also start far higher (untreated G ∝ 1/SI)
    twin, none = _after(make, 0.0)
    _, low = _after(make, 0.15)
    _, high = _after(make, 0.3)
    f0, f1, f2 = (r["glucose_fasting_true"] for r in (none, low, high))
    assert np.median(f2) < np.median(f1) < np.median(f0)
    drop = (f0 - f2) / f0
    si = twin.hidden["si"]  # type: ignore[attr-defined]
    lo_t, hi_t = np.quantile(si, [1 / 3, 2 / 3])
    assert drop[si >= hi_t].mean() > drop[si <= lo_t].mean()


@pytest.mark.parametrize("make", TRAINING)
def test_untreated_patients_start_hyperglycaemic(make: type) -> None:
    g0 = make(300, 9).truth_now()["glucose_fasting_true"]
    assert 170 < np.median(g0) < 260 and np.mean(g0 > 130) > 0.9


@pytest.mark.parametrize("make", TRAINING)
def test_the_weight_based_start_is_not_hypoglycaemic_for_typical_patients(make: type) -> None:
    twin, low = _after(make, 0.1, n=200, days=14)
    typical = twin.covariates["egfr_ml_min_1_73m2"] >= 60  # type: ignore[attr-defined]
    assert np.mean(low["glucose_night_min_mg_dl"][typical] < 70) <= 0.02
    fixed_twin = make(200, 4)
    for _ in range(14):
        fixed = fixed_twin.advance_day(np.full(200, 10.0))  # the fixed 10 U/day start
    assert np.mean(fixed["glucose_night_min_mg_dl"][typical] < 70) <= 0.02
    twin, mid = _after(make, 0.2, n=200, days=14)
    si = twin.hidden["si"]  # type: ignore[attr-defined]
    lo_t, hi_t = np.quantile(si, [1 / 3, 2 / 3])
    middle = typical & (si > lo_t) & (si < hi_t)
    assert np.mean(mid["glucose_night_min_mg_dl"][middle] < 70) <= 0.05


def test_hovorka_steps_agree_with_finer_steps() -> None:
    coarse = HovorkaT2DTwin(40, 3)
    fine = HovorkaT2DTwin(40, 3, replace(HovorkaT2DConfig(), dt_minutes=0.25))
    for _ in range(5):
        a, b = coarse.advance_day(np.full(40, 20.0)), fine.advance_day(np.full(40, 20.0))
    for key in ("glucose_fasting_true", "glucose_night_min_mg_dl"):
        assert np.max(np.abs(a[key] / b[key] - 1)) < 0.015


@pytest.mark.parametrize("name", ["aradottir2019_wide", "hovorka2004_t2d", "insulin_t2d_family", "dallaman2007_t2d"])
def test_the_same_seed_gives_the_same_twins(name: str) -> None:
    m = get_twin_model(name)
    (a, ga), (b, gb), (c, _) = m.build(25, 5), m.build(25, 5), m.build(25, 6)
    dose = np.full(25, 12.0)
    for _ in range(3):
        ra, rb, rc = a.advance_day(dose), b.advance_day(dose), c.advance_day(dose)
    np.testing.assert_array_equal(ra["glucose_fasting_true"], rb["glucose_fasting_true"])
    np.testing.assert_array_equal(ga["si"], gb["si"])
    assert not np.allclose(ra["glucose_fasting_true"], rc["glucose_fasting_true"])


def test_the_family_mixes_models_per_patient_and_ranks_sensitivity_within_each() -> None:
    twin, groups = get_twin_model("insulin_t2d_family").build(200, 3)
    counts = np.bincount(groups["model_index"].astype(int), minlength=2)
    assert counts.min() > 60
    for j in range(2):
        r = groups["si"][groups["model_index"] == j]
        assert 0 < r.min() < 0.1 and 0.9 < r.max() < 1
    before = twin.truth_now()["glucose_fasting_true"]
    day = twin.advance_day(np.full(200, 14.0))
    assert np.all(np.isfinite(day["glucose_fasting_true"]))
    for j in range(2):  # each member model's patients respond to the dose
        own = groups["model_index"] == j
        assert np.median(day["glucose_fasting_true"][own]) < np.median(before[own])


class _TitrateWeekly:
    """A plain test rule (not the pack's guideline): start at 0.1 U/kg, then +2 U at each visit while the reading is above
    130 mg/dL, −2 U below 80."""

    name = "test-titration"

    def reset(self, n: int) -> None:
        pass

    def plan(self, view: ClinicView) -> VisitPlan:
        g = view.obs["glucose_fasting"][:, 0]
        start = view.current_dose <= 0
        step = np.where(g > 130, 2.0, np.where(g < 80, -2.0, 0.0))
        regimen = np.where(start, np.round(0.1 * view.covariates["weight_kg"]), np.maximum(view.current_dose + step, 0))
        return VisitPlan(hold_doses=np.zeros(view.n, dtype=np.int64), regimen=regimen, recheck_days=np.full(view.n, 7.0),
                         action=np.full(view.n, -1, dtype=np.int64), started=start)


@pytest.mark.parametrize("name", ["insulin_t2d_family", "dallaman2007_t2d"])
def test_the_clinic_protocol_drives_the_twins_and_titration_lowers_fasting_glucose(name: str) -> None:
    pack = get_pack("insulin_t2d")
    twin, groups = get_twin_model(name).build(40, 1)
    traj = clinic_rollout(pack, twin, _TitrateWeekly(), "weekly", 35, ClinicNoise(assay_cv=0.05), seed=3)
    fasting = traj.truth["glucose_fasting_true"]
    assert fasting.shape == (40, 35) and np.all(np.isfinite(fasting))
    assert np.median(fasting[:, -1]) < np.median(fasting[:, 0]) - 5  # +2 U a week: slow, but down
    assert set(pack.clinic_groups(twin.covariates, groups))
