"""``dosewise evaluate --protocol clinic`` (dosewise_trainer.evaluation.cli, clinic.py, clinic_report.py) on a toy therapy:
the policies run on the same patients and noise, the table and JSON, and the report with the aims checked line by line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from dosewise.therapies import registry, twin_models
from dosewise.therapies.base import ClinicView
from dosewise.therapies.clinic import ClinicTrajectory, VisitPlan, plan_from_actions
from dosewise_trainer.evaluation import cli
from dosewise_trainer.evaluation.clinic import GUIDELINE, evaluate_clinic
from dosewise_trainer.evaluation.clinic_report import check_aims
from tests.unit.test_clinic_protocol import ToyPack, ToyTwin

WIDE = {"COLUMNS": "400"}


class Guideline:
    """Start at 4, then +10 % while the level is under 2, hold-and-reduce above 3, keep otherwise (ToyPack's actions)."""

    name = GUIDELINE

    def __init__(self, pack: ToyPack) -> None:
        self.pack = pack

    def reset(self, n: int) -> None:
        pass

    def plan(self, view: ClinicView) -> VisitPlan:
        last = np.nan_to_num(view.obs["level"][:, 0], nan=1.0)
        return plan_from_actions(self.pack, view, np.where(last < 2.0, 2, np.where(last > 3.0, 0, 1)))


class ClinicToyPack(ToyPack):
    id = "clinictoy"
    cadences = ("weekly", "every-3-days")
    clinic_group_labels = {"age": ("under 60", "60 and over")}
    clinic_metric_labels = {"days_in_band_pct": "Days in 2–3 (%)", "days_above_3": "Days above 3"}

    def visit_guideline_policy(self, cadence: str | None = None) -> Guideline:
        return Guideline(self)

    def clinic_metrics(self, traj: ClinicTrajectory) -> dict[str, np.ndarray]:
        level = traj.truth["level_true"]
        return {"days_in_band_pct": 100.0 * ((level >= 2) & (level <= 3)).mean(axis=1),
                "adverse_event_days": (level > 3).sum(axis=1).astype(float),
                "direction_changes": np.zeros(traj.n)}

    def clinic_groups(self, covariates, hidden) -> dict[str, np.ndarray]:
        return {"age": (covariates["age_years"] >= 60).astype(np.int64)}


class SlowTwin(ToyTwin):
    """A 'published' model the policies never saw: the level rises half as fast."""

    def truth_now(self) -> dict[str, np.ndarray]:
        return {"level_true": 1.0 + 0.05 * self.total}


@pytest.fixture(autouse=True)
def toy(monkeypatch: pytest.MonkeyPatch) -> ClinicToyPack:
    pack = ClinicToyPack()
    monkeypatch.setitem(registry.PACKS, pack.id, pack)
    monkeypatch.setattr(twin_models, "_MODELS", {})
    monkeypatch.setattr(twin_models, "_plugins_loaded", True)
    twin_models.register("toy-train", pack.id, "train", "Toy 2026", lambda n, s: (ToyTwin(n), {}))
    twin_models.register("toy-heldout", pack.id, "heldout", "Other toy 2026", lambda n, s: (SlowTwin(n), {}))
    return pack


@pytest.fixture()
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """A group, as in `dosewise`."""

    cli.register(app)
    return app


class AlwaysKeep:
    name = "keep"

    def __init__(self, pack: ToyPack) -> None:
        self.pack = pack

    def reset(self, n: int) -> None:
        pass

    def plan(self, view: ClinicView) -> VisitPlan:
        return plan_from_actions(self.pack, view, np.ones(view.n, dtype=np.int64))


def test_every_policy_meets_the_same_patients_and_is_compared_with_the_guideline_per_group(toy):
    ev = evaluate_clinic("toy-train", [Guideline(toy), AlwaysKeep(toy)], "weekly", 40, 30, seed=2, keep_trajectories=True)
    assert ev.policies == ["guideline", "keep"]
    g, k = ev.trajectories["guideline"], ev.trajectories["keep"]
    np.testing.assert_array_equal(g.covariates["age_years"], k.covariates["age_years"])
    np.testing.assert_array_equal(g.visit[:, :8], k.visit[:, :8])  # the same (noisy) visits while the plans agree
    assert (ev.efficacy_metric, ev.adverse_metric) == ("days_in_band_pct", "adverse_event_days")
    c = {x.metric: x for x in ev.comparisons["keep"]}["days_in_band_pct"]
    assert c.delta == pytest.approx(ev.metrics["keep"]["days_in_band_pct"].mean()
                                    - ev.metrics["guideline"]["days_in_band_pct"].mean())
    assert c.paired_p is not None
    assert sorted((gc.label, gc.n) for gc in ev.groups["keep"]) == sorted(ev.group_sizes["age"].items())
    assert sum(ev.group_sizes["age"].values()) == 40


def test_the_aims_are_checked_from_the_numbers(toy):
    evs = [evaluate_clinic(m, [Guideline(toy), AlwaysKeep(toy)], "weekly", 30, 40, seed=1)
           for m in ("toy-train", "toy-heldout")]
    aims = check_aims(evs)
    held = [a for a in aims if a.where.startswith("toy-heldout")]
    train = [a for a in aims if a.where.startswith("toy-train")]
    assert any("every group" in a.text for a in held) and any("30%" in a.text for a in train)
    eff = next(a for a in train if "+ 5" in a.text)
    delta = (evs[0].summaries["keep"]["days_in_band_pct"].mean - evs[0].summaries["guideline"]["days_in_band_pct"].mean)
    assert eff.met == (delta >= 5.0)
    assert next(a for a in held if "MPC" in a.text).met is None  # the MPC was not run: cannot be checked


def test_cli_prints_the_comparison_table_and_json(app):
    args = ["evaluate", "--protocol", "clinic", "--twin-model", "toy-heldout", "--patients", "20", "--days", "15"]
    res = CliRunner().invoke(app, args, env=WIDE)
    assert res.exit_code == 0, res.output
    assert "toy-heldout (heldout)" in res.output and "Days in 2–3 (%)" in res.output
    res = CliRunner().invoke(app, [*args, "--json", "--schedule", "every-3-days"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["schedule"] == "every-3-days" and doc["policies"] == ["guideline"]
    assert doc["summaries"]["guideline"]["days_in_band_pct"]["n"] == 20


def test_cli_refuses_what_it_cannot_run(app):
    base = ["evaluate", "--protocol", "clinic", "--patients", "5", "--days", "5"]
    for extra, message in ((["--twin-model", "nope"], "unknown twin model"), ([], "--twin-model"),
                           (["--twin-model", "toy-train", "--policy", "/no/such/dir"], "no ONNX policy"),
                           (["--twin-model", "toy-train", "--schedule", "monthly"], "unknown schedule")):
        res = CliRunner().invoke(app, [*base, *extra])
        assert res.exit_code != 0 and message in res.output, (extra, res.output)


def test_the_report_runs_every_model_and_schedule_and_writes_markdown_json_and_plots(app, tmp_path: Path):
    out = tmp_path / "clinic.md"
    res = CliRunner().invoke(app, ["evaluate", "--protocol", "clinic", "--report", str(out), "--patients", "12",
                                   "--days", "10", "--policy", "guideline"])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.with_suffix(".json").read_text())
    runs = {(e["twin_model"], e["schedule"]) for e in doc["evaluations"]}
    assert runs == {(m, s) for m in ("toy-train", "toy-heldout") for s in ("weekly", "every-3-days")}
    text = out.read_text()
    assert "Only the guideline was evaluated" in text and "| toy-heldout | heldout | Other toy 2026 |" in text
    assert (tmp_path / "clinic_clinictoy.png").stat().st_size > 0


def write_toy_policy(out_dir: Path, protocol: str = "clinic") -> Path:
    """An exported Q-function for ClinicToyPack (features: regimen, latest level; actions: hold2, keep, up):
    Q(up) = 2 − level, Q(keep) = 0, Q(hold2) = level − 3.5: up below 2, hold above 3.5."""
    from onnx import TensorProto, helper, numpy_helper, save

    w = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, -1.0]], np.float32)
    b = np.array([-3.5, 0.0, 2.0], np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["features", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["q_values"]),
         helper.make_node("Unsqueeze", ["q_values", "axis1"], ["q_heads"])],
        "toy_policy",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 2])],
        [helper.make_tensor_value_info("q_values", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("q_heads", TensorProto.FLOAT, ["batch", 1, 3])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b"),
         numpy_helper.from_array(np.array([1], np.int64), "axis1")],
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), out_dir / "policy.onnx")
    card = {"therapy": "clinictoy", "protocol": protocol, "status": "candidate", "version": out_dir.name}
    (out_dir / "model_card.json").write_text(json.dumps(card))
    return out_dir


