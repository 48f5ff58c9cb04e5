"""The immune digital twin: Stengel et al. 2002 (Optim Control Appl Meth 23:91) under a pathogen-killing drug.

Facts checked, with their source:
- The four uncontrolled courses from x2 = 2, x3 = 4/3, x4 = 0 (../shared/clinical.md §3, a solve_ivp check of the Stengel 2002
  equations): x1(0) ≤ 1.5 sub-clinical (clears, damage < 0.4); 2.0–2.4 clinical (clears after damage passes 0.5); 2.6
  protracted (dies only at t ≈ 14); ≥ 2.7 lethal within 9 time units.
- Our finding on "chronic" (model.py docstring): the nominal model has one infected equilibrium, (1, 2, 1, 0.5), a saddle
  (unstable eigenvalue √1.5 − 1); near-separatrix courses linger at it for ≈ ln(1/δ)/(√1.5 − 1) time units; no parameter set
  with a stable healthy state has a stable infected state.
- The drug: the paper's control u1 enters ẋ1 as b1·u1 with b1 = −1, so more drug clears faster.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from dosewise.therapies.base import ClinicView, Cohort
from dosewise.therapies.immune.cohort import HIDDEN_KEYS
from dosewise.therapies.immune.model import NOMINAL, ImmuneParams, advance, derivatives, infected_equilibria, jacobian
from dosewise.therapies.immune.pack import ImmunePack
from dosewise.therapies.immune.simulator import DETECTION_LIMIT
from dosewise.therapies.rollout import rollout

SEPARATRIX_X1_0 = 2.5612062314  # bisection with solve_ivp (rtol 1e-10), model.py docstring
SADDLE_RATE = np.sqrt(1.5) - 1.0  # unstable eigenvalue at (1, 2, 1, 0.5) on the a21 = 0 side


def uncontrolled(x1_0: list[float], days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nominal courses from the paper's initial state, all loads in one vectorized batch.

    Returns states (days + 1, 4, n) at whole time units, the death time (NaN if none) and the max organ damage.
    """
    n = len(x1_0)
    p = ImmuneParams.nominal(n)
    x = p.healthy_state()
    x[0] = x1_0
    zero = np.zeros(n)
    states, death, peak = [x], np.full(n, np.nan), np.zeros(n)
    for day in range(days):
        r = advance(x, zero, zero, p, 1.0)
        death = np.where(np.isnan(death) & r.died, day + r.death_time, death)
        peak = np.maximum(peak, r.max_damage)
        x = r.x
        states.append(x)
    return np.stack(states), death, peak


class FixedLevel:
    """A constant dose level, for dose–response checks."""

    def __init__(self, level: float) -> None:
        self.level, self.name = level, f"fixed {level:g}"

    def reset(self, n: int) -> None:
        pass

    def act(self, view: ClinicView) -> tuple[np.ndarray, np.ndarray]:
        dose = np.where(view.day >= 0, self.level, 0.0)
        return dose, dose.copy()


def nominal_patients(x1_0: list[float]) -> Cohort:
    """Nominal Stengel patients (no variability, fully drug-susceptible) with the given presenting loads."""
    pack = ImmunePack()
    c = pack.sample_cohort(len(x1_0), seed=0)
    c.hidden = {k: np.full(c.n, NOMINAL.get(k, 1.0)) for k in HIDDEN_KEYS}
    c.hidden["x1_0"] = np.asarray(x1_0, dtype=float)
    return c


