"""The serving gate (clinic_card.gate_evaluation, clinic_report.check_aims): a candidate visit policy — a network or the MPC —
may serve only if it meets issue #25's held-out aims against the guideline in every patient group, on every held-out twin
model and cadence, and is no worse than the MPC; anything that cannot be checked counts as not met."""

from __future__ import annotations

import numpy as np
import pytest

from dosewise.stats import summarize
from dosewise.therapies import registry, twin_models
from dosewise.therapies.base import ClinicView
from dosewise.therapies.clinic import ActionVisitPolicy, VisitPlan, plan_from_actions
from dosewise.therapies.registry import get_pack
from dosewise_trainer.clinic_card import clinic_evaluation, gate_evaluation
from dosewise_trainer.controllers_ship import mpc_clinic_evaluation
from dosewise_trainer.evaluation.clinic import DEFAULT_NOISE, ClinicEvaluation, GroupComparison
from dosewise_trainer.evaluation.clinic_report import check_aims
from dosewise_trainer.evaluation.statistics import compare
from tests.unit.test_clinic_protocol import ToyTwin
from tests.unit.test_evaluate_clinic_cli import ClinicToyPack, Guideline, SlowTwin, write_toy_policy


# --- the aims, on evaluations built from per-patient numbers -------------------------------------------------------------
def synthetic(candidate: dict[str, np.ndarray], guideline: dict[str, np.ndarray], group: np.ndarray,
              mpc: dict[str, np.ndarray] | None = None, role: str = "heldout") -> ClinicEvaluation:
    """A ClinicEvaluation of a guideline, a candidate "dqn" (and an "mpc") with the given per-patient metrics (efficacy
    first), patients split by ``group`` (0: "young", 1: "old") — the numbers evaluate_clinic would compute from them."""
    arms = {"guideline": guideline, "dqn": candidate, **({"mpc": mpc} if mpc is not None else {})}
    metrics = list(guideline)

    def groups(p: dict[str, np.ndarray]) -> list[GroupComparison]:
        return [GroupComparison("age", label, int((group == code).sum()),
                                [compare(m, p[m][group == code], guideline[m][group == code], paired=True)
                                 for m in metrics]) for code, label in enumerate(("young", "old"))]

    return ClinicEvaluation(
        therapy="synthetic", twin_model="synthetic-model", role=role, citation="none", schedule="weekly",
        n_patients=group.size, days=30, seed=0, noise=DEFAULT_NOISE, policies=list(arms), metrics=arms,
        summaries={p: {m: summarize(v) for m, v in ms.items()} for p, ms in arms.items()},
        comparisons={p: [compare(m, arms[p][m], guideline[m], paired=True) for m in metrics] for p in list(arms)[1:]},
        groups={p: groups(arms[p]) for p in list(arms)[1:]},
        group_sizes={"age": {"young": int((group == 0).sum()), "old": int((group == 1).sum())}},
    )


GROUP = np.repeat([0, 1], 20)
RNG = np.random.default_rng(3)
GUIDE = {"ttr_pct": RNG.uniform(50, 70, 40), "adverse_event_days": RNG.integers(1, 4, 40).astype(float)}


def test_a_candidate_better_overall_but_worse_in_one_group_fails_that_group():
    # young patients: one adverse day fewer each; old patients: half a day more — overall fewer than the guideline
    worse_old = {"ttr_pct": GUIDE["ttr_pct"].copy(),
                 "adverse_event_days": GUIDE["adverse_event_days"] + np.where(GROUP == 1, 0.5, -1.0)}
    ev = synthetic(worse_old, GUIDE, GROUP, mpc=GUIDE)
    aims = check_aims([ev], policies=["dqn"])
    adverse = next(a for a in aims if a.text == "adverse_event_days ≤ guideline in every group")
    assert next(c for c in ev.comparisons["dqn"] if c.metric == "adverse_event_days").delta < 0  # better overall
    assert adverse.met is False and "age old (n 20)" in adverse.values
    assert not all(a.met for a in aims)


