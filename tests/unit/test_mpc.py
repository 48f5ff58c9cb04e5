"""The model-predictive controller (shared/dosewise/mpc.py): every visit it fits the patient's own twin, forecasts every
action's visit plan, and chooses the allowed action whose forecast the pack's objective scores best.

The patients are twins of a known sensitivity (the forecast twin's own recipe × a known scale, simulated by the pack's real
simulator with its measurement noise) kept on one dose until their observation sits off target; the controller must move
the forecast back toward it, hold (and then reduce, where the pack's holds reduce) when the guardrails demand it, never
choose a masked action, and answer the same way every time.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosewise import forecast as fc
from dosewise import mpc
from dosewise.therapies.base import ActionSpec, ClinicView, Cohort, FloatArray, TherapyPack
from dosewise.therapies.clinic import keep_action_index
from dosewise.therapies.insulin_t2d.pack import InsulinT2DPack
from dosewise.therapies.warfarin.pack import WarfarinPack

WARFARIN, INSULIN = WarfarinPack(), InsulinT2DPack()


class VisitWarfarinPack(WarfarinPack):
    """Warfarin with visit actions as nomograms state them (% of the weekly dose; holds that resume lower) and a start
    rule: the shape of action set the MPC must handle whatever the shipped pack's ids are."""

    dose_step = 0.5
    actions = (
        ActionSpec("hold2-15", "Hold 2 doses, then −15 %", "hold", -15.0, hold_doses=2),
        ActionSpec("hold1-10", "Hold 1 dose, then −10 %", "hold", -10.0, hold_doses=1),
        ActionSpec("-20%", "−20 %", "scale", -20.0),
        ActionSpec("-10%", "−10 %", "scale", -10.0),
        ActionSpec("keep", "Keep", "scale", 0.0),
        ActionSpec("+10%", "+10 %", "scale", 10.0),
        ActionSpec("+20%", "+20 %", "scale", 20.0),
    )

    def start_regimen(self, view: ClinicView) -> FloatArray | None:
        return np.full(view.n, 5.0)


VISIT_WARFARIN = VisitWarfarinPack()


def on_one_dose(pack: TherapyPack, scale: float, dose: float, days: int = 28, n: int = 4) -> ClinicView:
    """n twins of the pack's cohort whose hidden parameters are the forecast recipe's × ``scale``, given ``dose`` every
    day for ``days``: the clinic view at the visit after."""
    cohort = pack.sample_cohort(n, 11)
    spec = fc.twin_spec(pack)
    assert spec is not None
    twin = spec.build(pack, pack.simulator(cohort, 0).reset(), np.full(n, scale))
    hidden = {k: np.asarray(v, dtype=float).copy() for k, v in twin.cohort.hidden.items()}  # type: ignore[attr-defined]
    sim = pack.simulator(Cohort(cohort.covariates, hidden, 0), seed=5)
    view = sim.reset()
    d = np.full(n, dose)
    for _ in range(days):
        view = sim.step(d, d).view
    return view