# --- the four uncontrolled courses (clinical.md §3) ---------------------------------------------------------------------
class TestUncontrolledCourses:
    loads = [1.0, 1.5, 2.0, 2.2, 2.4, 2.6, 2.7, 3.0, 4.0]

    @pytest.fixture(scope="class")
    @classmethod
    def courses(cls) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return uncontrolled(cls.loads, days=30)

    def test_subclinical_clears_with_damage_below_0_4(self, courses: tuple[np.ndarray, ...]) -> None:
        states, death, peak = courses
        for i in (0, 1):  # x1(0) = 1.0, 1.5
            assert np.isnan(death[i])
            assert peak[i] < 0.4
            assert states[-1, 0, i] < DETECTION_LIMIT

    def test_clinical_clears_after_damage_passes_0_5(self, courses: tuple[np.ndarray, ...]) -> None:
        states, death, peak = courses
        for i in (2, 3, 4):  # x1(0) = 2.0, 2.2, 2.4
            assert np.isnan(death[i])
            assert 0.5 < peak[i] < 1.0
            assert states[-1, 0, i] < DETECTION_LIMIT

    def test_protracted_course_lingers_at_the_saddle_then_dies_at_t_14(self, courses: tuple[np.ndarray, ...]) -> None:
        states, death, _ = courses
        i = 5  # x1(0) = 2.6
        plateau = states[3:11, :, i]  # t = 3 … 10
        assert np.all((plateau[:, 0] > 0.9) & (plateau[:, 0] < 1.5))  # pathogen near the saddle's x1 = 1
        assert np.all((plateau[:, 3] > 0.5) & (plateau[:, 3] < 0.7))  # damage just above the saddle's x4 = 0.5
        assert death[i] == pytest.approx(14.4, abs=0.3)

    def test_lethal_dies_within_9_time_units(self, courses: tuple[np.ndarray, ...]) -> None:
        _, death, _ = courses
        assert np.all(death[6:] < 9.0)  # x1(0) = 2.7, 3.0, 4.0
        assert death[6] > death[7] > death[8]  # a larger inoculum kills sooner


# --- the "chronic" finding --------------------------------------------------------------------------------------------------
def test_the_only_infected_equilibrium_is_a_saddle_and_the_healthy_state_is_stable() -> None:
    eqs = infected_equilibria(NOMINAL)
    assert len(eqs) == 1
    np.testing.assert_allclose(eqs[0], [1.0, 2.0, 1.0, 0.5], atol=1e-9)
    above = np.linalg.eigvals(jacobian(eqs[0], NOMINAL, a21_side="above"))
    below = np.linalg.eigvals(jacobian(eqs[0], NOMINAL, a21_side="below"))
    assert np.max(above.real) == pytest.approx(SADDLE_RATE, abs=1e-9)
    assert np.max(below.real) > 0.0  # unstable from either side of the a21 kink
    healthy = np.array([0.0, 2.0, 4.0 / 3.0, 0.0])
    assert np.max(np.linalg.eigvals(jacobian(healthy, NOMINAL)).real) < 0.0


@pytest.mark.parametrize("feedback", [True, False])
def test_no_stable_chronic_state_while_the_healthy_state_is_stable(feedback: bool) -> None:
    """det J = a12·a31·a42·x1·f′(x1) < 0 at every infected equilibrium when f(0) > 0 (model.py): always a saddle."""
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(600):  # each parameter × 1/10 … 10, log-uniform
        p = {k: v * float(np.exp(rng.uniform(-np.log(10), np.log(10)))) for k, v in NOMINAL.items()}
        if p["a11"] >= p["a12"] * p["a31"] * p["x2_star"] / p["a32"]:
            continue  # healthy state unstable: no sub-clinical course exists, outside the question
        for eq in infected_equilibria(p, feedback=feedback):
            checked += 1
            assert np.max(np.linalg.eigvals(jacobian(eq, p, feedback=feedback)).real) > 0.0
    assert checked > 5  # the sweep really met infected equilibria


def test_near_separatrix_courses_linger_longer_by_the_saddle_log_law() -> None:
    xs = SEPARATRIX_X1_0
    states, death, _ = uncontrolled([xs - 1e-3, xs + 1e-3, xs + 1e-2], days=36)
    assert np.isnan(death[0]) and states[-1, 0, 0] < 1e-3  # just below: survives and clears
    assert death[1] > 25.0 and death[2] > 18.0  # just above: dies, late
    assert death[1] - death[2] == pytest.approx(np.log(10.0) / SADDLE_RATE, rel=0.06)  # +10.2 time units per decade


# --- numerics -----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("x1_0", "u1", "u4", "t_end"), [(1.5, 0.0, 0.0, 8.0), (2.2, 0.0, 0.0, 8.0),
                                                          (2.7, 0.0, 0.0, 8.0), (3.0, 0.5, 0.1, 3.0)])
