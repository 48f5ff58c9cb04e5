"""Personalized twin forecast (shared/dosewise/forecast.py): the one-parameter fit recovers a patient's known sensitivity
from that patient's own simulated history, and the recommended-dose forecast moves the right way against keeping the dose.

The "true" patients are built with the twin's own hidden-parameter recipe (population-typical parameters for their
covariates × a known scale) and simulated by the pack's real simulator — default sub-steps or 6-minute steps, measurement
noise, and for insulin process noise and missed doses — so the fit must see through everything the twin leaves out.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dosewise import forecast as fc
from dosewise.therapies.base import ClinicView, Cohort, TherapyPack, VectorSimulator
from dosewise.therapies.immune import model as immune_model
from dosewise.therapies.immune.pack import ImmunePack
from dosewise.therapies.insulin_t2d.pack import InsulinT2DPack
from dosewise.therapies.warfarin.pack import WarfarinPack
from dosewise.therapies.warfarin.simulator import WarfarinSimulator

WARFARIN, INSULIN, IMMUNE = WarfarinPack(), InsulinT2DPack(), ImmunePack()


def action(pack: TherapyPack, action_id: str) -> int:
    return next(i for i, a in enumerate(pack.actions) if a.id == action_id)


def simulated_history(pack: TherapyPack, scale: float, days: int, n: int = 4, noisy_insulin: bool = True) -> ClinicView:
    """n patients whose hidden parameters are the twin recipe's × ``scale``, dosed by the pack's guideline for ``days``."""
    return simulated_course(pack, scale, days, n, noisy_insulin)[1]


def simulated_course(
    pack: TherapyPack, scale: float, days: int, n: int = 4, noisy_insulin: bool = True
) -> tuple[VectorSimulator, ClinicView]:
    """``simulated_history`` and the simulator, to go on with."""
    cohort = pack.sample_cohort(n, 11)
    spec = fc.twin_spec(pack)
    assert spec is not None
    start = pack.simulator(cohort, 0).reset()
    twin = spec.build(pack, start, np.full(n, scale))
    hidden = {k: np.asarray(v, dtype=float).copy() for k, v in twin.cohort.hidden.items()}  # type: ignore[attr-defined]
    if pack is INSULIN and noisy_insulin:
        hidden["sigma"][:] = 1.0  # process noise (cohort: |N(2, 1)|; halved so 7 readings can still pin SI down)
        hidden["adherence"][:] = 0.65  # clinical.md §2: 65 % daily adherence — the view records the doses actually taken
    sim = pack.simulator(Cohort(cohort.covariates, hidden, 0), seed=5)
    policy = pack.guideline_policy()
    policy.reset(n)
    view = sim.reset()
    for _ in range(days):
        given, regimen = policy.act(view)
        view = sim.step(given, regimen).view
    return sim, view


class TestFitRecoversTheSensitivity:
    @pytest.mark.parametrize("scale", [0.5, 2.0])
    # whole course in the dose history (naive start) / 4 unrecorded first days (naive start, imputed) / steady-state start
    @pytest.mark.parametrize("days", [14, 18, 40])
    def test_warfarin_ec50_scale(self, scale: float, days: int) -> None:
        view = simulated_history(WARFARIN, scale, days)
        f = fc.forecast(WARFARIN, view, np.full(view.n, action(WARFARIN, "keep")))
        assert f is not None
        assert (f.n_observations >= 2).all()
        np.testing.assert_allclose(f.sensitivity, scale, rtol=0.15)

    @pytest.mark.parametrize("recorded_days", [0, 5])
    def test_without_a_recorded_week_nothing_is_imputed_and_the_old_observations_stay_unused(
        self, recorded_days: int
    ) -> None:
        """Day 18 with fewer than 7 recorded doses: imputing the first days from them would fit the INRs to a guessed
        course, so the twin starts from the steady state of what is on record and fits only what lies inside it."""
        view = simulated_history(WARFARIN, 1.0, 18)
        hist = view.dose_history.copy()
        hist[:, recorded_days:] = np.nan
        f = fc.forecast(WARFARIN, dataclasses.replace(view, dose_history=hist), np.full(view.n, action(WARFARIN, "keep")))
        assert f is not None
        ages = np.round(view.obs_age_days["inr"])
        np.testing.assert_array_equal(f.n_observations, ((ages <= recorded_days) & ~np.isnan(view.obs["inr"])).sum(axis=1))

    @pytest.mark.parametrize("scale", [0.6, 1.4])
    @pytest.mark.parametrize("days", [10, 30])
    def test_insulin_si_scale(self, scale: float, days: int) -> None:
        view = simulated_history(INSULIN, scale, days)
        f = fc.forecast(INSULIN, view, np.full(view.n, action(INSULIN, "keep")))
        assert f is not None
        assert (f.n_observations == INSULIN.obs_history).all()
        np.testing.assert_allclose(f.sensitivity, scale, rtol=0.15)

    def test_without_measurements_the_prior_answers_with_a_wider_band(self) -> None:
        view = simulated_history(WARFARIN, 2.0, 14, n=2)
        blind = view.take(np.arange(2))
        blind.obs["inr"][:] = np.nan
        blind.obs_age_days["inr"][:] = np.nan
        keep = np.full(2, action(WARFARIN, "keep"))
        fitted, prior = fc.forecast(WARFARIN, view, keep), fc.forecast(WARFARIN, blind, keep)
        assert fitted is not None and prior is not None
        assert (prior.n_observations == 0).all()
        np.testing.assert_allclose(prior.sensitivity, 1.0, rtol=1e-9)  # the log-normal prior's centre
        def band_width(f: fc.Forecast) -> np.ndarray:
            return f.keep_band[1][:, -1] - f.keep_band[0][:, -1]

        assert (band_width(prior) > 2 * band_width(fitted)).all()


class TestRecommendedVersusKeep:
    def test_warfarin_increase_raises_and_decrease_lowers_the_predicted_inr(self) -> None:
        view = simulated_history(WARFARIN, 1.0, 21)
        up = fc.forecast(WARFARIN, view, np.full(view.n, action(WARFARIN, "+20%")))
        down = fc.forecast(WARFARIN, view, np.full(view.n, action(WARFARIN, "-20%")))
        hold = fc.forecast(WARFARIN, view, np.full(view.n, action(WARFARIN, "hold1-10%")))
        assert up is not None and down is not None and hold is not None
        np.testing.assert_allclose(up.keep, down.keep)  # the keep-dose plan does not depend on the recommendation
        assert (up.recommended[:, -1] > up.keep[:, -1] + 0.05).all()
        assert (down.recommended[:, -1] < down.keep[:, -1] - 0.05).all()
        assert (hold.recommended[:, 1] < hold.keep[:, 1]).all()  # a skipped dose lowers the INR in the following days

    def test_insulin_increase_lowers_the_predicted_fasting_glucose(self) -> None:
        view = simulated_history(INSULIN, 1.0, 10)
        up = fc.forecast(INSULIN, view, np.full(view.n, action(INSULIN, "+4U")))
        assert up is not None
        assert (up.recommended[:, -1] < up.keep[:, -1] - 2.0).all()  # mg/dL
        assert up.row(0)["target_band"] == [80.0, 130.0]

    def test_one_row_of_a_batch_equals_the_same_patient_alone(self) -> None:
        view = simulated_history(WARFARIN, 1.3, 20, n=3)
        chosen = np.array([action(WARFARIN, "+10%"), action(WARFARIN, "keep"), action(WARFARIN, "-10%")])
        batch = fc.forecast(WARFARIN, view, chosen)
        alone = fc.forecast(WARFARIN, view.take(np.array([2])), chosen[2:])
        assert batch is not None and alone is not None
        np.testing.assert_allclose(batch.recommended[2], alone.recommended[0], rtol=1e-9)
        assert batch.row(2)["measured"] == alone.row(0)["measured"]

    def test_a_row_shows_the_measurements_oldest_first_and_which_the_fit_used(self) -> None:
        view = simulated_history(WARFARIN, 1.0, 20, n=2)
        f = fc.forecast(WARFARIN, view, np.full(2, action(WARFARIN, "keep")))
        assert f is not None
        for i in range(2):
            shown = f.row(i)["measured"]
            ages = view.obs_age_days["inr"][i]
            assert shown["days_after_decision"] == sorted(round(-float(a), 2) for a in ages)
            assert sorted(shown["values"]) == sorted(round(float(v), 4) for v in view.obs["inr"][i])
            assert sum(shown["used_in_fit"]) == f.row(i)["personalization"]["observations_used"] == 3


class TestForecastReward:
    """The forecast carries the pack's own reward of its trajectories — what the forecast sub-score scores."""

    def test_it_is_the_reward_the_simulator_books_for_the_same_plan(self) -> None:
        # Patients built with the twin's own recipe: the fitted twin should live their next week, reward included.
        sim, view = simulated_course(WARFARIN, 1.0, 21, n=6)
        a = np.full(view.n, action(WARFARIN, "+10%"))
        f = fc.forecast(WARFARIN, view, a)
        assert f is not None and f.recommended_reward is not None
        given, regimen = WARFARIN.apply_actions(view.current_dose, a)
        booked = []
        for _ in range(7):
            booked.append(sim.step(given, regimen).reward)
            given = regimen
        np.testing.assert_allclose(f.recommended_reward, np.mean(booked, axis=0), atol=1 / 7 + 1e-9)  # one day at most
        assert f.reward_range == (-1.0, 1.0)

    @pytest.mark.parametrize(("pack", "change_id", "keep_id"), [(WARFARIN, "+20%", "keep"), (INSULIN, "+4U", "keep")])
    def test_a_dose_change_is_charged_once_and_keeping_costs_nothing(self, pack: TherapyPack, change_id: str,
                                                                     keep_id: str) -> None:
        view = simulated_history(pack, 1.0, 14)
        spec = fc.twin_spec(pack)
        changed = fc.forecast(pack, view, np.full(view.n, action(pack, change_id)))
        kept = fc.forecast(pack, view, np.full(view.n, action(pack, keep_id)))
        assert spec is not None and spec.reward_forecast and changed is not None and kept is not None
        assert changed.recommended_reward is not None and kept.recommended_reward is not None
        np.testing.assert_allclose(kept.recommended_reward, kept.keep_reward)
        day = view.day[:, None] + np.arange(1, 8)
        t, a, _ = pack.reward_terms(changed.recommended, day, np.zeros_like(changed.recommended))
        rw = pack.reward_weights
        outcome = (rw.alpha * t - rw.beta * a).mean(axis=1)
        _, regimen = pack.apply_actions(view.current_dose, np.full(view.n, action(pack, change_id)))
        charge = rw.gamma * pack.reward_terms(view.current_dose, view.day, regimen - view.current_dose)[2]
        np.testing.assert_allclose(changed.recommended_reward, outcome - charge / 7)
        assert (charge > 0).all()


