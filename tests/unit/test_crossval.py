"""Cross-validation over virtual-patient splits and subgroup analysis (dosewise_trainer.evaluation.crossval, .subgroups).

Issue 4: "5-fold cross-validation over virtual-patient splits: train on four folds, evaluate on the held-out fold"; "per
subgroup (sex, age band, genotype or eGFR band) so a policy that helps the average and harms a subgroup is visible".
Runs on ``EvalToyPack``, a seconds-fast fake therapy (not a clinical model) whose covariates span every subgroup dimension.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest

from dosewise.therapies.base import (
    COVARIATES,
    ClinicView,
    Cohort,
    FeatureSpec,
    StepResult,
    TherapyPack,
    Trajectory,
    VectorSimulator,
)
from dosewise_trainer.evaluation.crossval import TrainerFn, cross_validate, evaluate_on_cohort, fold_indices
from dosewise_trainer.evaluation.subgroups import split
from tests.unit.trainer_toy_pack import ToyGuideline, ToyPack, guideline_actions


# --- a fake therapy -----------------------------------------------------------------------------------------------------
class EvalToySimulator(VectorSimulator):
    """level' = 0.5·level + 0.5·sensitivity·dose + N(0, 0.1²); the clinic measures the level every day."""

    def __init__(self, cohort: Cohort, seed: int) -> None:
        self.cohort, self.n, self.rng = cohort, cohort.n, np.random.default_rng(seed)

    def _view(self) -> ClinicView:
        obs = np.full((self.n, 3), np.nan)
        obs[:, 0] = self.level
        return ClinicView(day=np.full(self.n, float(self.day)), current_dose=self.dose.copy(),
                          dose_history=np.full((self.n, 3), np.nan), obs={"level": obs},
                          obs_age_days={"level": np.zeros((self.n, 3))}, covariates=self.cohort.covariates)

    def reset(self) -> ClinicView:
        self.day, self.dose = 0, np.ones(self.n)
        self.level = 0.5 * self.cohort.hidden["sensitivity"]
        return self._view()

    def step(self, given: np.ndarray, regimen: np.ndarray) -> StepResult:
        self.level = 0.5 * self.level + 0.5 * self.cohort.hidden["sensitivity"] * given + self.rng.normal(0, 0.1, self.n)
        self.dose, self.day = regimen.copy(), self.day + 1
        in_band = ((self.level >= 2.0) & (self.level <= 3.0)).astype(float)
        adverse = ((self.level > 4.0) | (self.level < 1.0)).astype(float)
        return StepResult(self._view(), in_band - adverse, np.zeros(self.n, bool), np.zeros(self.n, bool),
                          info={"level": self.level.copy(), "in_band": in_band, "adverse": adverse})


class EvalToyPack(ToyPack):
    """The trainer tests' toy drug (same actions, limits and guideline rule), with a sex covariate for subgroup tests and
    its own noisier, never-fatal simulator."""

    id = "evaltoy"
    name = "Evaluation toy (tests only)"
    feature_specs = (
        FeatureSpec("level_last", "level", "Latest level"),
        FeatureSpec("current_dose", "U/day", "Regimen in force"),
        FeatureSpec("female", "0/1", "Sex is female"),
    )

    def features(self, view: ClinicView) -> np.ndarray:
        return np.stack([view.obs["level"][:, 0], view.current_dose, view.covariates["female"]], axis=1).astype(np.float32)

    def sample_cohort(self, n: int, seed: int) -> Cohort:
        rng = np.random.default_rng(seed)
        cov = {c: np.zeros(n) for c in COVARIATES}
        cov["age_years"] = rng.uniform(20.0, 95.0, n)
        cov["female"] = (rng.random(n) < 0.5).astype(float)
        cov["cyp2c9"] = rng.integers(-1, 6, n).astype(float)
        cov["vkorc1"] = rng.integers(-1, 3, n).astype(float)
        cov["egfr_ml_min_1_73m2"] = np.where(rng.random(n) < 0.1, np.nan, rng.uniform(10.0, 110.0, n))
        hidden = {"sensitivity": rng.uniform(0.8, 2.0, n), "patient_id": np.arange(n, dtype=float)}
        return Cohort(covariates=cov, hidden=hidden, seed=seed)

    def simulator(self, cohort: Cohort, seed: int) -> VectorSimulator:
        return EvalToySimulator(cohort, seed)

    def guideline_policy(self) -> ToyGuideline:
        return ToyGuideline(self)

    def metrics(self, trajectory: Trajectory) -> dict[str, np.ndarray]:
        return {"time_in_range_pct": 100.0 * trajectory.info["in_band"].mean(axis=1),
                "adverse_event_days": trajectory.info["adverse"].sum(axis=1),
                "mean_dose_u_per_day": trajectory.given.mean(axis=1)}

    def primary_metrics(self) -> tuple[str, str]:
        return ("time_in_range_pct", "adverse_event_days")


