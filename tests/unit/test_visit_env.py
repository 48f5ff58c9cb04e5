"""The visit-level training environment (services/trainer/dosewise_trainer/visit_env.py) and the visit-cadence learner
(algorithms/dqn_visits.py): a step is a clinic visit, its reward the interval's daily rewards, its discount γ per day, a
reversal without new evidence costs a penalty, and a tiny run exports a policy whose ONNX Q-values are the network's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dosewise.therapies.base import COVARIATES, ClinicView, FloatArray
from dosewise.therapies.clinic import ActionVisitPolicy, ClinicNoise, Schedule, clinic_rollout
from dosewise_trainer.algorithms import dqn
from dosewise_trainer.algorithms.dqn_visits import FamilyMember
from dosewise_trainer.algorithms.networks import torch_q_fn
from dosewise_trainer.export import load_onnx_q_fn, read_model_card
from dosewise_trainer.visit_env import (
    ExploringVisitPolicy,
    interval_discount,
    is_reversal,
    regimen_direction,
    visit_transitions,
)
from tests.unit.trainer_toy_pack import ToyPack

WEEKLY = Schedule("weekly", "a visit every 7 days", (0,), 7)
EARLY = Schedule("early", "days 0, 3, 7, then every 7", (0, 3, 7), 7)
START_DOSE = 2.0
KEEP, DOWN, UP, HOLD = 2, 1, 3, 0  # ToyPack's action indices


class VisitToyPack(ToyPack):
    """ToyPack at visits: weekly cadence, a start rule of 2 U/day, and the day of therapy as its last feature (so a
    scripted Q-function can act by visit day)."""

    cadences = ("weekly",)
    feature_specs = (*ToyPack.feature_specs, ToyPack.feature_specs[0].__class__("day", "days", "Day of therapy"))

    def features(self, view: ClinicView) -> np.ndarray:
        return np.concatenate([super().features(view), view.day[:, None].astype(np.float32)], axis=1)

    def start_regimen(self, view: ClinicView) -> FloatArray:
        return np.full(view.n, START_DOSE)


class InstantTwin:
    """level tomorrow = sensitivity × today's dose: the response is complete within the day, so a test can compute every
    day's truth by hand."""

    truth_key = "level"

    def __init__(self, sensitivity: FloatArray) -> None:
        self.sensitivity = np.asarray(sensitivity, dtype=float)
        self.n = self.sensitivity.size
        self.covariates = {c: np.zeros(self.n) for c in COVARIATES}
        self.covariates["weight_kg"] = np.full(self.n, 80.0)
        self._now = {"level": np.zeros(self.n)}

    def truth_now(self) -> dict[str, FloatArray]:
        return self._now

    def advance_day(self, given: FloatArray) -> dict[str, FloatArray]:
        self._now = {"level": self.sensitivity * np.asarray(given, dtype=float)}
        return self._now


def scripted(by_day: dict[int, int], default: int = KEEP):
    """A Q-function choosing ``by_day[visit day]`` (else ``default``): one-hot Q-values read off the day feature."""

    def q_fn(features: np.ndarray) -> np.ndarray:
        day = np.rint(features[:, -1]).astype(int)
        return np.eye(4)[[by_day.get(int(d), default) for d in day]]

    return q_fn


def run(pack: VisitToyPack, sensitivity: list[float], by_day: dict[int, int], schedule: Schedule = WEEKLY,
        days: int = 29, gamma: float = 0.9, penalty: float = 1.0):
    policy = ExploringVisitPolicy(pack, scripted(by_day), epsilon=0.0, rng=np.random.default_rng(0))
    traj = clinic_rollout(pack, InstantTwin(np.array(sensitivity)), policy, schedule, days, ClinicNoise(), seed=0)
    return traj, visit_transitions(pack, traj, policy.record, gamma, reversal_penalty=penalty)


class TestStepReward:
    def test_a_step_earns_the_sum_of_the_daily_rewards_of_its_interval_minus_the_change(self) -> None:
        pack = VisitToyPack()
        # Patient 0 (sensitivity 1): 2 U/day keeps level 2 (in band) until day 7, where −1 U sets 1 U/day: level 1,
        # out of band for the 7 days to the next visit. Reward: 0 days in band − 0.1 · |1 − 2| = −0.1.
        # Patient 1 (sensitivity 1.4): 2 U/day → 2.8, in band; −1 U → 1.4, out. Same −0.1.
        traj, tr = run(pack, [1.0, 1.4], {7: DOWN})
        first = tr.day == 7
        assert np.allclose(tr.reward[first], [-0.1, -0.1])
        # Every transition against the trajectory's own truth: Σ in-band days over [visit, next visit) − 0.1·|Δ regimen|.
        level = traj.truth["level"]
        for i, d, days, r in zip(tr.patient, tr.day, tr.days, tr.reward, strict=True):
            in_band = ((level[i, d:d + int(days)] >= 2.0) & (level[i, d:d + int(days)] <= 3.0)).sum()
            change = abs(traj.regimen[i, d] - traj.regimen[i, d - 1])
            assert r == pytest.approx(in_band - 0.1 * change)

    def test_keeping_a_regimen_in_band_earns_one_per_day_of_the_interval(self) -> None:
        _, tr = run(VisitToyPack(), [1.25], {}, schedule=EARLY, days=30)
        assert list(tr.days) == [4, 7, 7, 7]  # visits on days 0, 3, 7, 14, 21, 28: the last interval is still open
        assert np.allclose(tr.reward, tr.days)

    def test_the_start_rule_sets_the_first_regimen_and_is_no_transition(self) -> None:
        traj, tr = run(VisitToyPack(), [1.0], {})
        assert traj.started[0, 0] and traj.regimen[0, 0] == START_DOSE
        assert list(tr.day) == [7, 14, 21]  # day 28's interval is still open at the horizon


