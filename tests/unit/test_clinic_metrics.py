"""Clinic-protocol outcomes and patient groups of each pack (warfarin/clinic_metrics.py, insulin_t2d/clinic_metrics.py),
the direction changes both report (clinic.direction_changes), and the registry of named twin models."""

from __future__ import annotations

import numpy as np
import pytest

from dosewise.therapies.base import CYP2C9_GENOTYPES, VKORC1_GENOTYPES
from dosewise.therapies.clinic import ClinicTrajectory, direction_changes, visit_directions
from dosewise.therapies.insulin_t2d.clinic_metrics import (
    NIGHT_MIN_KEY,
    insulin_clinic_metrics,
    insulin_groups,
    night_source,
    tertiles,
)
from dosewise.therapies.registry import get_pack
from dosewise.therapies.twin_models import get_twin_model, register, twin_models
from dosewise.therapies.warfarin.clinic_metrics import genotype_sensitivity, warfarin_clinic_metrics, warfarin_groups


def _traj(truth: dict[str, np.ndarray], regimen: np.ndarray | None = None, visit: np.ndarray | None = None,
          held: np.ndarray | None = None, measured: np.ndarray | None = None) -> ClinicTrajectory:
    n, d = next(iter(truth.values())).shape
    regimen = np.ones((n, d)) if regimen is None else regimen
    visit = np.zeros((n, d), dtype=bool) if visit is None else visit
    started = np.zeros((n, d), dtype=bool)
    started[:, 0] = visit[:, 0]
    return ClinicTrajectory(
        given=regimen.copy(), regimen=regimen, truth=truth, visit=visit,
        measured=np.full((n, d), np.nan) if measured is None else measured, actions=np.full((n, d), -1),
        held=np.zeros((n, d), dtype=bool) if held is None else held, started=started,
    )


def test_warfarin_counts_true_days_in_range_and_the_simulators_adverse_events():
    inr = np.array([[1.0, 1.2, 2.0, 2.5, 3.0, 3.5, 4.5, 1.4, 1.4, 2.2]])  # column d: the INR at the end of day d
    m = warfarin_clinic_metrics(_traj({"inr_true": inr}))
    assert m["ttr_true_pct"][0] == pytest.approx(40.0)  # 2.0, 2.5, 3.0, 2.2
    assert m["days_inr_above_4"][0] == 1
    # INR < 1.5 counts only after day 7: the ends of days 7 and 8 are days 8 and 9; day 1's 1.0 and 1.2 do not count.
    assert m["days_inr_below_1_5_after_day_7"][0] == 2
    assert m["adverse_event_days"][0] == 3
    assert list(m)[:2] == ["ttr_true_pct", "adverse_event_days"]  # efficacy first, then the adverse count


def test_warfarin_rosendaal_ttr_interpolates_between_the_measured_inrs():
    measured = np.full((1, 11), np.nan)
    measured[0, 0], measured[0, 10] = 1.0, 3.0  # a straight line from 1 to 3 over 10 days: half of it in 2–3
    m = warfarin_clinic_metrics(_traj({"inr_true": np.full((1, 11), 2.5)}, measured=measured))
    assert m["ttr_rosendaal_pct"][0] == pytest.approx(50.0)


def test_a_direction_change_is_a_decision_the_other_way_from_the_one_before():
    visit = np.zeros((3, 8), dtype=bool)
    visit[:, [0, 2, 4, 6]] = True
    regimen = np.array([
        [5, 5, 6, 6, 5, 5, 6, 6],  # start, up, down, up: two changes
        [5, 5, 6, 6, 6, 6, 5, 5],  # start, up, keep, down: not consecutive, none
        [5, 5, 6, 6, 6, 6, 6, 6],  # start, up, then a hold keeping the regimen (a hold is a decision down): one
    ], dtype=float)
    held = np.zeros((3, 8), dtype=bool)
    held[2, 4] = True
    traj = _traj({"inr_true": np.full((3, 8), 2.5)}, regimen=regimen, visit=visit, held=held)
    assert visit_directions(traj)[:, [0, 2, 4, 6]].tolist() == [[0, 1, -1, 1], [0, 1, 0, -1], [0, 1, -1, 0]]
    assert direction_changes(traj).tolist() == [2.0, 0.0, 1.0]


def _codes(cyp: str, vk: str) -> tuple[float, float]:
    return float(CYP2C9_GENOTYPES.index(cyp)), float(VKORC1_GENOTYPES.index(vk))