def guideline_q_fn(x: np.ndarray) -> np.ndarray:
    """Q-values whose argmax is the guideline's action: a learned policy that has learned exactly the guideline."""
    return np.eye(4)[guideline_actions(x[:, 0])]


def overdosing_q_fn(x: np.ndarray) -> np.ndarray:
    """Always +1: drives the level far above the band."""
    return np.tile([0.0, 0.0, 0.0, 1.0], (x.shape[0], 1))


def harms_women_q_fn(x: np.ndarray) -> np.ndarray:
    """The guideline for men, always +1 for women: good on average for half the cohort, harmful in one subgroup."""
    return np.where(x[:, 2:3] > 0.5, overdosing_q_fn(x), guideline_q_fn(x))


def fixed_trainer(q_fn: Callable[[np.ndarray], np.ndarray], calls: list[tuple[np.ndarray, int]] | None = None) -> TrainerFn:
    def trainer(pack: TherapyPack, cohort: Cohort, seed: int) -> Callable[[np.ndarray], np.ndarray]:
        if calls is not None:
            calls.append((cohort.hidden["patient_id"].astype(int), seed))
        return q_fn

    return trainer


PACK = EvalToyPack()


# --- folds --------------------------------------------------------------------------------------------------------------
class TestFolds:
    @pytest.mark.parametrize(("n", "k"), [(5, 5), (7, 5), (101, 5), (2000, 5), (10, 2), (13, 3)])
    def test_folds_partition_the_patients(self, n: int, k: int) -> None:
        folds = fold_indices(n, k, seed=7)
        assert len(folds) == k
        together = np.concatenate(folds)
        assert np.array_equal(np.sort(together), np.arange(n))  # cover everyone, each exactly once (hence disjoint)
        sizes = [f.size for f in folds]
        assert max(sizes) - min(sizes) <= 1

    def test_same_seed_same_folds_other_seed_other_folds(self) -> None:
        a, b, c = fold_indices(500, 5, 7), fold_indices(500, 5, 7), fold_indices(500, 5, 8)
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
        assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))

    def test_membership_is_random_not_contiguous(self) -> None:
        assert not np.array_equal(fold_indices(100, 5, 1)[0], np.arange(20))

    def test_invalid_fold_counts(self) -> None:
        with pytest.raises(ValueError):
            fold_indices(10, 1, 0)
        with pytest.raises(ValueError):
            fold_indices(3, 5, 0)