def test_an_exported_q_function_is_evaluated_at_visits_through_onnxruntime(app, tmp_path: Path):
    policy = write_toy_policy(tmp_path / "toy-v1")
    res = CliRunner().invoke(app, ["evaluate", "--protocol", "clinic", "--twin-model", "toy-train", "--patients", "15",
                                   "--days", "20", "--policy", str(policy), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["policies"] == ["guideline", "policy toy-v1"]
    assert [c["metric"] for c in doc["comparisons"]["policy toy-v1"]][:2] == ["days_in_band_pct", "adverse_event_days"]


def test_the_report_finds_shipped_clinic_policies_and_checks_their_aims(tmp_path: Path):
    shipped = tmp_path / "policies"
    write_toy_policy(shipped / "clinictoy" / "toy-v2")
    write_toy_policy(shipped / "clinictoy" / "daily-v1", protocol="daily")  # not a visit policy: left out
    out = tmp_path / "report" / "clinic.md"
    written = cli.run_clinic_report(out, None, None, "weekly", None, 15, 20, 3, cli.clinic_eval.DEFAULT_NOISE,
                                    "dosewise evaluate --protocol clinic --report clinic.md", policy_dir=shipped)
    assert written[:2] == [out, out.with_suffix(".json")]
    doc = json.loads(out.with_suffix(".json").read_text())
    policies = {p for e in doc["evaluations"] for p in e["policies"]}
    assert {"guideline", "policy toy-v2"} <= policies and "policy daily-v1" not in policies
    assert all(e["policies"][0] == "guideline" for e in doc["evaluations"])
    aims = doc["aims"]
    assert aims and {a["policy"] for a in aims} == {"policy toy-v2", "mpc"}  # the MPC may serve: held to the guideline
    assert not [a for a in aims if a["policy"] == "mpc" and "MPC" in a["aim"]]  # ... and not to itself
    text = out.read_text()
    for a in aims:
        assert f"{a['policy']}, {a['where']}: {a['aim']}" in text