class TestImmuneTwin:
    """The immune twin starts from the measured state (its course does not follow from the doses), so its fit is weaker:
    it must rank patients by their drug susceptibility and forecast the drug's effect in the right direction."""

    @staticmethod
    def infected(kill_efficacy: float, n: int = 4) -> ClinicView:
        """Nominal Stengel 2002 patients presenting with a load of 3 (lethal untreated, clinical.md §3), 3 days at 0.25."""
        cohort = IMMUNE.sample_cohort(n, 3)
        hidden = {k: np.full(n, immune_model.NOMINAL[k]) for k in ("a11", "a12", "a22", "a41", "a42")}
        hidden |= {"kill_efficacy": np.full(n, kill_efficacy), "x1_0": np.full(n, 3.0)}
        sim = IMMUNE.simulator(Cohort(cohort.covariates, hidden, 0), seed=5)
        view = sim.reset()
        for _ in range(3):
            view = sim.step(np.full(n, 0.25), np.full(n, 0.25)).view
        return view

    def test_fitted_scale_ranks_patients_by_drug_susceptibility(self) -> None:
        low, high = (fc.forecast(IMMUNE, self.infected(k), np.full(4, 1)) for k in (0.6, 1.6))
        assert low is not None and high is not None
        assert (low.n_observations == 2).all()  # the third load is the start state, not evidence
        shown = low.row(0)["measured"]
        assert shown["used_in_fit"] == [False, True, True]  # shown on the chart, hollow
        assert str(shown["days_after_decision"]) == "[-2.0, -1.0, 0.0]"  # today's load is day 0, not -0.0
        assert np.median(high.sensitivity) > 1.3 * np.median(low.sensitivity)

    def test_more_drug_forecasts_less_pathogen(self) -> None:
        view = self.infected(1.0)
        top = fc.forecast(IMMUNE, view, np.full(view.n, action(IMMUNE, "2au")))
        none = fc.forecast(IMMUNE, view, np.full(view.n, action(IMMUNE, "none")))
        assert top is not None and none is not None
        assert (top.recommended[:, 1] <= none.recommended[:, 1]).all()
        assert (top.recommended[:, 1] < none.recommended[:, 1]).any()
        rec, keep, band, reward, _ = top.for_scoring()  # scored on log10(load + detection limit), the pack's feature scale
        assert reward is None  # the immune reward needs states the forecast does not return: band-distance score
        assert band == pytest.approx((-2.0, np.log10(0.02)))
        assert (rec <= keep + 1e-12).all()