# --- cross-validation ---------------------------------------------------------------------------------------------------
class TestCrossValidate:
    def test_trains_on_the_other_folds_and_evaluates_on_the_held_out_one(self) -> None:
        calls: list[tuple[np.ndarray, int]] = []
        cv = cross_validate(PACK, 103, days=10, seed=4, trainer_fn=fixed_trainer(guideline_q_fn, calls), folds=5)
        assert len(calls) == len(cv.folds) == 5
        held_out = [f.result.cohort.hidden["patient_id"].astype(int) for f in cv.folds]
        for (train_ids, _), test_ids in zip(calls, held_out, strict=True):
            assert np.intersect1d(train_ids, test_ids).size == 0  # never trained on a patient it is tested on
            assert np.array_equal(np.sort(np.concatenate([train_ids, test_ids])), np.arange(103))
        assert np.array_equal(np.sort(np.concatenate(held_out)), np.arange(103))
        assert len({seed for _, seed in calls}) == 5  # each fold's training gets its own seed

    def test_pooled_counts_every_patient_once(self) -> None:
        cv = cross_validate(PACK, 60, days=8, seed=1, trainer_fn=fixed_trainer(guideline_q_fn), folds=3)
        assert cv.pooled.n_patients == 60
        assert all(c.policy.n == 60 for c in cv.pooled.comparisons)
        assert sorted(cv.pooled.cohort.hidden["patient_id"].astype(int)) == list(range(60))
        assert sum(f.n_test for f in cv.folds) == 60

    def test_a_learned_copy_of_the_guideline_shows_no_difference(self) -> None:
        cv = cross_validate(PACK, 200, days=15, seed=2, trainer_fn=fixed_trainer(guideline_q_fn))
        for c in cv.pooled.comparisons:
            assert c.delta == 0.0 and c.relative_change in (0.0, None)
            assert c.welch_p == pytest.approx(1.0) and c.paired_p == 1.0
        assert cv.pooled.targets is not None and not cv.pooled.targets.adverse_target_met  # 0 % fewer is not 20 % fewer
        assert not cv.targets_met

    def test_a_harmful_policy_is_significantly_worse(self) -> None:
        cv = cross_validate(PACK, 200, days=15, seed=2, trainer_fn=fixed_trainer(overdosing_q_fn))
        adverse = next(c for c in cv.pooled.comparisons if c.metric == "adverse_event_days")
        assert adverse.delta > 0 and adverse.welch_p < 1e-6 and adverse.relative_change is not None
        assert not cv.targets_met
        assert all(f.result.targets is not None and not f.result.targets.met for f in cv.folds)

    def test_same_seed_same_result(self) -> None:
        a = cross_validate(PACK, 50, days=6, seed=9, trainer_fn=fixed_trainer(harms_women_q_fn), folds=2).to_dict()
        b = cross_validate(PACK, 50, days=6, seed=9, trainer_fn=fixed_trainer(harms_women_q_fn), folds=2).to_dict()
        assert a == b

    def test_json_summary(self) -> None:
        d = cross_validate(PACK, 40, days=5, seed=3, trainer_fn=fixed_trainer(guideline_q_fn), folds=2).to_dict()
        assert d["n_folds"] == 2 and d["patients"] == 40 and d["targets_met"] is False
        assert {m["metric"] for m in d["pooled"]["metrics"]} == {"time_in_range_pct", "adverse_event_days", "mean_dose_u_per_day"}
        assert d["across_folds"]["adverse_event_days"]["delta_mean"] == 0.0

    def test_model_card_summary_is_compact_json(self) -> None:
        cv = cross_validate(PACK, 40, days=5, seed=3, trainer_fn=fixed_trainer(harms_women_q_fn), folds=2)
        card = json.loads(json.dumps(cv.card_summary(), allow_nan=False))  # strict JSON: no NaN
        assert card["n_folds"] == 2 and len(card["folds"]) == 2 and card["targets_met"] is False
        assert [m["metric"] for m in card["pooled_metrics"]] == ["time_in_range_pct", "adverse_event_days", "mean_dose_u_per_day"]
        assert "subgroups" not in card