def test_efficacy_is_held_to_the_guideline_minus_one_point_in_every_group():
    lower_old = {"ttr_pct": GUIDE["ttr_pct"] + np.where(GROUP == 1, -1.5, 2.0),  # overall +0.25 points
                 "adverse_event_days": GUIDE["adverse_event_days"].copy()}
    aims = check_aims([synthetic(lower_old, GUIDE, GROUP, mpc=GUIDE)], policies=["dqn"])
    eff = next(a for a in aims if a.text.startswith("ttr_pct ≥ guideline − 1"))
    assert eff.met is False and "age old" in eff.values
    slightly_lower = {**lower_old, "ttr_pct": GUIDE["ttr_pct"] - 0.9}  # within the point everywhere
    assert all(a.met for a in check_aims([synthetic(slightly_lower, GUIDE, GROUP, mpc=GUIDE)], policies=["dqn"]))


def test_a_candidate_that_matches_the_guideline_everywhere_meets_every_held_out_aim():
    same = {m: v.copy() for m, v in GUIDE.items()}
    aims = check_aims([synthetic(same, GUIDE, GROUP, mpc=GUIDE)], policies=["dqn"])
    assert {a.text for a in aims} == {"adverse_event_days ≤ guideline in every group",
                                      "ttr_pct ≥ guideline − 1 in every group", "ttr_pct ≥ MPC − 2",
                                      "adverse_event_days ≤ MPC + 0.1"}
    assert all(a.met is True for a in aims)


def test_the_mpc_comparison_holds_the_candidate_to_two_points_and_a_tenth_of_a_day():
    same = {m: v.copy() for m, v in GUIDE.items()}
    better_mpc = {"ttr_pct": GUIDE["ttr_pct"] + 2.5, "adverse_event_days": GUIDE["adverse_event_days"] - 0.2}
    met = {a.text: a.met for a in check_aims([synthetic(same, GUIDE, GROUP, mpc=better_mpc)], policies=["dqn"])}
    assert met["ttr_pct ≥ MPC − 2"] is False and met["adverse_event_days ≤ MPC + 0.1"] is False
    assert met["ttr_pct ≥ guideline − 1 in every group"] is True


def test_without_patient_groups_or_the_mpc_the_aims_cannot_be_checked():
    ev = synthetic({m: v.copy() for m, v in GUIDE.items()}, GUIDE, GROUP)  # no MPC arm
    ev.groups = {"dqn": []}
    aims = check_aims([ev], policies=["dqn"])
    assert [a.met for a in aims] == [None, None, None]  # adverse, efficacy (no group), the MPC (not run)


def test_the_mpc_as_candidate_is_not_compared_with_itself():
    ev = synthetic({m: v.copy() for m, v in GUIDE.items()}, GUIDE, GROUP)
    ev.policies, ev.comparisons, ev.groups = ["guideline", "mpc"], {"mpc": ev.comparisons["dqn"]}, {"mpc": ev.groups["dqn"]}
    aims = check_aims([ev], policies=["mpc"], comparator=None)
    assert aims and all("MPC" not in a.text for a in aims) and all(a.met for a in aims)


def test_the_training_aims_ask_thirty_percent_fewer_adverse_days_and_five_points():
    better = {"ttr_pct": GUIDE["ttr_pct"] + 5.0, "adverse_event_days": GUIDE["adverse_event_days"] * 0.7}
    met = [a.met for a in check_aims([synthetic(better, GUIDE, GROUP, role="train")], policies=["dqn"])]
    assert met == [True, True]
    weaker = {"ttr_pct": GUIDE["ttr_pct"] + 4.0, "adverse_event_days": GUIDE["adverse_event_days"] * 0.8}
    assert [a.met for a in check_aims([synthetic(weaker, GUIDE, GROUP, role="train")], policies=["dqn"])] == [False, False]


