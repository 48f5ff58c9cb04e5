"""``dosewise evaluate`` (dosewise_trainer.evaluation.cli): table, --json, --report and --cv-folds on a fake therapy.

Issue 4: "evaluates any exported policy or `guideline` on a fresh cohort and prints the table (or JSON), and `--report DIR`
writes the table, plots of the metric distributions and example trajectories."
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
import typer
from onnx import TensorProto, helper, numpy_helper
from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

from dosewise.therapies import registry
from dosewise.therapies.base import Cohort
from dosewise_trainer.evaluation import cli, report
from tests.unit.test_crossval import EvalToyPack, fixed_trainer, guideline_q_fn

ARGS = ["evaluate", "--therapy", "evaltoy", "--patients", "120", "--days", "12", "--seed", "3"]
WIDE = {"COLUMNS": "400"}  # rich wraps table cells to the terminal; a wide one keeps each row on one line


@pytest.fixture(autouse=True)
def toy_pack(monkeypatch: pytest.MonkeyPatch) -> EvalToyPack:
    pack = EvalToyPack()
    monkeypatch.setitem(registry.PACKS, pack.id, pack)
    return pack


@pytest.fixture()
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """A group, as in `dosewise`, so the command is called by name."""

    cli.register(app)
    return app


def write_linear_policy(out_dir: Path, therapy: str = "evaltoy", n_features: int = 3, cohort_seed: int = 1000, *,
                        n_actions: int = 4, level: int = 0, down: int = 1, keep: int = 2, up: int = 3) -> Path:
    """An exported policy in the export contract's layout (input ``features``, outputs ``q_values`` and ``q_heads``):
    Q = features·W + b with Q(up) = 2.3 − level and Q(down) = level − 2.8, Q(keep) = 0 and −10 for every other action,
    i.e. it aims for the inner band 2.3–2.8 where the guideline aims for 2–3, so its results differ from the guideline's.
    ``level``: the feature index of the latest level; ``down``, ``keep``, ``up``: action indices (the toy's −1, keep, +1)."""
    w = np.zeros((n_features, n_actions), np.float32)
    b = np.full(n_actions, -10.0, np.float32)
    b[down], b[keep], b[up] = -2.8, 0.0, 2.3
    w[level, down], w[level, up] = 1.0, -1.0
    nodes = [
        helper.make_node("MatMul", ["features", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["q_values"]),
        helper.make_node("Unsqueeze", ["q_values", "axis1"], ["q_heads"]),
    ]
    graph = helper.make_graph(
        nodes, "linear_policy",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", n_features])],
        [helper.make_tensor_value_info("q_values", TensorProto.FLOAT, ["batch", n_actions]),
         helper.make_tensor_value_info("q_heads", TensorProto.FLOAT, ["batch", 1, n_actions])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b"),
         numpy_helper.from_array(np.array([1], np.int64), "axis1")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx.save(model, out_dir / "policy.onnx")
    card = {"therapy": therapy, "training": {"seed": 1, "config": {"seed": 1, "cohort_seed": cohort_seed}}}
    (out_dir / "model_card.json").write_text(json.dumps(card))
    return out_dir


def invoke(app: typer.Typer, *extra: str) -> str:
    result = CliRunner().invoke(app, [*ARGS, *extra], env=WIDE)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.stdout


def table_row(stdout: str, first_cell: str) -> tuple[list[str], list[str]]:
    """The two lines of the table row whose first cell is ``first_cell``, as cells (columns are 3 or more spaces apart,
    cells hold single spaces): [metric, policy mean ± SD, guideline mean ± SD, Δ (relative), Welch p, paired p], then
    [policy CI, guideline CI, Δ CI]."""
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        cells = re.split(r"\s{3,}", line.strip())
        if cells[0] == first_cell:
            return cells, re.split(r"\s{3,}", lines[i + 1].strip())
    raise AssertionError(f"no table row {first_cell!r} in:\n{stdout}")


class TestEvaluate:
    def test_json_parses_and_matches_the_table(self, app: typer.Typer, tmp_path: Path) -> None:
        policy = str(write_linear_policy(tmp_path / "p"))
        data = json.loads(invoke(app, "--policy", policy, "--json"))["evaluation"]
        table = invoke(app, "--policy", policy)
        assert data["patients"] == 120 and data["steps"] == 12
        assert [m["metric"] for m in data["metrics"]] == ["time_in_range_pct", "adverse_event_days", "mean_dose_u_per_day"]
        for m in data["metrics"]:
            cells, cis = table_row(table, m["metric"])  # the toy pack has no labels: metrics go by their names
            p, g = m["policy"], m["guideline"]
            # Numbers read back from the table agree with the JSON to the table's 2 decimals ...
            assert float(cells[1].split(" ± ")[0]) == pytest.approx(p["mean"], abs=0.005)
            assert float(cells[2].split(" ± ")[0]) == pytest.approx(g["mean"], abs=0.005)
            assert float(cells[1].split(" ± ")[1]) == pytest.approx(p["sd"], abs=0.005)
            assert float(cells[3].split(" (")[0]) == pytest.approx(m["delta"], abs=0.005)
            # ... and every cell is exactly the JSON number formatted.
            (lo, hi), (dlo, dhi) = p["ci95"], m["delta_ci95"]
            assert cells[1] == f"{report.fmt(p['mean'])} ± {report.fmt(p['sd'])}"
            assert cis[0] == f"[{report.fmt(lo)}, {report.fmt(hi)}]" and cis[2] == f"[{report.fmt(dlo)}, {report.fmt(dhi)}]"
            assert cells[3].endswith(f"({report.fmt_rel(m['relative_change'])})")
            assert cells[4] == report.fmt_p(m["welch_p"])
            assert cells[5] == report.fmt_p(m["paired_p"])
        assert "Targets" in table and "Subgroups" in table

    def test_a_different_policy_is_measured_as_different(self, app: typer.Typer, tmp_path: Path) -> None:
        data = json.loads(invoke(app, "--policy", str(write_linear_policy(tmp_path / "p")), "--json"))["evaluation"]
        dose = next(m for m in data["metrics"] if m["metric"] == "mean_dose_u_per_day")
        assert dose["delta"] != 0.0
        assert data["policy"] == "policy p"  # named by its version: the folder's name, as the registry names it

    def test_guideline_against_itself_is_no_difference(self, app: typer.Typer) -> None:
        data = json.loads(invoke(app, "--policy", "guideline", "--json"))["evaluation"]
        for m in data["metrics"]:
            assert m["delta"] == 0.0 and m["welch_p"] == pytest.approx(1.0) and m["paired_p"] == 1.0
            assert m["relative_change"] in (0.0, None)
        assert data["targets"]["adverse_target_met"] is False and data["subgroup_flags"] == []

    def test_report_writes_table_results_and_plots(self, app: typer.Typer, tmp_path: Path) -> None:
        out = tmp_path / "report"
        policy = str(write_linear_policy(tmp_path / "p"))
        printed = json.loads(invoke(app, "--policy", policy, "--json", "--report", str(out)))
        for name in ("table.md", "results.json", "distributions.png", "trajectories.png", "forest.png"):
            assert (out / name).stat().st_size > 0, name
        assert json.loads((out / "results.json").read_text()) == printed
        md = (out / "table.md").read_text()
        m = printed["evaluation"]["metrics"][1]
        assert f"| {m['metric']} | {report.fmt(m['policy']['mean'])} ± " in md
        assert (out / "forest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    def test_cross_validation(self, app: typer.Typer, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(cli, "dqn_trainer_fn", lambda config: fixed_trainer(guideline_q_fn))
        data = json.loads(invoke(app, "--cv-folds", "3", "--json"))
        assert "evaluation" not in data
        cv = data["cross_validation"]
        assert cv["n_folds"] == 3 and sum(f["n_test"] for f in cv["folds"]) == 120
        assert cv["targets_met"] is False  # a copy of the guideline saves no adverse days
        text = invoke(app, "--cv-folds", "3")
        assert "3-fold cross-validation" in text and "not met" in text


class TestErrors:
    @pytest.mark.parametrize("bad", [["--policy", "nowhere/policy.onnx"], [], ["--therapy", "nope", "--policy", "guideline"]])
    def test_bad_arguments_exit_nonzero(self, app: typer.Typer, bad: list[str]) -> None:
        args = [*ARGS, *bad] if bad[:1] != ["--therapy"] else ["evaluate", *bad]
        result = CliRunner().invoke(app, args, env=WIDE)
        assert result.exit_code != 0

    @pytest.mark.parametrize("policy", ["guideline", "exported"])
    def test_cv_folds_with_a_policy_is_refused_not_silently_ignored(
        self, app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: str
    ) -> None:
        trained: list[int] = []
        monkeypatch.setattr(cli, "dqn_trainer_fn", lambda config: trained.append(1) or fixed_trainer(guideline_q_fn))
        spec = "guideline" if policy == "guideline" else str(write_linear_policy(tmp_path / "p"))
        result = CliRunner().invoke(app, [*ARGS, "--policy", spec, "--cv-folds", "3"], env=WIDE)
        assert result.exit_code == 2, result.output  # a usage error, before any patient is simulated
        assert "--cv-folds" in result.output and "--policy" in result.output and "fresh policy" in result.output
        assert trained == [] and "Metric" not in result.stdout

    def test_refuses_a_policy_for_another_therapy(self, app: typer.Typer, tmp_path: Path) -> None:
        policy = write_linear_policy(tmp_path / "p", therapy="warfarin")
        result = CliRunner().invoke(app, [*ARGS, "--policy", str(policy)], env=WIDE)
        assert result.exit_code != 0 and "warfarin" in result.output

    def test_warns_when_the_cohort_is_the_training_population(self, app: typer.Typer, tmp_path: Path) -> None:
        # "a fresh cohort": evaluating with the training cohort's seed would measure fit, not generalization.
        policy = str(write_linear_policy(tmp_path / "p", cohort_seed=3))  # ARGS use --seed 3
        result = CliRunner().invoke(app, [*ARGS, "--policy", policy, "--json"], env=WIDE)
        assert result.exit_code == 0
        assert "training cohort seed" in json.loads(result.stdout)["evaluation"]["warnings"][0]
        assert "warning" in result.stderr
        fresh = json.loads(invoke(app, "--policy", str(write_linear_policy(tmp_path / "q", cohort_seed=4)), "--json"))
        assert fresh["evaluation"]["warnings"] == []

    def test_a_therapy_without_a_twin_is_a_clear_error(self, app: typer.Typer, monkeypatch: pytest.MonkeyPatch) -> None:
        class NoTwin(EvalToyPack):
            id = "notwin"

            def sample_cohort(self, n: int, seed: int) -> Cohort:
                raise NotImplementedError("notwin: no cohort sampler yet")

        monkeypatch.setitem(registry.PACKS, "notwin", NoTwin())
        result = CliRunner().invoke(app, ["evaluate", "--therapy", "notwin", "--policy", "guideline"], env=WIDE)
        assert result.exit_code != 0 and "no cohort sampler yet" in result.output

    def test_refuses_a_policy_with_the_wrong_inputs(self, app: typer.Typer, tmp_path: Path) -> None:
        policy = write_linear_policy(tmp_path / "p", n_features=5)
        result = CliRunner().invoke(app, [*ARGS, "--policy", str(policy / "policy.onnx")], env=WIDE)
        assert result.exit_code != 0 and "features" in result.output


# --- what a person reads in an 80-column terminal ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def warfarin_result(tmp_path_factory: pytest.TempPathFactory) -> cli.EvaluationResult:
    """An exported warfarin policy (the linear one, on INR and the pack's ±10 % steps) on a small fresh cohort: real
    labels, real numbers, real subgroups."""
    from rich.progress import Progress

    pack = registry.get_pack("warfarin")
    ids = [a.id for a in pack.actions]
    policy = write_linear_policy(tmp_path_factory.mktemp("w") / "linear-v1", "warfarin", pack.n_features,
                                 n_actions=pack.n_actions, level=[f.name for f in pack.feature_specs].index("inr_last"),
                                 down=ids.index("-10%"), keep=ids.index("keep"), up=ids.index("+10%"))
    _, result, _ = cli.run_evaluate("warfarin", str(policy), 80, 20, 5, 0, "quick",
                                    progress_factory=lambda: Progress(disable=True))
    assert result is not None
    return result


def rendered(table: Table, width: int) -> list[str]:
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None).print(table)
    return buf.getvalue().splitlines()


def first_column_text(table: Table, lines: list[str]) -> list[str]:
    """What the first column shows under the header rule, line by line (empty lines dropped)."""
    rule = next(i for i, line in enumerate(lines) if line.startswith("─"))
    width = table.columns[0].width
    assert width is not None
    return [line[:width].strip() for line in lines[rule + 1:] if line[:width].strip()]


class TestTerminalTables:
    def test_every_metric_of_every_pack_has_a_label(self) -> None:
        from dosewise.cli import simulate

        for therapy, pack in registry.PACKS.items():
            if therapy == "evaltoy":
                continue
            _, metrics = simulate.run(pack, "guideline", 4, 3, 0)
            assert set(metrics) == set(pack.metric_labels), therapy
            assert all(" " in pack.metric_label(m) or "-" in pack.metric_label(m) for m in metrics), therapy

    @pytest.mark.parametrize("width", [80, 100, 160])
    def test_no_metric_label_is_broken_inside_a_word_and_no_line_is_wider_than_the_terminal(
        self, warfarin_result: cli.EvaluationResult, width: int
    ) -> None:
        pack = registry.get_pack("warfarin")
        table = cli.fitted("t", None, cli.comparison_columns(warfarin_result, pack.metric_label), width)
        table.title = table.caption = None
        lines = rendered(table, width)
        assert max(map(len, lines)) <= width
        labels = [pack.metric_label(c.metric) for c in warfarin_result.comparisons]
        # Joined back with spaces, the label column reads exactly the labels: a word cut in two would add a space.
        assert " ".join(first_column_text(table, lines)) == " ".join(labels)
        assert "adverse_event_days" not in "\n".join(lines)

    @pytest.mark.parametrize("width", [80, 120])
    def test_every_number_line_stays_whole(self, warfarin_result: cli.EvaluationResult, width: int) -> None:
        pack = registry.get_pack("warfarin")
        for columns in (cli.comparison_columns(warfarin_result, pack.metric_label),
                        cli.subgroup_columns(warfarin_result, pack.metric_label)):
            table = cli.fitted("t", None, columns, width)
            lines = rendered(table, width)
            assert max(map(len, lines)) <= width
            shown = {c.header for c in table.columns}  # at 80 columns the paired p is left out, on purpose
            numbers = [line for col in columns[1:] if col.justify == "right" and col.header in shown for cell in col.cells
                       for line in str(cell).splitlines()]
            missing = [n for n in numbers if not any(n in line for line in lines)]
            assert not missing, missing

    def test_80_columns_leave_out_the_paired_p_and_say_where_it_is(self, warfarin_result: cli.EvaluationResult) -> None:
        pack = registry.get_pack("warfarin")
        narrow = cli.fitted("t", cli.SUMMARY_NOTE, cli.comparison_columns(warfarin_result, pack.metric_label), 80)
        wide = cli.fitted("t", cli.SUMMARY_NOTE, cli.comparison_columns(warfarin_result, pack.metric_label), 160)
        assert [c.header for c in narrow.columns][-1] == "Welch p" and "Paired p: --json" in str(narrow.caption)
        assert [c.header for c in wide.columns][-1] == "Paired p" and "--json" not in str(wide.caption)

    def test_a_count_interval_in_the_table_never_goes_below_zero(self, warfarin_result: cli.EvaluationResult) -> None:
        for c in warfarin_result.comparisons:
            if "days" in c.metric:  # adverse-event days: counts
                for s in (c.policy, c.guideline):
                    assert 0.0 <= s.ci_low <= s.mean <= s.ci_high, (c.metric, s)

    def test_the_title_names_the_policy_by_its_version(self, warfarin_result: cli.EvaluationResult) -> None:
        assert warfarin_result.policy_name == "policy linear-v1"

    def test_a_card_that_states_its_version_is_named_by_it(self, tmp_path: Path) -> None:
        folder = write_linear_policy(tmp_path / "some-folder")
        card = json.loads((folder / "model_card.json").read_text())
        assert cli.policy_version(folder, card) == "some-folder"
        assert cli.policy_version(folder / "policy.onnx", card | {"version": "dqn-2027-01"}) == "dqn-2027-01"
        assert cli.policy_version(folder / "policy.onnx", None) == "policy.onnx"  # a bare file: its name
