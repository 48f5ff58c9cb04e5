"""The model-predictive shield (shared/dosewise/shield.py): a learned policy chooses only among the actions the guardrails
allow whose forecast, on the patient's own fitted twin, keeps within the pack's shield limits (insulin: fasting glucose
below 70 mg/dL on at most 4 % of days, below 54 on at most 1 %, Battelino 2019).

The patients are twins of a known sensitivity kept on one dose (test_mpc.on_one_dose): near the low limit the shield must
take the increases away and leave the reductions; far above target it must leave the increases; it never opens an action
the guardrails closed, never closes a row the guardrails left open, and says what it blocked.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosewise import shield
from dosewise.therapies.base import ShieldLimit
from dosewise.therapies.insulin_t2d.pack import InsulinT2DPack
from dosewise.therapies.warfarin.pack import WarfarinPack
from tests.unit.test_mpc import on_one_dose

INSULIN = InsulinT2DPack()
IDS = [a.id for a in INSULIN.actions]
INCREASES = [IDS.index(a) for a in ("+2U", "+4U", "+6U", "+8U")]
REDUCTIONS = [IDS.index(a) for a in ("-20%", "-10%", "-4U", "-2U")]
NEAR_LOW = on_one_dose(INSULIN, 1.4, 40.0)  # fasting about 64–73 mg/dL
HIGH = on_one_dose(INSULIN, 0.7, 15.0)  # fasting about 170–200 mg/dL
ALL_OPEN = np.ones((4, INSULIN.n_actions), dtype=bool)


def test_insulin_has_a_shield_and_warfarin_none() -> None:
    assert shield.has_shield(INSULIN)
    assert not shield.has_shield(WarfarinPack())
    with pytest.raises(ValueError, match="no shield"):
        shield.ShieldedPolicy(WarfarinPack(), lambda x: np.zeros((len(x), 11)))


def test_near_the_low_limit_every_increase_is_blocked_and_a_reduction_stays_open() -> None:
    mask = shield.shield_mask(INSULIN, NEAR_LOW, ALL_OPEN)
    assert not mask[:, INCREASES].any()
    assert mask[:, REDUCTIONS].any(axis=1).all()


def test_far_above_target_the_increases_stay_open() -> None:
    mask = shield.shield_mask(INSULIN, HIGH, ALL_OPEN)
    assert mask[:, INCREASES[:2]].all()


def test_more_insulin_never_forecasts_fewer_lows() -> None:
    shares = shield.limit_shares(INSULIN, NEAR_LOW)  # (n, A, limits)
    doses = INSULIN.proposed_regimens(NEAR_LOW.current_dose)
    for i in range(NEAR_LOW.n):
        order = np.argsort(doses[i], kind="stable")
        assert np.all(np.diff(shares[i, order, 0]) >= -1e-9)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.booleans(), min_size=INSULIN.n_actions, max_size=INSULIN.n_actions), min_size=4,
                max_size=4), st.sampled_from(["near_low", "high"]))
def test_the_shield_only_narrows_and_never_closes_an_open_row(rows: list[list[bool]], which: str) -> None:
    view = NEAR_LOW if which == "near_low" else HIGH
    guard = np.array(rows)
    mask = shield.shield_mask(INSULIN, view, guard)
    assert not (mask & ~guard).any()
    np.testing.assert_array_equal(mask.any(axis=1), guard.any(axis=1))


def test_where_every_allowed_action_is_unsafe_the_safest_stays() -> None:
    guard = np.zeros((4, INSULIN.n_actions), dtype=bool)
    guard[:, INCREASES] = True  # only increases allowed, all unsafe near the low limit
    mask = shield.shield_mask(INSULIN, NEAR_LOW, guard)
    excess = shield.action_excess(INSULIN, NEAR_LOW)
    for i in range(4):
        kept = np.flatnonzero(mask[i])
        assert kept.size >= 1
        assert excess[i, kept].max() == pytest.approx(excess[i, INCREASES].min())


def test_blocked_actions_are_named_in_a_firing_and_an_untouched_row_gets_none() -> None:
    both = NEAR_LOW.take(np.array([0, 1]))
    guard = INSULIN.guardrails(both)
    narrowed = shield.apply(INSULIN, both, guard)
    for i in range(both.n):
        blocked = guard.mask[i] & ~narrowed.mask[i]
        rules = [r for r, _ in narrowed.firings[i]]
        assert rules[: len(guard.firings[i])] == [r for r, _ in guard.firings[i]]
        if blocked.any():
            message = dict(narrowed.firings[i])[shield.RULE]
            assert all(INSULIN.actions[j].label in message for j in np.flatnonzero(blocked))
        else:
            assert shield.RULE not in rules
    high = shield.apply(INSULIN, HIGH, INSULIN.guardrails(HIGH))
    assert all(shield.RULE not in dict(f) for f, m, g in zip(high.firings, high.mask, INSULIN.guardrails(HIGH).mask,
                                                            strict=True) if (m == g).all())


def test_the_shielded_policy_takes_the_highest_q_the_shield_leaves() -> None:
    greedy = np.zeros(INSULIN.n_actions)
    greedy[INCREASES[-1]] = 10.0  # a network that always wants +8 U
    policy = shield.ShieldedPolicy(INSULIN, lambda x: np.tile(greedy, (len(x), 1)))
    chosen = policy.choose(NEAR_LOW)
    assert not np.isin(chosen, INCREASES).any()
    assert np.isin(policy.choose(HIGH), INCREASES).all()


def test_the_patients_own_scatter_widens_the_forecast_never_narrows_it() -> None:
    floor = 0.10
    scatter = shield.day_scatter(INSULIN, NEAR_LOW, floor)
    assert (scatter >= floor).all()
    flat = NEAR_LOW.take(np.arange(NEAR_LOW.n))
    flat.obs["glucose_fasting"][:] = 100.0  # no scatter at all: the fit's residual SD stands
    np.testing.assert_allclose(shield.day_scatter(INSULIN, flat, floor), floor)


def test_a_limit_bounds_exactly_one_side() -> None:
    with pytest.raises(ValueError):
        ShieldLimit(max_share=0.04, source="x")
    with pytest.raises(ValueError):
        ShieldLimit(max_share=0.04, source="x", below=70.0, above=300.0)
    with pytest.raises(ValueError):
        ShieldLimit(max_share=1.5, source="x", below=70.0)