@pytest.mark.parametrize("pack", [WARFARIN, INSULIN], ids=lambda p: p.id)
def test_a_twin_day_without_the_simulator_extras_is_the_simulators_day(pack: TherapyPack) -> None:
    """``TwinSpec.advance`` (the dynamics alone) gives the twins exactly the observation ``step`` books as the truth, day
    after day, from a steady start, for doses inside and outside the allowed range."""
    spec = fc.twin_spec(pack)
    assert spec is not None and spec.advance is not None and spec.set_steady_state is not None
    view = pack.simulator(pack.sample_cohort(6, 4), 0).reset()
    scale = np.linspace(0.6, 1.8, 6)
    stepped, advanced = spec.build(pack, view, scale), spec.build(pack, view, scale)
    for sim in (stepped, advanced):
        spec.set_steady_state(sim, np.arange(6) % 2 == 0, view.current_dose)
    rng = np.random.default_rng(3)
    for _ in range(6):
        given = rng.uniform(-0.2, 1.2, 6) * pack.max_dose
        truth = stepped.step(given, given).info[spec.truth_key]
        np.testing.assert_array_equal(spec.advance(advanced, given, given), truth)


@pytest.mark.parametrize("pack", [WARFARIN, INSULIN], ids=lambda p: p.id)
@pytest.mark.parametrize("days", [3, 12, 40])  # naive start with the whole course on record, imputed, steady start
def test_whole_path_forecast_equals_the_day_by_day_twins(pack: TherapyPack, days: int) -> None:
    """A recipe's ``path`` (every day at once) gives the forecast its day-by-day twins give, to rounding."""
    spec = fc.twin_spec(pack)
    assert spec is not None and spec.path is not None
    view = simulated_history(pack, 1.3, days, n=6)
    chosen = np.arange(6) % len(pack.actions)
    fast = fc.forecast(pack, view, chosen, spec=spec)
    stepped = fc.forecast(pack, view, chosen, spec=dataclasses.replace(spec, path=None))
    assert fast is not None and stepped is not None
    for name in ("recommended", "keep", "recommended_band", "keep_band", "sensitivity", "sensitivity_log_sd",
                 "recommended_reward", "keep_reward"):
        np.testing.assert_allclose(getattr(fast, name), getattr(stepped, name), rtol=1e-12, atol=1e-12, err_msg=name)
    assert (fast.recommended != fast.keep).any()  # the plans differ, so both were compared