def test_vectorized_rk4_matches_solve_ivp(x1_0: float, u1: float, u4: float, t_end: float) -> None:
    one = ImmuneParams.nominal(1)

    def rhs(_t: float, y: np.ndarray) -> np.ndarray:
        return derivatives(y[:, None], np.array([u1]), np.array([u4]), one)[:, 0]

    x0 = one.healthy_state()[:, 0]
    x0[0] = x1_0
    ref = solve_ivp(rhs, (0.0, t_end), x0, rtol=1e-10, atol=1e-12, dense_output=True)
    p = ImmuneParams.nominal(3)  # three identical patients: the batch must not mix them
    x = np.repeat(x0[:, None], 3, axis=1)
    for day in range(int(t_end)):
        x = advance(x, np.full(3, u1), np.full(3, u4), p, 1.0).x
        np.testing.assert_allclose(x, np.repeat(ref.sol(day + 1.0)[:, None], 3, axis=1), atol=1e-4, rtol=1e-3)


# --- therapy framing ---------------------------------------------------------------------------------------------------------
def test_a_stronger_pathogen_killing_dose_clears_faster() -> None:
    """x1(0) = 3 kills the untreated nominal patient (clinical.md §3); every level rescues it, more drug sooner."""
    pack = ImmunePack()
    cohort = nominal_patients([3.0])
    times, peaks, burdens = [], [], []
    for level in (0.0, 0.25, 0.5, 1.0, 2.0):
        traj = rollout(pack, cohort, FixedLevel(level), steps=20, seed=3)
        m, pathogen_burden = pack.metrics(traj), traj.info["pathogen_true"][0].sum()
        if level == 0.0:
            assert m["died"][0] == 1.0
            continue
        assert m["cleared"][0] == 1.0 and m["died"][0] == 0.0
        times.append(m["time_to_clear_days"][0])
        peaks.append(m["max_organ_damage"][0])
        burdens.append(pathogen_burden)
    assert all(a >= b for a, b in itertools.pairwise(times))  # whole days: 1 and 2 a.u. may share a day
    assert times[0] > times[-1]
    assert all(a > b for a, b in itertools.pairwise(burdens))  # Σ daily pathogen load: strictly less
    assert all(a > b for a, b in itertools.pairwise(peaks))


def test_same_seed_same_trajectory_and_another_seed_other_measurements() -> None:
    pack = ImmunePack()
    cohort = pack.sample_cohort(50, seed=11)
    a = rollout(pack, cohort, pack.guideline_policy(), steps=10, seed=5, record_features=True)
    b = rollout(pack, cohort, pack.guideline_policy(), steps=10, seed=5, record_features=True)
    c = rollout(pack, cohort, pack.guideline_policy(), steps=10, seed=6)
    for k in a.info:
        np.testing.assert_array_equal(a.info[k], b.info[k])
    np.testing.assert_array_equal(a.features, b.features)
    np.testing.assert_array_equal(a.reward, b.reward)
    assert not np.array_equal(a.info["pathogen_measured"], c.info["pathogen_measured"])
    np.testing.assert_array_equal(pack.sample_cohort(50, seed=11).hidden["x1_0"], cohort.hidden["x1_0"])


def test_features_are_finite_and_inside_their_bounds() -> None:
    pack = ImmunePack()
    cohort = pack.sample_cohort(200, seed=2)
    traj = rollout(pack, cohort, FixedLevel(0.25), steps=15, seed=2, record_features=True)
    assert traj.features is not None and traj.features.shape == (200, 15, pack.n_features)
    lo = np.array([b[0] for b in pack.feature_bounds], dtype=np.float32)
    hi = np.array([b[1] for b in pack.feature_bounds], dtype=np.float32)
    assert np.all(np.isfinite(traj.features))
    assert np.all((traj.features >= lo) & (traj.features <= hi))
    # A clinic record with nothing measured yet (gateway path) still gives finite features.
    n = 2
    empty = ClinicView(
        day=np.zeros(n), current_dose=np.zeros(n), dose_history=np.full((n, pack.dose_history_days), np.nan),
        obs={k: np.full((n, pack.obs_history), np.nan) for k in pack.observation_kinds},
        obs_age_days={k: np.full((n, pack.obs_history), np.nan) for k in pack.observation_kinds},
        covariates=cohort.take(np.arange(n)).covariates,
    )
    f = pack.features(empty)
    assert np.all(np.isfinite(f))
    assert f[0, [s.name for s in pack.feature_specs].index("pathogen_measured")] == 0.0


