"""Figures of simulated courses (matplotlib, Agg backend: files only, no display needed).

Pack-agnostic: the primary observation is ``pack.observation_kinds[0]``; a simulator that records its true and measured
values in ``StepResult.info`` as ``<kind>_true`` and ``<kind>_measured`` (NaN when not measured) gets both drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dosewise import units
from dosewise.therapies.base import TherapyPack, Trajectory


def pick_examples(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of k patients spread over the distribution of ``values`` (NaN last), so the examples show the range."""
    order = np.argsort(np.where(np.isnan(values), np.inf, values), kind="stable")
    finite = int(np.isfinite(values).sum()) or len(values)
    k = min(k, len(values))
    return order[np.linspace(0, finite - 1, k).round().astype(int)]


def plot_trajectories(
    pack: TherapyPack,
    traj: Trajectory,
    path: Path,
    patients: np.ndarray | None = None,
    title: str = "",
    panel_notes: list[str] | None = None,
) -> Path:
    """Draw a few patients' courses: primary observation (true line, measured dots) with the target band shaded and the
    dose given on a second axis. ``panel_notes`` adds one line per panel title. Writes a PNG to ``path``; returns it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dosewise.schemas import OBSERVATION_KINDS

    kind = pack.observation_kinds[0]
    unit = units.canonical_unit(OBSERVATION_KINDS[kind].quantity)
    y_label = kind.replace("_", " ") if unit in ("1", "{INR}") else f"{kind.replace('_', ' ')} ({unit})"
    idx = np.arange(min(4, traj.n)) if patients is None else np.asarray(patients)
    interval = pack.decision_interval_days
    default_days = np.broadcast_to((np.arange(traj.steps) + 1) * interval, traj.given.shape)
    obs_days = traj.info.get("day", default_days)
    dose_days = np.arange(traj.steps) * interval
    cols = 2 if len(idx) > 1 else 1
    rows = int(np.ceil(len(idx) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(6.0 * cols, 3.6 * rows), squeeze=False, sharex=True)
    low, high = pack.target_band
    for k, (ax, i) in enumerate(zip(axes.flat, idx, strict=False)):
        ax.axhspan(low, high, color="tab:green", alpha=0.15, label=f"target {low:g}–{high:g}")
        if f"{kind}_true" in traj.info:
            ax.plot(obs_days[i], traj.info[f"{kind}_true"][i], color="tab:blue", lw=1.4, label=f"{kind} (true)")
        if f"{kind}_measured" in traj.info:
            m = traj.info[f"{kind}_measured"][i]
            ok = ~np.isnan(m)
            ax.plot(obs_days[i][ok], m[ok], "o", color="tab:blue", ms=4, mfc="white", label=f"{kind} (measured)")
        ax.set_ylabel(y_label)
        note = f" · {panel_notes[k]}" if panel_notes else ""
        ax.set_title(f"patient {int(i)}{note}", fontsize=10)
        ax.grid(alpha=0.3)
        ax2 = ax.twinx()
        ax2.step(dose_days, traj.given[i], where="post", color="tab:orange", lw=1.0, label=f"dose ({pack.dose_unit}/day)")
        ax2.set_ylabel(f"dose given ({pack.dose_unit}/day)", color="tab:orange")
        ax2.set_ylim(bottom=0.0, top=max(1.0, float(np.nanmax(traj.given[i])) * 1.6))
        ax2.tick_params(axis="y", colors="tab:orange")
    for ax in axes.flat[len(idx):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("day of therapy")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend([*handles, plt.Line2D([], [], color="tab:orange")], [*labels, f"dose given ({pack.dose_unit}/day)"],
               loc="lower center", ncol=4, fontsize=9, frameon=False)
    fig.suptitle(title or f"{pack.name}: example courses")
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