# --- the gate, on toy twin models ----------------------------------------------------------------------------------------
class GateToyPack(ClinicToyPack):
    """The clinic toy with a guideline per cadence, as a real pack's ``visit_guideline_policy(cadence)``."""

    id = "gatetoy"

    def visit_guideline_policy(self, cadence: str | None = None) -> Guideline:
        return Guideline(self)


class Renamed:
    """Another policy's plans under another name (a copy of the guideline is a candidate that matches it everywhere)."""

    def __init__(self, inner, name: str) -> None:
        self.inner, self.name = inner, name

    def reset(self, n: int) -> None:
        self.inner.reset(n)

    def plan(self, view: ClinicView) -> VisitPlan:
        return self.inner.plan(view)


class UpWhenOld(Renamed):
    """The guideline, except that patients 60 and over are stepped up at every visit."""

    def plan(self, view: ClinicView) -> VisitPlan:
        action = np.asarray(self.inner.plan(view).action).copy()
        action[view.covariates["age_years"] >= 60] = 2
        return plan_from_actions(self.inner.pack, view, action)


@pytest.fixture()
def toy(monkeypatch: pytest.MonkeyPatch) -> GateToyPack:
    pack = GateToyPack()
    monkeypatch.setitem(registry.PACKS, pack.id, pack)
    monkeypatch.setattr(twin_models, "_MODELS", {})
    monkeypatch.setattr(twin_models, "_plugins_loaded", True)
    twin_models.register("gate-train", pack.id, "train", "Toy 2026", lambda n, s: (ToyTwin(n), {}))
    twin_models.register("gate-heldout", pack.id, "heldout", "Other toy 2026", lambda n, s: (SlowTwin(n), {}))
    return pack


def test_the_gate_passes_a_candidate_that_matches_the_guideline_on_every_model_and_cadence(toy):
    card = gate_evaluation(toy, Renamed(Guideline(toy), "dqn"), patients=20, days=30, seed=4,
                           comparator=Renamed(Guideline(toy), "mpc"))
    assert card["targets_met"] is True
    assert [(r["twin_model"], r["schedule"]) for r in card["runs"]] == [("gate-heldout", c) for c in toy.cadences]
    assert all(a["met"] is True for r in card["runs"] for a in r["aims"])
    assert {a["aim"] for a in card["runs"][0]["aims"]} >= {"Days in 2–3 (%) ≥ guideline − 1 in every group",
                                                          "Days in 2–3 (%) ≥ MPC − 2"}


def test_the_gate_fails_a_candidate_worse_than_the_guideline_in_one_group(toy):
    card = gate_evaluation(toy, UpWhenOld(Guideline(toy), "dqn"), patients=20, days=30, seed=4,
                           comparator=Renamed(Guideline(toy), "mpc"))
    assert card["targets_met"] is False
    for run in card["runs"]:
        young, old = run["groups"]
        assert young["label"] == "under 60" and all(c["delta"] == 0 for c in young["comparisons"])  # same plans
        assert next(c for c in old["comparisons"] if c["metric"] == "adverse_event_days")["delta"] > 0
        adverse = next(a for a in run["aims"] if a["aim"].startswith("adverse_event_days ≤ guideline"))
        assert adverse["met"] is False and "60 and over" in adverse["values"]


def test_no_held_out_model_or_no_mpc_is_no_evidence(toy, monkeypatch: pytest.MonkeyPatch):
    card = gate_evaluation(toy, Renamed(Guideline(toy), "dqn"), patients=10, days=10, comparator=None)
    assert card["targets_met"] is False  # the MPC comparison could not be checked
    assert any(a["met"] is None and "MPC" in a["aim"] for a in card["runs"][0]["aims"])
    monkeypatch.setattr(twin_models, "_MODELS", {k: v for k, v in twin_models._MODELS.items() if v.role == "train"})
    card = gate_evaluation(toy, Renamed(Guideline(toy), "dqn"), patients=10, days=10,
                           comparator=Renamed(Guideline(toy), "mpc"), training=True)
    assert card["runs"] == [] and card["targets_met"] is False
    assert card["training"]["gates"] is False and len(card["training"]["runs"]) == len(toy.cadences)


