"""``dosewise simulate`` (dosewise/cli/simulate.py); the summary statistics behind its table (dosewise/stats.py) have
their own tests (tests/unit/test_stats.py).

Issue "Digital twins": "prints a metrics table (mean, SD, 95 % CI) with a progress bar; --json prints the same as JSON;
--plot FILE.png draws example trajectories with the target band."
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from dosewise.cli import simulate as simulate_cli
from dosewise.stats import summarize
from dosewise.therapies.registry import get_pack

ARGS = ["simulate", "--therapy", "warfarin", "--policy", "guideline", "--patients", "60", "--days", "30", "--seed", "3"]
WIDE = {"COLUMNS": "200"}  # rich wraps cells to the terminal width; a wide one keeps each row on one line


@pytest.fixture()
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """A group, as in `dosewise`, so the command is called by name."""

    simulate_cli.register(app)
    return app


def invoke(app: typer.Typer, *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=WIDE)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.stdout


def _strict_json(text: str) -> dict:
    def no_nan(name: str) -> None:
        raise ValueError(f"{name} is not valid JSON")

    return json.loads(text, parse_constant=no_nan)


def test_table_lists_every_metric_with_the_numbers_of_the_json(app: typer.Typer) -> None:
    """The table and --json come from the same run (same seed): every metric's mean, SD and CI appear in its row."""
    table = invoke(app, *ARGS)
    doc = _strict_json(invoke(app, *ARGS, "--json"))
    _, metrics = simulate_cli.run(get_pack("warfarin"), "guideline", 60, 30, 3)
    assert [m["name"] for m in doc["metrics"]] == list(metrics)  # every metric, in the pack's order
    for m in doc["metrics"]:
        row = next(line for line in table.splitlines() if re.search(rf"\b{m['name']}\b", line))
        for key in ("mean", "sd", "ci_low", "ci_high"):
            assert f"{m[key]:.2f}" in row, (key, m, row)
        assert str(m["n"]) in row
    assert "95 % CI" in table


def test_json_is_valid_and_summarizes_the_per_patient_metrics(app: typer.Typer) -> None:
    """--json is strict JSON (no NaN tokens), and its numbers are dosewise.stats' summary (mean, SD and the bootstrap CI of
    the mean: tests/unit/test_stats.py) of the same per-patient metrics, recomputed here from the same seeds."""
    doc = _strict_json(invoke(app, *ARGS, "--json"))
    assert (doc["therapy"], doc["policy"], doc["patients"], doc["seed"]) == ("warfarin", "guideline", 60, 3)
    assert doc["primary_metrics"] == ["time_in_range_pct", "adverse_event_days"]
    _, metrics = simulate_cli.run(get_pack("warfarin"), "guideline", 60, 30, 3)
    for m in doc["metrics"]:
        s = summarize(metrics[m["name"]])
        assert (m["n"], m["mean"], m["sd"]) == (s.n, pytest.approx(s.mean), pytest.approx(s.sd))
        assert (m["ci_low"], m["ci_high"]) == (pytest.approx(s.ci_low), pytest.approx(s.ci_high))
        assert m["ci_low"] <= m["mean"] <= m["ci_high"]
        if "days" in m["name"]:  # counts: never a negative bound
            assert m["ci_low"] >= 0.0


def test_same_seed_same_numbers_other_seed_other_numbers(app: typer.Typer) -> None:
    a = _strict_json(invoke(app, *ARGS, "--json"))
    b = _strict_json(invoke(app, *ARGS, "--json"))
    c = _strict_json(invoke(app, *ARGS[:-1], "4", "--json"))
    assert a == b
    assert a["metrics"] != c["metrics"]


def test_plot_writes_a_png(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "courses.png"
    invoke(app, *ARGS, "--plot", str(out))
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    img = matplotlib.image.imread(out)
    assert img.shape[0] > 400 and img.shape[1] > 600
    assert img[..., :3].std() > 0.05  # not a blank canvas


def test_unknown_therapy_or_policy_is_a_usage_error(app: typer.Typer) -> None:
    bad = CliRunner().invoke(app, ["simulate", "--therapy", "aspirin"], env=WIDE)
    assert bad.exit_code == 2 and "warfarin" in bad.output
    bad = CliRunner().invoke(app, ["simulate", "--therapy", "warfarin", "--policy", "oracle"], env=WIDE)
    assert bad.exit_code == 2 and "guideline" in bad.output


def test_guideline_titration_beats_never_titrating() -> None:
    """The Aurora nomogram exists because a fixed start dose leaves many patients out of range: on the same cohort the
    guideline's time in range is higher than keeping the IWPC start dose."""
    pack = get_pack("warfarin")
    _, guideline = simulate_cli.run(pack, "guideline", 300, 60, 11)
    _, constant = simulate_cli.run(pack, "constant", 300, 60, 11)
    assert np.nanmean(guideline["time_in_range_pct"]) > np.nanmean(constant["time_in_range_pct"]) + 5.0
