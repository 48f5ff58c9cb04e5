"""A recommendation's twin forecast as a chart (SVG): what a clinician looks at instead of reading arrays.

Draws the ``forecast`` of a stored explanation (``forecast.Forecast.row``): the target band, the forecast under the
recommendation and under keeping the dose, each with its 80 % band, the measurements before the decision (those the
twin was fitted to filled), and a caption with the personalization and the
therapy's reward of each forecast. Matplotlib's object API without pyplot (no global figure state), so it is safe in a
web server's worker threads; matplotlib is imported on first use.
"""

from __future__ import annotations

import io
import textwrap
from typing import Any

from dosewise.forecast import observation_name

DISCLAIMER_LINE = "Decision support: a clinician decides."
SVG_SETTINGS = {"svg.fonttype": "none", "svg.hashsalt": "dosewise"}
LOG_SPAN = 100.0  # values spanning more than this factor (a pathogen load) get a symmetric-log axis


def forecast_svg(forecast: dict[str, Any], recommendation_label: str, title: str = "") -> bytes:
    """The chart of one explanation's forecast, as SVG bytes. ``recommendation_label``: e.g. "Increase by 1 mg/day"."""
    import matplotlib

    # Text as text (the viewer's sans-serif font), not glyph outlines: a third of the size, selectable, and faster. A fixed
    # salt for the element ids: the same forecast gives the same bytes. Set process-wide (SVG output only) rather than in an
    # rc_context, which worker threads rendering at once would undo under each other; the values are always the same.
    matplotlib.rcParams.update(SVG_SETTINGS)
    fig = figure(forecast, recommendation_label, title)
    out = io.BytesIO()
    fig.savefig(out, format="svg", metadata={"Date": None})  # no timestamp: the same forecast gives the same bytes
    return out.getvalue()


def figure(forecast: dict[str, Any], recommendation_label: str, title: str = "") -> Any:
    """The matplotlib Figure behind ``forecast_svg`` (e.g. ``.savefig("chart.png")``)."""
    from matplotlib.figure import Figure

    days = [0, *forecast["days_after_decision"]]
    lo, hi = forecast["target_band"]
    unit = forecast["unit"]
    name = observation_name(forecast["observation"])  # "INR", not "inr"

    def series(key: str) -> list[float]:
        return [float("nan"), *forecast[key]]  # day 0 is the decision: nothing forecast yet

    fig = Figure(figsize=(7.0, 4.4), dpi=100)
    ax = fig.subplots()
    ax.axhspan(lo, hi, color="tab:green", alpha=0.15, label=f"target {lo:g}–{hi:g}")
    for key, band_key, label, color, style in (
        ("recommended", "recommended_80pct", f"recommended ({recommendation_label})", "tab:blue", "-"),
        ("keep_dose", "keep_dose_80pct", "keep the current dose", "tab:gray", "--"),
    ):
        ax.plot(days, series(key), style, color=color, lw=2.0, marker="o", ms=3.5, label=label)
        if forecast.get(band_key):
            low, high = forecast[band_key]
            ax.fill_between(days, [float("nan"), *low], [float("nan"), *high], color=color, alpha=0.15, lw=0)
    measured = forecast.get("measured") or {}  # answers stored before 2026-11-29 carry no measurements
    m_days, m_values = measured.get("days_after_decision", []), measured.get("values", [])
    for used, style in ((True, {"color": "black", "label": "measured (the twin is fitted to these)"}),
                        (False, {"mfc": "white", "mec": "black", "label": "measured, not used in the fit"})):
        points = [(d, v) for d, v, u in zip(m_days, m_values, measured.get("used_in_fit", []), strict=True) if u == used]
        if points:
            ax.plot(*zip(*points, strict=True), "o", ms=5, zorder=3, **style)
    values = [v for k in ("recommended", "keep_dose") for v in forecast[k] if v == v and v > 0]
    values += [v for v in m_values if v > 0]
    if values and max(values) > LOG_SPAN * min(values):
        ax.set_yscale("symlog", linthresh=max(hi, min(values)))
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlim(left=min([0.0, *m_days]) - 0.3)
    ax.set_xlabel("days from the decision (0)")
    ax.set_ylabel(name if unit in (name, "1", "") else f"{name} ({unit})")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8, frameon=False)
    ax.set_title(title or f"Twin forecast: {name}, recommended vs keeping the dose", fontsize=10)
    fig.text(0.01, 0.015, "\n".join(textwrap.wrap(caption(forecast) + " " + DISCLAIMER_LINE, 120)), fontsize=7,
             color="0.3", va="bottom")
    fig.subplots_adjust(left=0.1, right=0.97, top=0.92, bottom=0.2)  # fixed: tight_layout would double the render time
    return fig


def caption(forecast: dict[str, Any]) -> str:
    """One line under the chart: how the twin was personalized, and the therapy's reward of each forecast."""
    p = forecast["personalization"]
    n = p["observations_used"]
    text = (f"Twin: {p['parameter']} {p['scale']:.2f}× typical, fitted to {n} measurement{'s' if n != 1 else ''}; "
            f"shaded: 80 % bands.")
    reward = forecast.get("mean_daily_reward")
    if reward:
        text += (f" The therapy's reward per day (what the policy optimizes) of these forecasts: "
                 f"{reward['recommended']:.2f} recommended, {reward['keep_dose']:.2f} kept")
        worst_best = reward.get("worst_best")
        text += f" (range {worst_best[0]:g} to {worst_best[1]:g})." if worst_best else "."
    return text
