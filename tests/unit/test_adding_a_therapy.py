"""Adding a therapy: its pack, and one line that registers it. Nothing outside the pack changes.

The pack here is the toy of ``trainer_toy_pack.py`` (one drug, one level, a first-order response): a module of its own, as
a new therapy's ``therapies/<id>/`` package would be. Once registered, the generic code finds everything by asking it:

- the API contract accepts its patients and their observation kind;
- its twins are simulated and dosed by its guideline;
- the trainer learns a policy for it by name and exports it to ONNX with its model card;
- the inference service loads that policy from the registry and answers a patient with the guardrail-masked choice, the
  policy's values, attributions, the patient's fitted twin forecast and a rationale;
- the forecast fits the pack's own sensitivity parameter to the patient's measurements.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from dosewise import forecast
from dosewise.artifacts import CARD_FILE, POLICY_FILE, sha256_file
from dosewise.inference_contract import RecommendRequest
from dosewise.schemas import PatientState
from dosewise.settings import Settings
from dosewise.storage.db import make_engine, make_sessionmaker, transaction
from dosewise.storage.models import Policy
from dosewise.storage.repositories import PolicyRepository
from dosewise.therapies.base import ClinicView, Cohort
from dosewise.therapies.registry import register, unregister
from dosewise.therapies.rollout import ActionPolicy, rollout
from dosewise_trainer.algorithms import dqn
from tests.unit.trainer_toy_pack import ToyPack, ToySimulator

TRAINING_BUDGET = {"total_steps": 2_000, "num_patients": 16, "episode_days": 20, "learning_starts": 500,
                   "train_patients": 100, "batch_size": 64, "buffer_size": 5_000, "hidden_sizes": (32, 32), "n_heads": 3,
                   "log_every": 10, "progress": False}
AS_OF = datetime(2026, 11, 23, 8, tzinfo=UTC)


@pytest.fixture(scope="module")
def pack() -> Iterator[ToyPack]:
    toy = register(ToyPack())  # the one line a new therapy adds (at the end of dosewise/therapies/registry.py)
    yield toy
    unregister(toy.id)


@pytest.fixture(scope="module")
def trained_policy(pack: ToyPack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A policy the trainer learned for the pack, exported where a policy directory keeps it: <therapy>/<version>/."""
    out = tmp_path_factory.mktemp("policies") / pack.id / "dqn-test"
    dqn.train(dqn.Args.for_therapy(pack.id, **TRAINING_BUDGET, out_dir=str(out)))
    return out


def request(pack: ToyPack, states: list[dict[str, Any]]) -> dict[str, Any]:
    """What the gateway sends inference for these states: their validated view (dosewise.inference_contract)."""
    view = ClinicView.from_states(pack, [PatientState.model_validate(s) for s in states])
    return json.loads(RecommendRequest.of(pack, view, explain=True).model_dump_json())


def state(level: list[float], dose_u: float = 1.0, **fields: Any) -> dict[str, Any]:
    """A patient of the toy therapy as a clinic sends it: a level measured each morning, the dose given each evening."""
    days = len(level)
    return {
        "therapy": "toy", "patient_ref": "toy-ward-bed1", "age_years": 50, "sex": "female",
        "weight": {"value": 70, "unit": "kg"}, "height": {"value": 165, "unit": "cm"},
        "current_dose": {"value": dose_u, "unit": "U"},
        "observations": [{"kind": "level", "value": v, "unit": "1", "time": (AS_OF - timedelta(days=days - 1 - k)).isoformat()}
                         for k, v in enumerate(level)],
        "doses": [{"amount": dose_u, "unit": "U", "time": (AS_OF - timedelta(days=days - k, hours=-12)).isoformat()}
                  for k in range(days)],
        "as_of": AS_OF.isoformat(), **fields,
    }


class TestTheContract:
    def test_accepts_a_patient_of_the_new_therapy_and_its_observation_kind(self, pack: ToyPack) -> None:
        s = PatientState.model_validate(state([0.9, 1.0, 1.0]))
        assert s.therapy == "toy" and [o.kind for o in s.observations] == ["level"] * 3

    def test_refuses_an_observation_kind_the_pack_does_not_read(self, pack: ToyPack) -> None:
        bad = state([1.0])
        bad["observations"][0] |= {"kind": "inr", "unit": "{INR}"}
        with pytest.raises(ValidationError, match="toy uses observation kinds level"):
            PatientState.model_validate(bad)

    def test_describes_the_therapy_from_the_pack(self, pack: ToyPack) -> None:
        described = pack.describe()
        assert described["observation_kinds"]["level"]["quantity"] == "dimensionless"
        assert [a["id"] for a in described["actions"]] == ["hold", "-1", "keep", "+1"]

    def test_a_second_pack_under_the_same_id_is_refused(self, pack: ToyPack) -> None:
        with pytest.raises(ValueError, match="already registered"):
            register(ToyPack())