def test_a_forecast_of_no_patients_is_empty() -> None:
    view = simulated_history(WARFARIN, 1.0, 3, n=2).take(np.array([], dtype=int))
    empty = fc.forecast(WARFARIN, view, np.array([], dtype=int))
    assert empty is not None and empty.recommended.shape == (0, 7) and empty.keep_band[1].shape == (0, 7)


def test_warfarin_twin_substeps_stay_close_to_the_simulator() -> None:
    """The twin integrates a day in two sub-steps instead of six (speed); over 30 days of fixed doses on 50 Ravvaz avatars
    its true INR stays within 0.05 of the simulator's (warfarin/model.py: uniform 2-h steps err 0.016; a 2-h step then one of
    22 h errs more)."""
    cohort = WARFARIN.sample_cohort(50, 3)
    ref = WarfarinSimulator(cohort, 0, WARFARIN.reward_weights, WARFARIN.max_dose)
    spec = fc.twin_spec(WARFARIN)
    assert spec is not None
    fast = WarfarinSimulator(cohort, 0, WARFARIN.reward_weights, WARFARIN.max_dose, substeps_h=(2.0, 22.0))
    dose = ref.reset().current_dose
    fast.reset()
    worst = max(np.abs(ref.step(dose, dose).info["inr_true"] - fast.step(dose, dose).info["inr_true"]).max()
                for _ in range(30))
    assert worst < 0.05


def test_a_week_of_burn_in_brings_the_steady_state_start_within_2_percent() -> None:
    """A twin started at the continuous-infusion steady state overstates the INR under daily doses (the effect E is concave
    in C); after the warfarin recipe's 7 burn-in days it is within 2 % of a twin dosed daily for 80 days."""
    spec = fc.twin_spec(WARFARIN)
    assert spec is not None and spec.burn_in_days == 7
    start = WARFARIN.simulator(WARFARIN.sample_cohort(6, 11), 0).reset()
    dose = start.current_dose
    long_run, started = (spec.build(WARFARIN, start, np.full(6, s)) for s in (1.0, 1.0))
    long_run.reset()
    for _ in range(80):
        settled = long_run.step(dose, dose).info["inr_true"]
    started.reset()
    spec.set_steady_state(started, np.ones(6, dtype=bool), dose)
    first = started.step(dose, dose).info["inr_true"]
    for _ in range(spec.burn_in_days - 1):
        after_week = started.step(dose, dose).info["inr_true"]
    assert (first > settled * 1.03).any()  # the approximation alone is off by more than 3 % somewhere
    np.testing.assert_allclose(after_week, settled, rtol=0.02)
