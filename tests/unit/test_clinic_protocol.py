"""The clinic protocol (dosewise.therapies.clinic): decisions at visits only, each plan's doses given every day until the
next visit, holds first, the clinic's view built from what a clinic knows, and the noise of a real clinic."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from dosewise.therapies.base import (
    ActionSpec,
    ClinicView,
    FeatureSpec,
    FloatArray,
    GuardrailResult,
    TherapyPack,
)
from dosewise.therapies.clinic import (
    RECHECK_MAX_DAYS,
    SCHEDULES,
    ActionVisitPolicy,
    ClinicNoise,
    ClinicTrajectory,
    SimulatorTwin,
    VisitPlan,
    clinic_rollout,
)
from dosewise.therapies.registry import get_pack


class ToyPack(TherapyPack):
    """A pack of three actions on a one-number observation, a start rule of 4 units/day and a recheck of 3 days."""

    id = "toy"
    name = "toy"
    dose_unit = "U"
    dose_quantity = "dose_units"
    observation_kinds = ("level",)
    target_band = (2.0, 3.0)
    max_dose = 20.0
    dose_step = 0.5
    dose_history_days = 7
    obs_history = 3
    actions = (
        ActionSpec("hold2", "Hold 2 doses, then −10 %", "hold", -10.0, hold_doses=2),
        ActionSpec("keep", "Keep", "scale", 0.0),
        ActionSpec("up", "+10 %", "scale", 10.0),
    )
    feature_specs = (FeatureSpec("current", "U/day", "regimen"), FeatureSpec("last", "1", "latest level"))

    def features(self, view: ClinicView) -> np.ndarray:
        last = np.nan_to_num(view.obs["level"][:, 0], nan=0.0)
        return np.stack([view.current_dose, last], axis=1).astype(np.float32)

    def start_regimen(self, view: ClinicView) -> FloatArray:
        return np.full(view.n, 4.0)

    def recheck_days(self, view: ClinicView, action_idx: np.ndarray) -> FloatArray:
        return np.full(view.n, 3.0)


class SelfMonitoredToyPack(ToyPack):
    self_monitored: ClassVar[bool] = True


class ToyTwin:
    """Deterministic twin: level = 1 + 0.1 × (sum of all doses taken). Its ``secret`` is hidden state no view may carry."""

    truth_key = "level_true"

    def __init__(self, n: int) -> None:
        self.n = n
        self.covariates = {"age_years": np.linspace(40.0, 80.0, n), "weight_kg": np.full(n, 70.0)}
        self.secret = np.full(n, 123456.0)
        self.total = np.zeros(n)

    def truth_now(self) -> dict[str, FloatArray]:
        return {"level_true": 1.0 + 0.1 * self.total}

    def advance_day(self, given: FloatArray) -> dict[str, FloatArray]:
        self.total = self.total + np.asarray(given, dtype=float)
        return self.truth_now()


class ScriptedPolicy:
    """Plans by a rule of the visit day; records every view it is shown."""

    name = "scripted"

    def __init__(self, rule) -> None:  # rule(view) -> VisitPlan
        self.rule, self.views = rule, []

    def reset(self, n: int) -> None:
        self.views = []

    def plan(self, view: ClinicView) -> VisitPlan:
        self.views.append(view)
        return self.rule(view)


def _plan(view: ClinicView, regimen: FloatArray, hold: int = 0, recheck: float = 7.0) -> VisitPlan:
    n = view.n
    return VisitPlan(hold_doses=np.full(n, hold, dtype=np.int64), regimen=np.broadcast_to(regimen, (n,)).astype(float),
                     recheck_days=np.full(n, recheck), action=np.full(n, -1, dtype=np.int64),
                     started=np.zeros(n, dtype=bool))


def _run(policy, schedule: str = "weekly", days: int = 21, n: int = 4, noise: ClinicNoise | None = None, seed: int = 0,
         pack: TherapyPack | None = None) -> ClinicTrajectory:
    return clinic_rollout(pack or ToyPack(), ToyTwin(n), policy, schedule, days, noise or ClinicNoise(), seed)


def test_a_hold_skips_its_doses_first_then_gives_the_new_regimen_every_day():
    policy = ScriptedPolicy(lambda v: _plan(v, np.full(v.n, 3.0), hold=2) if v.day[0] == 0 else _plan(v, v.current_dose))
    traj = _run(policy, days=10)
    np.testing.assert_array_equal(traj.given[0], [0, 0, 3, 3, 3, 3, 3, 3, 3, 3])
    np.testing.assert_array_equal(traj.held[0], [True, True] + [False] * 8)
    np.testing.assert_array_equal(traj.regimen[0], np.full(10, 3.0))  # the regimen in force is the one after the hold


def test_the_plans_dose_is_given_every_day_until_the_next_visit():
    policy = ScriptedPolicy(lambda v: _plan(v, v.day + 1.0))  # a new regimen at each weekly visit
    traj = _run(policy, days=21)
    np.testing.assert_array_equal(traj.given[:, 0:7], 1.0)
    np.testing.assert_array_equal(traj.given[:, 7:14], 8.0)
    np.testing.assert_array_equal(traj.given[:, 14:21], 15.0)
    assert traj.visit.sum(axis=1).tolist() == [3] * 4


def test_the_view_is_what_a_clinic_knows_and_never_the_twins_hidden_state():
    policy = ScriptedPolicy(lambda v: _plan(v, np.full(v.n, 2.0)) if v.day[0] == 0 else _plan(v, v.current_dose + 1.0))
    traj = _run(policy, schedule="weekly", days=15, n=3)
    first, second = policy.views[0], policy.views[1]
    # The patient starts with no drug: regimen 0 and nothing on record.
    np.testing.assert_array_equal(first.current_dose, 0.0)
    assert np.isnan(first.dose_history).all()
    # A week later: the regimen in force, the doses actually taken (yesterday first), the two measured levels and ages.
    np.testing.assert_array_equal(second.day, 7.0)
    np.testing.assert_array_equal(second.current_dose, 2.0)
    np.testing.assert_array_equal(second.dose_history[:, :7], 2.0)
    np.testing.assert_allclose(second.obs["level"][:, :2], [[1.0 + 0.1 * 14, 1.0]] * 3)
    np.testing.assert_array_equal(second.obs_age_days["level"][:, :2], [[0.0, 7.0]] * 3)
    assert np.isnan(second.obs["level"][:, 2]).all()
    # Only the covariates the twin shows; no number of its hidden state anywhere.
    assert set(second.covariates) == {"age_years", "weight_kg"}
    for v in policy.views:
        arrays = [v.day, v.current_dose, v.dose_history, *v.obs.values(), *v.obs_age_days.values(), *v.covariates.values()]
        assert not any(np.any(a == 123456.0) for a in arrays)
    np.testing.assert_allclose(traj.measured[:, 7], 1.0 + 0.1 * 14)
    assert np.isnan(traj.measured[:, 1:7]).all()


def test_a_self_monitored_pack_reads_every_morning_but_decides_at_visits_only():
    policy = ScriptedPolicy(lambda v: _plan(v, np.full(v.n, 1.0)))
    traj = _run(policy, schedule="weekly", days=14, pack=SelfMonitoredToyPack())
    assert (~np.isnan(traj.readings)).all()
    assert traj.visit.sum(axis=1).tolist() == [2] * 4
    # The second visit's view holds the last three mornings' readings, today's first.
    np.testing.assert_array_equal(policy.views[1].obs_age_days["level"], [[0.0, 1.0, 2.0]] * 4)
    visit_only = _run(ScriptedPolicy(lambda v: _plan(v, np.full(v.n, 1.0))), schedule="weekly", days=14)
    assert (~np.isnan(visit_only.readings)).sum() == 8


def test_same_seed_same_result_and_another_seed_other_luck():
    noise = ClinicNoise(assay_cv=0.1, adherence=0.8, late_visit_prob=0.3, missed_visit_prob=0.2)
    pack = ToyPack()

    def q(f: np.ndarray) -> np.ndarray:  # raise while the level is under 2, keep otherwise
        return np.stack([np.zeros(len(f)), np.ones(len(f)), 2.0 * (f[:, 1] < 2.0)], axis=1)

    a = _run(ActionVisitPolicy(pack, q), schedule="recheck", days=40, n=30, noise=noise, seed=5, pack=pack)
    b = _run(ActionVisitPolicy(pack, q), schedule="recheck", days=40, n=30, noise=noise, seed=5, pack=pack)
    c = _run(ActionVisitPolicy(pack, q), schedule="recheck", days=40, n=30, noise=noise, seed=6, pack=pack)
    for x, y in ((a.given, b.given), (a.measured, b.measured), (a.visit, b.visit), (a.actions, b.actions)):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.given, c.given)


@pytest.mark.parametrize(("name", "expected"), [
    ("every-3-days", [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]),
    ("early-then-weekly", [0, 1, 2, 3, 4, 7, 10, 14, 21, 28]),
    ("weekly", [0, 7, 14, 21, 28]),
])
def test_fixed_schedules_visit_on_their_days(name, expected):
    assert SCHEDULES[name].visit_days(30) == expected
    traj = _run(ScriptedPolicy(lambda v: _plan(v, np.full(v.n, 1.0))), schedule=name, days=30)
    assert np.flatnonzero(traj.visit[0]).tolist() == expected


@pytest.mark.parametrize(("recheck", "expected"), [(5.0, [0, 5, 10, 15]), (0.2, list(range(20))),
                                                   (90.0, [0, RECHECK_MAX_DAYS])])
def test_the_recheck_schedule_follows_each_plan_within_1_to_28_days(recheck, expected):
    days = 20 if recheck < 90 else 40
    traj = _run(ScriptedPolicy(lambda v: _plan(v, np.full(v.n, 1.0), recheck=recheck)), schedule="recheck", days=days)
    assert np.flatnonzero(traj.visit[0]).tolist() == expected


def test_doses_not_taken_are_not_given_and_the_record_says_so():
    policy = ScriptedPolicy(lambda v: _plan(v, np.full(v.n, 2.0)))
    none = _run(policy, days=14, noise=ClinicNoise(adherence=0.0))
    np.testing.assert_array_equal(none.given, 0.0)
    np.testing.assert_array_equal(policy.views[1].dose_history[:, :7], 0.0)
    np.testing.assert_array_equal(none.regimen, 2.0)  # the prescription stands; the patient did not take it
    half = _run(ScriptedPolicy(lambda v: _plan(v, np.full(v.n, 2.0))), days=100, n=50, noise=ClinicNoise(adherence=0.5))
    assert 0.4 < (half.given > 0).mean() < 0.6


def test_missed_visits_leave_the_plan_running_and_late_visits_come_1_to_3_days_late():
    policy = ScriptedPolicy(lambda v: _plan(v, v.day + 1.0))
    missed = _run(policy, days=28, noise=ClinicNoise(missed_visit_prob=1.0))
    assert np.flatnonzero(missed.visit[0]).tolist() == [0]  # the first visit starts the course and is never missed
    assert np.flatnonzero(missed.missed_visit[0]).tolist() == [7, 14, 21]
    np.testing.assert_array_equal(missed.given, 1.0)
    late = _run(ScriptedPolicy(lambda v: _plan(v, np.full(v.n, 1.0))), days=60, n=40,
                noise=ClinicNoise(late_visit_prob=1.0))
    # Each visit after the first comes 1, 2 or 3 days after its weekly day; the weekly schedule goes on from there.
    lateness = [d % 7 for row in late.visit for d in np.flatnonzero(row)[1:]]
    assert late.visit[:, 0].all()
    assert set(lateness) == {1, 2, 3}


def test_a_delayed_result_is_the_measurement_of_its_draw_day_and_is_that_old_at_the_decision():
    """With every result delayed, a clinic visit's decision reads the level measured 1–2 days before it (the twin's value of
    that day, not today's), its age says so, and the first visit's is fresh; a self-monitored log is read without its
    newest 1–2 readings."""
    policy = ScriptedPolicy(lambda v: _plan(v, np.full(v.n, 1.0)))
    traj = _run(policy, days=30, n=20, noise=ClinicNoise(result_delay_prob=1.0))
    first, later = policy.views[0], policy.views[1:]
    np.testing.assert_array_equal(first.obs_age_days["level"][:, 0], 0.0)
    ages = np.concatenate([v.obs_age_days["level"][:, 0] for v in later])
    assert set(ages.tolist()) == {1.0, 2.0}
    level = 1.0 + 0.1 * np.concatenate([np.zeros((20, 1)), np.cumsum(traj.given, axis=1)], axis=1)  # at each morning
    for v in later:
        drawn = (v.day - v.obs_age_days["level"][:, 0]).astype(int)
        np.testing.assert_allclose(v.obs["level"][:, 0], level[0, drawn])  # every toy patient takes the same doses
    logs = ScriptedPolicy(lambda v: _plan(v, np.full(v.n, 1.0)))
    _run(logs, days=30, n=20, noise=ClinicNoise(result_delay_prob=1.0), pack=SelfMonitoredToyPack())
    newest = np.concatenate([v.obs_age_days["level"][:, 0] for v in logs.views[1:]])
    assert set(newest.tolist()) == {1.0, 2.0}
    assert not np.isnan(np.concatenate([v.obs["level"][:, 0] for v in logs.views[1:]])).any()


def test_the_start_rule_sets_the_first_regimen_and_the_q_function_the_rest():
    pack = ToyPack()

    def always_up(f: np.ndarray) -> np.ndarray:
        return np.tile([0.0, 1.0, 2.0], (len(f), 1))

    traj = _run(ActionVisitPolicy(pack, always_up), schedule="weekly", days=15, pack=pack)
    np.testing.assert_array_equal(traj.started[:, 0], True)
    np.testing.assert_array_equal(traj.actions[:, 0], -1)
    np.testing.assert_array_equal(traj.actions[:, 7], 2)
    np.testing.assert_array_equal(traj.given[:, 0:7], 4.0)
    np.testing.assert_array_equal(traj.given[:, 7:14], 4.5)  # +10 % of 4, rounded to the 0.5 step


def test_the_guardrails_mask_the_q_function_and_nothing_allowed_means_action_0():
    class Guarded(ToyPack):
        def guardrails(self, view: ClinicView) -> GuardrailResult:
            mask = np.ones((view.n, 3), dtype=bool)
            mask[:, 2] = False  # never up
            mask[0, :] = False  # nothing at all for the first patient
            return GuardrailResult(mask=mask, firings=[[] for _ in range(view.n)])

    pack = Guarded()
    view = ClinicView(day=np.full(3, 7.0), current_dose=np.full(3, 4.0), dose_history=np.full((3, 7), 4.0),
                      obs={"level": np.full((3, 3), 1.5)}, obs_age_days={"level": np.zeros((3, 3))}, covariates={})
    plan = ActionVisitPolicy(pack, lambda f: np.tile([0.0, 1.0, 5.0], (len(f), 1))).plan(view)
    assert plan.action.tolist() == [0, 1, 1]
    assert plan.hold_doses.tolist() == [2, 0, 0]
    np.testing.assert_array_equal(plan.regimen, [3.5, 4.0, 4.0])  # the hold resumes 10 % lower, on the 0.5 step
    np.testing.assert_array_equal(plan.recheck_days, 3.0)


@pytest.mark.parametrize("therapy", ["warfarin", "insulin_t2d"])
def test_a_packs_own_simulator_is_a_clinic_twin(therapy):
    pack = get_pack(therapy)
    twin = SimulatorTwin.of_cohort(pack, 5, seed=1)
    assert twin.truth_key == f"{pack.observation_kinds[0]}_true"
    traj = clinic_rollout(pack, twin, ScriptedPolicy(lambda v: _plan(v, np.full(v.n, 0.5 * pack.max_dose / 10))),
                          "weekly", 8, ClinicNoise(assay_cv=0.05), seed=2)
    assert traj.truth[twin.truth_key].shape == (5, 8)
    assert np.isfinite(traj.truth[twin.truth_key]).all()
    assert (traj.given <= pack.max_dose / 20 + 1e-9).all()


def test_days_on_a_regimen_count_the_record_s_dose_days_whatever_the_time_of_the_visit():
    """Seven evening doses seen at the next morning's visit (the README patient: 6.5 days of therapy) are seven days on
    the regimen, as many as when the record's older days held another dose; six are six."""
    from datetime import datetime, timedelta

    from dosewise.schemas import PATIENT_STATE_EXAMPLE, PatientState
    from dosewise.therapies.clinic import days_on_regimen

    def view(doses: list[float]) -> ClinicView:
        as_of = datetime.fromisoformat(PATIENT_STATE_EXAMPLE["as_of"])
        record = [{"amount": a, "unit": "mg", "time": (as_of - timedelta(days=k, hours=12)).isoformat()}
                  for k, a in enumerate(doses)]  # [0]: last night's dose
        state = PatientState.model_validate(PATIENT_STATE_EXAMPLE | {"doses": record})
        return ClinicView.from_states(get_pack("warfarin"), [state])

    only_this = view([5.0] * 7)
    assert only_this.day[0] == 6.5
    assert days_on_regimen(only_this)[0] == 7 == days_on_regimen(view([5.0] * 7 + [4.0] * 7))[0]
    assert days_on_regimen(view([5.0] * 6))[0] == 6