class TestDiscount:
    def test_a_step_is_discounted_gamma_per_day_to_the_power_of_its_days(self) -> None:
        _, tr = run(VisitToyPack(), [1.0], {}, schedule=EARLY, days=30, gamma=0.9)
        assert np.allclose(tr.discount, 0.9 ** tr.days)
        assert interval_discount(0.97, np.array([7.0]))[0] == pytest.approx(0.97**7)


class TestReversal:
    @pytest.mark.parametrize(
        ("prev", "now", "change", "effect", "expected"),
        [
            (+1, -1, -0.5, +1, True),  # raised, then lowered while the level fell: no evidence for lowering
            (+1, -1, 0.0, +1, True),  # ... or did not move
            (+1, -1, np.nan, +1, True),  # ... or was not measured
            (+1, -1, +0.5, +1, False),  # the level rose after the increase: lowering is a response to evidence
            (-1, +1, -0.5, +1, False),  # lowered, the level fell: raising again is justified
            (-1, +1, +0.5, +1, True),
            (+1, -1, -0.5, -1, False),  # insulin: more insulin lowers glucose; glucose fell, so lowering is justified
            (+1, -1, +0.5, -1, True),
            (+1, +1, -0.5, +1, False),  # the same direction twice is no reversal
            (0, -1, -0.5, +1, False),  # keep then change: no reversal
            (+1, 0, -0.5, +1, False),  # change then keep: no reversal
        ],
    )
    def test_fires_exactly_on_a_change_of_direction_without_evidence(self, prev: int, now: int, change: float,
                                                                     effect: int, expected: bool) -> None:
        got = is_reversal(np.array([prev]), np.array([now]), np.array([change]), effect, still=0.1)
        assert bool(got[0]) is expected

    def test_a_hold_is_a_decrease_whatever_it_resumes_at(self) -> None:
        d = regimen_direction(np.array([5.0, 5.0, 5.0]), np.array([5.0, 4.0, 6.0]), np.array([1, 0, 0]))
        assert list(d) == [-1, -1, +1]

    def test_the_penalty_is_charged_on_the_reversing_step_only(self) -> None:
        pack = VisitToyPack()
        script = {7: UP, 14: DOWN, 21: UP}
        # Sensitivity 0: nothing responds, so the level never moves and every flip is a reversal without evidence.
        _, flat = run(pack, [0.0], script, penalty=1.0)
        _, free = run(pack, [0.0], script, penalty=0.0)
        assert list(flat.day) == [7, 14, 21]
        assert list(flat.reversal) == [False, True, True]
        assert np.allclose(free.reward - flat.reward, [0.0, 1.0, 1.0])
        # Sensitivity 1: the increase at day 7 raises the level (2 → 3), so lowering at day 14 answers evidence; the
        # decrease at day 14 lowers it (3 → 2), so raising at day 21 does too.
        _, responsive = run(pack, [1.0], script, penalty=1.0)
        assert not responsive.reversal.any() and list(responsive.direction_change) == [False, True, True]


class TestPolicy:
    def test_greedy_exploring_policy_plans_what_the_served_policy_plans(self) -> None:
        pack = VisitToyPack()
        rng = np.random.default_rng(3)
        w = rng.normal(size=(pack.n_features, pack.n_actions))

        def q_fn(x: np.ndarray) -> np.ndarray:
            return np.tanh(x / 10.0) @ w

        sensitivity = rng.uniform(0.5, 1.5, 40)
        explore = clinic_rollout(pack, InstantTwin(sensitivity), ExploringVisitPolicy(pack, q_fn, 0.0, rng), WEEKLY, 40,
                                 seed=1)
        served = clinic_rollout(pack, InstantTwin(sensitivity), ActionVisitPolicy(pack, q_fn), WEEKLY, 40, seed=1)
        assert np.array_equal(explore.actions, served.actions)
        assert np.allclose(explore.regimen, served.regimen)


TINY_VISITS = {"therapy": "toy", "protocol": "clinic", "cadences": ("weekly",), "total_steps": 1_500, "num_patients": 32,
               "episode_days": 43, "learning_starts": 300, "train_patients": 100, "batch_size": 64, "buffer_size": 3_000,
               "hidden_sizes": (16, 16), "n_heads": 3, "log_every": 5, "progress": False, "replay_ratio": 4.0,
               "target_network_frequency": 20}