def latest(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    return view.obs[pack.observation_kinds[0]][:, 0]


def forecast_end(pack: TherapyPack, view: ClinicView, action: np.ndarray, days: int = 14) -> np.ndarray:
    """Posterior-mean forecast of the primary observation ``days`` after the visit under each row's action."""
    f = fc.forecast(pack, view, action, horizon_days=days)
    assert f is not None
    return f.recommended[:, -1]


class TestVisitPlans:
    @pytest.mark.parametrize("pack", [WARFARIN, VISIT_WARFARIN, INSULIN], ids=lambda p: p.id + str(p.n_actions))
    def test_every_action_is_its_held_doses_then_its_regimen_as_apply_actions_gives_it(self, pack: TherapyPack) -> None:
        current = np.array([0.0, 3.0, 7.5])
        given, regimen = fc.action_plans(pack, current, 10)
        assert given.shape == (3, pack.n_actions, 10)
        for a in range(pack.n_actions):
            first, after = pack.apply_actions(current, np.full(3, a))
            held = int(pack.hold_doses(np.array([a]))[0])
            np.testing.assert_array_equal(regimen[:, a], after)
            np.testing.assert_array_equal(given[:, a, 0], first)
            assert (given[:, a, :held] == 0.0).all()
            np.testing.assert_array_equal(given[:, a, held:], np.repeat(after[:, None], 10 - held, axis=1))

    @pytest.mark.parametrize("pack", [WARFARIN, INSULIN], ids=lambda p: p.id)
    def test_plans_through_plan_paths_are_the_explanations_forecast(self, pack: TherapyPack) -> None:
        """Two plans (an action, and keeping the dose) through plan_paths give what forecast() shows for them."""
        view = on_one_dose(pack, 1.3, 5.0 if pack is WARFARIN else 20.0, days=20)
        a = np.full(view.n, pack.n_actions - 1)
        given, regimen = fc.action_plans(pack, view.current_dose, 7)
        keep = keep_action_index(pack)
        fitted = fc.plan_paths(pack, view, given[:, [pack.n_actions - 1, keep]], regimen[:, [pack.n_actions - 1, keep]])
        f = fc.forecast(pack, view, a, horizon_days=7)
        assert fitted is not None and f is not None
        mean = np.einsum("ng,npgh->nph", fitted.weights, fitted.paths)
        np.testing.assert_allclose(mean[:, 0], f.recommended, rtol=1e-12)
        np.testing.assert_allclose(mean[:, 1], f.keep, rtol=1e-12)


class TestTheChoiceMovesTheForecastTowardTheTarget:
    @pytest.mark.parametrize("pack", [WARFARIN, VISIT_WARFARIN], ids=lambda p: f"{p.n_actions} actions")
    def test_warfarin_high_inr_is_reduced_and_low_inr_increased(self, pack: TherapyPack) -> None:
        high = on_one_dose(pack, 0.5, 6.0, n=6)  # sensitive patients on a large dose: INR about 3–4
        low = on_one_dose(pack, 2.0, 4.0)  # resistant ones on a small dose: INR 1.3–1.6
        above = (latest(pack, high) > 3.0) & (latest(pack, high) < 4.5)  # above the range, below the guardrails' hold
        assert above.sum() >= 3 and (latest(pack, low) < 1.8).all()
        policy = mpc.MpcPolicy(pack)
        for view, direction in ((high.take(np.flatnonzero(above)), -1), (low, +1)):
            plan = policy.plan(view)
            moved = np.where(plan.hold_doses > 0, -1, np.sign(plan.regimen - view.current_dose))  # a hold lowers the INR
            assert (moved == direction).all()
            keep = np.full(view.n, keep_action_index(pack))
            chosen = forecast_end(pack, view, plan.action)
            assert (np.abs(np.log(chosen / 2.5)) < np.abs(np.log(forecast_end(pack, view, keep) / 2.5))).all()

    def test_insulin_high_glucose_is_met_with_more_insulin_and_a_near_low_one_with_less(self) -> None:
        high = on_one_dose(INSULIN, 0.7, 15.0)  # fasting 170–200 mg/dL
        low = on_one_dose(INSULIN, 1.4, 40.0)  # fasting 64–73 mg/dL
        assert (latest(INSULIN, high) > 160).all() and (latest(INSULIN, low) < 75).all()
        policy = mpc.MpcPolicy(INSULIN)
        assert (policy.plan(high).regimen > high.current_dose).all()
        plan = policy.plan(low)
        assert (plan.regimen < low.current_dose).all()
        assert (plan.hold_doses == 0).all()  # a mild low is met by a reduction, not a skipped injection


class TestGuardrails:
    @pytest.mark.parametrize("pack", [WARFARIN, VISIT_WARFARIN], ids=lambda p: f"{p.n_actions} actions")
    def test_an_inr_the_guardrails_answer_with_a_hold_gets_a_hold_and_then_a_lower_regimen(self, pack: TherapyPack) -> None:
        view = on_one_dose(pack, 0.35, 7.0)
        over = latest(pack, view) > 4.5
        assert over.sum() >= 2
        mask = pack.guardrails(view).mask
        holds = pack.hold_doses(np.arange(pack.n_actions)) > 0
        assert not mask[over][:, ~holds].any()  # the guardrails leave only holds open here
        plan = mpc.MpcPolicy(pack).plan(view)
        assert (plan.hold_doses[over] >= 1).all()
        assert (plan.regimen[over] <= view.current_dose[over]).all()
        if all(a.delta < 0 for a in pack.actions if a.kind == "hold"):  # the pack's holds resume lower
            assert (plan.regimen[over] < view.current_dose[over]).all()

    @pytest.mark.parametrize("pack", [WARFARIN, VISIT_WARFARIN, INSULIN], ids=lambda p: p.id + str(p.n_actions))
    def test_the_scores_are_finite_and_no_masked_action_is_ever_chosen(self, pack: TherapyPack) -> None:
        views = [on_one_dose(pack, s, d, n=3) for s, d in ((0.35, 7.0), (1.0, 5.0), (2.0, 3.0))] if pack is not INSULIN \
            else [on_one_dose(pack, s, d, n=3) for s, d in ((1.4, 40.0), (1.0, 25.0), (0.7, 15.0))]
        for view in views:
            scores = mpc.action_scores(pack, view)
            assert scores.shape == (view.n, pack.n_actions) and np.isfinite(scores).all()
            plan = mpc.MpcPolicy(pack).plan(view)
            mask = pack.guardrails(view).mask
            assert mask[np.arange(view.n), plan.action].all()
            assert (plan.action == mpc.choose(scores, mask)).all()

    @settings(max_examples=200, deadline=None)
    @given(st.integers(1, 6), st.integers(1, 9), st.randoms(use_true_random=False))
    def test_choose_takes_the_best_allowed_action_and_hold_and_refer_when_none_is(self, n: int, a: int, rnd) -> None:  # type: ignore[no-untyped-def]
        rng = np.random.default_rng(rnd.randint(0, 2**32 - 1))
        scores = rng.normal(size=(n, a))
        mask = rng.random((n, a)) < 0.5
        chosen = mpc.choose(scores, mask)
        for i in range(n):
            if mask[i].any():
                assert mask[i, chosen[i]]
                assert scores[i, chosen[i]] == scores[i][mask[i]].max()
            else:
                assert chosen[i] == 0


class TestThePlan:
    def test_it_is_deterministic_and_each_patient_is_planned_as_if_alone(self) -> None:
        view = on_one_dose(VISIT_WARFARIN, 0.8, 5.0, n=5)
        policy = mpc.MpcPolicy(VISIT_WARFARIN)
        first, again = policy.plan(view), policy.plan(view)
        np.testing.assert_array_equal(first.action, again.action)
        np.testing.assert_array_equal(first.regimen, again.regimen)
        np.testing.assert_array_equal(mpc.action_scores(VISIT_WARFARIN, view), mpc.action_scores(VISIT_WARFARIN, view))
        for i in range(view.n):
            alone = policy.plan(view.take(np.array([i])))
            assert alone.action[0] == first.action[i] and alone.regimen[0] == first.regimen[i]

    def test_a_patient_not_yet_on_the_drug_gets_the_packs_start_and_the_others_the_mpcs_choice(self) -> None:
        view = on_one_dose(VISIT_WARFARIN, 1.0, 5.0, n=3)
        view.current_dose[0] = 0.0
        view.dose_history[0] = np.nan
        plan = mpc.MpcPolicy(VISIT_WARFARIN).plan(view)
        assert plan.started.tolist() == [True, False, False]
        assert plan.regimen[0] == 5.0 and plan.hold_doses[0] == 0 and plan.action[0] == -1
        assert (plan.action[1:] >= 0).all()
        np.testing.assert_array_equal(plan.recheck_days, VISIT_WARFARIN.recheck_days(view, np.maximum(plan.action, 0)))

    def test_the_horizon_runs_a_week_past_each_actions_recheck(self) -> None:
        view = on_one_dose(WARFARIN, 1.0, 5.0, n=2)
        horizons = mpc.action_horizons(WARFARIN, view)
        for a in range(WARFARIN.n_actions):
            recheck = WARFARIN.recheck_days(view, np.full(2, a, dtype=np.int64))
            assert (horizons[:, a] == recheck + mpc.AFTER_RECHECK_DAYS).all(), WARFARIN.actions[a].id
        # Aurora retests a change within a week, a kept in-range regimen later: each action is scored to its own recheck.
        keep = next(i for i, x in enumerate(WARFARIN.actions) if x.id == "keep")
        assert len(set(horizons[1].tolist())) == 2 and horizons[1, keep] > horizons[1].min()

    def test_the_scatter_around_the_forecast_prices_a_day_just_above_a_threshold(self) -> None:
        """A forecast day at 75 mg/dL is safe in the noise-free twin but not for the patient scattered around it."""
        day = np.array([75.0, 120.0])
        plain = mpc._scattered_objective(INSULIN, day, 0.0)
        scattered = mpc._scattered_objective(INSULIN, day, 0.10)
        np.testing.assert_array_equal(plain, INSULIN.mpc_objective(day))
        assert scattered[0] > plain[0] + 0.1  # some of its mass lies below 70 mg/dL
        assert abs(scattered[1] - plain[1]) < 0.05  # at the aim, the scatter costs only its small spread

    def test_a_risk_averse_quantile_costs_at_least_the_posterior_median(self) -> None:
        view = on_one_dose(WARFARIN, 0.5, 6.0, n=3)
        median = mpc.expected_costs(WARFARIN, view, risk_quantile=0.5)
        averse = mpc.expected_costs(WARFARIN, view, risk_quantile=0.9)
        assert median is not None and averse is not None
        assert (averse >= median - 1e-12).all()
