"""The held-out Dalla Man 2007 T2D twin on once-daily glargine (insulin_t2d/twin_dallaman.py) behaves as basal insulin does."""

from __future__ import annotations

import numpy as np

from dosewise.therapies.base import COVARIATES
from dosewise.therapies.insulin_t2d.twin_dallaman import EGPB, DallaManT2DTwin, build_dallaman_t2d

N, DAYS = 90, 12


def _run(u_per_kg: float, seed: int = 11, n: int = N, days: int = DAYS) -> tuple[DallaManT2DTwin, dict[str, np.ndarray]]:
    twin = build_dallaman_t2d(n, seed)
    dose = np.round(u_per_kg * twin.covariates["weight_kg"])
    out: dict[str, np.ndarray] = {}
    for _ in range(days):
        out = twin.advance_day(dose)
    return twin, out


def test_the_table_mean_patient_is_a_basal_equilibrium_near_the_papers_t2d_fasting_state() -> None:
    # the derived basal EGP of the table's mean T2D patient is about 2 mg/kg/min (the paper's T2D subjects' range)
    assert 1.8 < EGPB < 2.2


def test_an_untreated_patient_stays_hyperglycaemic_and_the_clinic_sees_every_covariate() -> None:
    twin = build_dallaman_t2d(N, 3)
    assert set(COVARIATES) <= set(twin.covariates)
    g0 = twin.truth_now()["glucose_fasting_true"]
    after = twin.advance_day(np.zeros(N))
    assert np.median(g0) > 140 and np.median(after["glucose_fasting_true"]) > 140
    assert np.all(after["glucose_night_min_mg_dl"] <= after["glucose_mean_24h_mg_dl"])
    assert np.all(after["glucose_min_24h_mg_dl"] <= after["glucose_night_min_mg_dl"])


def test_fasting_glucose_falls_with_the_dose_for_every_patient() -> None:
    _, none = _run(0.0)
    _, low = _run(0.2)
    _, high = _run(0.5)
    assert np.all(low["glucose_fasting_true"] < none["glucose_fasting_true"])
    assert np.all(high["glucose_fasting_true"] < low["glucose_fasting_true"])


def test_sensitive_patients_fall_further_on_the_same_weight_based_dose() -> None:
    twin, none = _run(0.0, n=150)
    _, high = _run(0.5, n=150)
    drop = none["glucose_fasting_true"] - high["glucose_fasting_true"]
    si = twin.hidden["si"]
    lo_t, hi_t = np.quantile(si, [1 / 3, 2 / 3])
    assert drop[si >= hi_t].mean() > 1.3 * drop[si <= lo_t].mean()


def test_the_weight_based_start_is_not_hypoglycaemic_for_typical_patients() -> None:
    for u_per_kg in (0.1, 0.2):
        twin, out = _run(u_per_kg, n=150, days=14)
        typical = twin.hidden["egfr_true"] >= 60
        assert np.mean(out["glucose_night_min_mg_dl"][typical] < 70) <= 0.02
    twin = build_dallaman_t2d(N, 11)
    for _ in range(14):
        fixed = twin.advance_day(np.full(N, 10.0))  # the fixed 10 U/day start
    assert np.all(fixed["glucose_night_min_mg_dl"] >= 70)


def test_lower_renal_insulin_clearance_gives_lower_glucose_on_the_same_dose() -> None:
    a, b = build_dallaman_t2d(40, 5), build_dallaman_t2d(40, 5)
    b.hidden["clearance"] = np.full(40, 0.5)  # the rule's value below eGFR 5 (model.renal_clearance_factor)
    a.hidden["clearance"] = np.ones(40)
    dose = np.full(40, 20.0)
    for _ in range(8):
        ra, rb = a.advance_day(dose), b.advance_day(dose)
    assert np.all(rb["glucose_fasting_true"] < ra["glucose_fasting_true"])


def test_the_same_seed_gives_the_same_patients_and_days() -> None:
    a, b, c = build_dallaman_t2d(30, 7), build_dallaman_t2d(30, 7), build_dallaman_t2d(30, 8)
    dose = np.full(30, 16.0)
    for _ in range(3):
        ra, rb, rc = a.advance_day(dose), b.advance_day(dose), c.advance_day(dose)
    np.testing.assert_array_equal(ra["glucose_fasting_true"], rb["glucose_fasting_true"])
    np.testing.assert_array_equal(a.hidden["si"], b.hidden["si"])
    assert not np.allclose(ra["glucose_fasting_true"], rc["glucose_fasting_true"])
