"""No train/serve skew: for every pack, the features the gateway computes from a PatientState (ClinicView.from_states) equal
the features the simulator showed the policy in training, for the same clinic-visible history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from dosewise.schemas import PatientState
from dosewise.therapies.base import CYP2C9_GENOTYPES, RACES, VKORC1_GENOTYPES, ClinicView
from dosewise.therapies.registry import PACKS

T0 = datetime(2026, 9, 1, 8, tzinfo=UTC)
DAYS = 12
N = 6


def _state(pack, cohort, i: int, view: ClinicView, given: np.ndarray, day: int) -> PatientState:  # type: ignore[no-untyped-def]
    c = {k: v[i] for k, v in cohort.covariates.items()}
    as_of = T0 + timedelta(days=day * pack.decision_interval_days)
    observations = [
        {"kind": kind, "value": float(v), "unit": "1" if kind not in ("inr", "glucose_fasting") else
         ("{INR}" if kind == "inr" else "mg/dL"), "time": as_of - timedelta(days=float(a))}
        for kind in pack.observation_kinds
        for v, a in zip(view.obs[kind][i], view.obs_age_days[kind][i], strict=True) if not np.isnan(v)
    ]
    # What the clinic saw given (the view's dose history: [:, k] = k + 1 days ago), as timed dose events.
    doses = [{"amount": float(view.dose_history[i, k]), "unit": pack.dose_unit, "time": as_of - timedelta(days=k + 1)}
             for k in range(min(day, pack.dose_history_days)) if not np.isnan(view.dose_history[i, k])]
    meds = (["amiodarone"] if c.get("amiodarone", 0) > 0.5 else []) + (["rifampin"] if c.get("enzyme_inducer", 0) > 0.5 else [])
    cyp, vk = int(c.get("cyp2c9", -1)), int(c.get("vkorc1", -1))
    egfr = c.get("egfr_ml_min_1_73m2", np.nan)
    return PatientState.model_validate({
        "therapy": pack.id, "patient_ref": f"parity-{i:04d}", "age_years": float(c["age_years"]),
        "sex": "female" if c["female"] > 0.5 else "male", "weight": {"value": float(c["weight_kg"]), "unit": "kg"},
        "height": {"value": float(c["height_cm"]), "unit": "cm"},
        "egfr_ml_min_1_73m2": None if np.isnan(egfr) else float(egfr),
        "race": RACES[int(c["race"])] if c.get("race", -1) >= 0 else "unknown",
        "current_dose": {"value": float(view.current_dose[i]), "unit": pack.dose_unit},
        "observations": observations, "doses": doses, "co_medications": meds, "pregnant": bool(c.get("pregnant", 0) > 0.5),
        "genotype": {"cyp2c9": CYP2C9_GENOTYPES[cyp] if cyp >= 0 else None,
                     "vkorc1": VKORC1_GENOTYPES[vk] if vk >= 0 else None},
        "as_of": as_of,
    })


@pytest.mark.parametrize("therapy", list(PACKS))
def test_gateway_features_equal_simulator_features(therapy: str) -> None:
    pack = PACKS[therapy]
    cohort = pack.sample_cohort(N, seed=11)
    sim = pack.simulator(cohort, seed=11)
    policy = pack.guideline_policy()
    policy.reset(N)
    view = sim.reset()
    given_hist = np.zeros((N, DAYS))
    for day in range(DAYS):
        if day in (1, 5, DAYS - 1):
            alive = np.ones(N, dtype=bool)
            states = [_state(pack, cohort, i, view, given_hist, day) for i in range(N) if alive[i]]
            served = pack.features(ClinicView.from_states(pack, states))
            trained = pack.features(view)
            np.testing.assert_allclose(served, trained, rtol=1e-4, atol=1e-3, err_msg=f"{therapy} day {day}")
        given, regimen = policy.act(view)
        given_hist[:, day] = given
        view = sim.step(given, regimen).view


@pytest.mark.parametrize("therapy", ["warfarin", "insulin_t2d"])
def test_a_course_older_than_the_training_courses_looks_like_the_oldest_one(therapy: str) -> None:
    """The policy is never asked about a day of therapy it did not train on: the feature stops at the twins' course length
    (the same ``episode_days`` the trainer reads), so a year-old course is read as that oldest trained day, not
    extrapolated (uncapped, the insulin policy's choice flipped from +4 U to hold between days 92 and 180)."""
    from dosewise import decision
    from dosewise.schemas import INSULIN_STATE_EXAMPLE, PATIENT_STATE_EXAMPLE
    from dosewise_trainer.algorithms.common import episode_days

    pack = PACKS[therapy]
    course = episode_days(pack, None)
    column = [f.name for f in pack.feature_specs].index("day_of_therapy")
    example = {"warfarin": PATIENT_STATE_EXAMPLE, "insulin_t2d": INSULIN_STATE_EXAMPLE}[therapy]
    as_of = datetime.fromisoformat(example["as_of"])
    days = {}
    for age in (course, 2 * course, 365.0):
        state = PatientState.model_validate(example | {"therapy_started": as_of - timedelta(days=age)})
        days[age] = float(decision.prepare([state]).features[0, column])
    assert days == {course: course, 2 * course: course, 365.0: course}
