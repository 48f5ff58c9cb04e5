"""Basal insulin at clinic visits, for ANY Q-values a network could output (clinic.ActionVisitPolicy over the pack's
guardrails): lows are answered by a lower regimen, never a skipped injection; no increase near the low limit; a safe action
always exists; the start dose is within the ADA/EASD range. Invariants restated from the rules' sources (clinical.md §2),
not read back from the rule engine."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dosewise.therapies.base import COVARIATES, ClinicView
from dosewise.therapies.clinic import ActionVisitPolicy
from dosewise.therapies.insulin_t2d.pack import InsulinT2DPack

PACK = InsulinT2DPack()
K, H = PACK.obs_history, PACK.dose_history_days
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def visit_view(draw: st.DrawFn) -> ClinicView:
    """One patient at a visit: a dose on the same regimen every recorded day (some missed), daily readings of any value."""
    dose = float(draw(st.integers(1, 100)))
    record = draw(st.integers(0, H))
    doses = np.full((1, H), np.nan)
    doses[0, :record] = [0.0 if draw(st.booleans()) and draw(st.booleans()) else dose for _ in range(record)]
    n_obs = draw(st.integers(0, K))
    g = np.full((1, K), np.nan)
    age = np.full((1, K), np.nan)
    g[0, :n_obs] = draw(st.lists(st.floats(40, 400), min_size=n_obs, max_size=n_obs))
    age[0, :n_obs] = np.arange(n_obs) + draw(st.sampled_from([0.0, 1.0, 2.0]))
    cov = {c: np.zeros(1) for c in COVARIATES}
    cov.update(age_years=np.array([draw(st.floats(18, 90))]), weight_kg=np.array([draw(st.floats(40, 200))]),
               height_cm=np.array([170.0]), egfr_ml_min_1_73m2=np.array([draw(st.one_of(st.just(np.nan),
                                                                                          st.floats(5, 120)))]),
               pregnant=np.array([float(draw(st.booleans()) and draw(st.booleans()))]))
    return ClinicView(day=np.array([float(max(record, 3))]), current_dose=np.array([dose]), dose_history=doses,
                      obs={"glucose_fasting": g}, obs_age_days={"glucose_fasting": age}, covariates=cov)


any_q = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=PACK.n_actions, max_size=PACK.n_actions)


def _plan(view: ClinicView, q: list[float]):  # type: ignore[no-untyped-def]
    policy = ActionVisitPolicy(PACK, lambda f: np.array([q], dtype=float))
    return policy.plan(view)


def _readings(view: ClinicView, days: float) -> np.ndarray:
    g, age = view.obs["glucose_fasting"][0], view.obs_age_days["glucose_fasting"][0]
    return g[~np.isnan(g) & (np.nan_to_num(age, nan=99.0) < days)]


@SETTINGS
@given(view=visit_view(), q=any_q)
def test_after_a_reading_below_70_on_this_regimen_the_regimen_is_lower_and_no_injection_is_skipped(
        view: ClinicView, q: list[float]) -> None:
    """Every dose in the record is the current regimen, so a reading < 70 mg/dL of the week was on it: reduce (Riddle 2003:
    −2 to −4 U; ADA: −10 to −20 %), at least 10 % below 54 mg/dL (ADA level 2), and give the dose today."""
    plan = _plan(view, q)
    week = _readings(view, 7.0)
    current = view.current_dose[0]
    assert plan.hold_doses[0] == 0 and plan.given_on(0)[0] == plan.regimen[0], "an injection is never skipped"
    if (week < 70).any():
        assert plan.regimen[0] < current
    if (week < 54).any():
        assert plan.regimen[0] <= 0.9 * current + 1e-9


@SETTINGS
@given(view=visit_view(), q=any_q)
def test_no_increase_while_recent_readings_sit_near_the_low_limit(view: ClinicView, q: list[float]) -> None:
    """No increase after a reading < 72 mg/dL in the week (Treat-to-Target), a reading < 80 (the ADA target's lower limit)
    in the last 3 days, or at a 3-day mean ≤ 100 mg/dL (Treat-to-Target's and AT.LANTUS's target), or with no reading in 3
    days; the increase at most the Treat-to-Target step of the 3-day mean."""
    plan = _plan(view, q)
    up = plan.regimen[0] - view.current_dose[0]
    week, three = _readings(view, 7.0), _readings(view, 3.0)
    if (week < 72).any() or (three < 80).any() or three.size == 0 or three.mean() <= 100:
        assert up <= 1e-9
    else:
        m = three.mean()
        assert up <= (8 if m >= 180 else 6 if m >= 140 else 4 if m >= 120 else 2) + 1e-9


@SETTINGS
@given(view=visit_view())
def test_every_state_has_an_allowed_action_or_a_fallback_that_lowers_the_dose(view: ClinicView) -> None:
    mask = PACK.guardrails(view).mask[0]
    fallback = PACK.apply_actions(view.current_dose, np.zeros(1, dtype=np.int64))[1][0]
    assert mask.any() or fallback < view.current_dose[0]
    assert PACK.actions[0].kind == "scale" and PACK.actions[0].delta < 0, "action 0, the fallback, is a reduction"


def test_a_low_already_answered_by_a_reduction_asks_for_no_second_one() -> None:
    """A reading of 65 mg/dL four days ago, and the regimen lowered from 30 to 24 U since: keep is allowed again (one low,
    one reduction), increases are not (Treat-to-Target: none after < 72 in the week)."""
    g = np.full((1, K), np.nan)
    age = np.full((1, K), np.nan)
    g[0, :5] = [110, 112, 108, 95, 65]
    age[0, :5] = [0, 1, 2, 3, 4]
    doses = np.full((1, H), 24.0)
    doses[0, 3:] = 30.0  # the regimen was 30 U until 3 days ago (the dose after the 65 was still 30)
    cov = {c: np.zeros(1) for c in COVARIATES}
    cov.update(age_years=np.array([60.0]), weight_kg=np.array([90.0]), height_cm=np.array([170.0]),
               egfr_ml_min_1_73m2=np.array([80.0]))
    view = ClinicView(day=np.array([30.0]), current_dose=np.array([24.0]), dose_history=doses,
                      obs={"glucose_fasting": g}, obs_age_days={"glucose_fasting": age}, covariates=cov)
    allowed = {a.id for a, ok in zip(PACK.actions, PACK.guardrails(view).mask[0], strict=True) if ok}
    assert "keep" in allowed and not {"+2U", "+4U", "+6U", "+8U"} & allowed
    unlowered = ClinicView(day=view.day, current_dose=np.array([30.0]), dose_history=np.full((1, H), 30.0), obs=view.obs,
                           obs_age_days=view.obs_age_days, covariates=cov)
    allowed = {a.id for a, ok in zip(PACK.actions, PACK.guardrails(unlowered).mask[0], strict=True) if ok}
    assert allowed == {"-20%", "-10%", "-4U", "-2U"}


def test_readings_just_above_72_never_raise_the_dose() -> None:
    """The evaluator's case (issue #25): fasting 73 and 77 mg/dL, +4 U chosen. Now no increase is allowed at all."""
    g = np.full((1, K), np.nan)
    age = np.full((1, K), np.nan)
    g[0, :2], age[0, :2] = [73, 77], [0, 1]
    cov = {c: np.zeros(1) for c in COVARIATES}
    cov.update(age_years=np.array([60.0]), weight_kg=np.array([90.0]), height_cm=np.array([170.0]),
               egfr_ml_min_1_73m2=np.array([80.0]))
    view = ClinicView(day=np.array([20.0]), current_dose=np.array([20.0]), dose_history=np.full((1, H), 20.0),
                      obs={"glucose_fasting": g}, obs_age_days={"glucose_fasting": age}, covariates=cov)
    mask = PACK.guardrails(view).mask[0]
    assert not mask[[i for i, a in enumerate(PACK.actions) if a.delta > 0]].any() and mask[4]  # keep allowed


@SETTINGS
@given(weight=st.floats(40, 200), egfr=st.one_of(st.just(np.nan), st.floats(5, 150)), glucose=st.floats(101, 400))
def test_start_dose_is_whole_units_within_0_1_u_per_kg_and_reduced_below_egfr_60(weight: float, egfr: float,
                                                                                  glucose: float) -> None:
    """ADA/EASD: 0.1–0.2 U/kg/day (the low end here); clinical.md: about −25 % in CKD 3 (eGFR < 60), the Snyder & Berns
    fraction below (50 % under 10); at least 4 U."""
    cov = {c: np.zeros(1) for c in COVARIATES}
    cov.update(age_years=np.array([60.0]), weight_kg=np.array([weight]), height_cm=np.array([170.0]),
               egfr_ml_min_1_73m2=np.array([egfr]))
    g = np.full((1, K), np.nan)
    age = np.full((1, K), np.nan)
    g[0, 0], age[0, 0] = glucose, 0.0
    view = ClinicView(day=np.zeros(1), current_dose=np.zeros(1), dose_history=np.full((1, H), np.nan),
                      obs={"glucose_fasting": g}, obs_age_days={"glucose_fasting": age}, covariates=cov)
    assert PACK.needs_start(view)[0]
    plan = _plan(view, [0.0] * PACK.n_actions)
    start = plan.regimen[0]
    assert plan.started[0] and start == round(start)
    full = 0.1 * weight
    low_egfr = not np.isnan(egfr) and egfr < 60
    assert max(4.0, round(0.5 * full)) <= start <= max(4.0, round((0.75 if low_egfr else 1.0) * full) + 1e-9)


def test_no_automatic_start_when_the_fasting_log_shows_no_need() -> None:
    """A 3-day mean ≤ 100 mg/dL (at the Treat-to-Target target) or a reading < 72 mg/dL: the start waits (0 U)."""
    cov = {c: np.zeros(1) for c in COVARIATES}
    cov.update(age_years=np.array([60.0]), weight_kg=np.array([90.0]), height_cm=np.array([170.0]),
               egfr_ml_min_1_73m2=np.array([80.0]))
    for values in ([95.0, 98.0], [160.0, 70.0]):
        g = np.full((1, K), np.nan)
        age = np.full((1, K), np.nan)
        g[0, :2], age[0, :2] = values, [0, 1]
        view = ClinicView(day=np.zeros(1), current_dose=np.zeros(1), dose_history=np.full((1, H), np.nan),
                          obs={"glucose_fasting": g}, obs_age_days={"glucose_fasting": age}, covariates=cov)
        assert PACK.start_regimen(view)[0] == 0.0