@pytest.mark.parametrize(("cyp", "vk", "group"), [
    ("*1/*1", "G/G", 0), ("*1/*2", "G/G", 0), ("*1/*1", "G/A", 0),  # 5–7 mg/day expected: normal responders
    ("*1/*3", "G/G", 1), ("*1/*2", "G/A", 1), ("*1/*1", "A/A", 1),  # 3–4 mg/day: sensitive
    ("*3/*3", "G/G", 2), ("*2/*3", "G/A", 2), ("*1/*3", "A/A", 2),  # 0.5–2 mg/day: highly sensitive
])
def test_genotype_sensitivity_follows_the_warfarin_labels_dose_table(cyp, vk, group):
    c, v = _codes(cyp, vk)
    assert genotype_sensitivity(np.array([c]), np.array([v])).tolist() == [group]


def test_more_variant_alleles_never_make_a_patient_less_sensitive():
    cyp, vk = np.meshgrid(np.arange(len(CYP2C9_GENOTYPES)), np.arange(len(VKORC1_GENOTYPES)))
    table = genotype_sensitivity(cyp.ravel(), vk.ravel()).reshape(cyp.shape)
    assert (np.diff(table, axis=0) >= 0).all()  # G/G → G/A → A/A at every CYP2C9 genotype
    assert (table[:, CYP2C9_GENOTYPES.index("*3/*3")] == 2).all()


def test_an_untested_genotype_is_unclassified_unless_the_twin_knows_its_true_one():
    cov = {"cyp2c9": np.array([-1.0, 0.0]), "vkorc1": np.array([0.0, -1.0])}
    assert warfarin_groups(cov, {})["genotype sensitivity"].tolist() == [-1, -1]
    hidden = {"cyp2c9": np.array([5.0, 0.0]), "vkorc1": np.array([0.0, 2.0])}
    assert warfarin_groups(cov, hidden)["genotype sensitivity"].tolist() == [2, 1]


def test_insulin_nights_read_the_twins_night_minimum_and_fall_back_to_fasting():
    fasting = np.array([[100.0, 90.0, 75.0, 120.0, 140.0]])
    night = np.array([[80.0, 65.0, 50.0, 100.0, 130.0]])
    with_nights = _traj({"glucose_fasting_true": fasting, NIGHT_MIN_KEY: night})
    m = insulin_clinic_metrics(with_nights)
    assert night_source(with_nights) == NIGHT_MIN_KEY
    assert (m["nights_below_70"][0], m["nights_below_54"][0]) == (2, 1)
    assert m["pct_days_in_range_80_130"][0] == pytest.approx(60.0)
    assert list(m)[:2] == ["pct_days_in_range_80_130", "nights_below_70"]
    fallback = _traj({"glucose_fasting_true": fasting})
    assert night_source(fallback) == "glucose_fasting_true"
    assert insulin_clinic_metrics(fallback)["nights_below_70"][0] == 0  # no fasting value under 70


def test_insulin_groups_are_sensitivity_thirds_and_egfr_below_60():
    si = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, np.nan])
    assert tertiles(si).tolist() == [0, 0, 1, 1, 2, 2, -1]
    cov = {"egfr_ml_min_1_73m2": np.array([90.0, 59.9, 60.0, np.nan, np.nan])}
    g = insulin_groups(cov, {"si": np.arange(5.0), "egfr_true": np.array([0.0, 0.0, 0.0, 45.0, np.nan])})
    assert g["renal function"].tolist() == [0, 1, 0, 1, -1]
    assert g["insulin sensitivity"].tolist() == [0, 0, 1, 1, 2]  # by rank: 3·rank // n


@pytest.mark.parametrize(("name", "therapy"), [("hamberg2007", "warfarin"), ("aradottir2019", "insulin_t2d")])
def test_the_built_in_twin_models_are_each_packs_simulator_with_its_groups(name, therapy):
    model = get_twin_model(name)
    assert (model.therapy, model.role) == (therapy, "train")
    assert model in twin_models(therapy=therapy, role="train")
    twin, hidden = model.build(30, seed=4)
    pack = get_pack(therapy)
    truth = twin.truth_now()[twin.truth_key]
    assert truth.shape == (30,) and np.isfinite(truth).all()
    for codes in pack.clinic_groups(twin.covariates, hidden).values():
        assert codes.shape == (30,) and set(codes.tolist()) <= set(range(-1, 3))
    assert set(pack.clinic_groups(twin.covariates, hidden)) == set(pack.clinic_group_labels)


def test_a_twin_model_name_means_one_model():
    with pytest.raises(KeyError, match="hamberg2007"):
        get_twin_model("no-such-model")
    with pytest.raises(ValueError, match="already registered"):
        register("hamberg2007", "insulin_t2d", "heldout", "another paper", lambda n, s: (None, {}))  # type: ignore[arg-type]