def test_the_mpc_candidate_meets_the_gate_without_comparing_with_itself(toy):
    card = gate_evaluation(toy, Renamed(Guideline(toy), "mpc"), patients=20, days=30, seed=4)
    assert card["comparator"] is None and card["notes"]
    assert card["targets_met"] is True and all("MPC" not in a["aim"] for r in card["runs"] for a in r["aims"])
    assert all(r["policies"] == ["guideline", "mpc"] for r in card["runs"])


def test_the_controllers_card_is_the_same_gate(toy, monkeypatch: pytest.MonkeyPatch):
    import dosewise_trainer.evaluation.clinic as clinic

    monkeypatch.setattr(clinic, "named_policy", lambda pack, spec, *a, **k: Renamed(Guideline(pack), spec))
    card = mpc_clinic_evaluation(toy, 20, 30, 4)
    assert card["candidate"] == "mpc" and card["targets_met"] is True and len(card["runs"]) == len(toy.cadences)


def test_a_shipped_network_is_gated_through_onnxruntime(toy, tmp_path):
    card = clinic_evaluation(toy, write_toy_policy(tmp_path / "toy-v1"), patients=10, days=20, with_mpc=False)
    assert card["candidate"] == "dqn" and {tuple(r["policies"]) for r in card["runs"]} == {("guideline", "dqn")}
    assert card["targets_met"] is False  # without the MPC comparator its aims cannot be checked


# --- the gate on insulin's held-out Dalla Man model ------------------------------------------------------------------------
def _insulin_gate(candidate_of, monkeypatch: pytest.MonkeyPatch, patients: int, days: int) -> dict:
    """The gate on insulin at 3-day visits only (one cadence keeps the run short), the MPC's place taken by a copy of the
    guideline (the real MPC is slower than a unit test)."""
    pack = get_pack("insulin_t2d")
    monkeypatch.setattr(pack, "cadences", ("every-3-days",))
    card = gate_evaluation(pack, candidate_of(pack), patients=patients, days=days, seed=5,
                           comparator=Renamed(pack.visit_guideline_policy("every-3-days"), "mpc"))
    (run,) = card["runs"]
    assert run["twin_model"] == "dallaman2007_t2d" and run["guideline"] == "guideline-at-lantus"
    assert {g["dimension"] for g in run["groups"]} == {"insulin sensitivity", "renal function"}
    return card


def test_insulin_a_network_that_never_titrates_fails_the_gate_on_the_held_out_model(monkeypatch: pytest.MonkeyPatch):
    def always_keep(pack):  # Q highest for "keep": the start dose is never titrated towards the target
        q = np.array([a.id == "keep" for a in pack.actions], dtype=np.float32)
        return ActionVisitPolicy(pack, lambda x: np.tile(q, (len(x), 1)), name="dqn")

    card = _insulin_gate(always_keep, monkeypatch, 12, 28)
    eff = next(a for a in card["runs"][0]["aims"] if a["aim"].startswith("Days fasting 80–130 (%) ≥ guideline − 1"))
    assert eff["met"] is False and card["targets_met"] is False


def test_insulin_a_copy_of_the_guideline_passes_the_gate_on_the_held_out_model(monkeypatch: pytest.MonkeyPatch):
    card = _insulin_gate(lambda pack: Renamed(pack.visit_guideline_policy("every-3-days"), "dqn"), monkeypatch, 9, 21)
    aims = card["runs"][0]["aims"]
    assert len(aims) == 6 and all(a["met"] is True for a in aims)  # 3 vs the guideline per group, 3 vs the MPC
    assert card["targets_met"] is True