class TestSimulation:
    def test_its_guideline_doses_its_twins_into_the_band_where_keeping_the_start_dose_does_not(self, pack: ToyPack) -> None:
        def in_range(policy: Any) -> float:
            cohort = pack.sample_cohort(200, seed=3)
            return float(pack.metrics(rollout(pack, cohort, policy, steps=20, seed=4))["time_in_range_pct"].mean())

        keep = ActionPolicy(pack, lambda f: np.eye(pack.n_actions)[np.full(len(f), 2)])
        assert in_range(keep) == 0.0  # level = sensitivity ≤ 1.4 at 1 U/day: below 2–3
        assert in_range(pack.guideline_policy()) > 50.0


class TestTraining:
    def test_the_trainer_finds_the_pack_by_name_and_exports_onnx_with_its_card(self, pack: ToyPack,
                                                                               trained_policy: Path) -> None:
        card = json.loads((trained_policy / CARD_FILE).read_text())
        assert card["therapy"] == "toy" and card["onnx"]["sha256"] == sha256_file(trained_policy / POLICY_FILE)
        assert [f["name"] for f in card["features"]] == [f.name for f in pack.feature_specs]
        assert [a["id"] for a in card["actions"]] == [a.id for a in pack.actions]


class TestServing:
    @pytest.fixture()
    def inference(self, pack: ToyPack, trained_policy: Path, sqlite_url: str) -> Iterator[TestClient]:
        """The inference service over a registry whose active toy policy is the trained one."""
        policy_dir = trained_policy.parent.parent
        settings = Settings(DATABASE_URL=sqlite_url, DOSEWISE_POLICY_DIR=str(policy_dir))  # type: ignore[call-arg]

        async def activate() -> None:
            engine = make_engine(settings)
            try:
                async with transaction(make_sessionmaker(engine)) as s:
                    card = json.loads((trained_policy / CARD_FILE).read_text())
                    await PolicyRepository(s).add(Policy(
                        therapy=pack.id, version=trained_policy.name, status="active", sha256=card["onnx"]["sha256"],
                        artifact_path=str((trained_policy / POLICY_FILE).relative_to(policy_dir)), model_card=card))
            finally:
                await engine.dispose()

        asyncio.run(activate())
        from dosewise_inference.app import create_app

        with TestClient(create_app(settings)) as client:
            yield client

    def test_answers_a_patient_with_an_allowed_action_its_values_a_forecast_and_a_rationale(
            self, pack: ToyPack, inference: TestClient) -> None:
        r = inference.post("/v1/recommend", json=request(pack, [state([0.9, 1.0, 1.0])]))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["policy"]["therapy"] == "toy" and body["policy"]["version"] == "dqn-test"
        (item,) = body["items"]
        assert len(item["q_values"]) == pack.n_actions and item["action_mask"][item["action"]]
        score = item["score"]
        assert {a["feature"] for a in score["attributions"]["top"]} <= {f.name for f in pack.feature_specs}
        fc_row = score["forecast"]
        assert fc_row["observation"] == "level" and fc_row["personalization"]["parameter"] == "sensitivity"
        assert fc_row["mean_daily_reward"] is not None  # the pack's own reward terms, booked on the forecast
        assert "level" in score["rationale"] and score["rationale"].startswith("Recommendation:")

    def test_the_forecast_moves_with_the_dose_the_recommendation_sets(self, pack: ToyPack, inference: TestClient) -> None:
        r = inference.post("/v1/recommend", json=request(pack, [state([0.9, 1.0, 1.0])]))
        item = r.json()["items"][0]
        _, regimen = pack.apply_actions(np.array([1.0]), np.array([item["action"]]))
        fc_row = item["score"]["forecast"]
        rec, keep = fc_row["recommended"][-1], fc_row["keep_dose"][-1]
        assert np.sign(rec - keep) == np.sign(regimen[0] - 1.0)  # more drug, a higher level; the same, the same


class TestForecast:
    def test_fits_a_more_sensitive_patient_a_larger_sensitivity(self, pack: ToyPack) -> None:
        """Two patients dosed alike for a week, one twice as sensitive: the twin fitted to each one's levels says so."""
        cov = pack.sample_cohort(2, seed=1).covariates
        cohort = Cohort(covariates=cov, hidden={"sensitivity": np.array([0.7, 1.4])}, seed=0)
        sim = ToySimulator(pack, cohort, seed=2)
        view: ClinicView = sim.reset()
        for _ in range(7):
            view = sim.step(np.full(2, 2.0), np.full(2, 2.0)).view
        f = forecast.forecast(pack, view, np.full(2, 2))  # keep
        assert f is not None and f.sensitivity[1] > 1.5 * f.sensitivity[0]
        np.testing.assert_allclose(f.keep[:, -1], [1.4, 2.8], rtol=0.15)  # steady state: sensitivity × 2 U/day


def test_no_file_of_the_generic_code_names_the_new_therapy(pack: ToyPack) -> None:
    """Everything above found the pack through the registry: its id appears in no module of shared/ or services/."""
    root = Path(__file__).resolve().parents[2]
    naming = [str(p.relative_to(root)) for d in ("shared", "services") for p in (root / d).rglob("*.py")
              if f'"{pack.id}"' in p.read_text(encoding="utf-8") or f"'{pack.id}'" in p.read_text(encoding="utf-8")]
    assert naming == []