def test_death_ends_the_course_and_freezes_the_patient_while_others_continue() -> None:
    pack = ImmunePack()
    cohort = nominal_patients([4.0, 1.5])  # untreated: the first dies on day 1, the second clears around day 6
    traj = rollout(pack, cohort, FixedLevel(0.0), steps=12, seed=1)
    dead = traj.terminated[0]
    assert dead[0] and traj.info["died"][0, 0] == 1.0  # x4 reached 1 within the first day
    assert np.all(dead)  # terminated stays True from the ending step on
    assert np.all(traj.info["organ_damage_true"][0] >= 1.0)
    assert np.ptp(traj.info["pathogen_true"][0]) == 0.0  # frozen
    assert np.all(traj.reward[0, 1:] == 0.0)
    assert traj.reward[0, 0] < -10.0  # the death penalty
    assert np.ptp(traj.info["pathogen_true"][1, :5]) > 0.0  # the other patient kept evolving
    m = pack.metrics(traj)
    assert m["died"].tolist() == [1.0, 0.0]
    assert m["adverse_event_days"][0] == 12.0  # every interval from death to the horizon


def test_after_confirmed_clearance_the_pathogen_does_not_relapse() -> None:
    """The clearance rule is safe to end a course on: 20 more untreated days from the cleared state keep x1 undetectable."""
    pack = ImmunePack()
    cohort = pack.sample_cohort(300, seed=4)
    sim = pack.simulator(cohort, seed=4)
    view = sim.reset()
    policy = pack.guideline_policy()
    for _ in range(20):
        res = sim.step(*policy.act(view))
        view = res.view
    assert sim.cleared.mean() > 0.9
    idx = np.nonzero(sim.cleared)[0]
    p, x = sim.params.take(idx), sim.x[:, idx]
    zero = np.zeros(idx.size)
    for _ in range(20):
        r = advance(x, zero, zero, p, 1.0)
        x = r.x
        assert np.all(x[0] < DETECTION_LIMIT) and not r.died.any()


def test_reward_is_alpha_t_minus_beta_a_minus_gamma_h_with_terms_in_info() -> None:
    pack = ImmunePack()
    traj = rollout(pack, pack.sample_cohort(40, seed=8), pack.guideline_policy(), steps=8, seed=8)
    for k in ("r_t", "r_a", "r_h", "pathogen_true", "organ_damage_true", "dose"):
        assert traj.info[k].shape == (40, 8)
    w = pack.reward_weights
    expected = w.alpha * traj.info["r_t"] - w.beta * traj.info["r_a"] - w.gamma * traj.info["r_h"]
    np.testing.assert_allclose(traj.reward, expected)


def test_guideline_beats_no_treatment_on_a_cohort() -> None:
    """Plausibility: untreated, the cohort spans the courses (some die); the baseline rescues most of them."""
    pack = ImmunePack()
    cohort = pack.sample_cohort(300, seed=1)
    untreated = pack.metrics(rollout(pack, cohort, FixedLevel(0.0), steps=30, seed=1))
    treated = pack.metrics(rollout(pack, cohort, pack.guideline_policy(), steps=30, seed=1))
    assert 0.1 < untreated["died"].mean() < 0.6
    assert untreated["cleared"].mean() > 0.3
    assert treated["died"].mean() < 0.5 * untreated["died"].mean()
    assert treated["cleared"].mean() > 0.95
    assert treated["adverse_event_days"].mean() < untreated["adverse_event_days"].mean()
    assert treated["time_to_clear_days"].mean() < untreated["time_to_clear_days"].mean()
    assert set(pack.primary_metrics()) <= set(treated)


def test_pack_contract() -> None:
    pack = ImmunePack()
    assert pack.actions[0].kind == "level" and pack.actions[0].delta == 0.0  # index 0 = no drug, the safest action
    assert pack.max_dose == max(a.delta for a in pack.actions)
    given, regimen = pack.apply_actions(np.zeros(5), np.arange(5))
    np.testing.assert_array_equal(given, [0.0, 0.25, 0.5, 1.0, 2.0])
    np.testing.assert_array_equal(regimen, given)
    assert len(pack.feature_bounds) == pack.n_features
    d = pack.describe()
    assert d["observation_kinds"].keys() == {"pathogen_load", "organ_damage"}


def test_gymnasium_env_checker_passes() -> None:
    from gymnasium.utils.env_checker import check_env

    from dosewise.therapies.gym_env import TherapyEnv

    check_env(TherapyEnv(ImmunePack(), max_episode_steps=10), skip_render_check=True)