# --- subgroups ----------------------------------------------------------------------------------------------------------
class TestSubgroups:
    def test_each_dimension_covers_every_patient_once(self) -> None:
        cohort = PACK.sample_cohort(500, 3)
        groups = split(cohort)
        dims = {g.dimension for g in groups}
        assert dims == {"sex", "age", "CYP2C9", "VKORC1", "eGFR"}
        for d in dims:
            idx = np.concatenate([g.index for g in groups if g.dimension == d])
            assert np.array_equal(np.sort(idx), np.arange(500)), d

    def test_band_edges(self) -> None:
        cohort = PACK.sample_cohort(9, 0)
        cohort.covariates["age_years"][:] = [49.9, 50.0, 64.9, 65.0, 74.9, 75.0, 90.0, 20.0, 50.0]
        cohort.covariates["egfr_ml_min_1_73m2"][:] = [60.0, 59.9, 30.0, 29.9, np.nan, 90.0, 5.0, 45.0, 61.0]
        cohort.covariates["cyp2c9"][:] = [0, 1, 2, 3, 4, 5, -1, 0, 0]
        groups = {(g.dimension, g.label): list(g.index) for g in split(cohort)}
        assert groups[("age", "<50")] == [0, 7]
        assert groups[("age", "50–64")] == [1, 2, 8]
        assert groups[("age", "65–74")] == [3, 4]
        assert groups[("age", "≥75")] == [5, 6]
        assert groups[("eGFR", "≥60")] == [0, 5, 8]
        assert groups[("eGFR", "30–59")] == [1, 2, 7]
        assert groups[("eGFR", "<30")] == [3, 6]
        assert groups[("eGFR", "unknown")] == [4]
        assert groups[("CYP2C9", "*1/*1")] == [0, 7, 8]
        assert groups[("CYP2C9", "one variant (*1/*2, *1/*3)")] == [1, 2]
        assert groups[("CYP2C9", "two variants (*2/*2, *2/*3, *3/*3)")] == [3, 4, 5]
        assert groups[("CYP2C9", "unknown")] == [6]

    def test_untested_covariates_are_left_out(self) -> None:
        cohort = PACK.sample_cohort(50, 1)
        cohort.covariates["cyp2c9"][:] = -1
        cohort.covariates["egfr_ml_min_1_73m2"][:] = np.nan
        assert {g.dimension for g in split(cohort)} == {"sex", "age", "VKORC1"}

    def test_a_policy_that_harms_one_subgroup_is_flagged_there_only(self) -> None:
        from dosewise.therapies.rollout import ActionPolicy

        cohort = PACK.sample_cohort(400, 5)
        res = evaluate_on_cohort(PACK, cohort, ActionPolicy(PACK, harms_women_q_fn), steps=20, seed=5)
        flags = {(s.subgroup.dimension, s.subgroup.label): s.worse for s in res.subgroups}
        assert "adverse_event_days" in flags[("sex", "female")]
        assert flags[("sex", "male")] == []  # identical to the guideline for men: delta 0, p = 1

    def test_identical_policy_flags_nothing(self) -> None:
        cohort = PACK.sample_cohort(300, 6)
        res = evaluate_on_cohort(PACK, cohort, PACK.guideline_policy(), steps=12, seed=6)
        assert all(s.worse == [] for s in res.subgroups)
        assert all(c.delta == 0.0 for s in res.subgroups for c in s.comparisons)


class TestDQNTrainer:
    """The learner `dosewise evaluate --cv-folds` uses (crossval.dqn_trainer_fn), on a budget of a few hundred steps."""

    TINY = {"total_steps": 600, "learning_starts": 200, "num_patients": 16, "batch_size": 32}

    def test_cross_validates_the_real_dqn_learner(self) -> None:
        from dosewise_trainer.evaluation.crossval import dqn_trainer_fn

        cv = cross_validate(PACK, 40, days=6, seed=0, trainer_fn=dqn_trainer_fn("smoke", **self.TINY), folds=2)
        assert cv.pooled.n_patients == 40 and len(cv.folds) == 2
        assert all(f.n_train == 20 and f.train_seconds > 0 for f in cv.folds)

    def test_same_fold_seed_same_policy(self) -> None:
        from dosewise_trainer.evaluation.crossval import dqn_trainer_fn

        fn = dqn_trainer_fn("smoke", **self.TINY)
        cohort = PACK.sample_cohort(30, 1)
        probe = PACK.features(PACK.simulator(cohort, 0).reset())
        q1, q2, q3 = (fn(PACK, cohort, seed)(probe) for seed in (5, 5, 6))
        assert np.array_equal(q1, q2)
        assert not np.array_equal(q1, q3)

    def test_unknown_config(self) -> None:
        from dosewise_trainer.evaluation.crossval import dqn_trainer_fn

        with pytest.raises(ValueError, match="unknown DQN config"):
            dqn_trainer_fn("huge")