class TestTinyTraining:
    def test_a_tiny_run_exports_a_policy_whose_onnx_q_values_match_torch_and_whose_card_lists_the_cadences(
            self, tmp_path: Path) -> None:
        pack = VisitToyPack()
        family = [FamilyMember("instant-toy", lambda n, seed: InstantTwin(np.random.default_rng(seed).uniform(0.6, 1.4, n)))]
        result = dqn.train(dqn.Args(**TINY_VISITS, out_dir=str(tmp_path)), pack=pack, family=family)
        x = np.random.default_rng(0).normal([80, 2.5, 2.5, 2, 20], [10, 1, 1, 1, 10], (64, 5)).astype(np.float32)
        with torch.no_grad():
            expected = result.q_network.q_values(torch.from_numpy(x)).numpy()
        assert np.allclose(load_onnx_q_fn(tmp_path)(x), expected, atol=1e-5)
        assert np.allclose(torch_q_fn(result.q_network)(x), expected, atol=1e-6)
        card = read_model_card(tmp_path)
        assert card["protocol"] == "clinic"
        assert [c["name"] for c in card["clinic"]["cadences"]] == ["weekly"]
        assert card["clinic"]["twin_models"] == ["instant-toy"]
        assert card["clinic_evaluation"] is None  # filled by the clinic evaluation on held-out models, never here
        assert card["network"]["n_actions"] == pack.n_actions and card["network"]["n_features"] == pack.n_features
        assert json.loads((tmp_path / "model_card.json").read_text())["training"]["config"]["gamma_per_day"] == 0.97


class TestDoseEffectSign:
    @pytest.mark.parametrize("therapy", ["warfarin", "insulin_t2d"])
    def test_matches_what_more_drug_does_to_the_pack_twins_primary_observation(self, therapy: str) -> None:
        """The reversal rule reads ``pack.dose_effect_sign``: check it against the pack's own twins, a week of a double
        dose against the same patients on a single one."""
        from dosewise.therapies.registry import get_pack
        from dosewise.therapies.twin_models import twin_models

        pack = get_pack(therapy)
        model = twin_models(therapy, role="train")[0]
        single, _ = model.build(16, 5)
        double, _ = model.build(16, 5)
        dose = np.full(16, pack.max_dose / 4)
        for _ in range(7):
            low = single.advance_day(dose)[single.truth_key]
            high = double.advance_day(2 * dose)[double.truth_key]
        assert np.median(np.sign(high - low)) == pack.dose_effect_sign


class TestVisitFeatureStats:
    def test_are_fitted_on_the_features_of_every_visit_of_the_rollouts(self) -> None:
        from dosewise_trainer.feature_stats import compute_visit_feature_stats

        pack = VisitToyPack()
        policy = ActionVisitPolicy(pack, scripted({}))
        family = [("instant-toy", lambda n, seed: InstantTwin(np.random.default_rng(seed).uniform(0.6, 1.4, n)))]
        stats = compute_visit_feature_stats(pack, family, [WEEKLY, EARLY], n_patients=10, days=29, policy=policy)
        # weekly: visits on days 0, 7, 14, 21, 28; early: 0, 3, 7, 14, 21, 28 → 11 visits of each of 10 patients
        assert stats.n_samples == 110
        assert stats.mean[-1] == pytest.approx((0 + 7 + 14 + 21 + 28 + 0 + 3 + 7 + 14 + 21 + 28) / 11)
        assert "weekly, early" in stats.source


class TestNStep:
    def test_an_n_step_return_adds_the_next_steps_discounted_by_their_days_and_bootstraps_where_they_end(self) -> None:
        pack = VisitToyPack()
        policy = ExploringVisitPolicy(pack, scripted({7: DOWN}), epsilon=0.0, rng=np.random.default_rng(0))
        traj = clinic_rollout(pack, InstantTwin(np.array([1.0, 1.3])), policy, EARLY, 36, ClinicNoise(), seed=0)
        one = visit_transitions(pack, traj, policy.record, 0.9, n_step=1)
        two = visit_transitions(pack, traj, policy.record, 0.9, n_step=2)
        for i in range(2):
            r1, d1 = one.reward[one.patient == i], one.days[one.patient == i]  # visits 3, 7, 14, 21, 28 (35 open)
            r2, disc2 = two.reward[two.patient == i], two.discount[two.patient == i]
            assert np.allclose(r2[:-1], r1[:-1] + 0.9 ** d1[:-1] * r1[1:])
            assert np.allclose(disc2[:-1], 0.9 ** (d1[:-1] + d1[1:]))
            assert r2[-1] == pytest.approx(r1[-1]) and disc2[-1] == pytest.approx(0.9 ** d1[-1])  # the window ends early
        assert np.array_equal(two.next_obs[0], one.next_obs[1])  # bootstraps from the visit after next
