"""Warfarin at clinic visits: the Aurora nomogram through the pack's percent actions, its retest rule, and a real start
(IWPC pharmacogenetic when genotyped, clinical otherwise). Expected values restated from the sources (Ravvaz 2017 Aurora
as coded in ReiL, IWPC NEJM 2009; clinical.md §1), not read back from the code under test."""

from __future__ import annotations

import numpy as np
import pytest

from dosewise.therapies.base import ClinicView
from dosewise.therapies.clinic import action_index
from dosewise.therapies.warfarin.iwpc import iwpc_dose_mg_per_day
from dosewise.therapies.warfarin.pack import WarfarinPack

PACK = WarfarinPack()
K, H = PACK.obs_history, PACK.dose_history_days


def view(inrs: list[tuple[float, float]], dose: float = 5.0, day: float = 30.0, record: int = H,
         **covariates: float) -> ClinicView:
    """One patient at a visit on ``dose`` mg/day for ``record`` recorded days; ``inrs``: (value, age in days), latest first."""
    doses = np.full((1, H), np.nan)
    doses[0, :record] = dose
    inr, age = np.full((1, K), np.nan), np.full((1, K), np.nan)
    for k, (v, a) in enumerate(inrs):
        inr[0, k], age[0, k] = v, a
    cov = {c: np.zeros(1) for c in PACK.covariate_names}
    cov.update(age_years=np.array([65.0]), weight_kg=np.array([80.0]), height_cm=np.array([170.0]),
               cyp2c9=np.array([0.0]), vkorc1=np.array([1.0]))
    cov.update({k: np.array([float(v)]) for k, v in covariates.items()})
    return ClinicView(day=np.array([day]), current_dose=np.array([dose]), dose_history=doses, obs={"inr": inr},
                      obs_age_days={"inr": age}, covariates=cov)


def aurora(v: ClinicView) -> str:
    plan = PACK.visit_guideline_policy().plan(v)
    return "start" if plan.started[0] else PACK.actions[int(plan.action[0])].id


@pytest.mark.parametrize(("inr", "action"), [
    (1.2, "+15%"), (1.6, "+10%"), (1.9, "+7.5%"), (2.0, "keep"), (3.0, "keep"), (3.2, "-7.5%"), (3.7, "-10%"),
    (4.5, "hold2-12.5%"), (5.0, "hold2-12.5%"), (6.2, "hold2-15%"),
])
def test_in_maintenance_aurora_takes_its_band_exactly(inr: float, action: str) -> None:
    assert aurora(view([(inr, 0.0)])) == action


def test_aurora_raises_neither_in_the_first_days_nor_within_a_week_of_a_change_but_always_lowers() -> None:
    assert aurora(view([(1.2, 0.0)], day=3.0, record=3)) == "keep"  # INR lags the dose: initiation keeps the start
    changed = view([(1.2, 0.0)], day=20.0)
    changed.dose_history[0, 4:] = 4.0  # 4 days on 5 mg after 4 mg before
    assert aurora(changed) == "keep"
    high = view([(3.7, 0.0)], day=3.0, record=3)
    assert aurora(high) == "-10%"


def test_an_inr_above_target_never_leaves_the_regimen_where_it_was() -> None:
    for inr in (3.01, 3.5, 4.2, 4.6, 7.0, 12.0):
        plan = PACK.visit_guideline_policy().plan(view([(inr, 0.0)]))
        assert plan.regimen[0] < 5.0 and (plan.hold_doses[0] > 0) == (inr >= 4.0)


@pytest.mark.parametrize(("inrs", "day", "change", "days"), [
    ([(5.5, 0.0)], 40.0, False, 2.0),  # > 5: recheck in 2 days
    ([(1.6, 0.0)], 40.0, False, 7.0),  # out of range: 7 days
    ([(2.5, 0.0), (2.4, 14.0), (2.6, 28.0)], 60.0, False, 28.0),  # in range for 28 days: 28
    ([(2.5, 0.0), (2.4, 14.0), (1.7, 28.0)], 60.0, False, 14.0),  # for 14: 14
    ([(2.5, 0.0), (2.4, 7.0)], 60.0, False, 7.0),
    ([(2.5, 0.0), (2.4, 3.0)], 60.0, False, 5.0),  # ≥ 2 days: 5
    ([(2.5, 0.0)], 60.0, False, 3.0),  # a single in-range INR: Aurora's next day, lengthened to 3
    ([(2.5, 0.0), (2.4, 14.0), (2.6, 28.0)], 60.0, True, 7.0),  # after a change: a week at most
    ([(2.5, 0.0), (2.4, 7.0)], 10.0, False, 7.0),  # first two weeks: a week at most
])
def test_the_retest_follows_aurora(inrs: list[tuple[float, float]], day: float, change: bool, days: float) -> None:
    act = action_index(PACK, "-10%" if change else "keep")
    assert PACK.recheck_days(view(inrs, day=day), np.array([act]))[0] == days


def test_a_patient_not_yet_on_warfarin_starts_at_the_iwpc_dose_and_is_rechecked_on_day_3() -> None:
    genotyped = view([], dose=0.0, day=0.0, record=0, cyp2c9=2.0, vkorc1=2.0)  # *1/*3 (code 2), A/A (code 2)
    unknown = view([], dose=0.0, day=0.0, record=0, cyp2c9=-1.0, vkorc1=-1.0)
    plans = [PACK.visit_guideline_policy().plan(v) for v in (genotyped, unknown)]
    for v, plan in zip((genotyped, unknown), plans, strict=True):
        assert plan.started[0] and plan.hold_doses[0] == 0 and plan.recheck_days[0] == 3.0
        expected = np.clip(np.round(iwpc_dose_mg_per_day(v.covariates)[0] * 2) / 2, 0.5, 15.0)
        assert plan.regimen[0] == expected
    assert plans[0].regimen[0] < plans[1].regimen[0]  # a sensitive genotype starts lower than the clinical estimate


@pytest.mark.parametrize("why", [{"pregnant": 1.0}, {"age_years": 12.0}])
def test_no_automatic_start_in_pregnancy_or_for_a_child(why: dict[str, float]) -> None:
    plan = PACK.visit_guideline_policy().plan(view([], dose=0.0, day=0.0, record=0, **why))
    assert plan.started[0] and plan.regimen[0] == 0.0


def test_no_automatic_start_on_a_high_inr_without_warfarin() -> None:
    plan = PACK.visit_guideline_policy().plan(view([(2.1, 0.0)], dose=0.0, day=0.0, record=0))
    assert plan.regimen[0] == 0.0
