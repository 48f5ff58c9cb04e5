"""Per-patient outcome metrics of an immune rollout, from the simulator's true (hidden) states in ``Trajectory.info``.

| metric                 | unit      | definition |
|------------------------|-----------|------------|
| cleared                | 0/1       | pathogen < detection limit (0.01 a.u.) at two consecutive decision times, alive |
| time_to_clear_days     | days      | day of the first of those two times; the horizon (censored) if never cleared or dead |
| died                   | 0/1       | organ damage reached 1 (Stengel 2002 death) |
| max_organ_damage       | 0–1       | largest organ damage x4 over the course (1 for a death) |
| adverse_event_days     | days      | intervals under care with organ damage > 0.5 at any time, + every interval from death on |
| total_drug_exposure    | a.u.·day  | Σ delivered level · interval (nothing is delivered after the course ended) |

Primary metrics (``PRIMARY``): efficacy = ``cleared``, adverse events = ``adverse_event_days``, which folds in death. The 0.5
threshold is where the model's organ damage switches plasma-cell production off (a21 = 0; simulator.DAMAGE_THRESHOLD).
"""

from __future__ import annotations

import numpy as np

from dosewise.therapies.base import FloatArray, Trajectory
from dosewise.therapies.immune.simulator import CLEAR_CONFIRMATIONS, DAMAGE_THRESHOLD

PRIMARY = ("cleared", "adverse_event_days")
# What tables call each metric (TherapyPack.metric_labels): the mean of a 0/1 metric is a share of patients.
LABELS = {
    "cleared": "Cleared (share)",
    "time_to_clear_days": "Days to clearance",
    "died": "Died (share)",
    "max_organ_damage": "Peak organ damage (0–1)",
    "adverse_event_days": "Adverse-event days",
    "total_drug_exposure": "Drug exposure (a.u.·day)",
}


def immune_metrics(trajectory: Trajectory, interval_days: float = 1.0) -> dict[str, FloatArray]:
    """Per-patient metrics (each (n,)): efficacy first, then adverse events, then drug exposure."""
    info = trajectory.info
    n, steps = trajectory.n, trajectory.steps
    died_state = info["died"] > 0.5  # (n, T): dead after step t
    cleared_state = info["cleared"] > 0.5
    ended = died_state | cleared_state
    under_care = np.ones((n, steps), dtype=bool)  # the patient was still being treated during interval t
    under_care[:, 1:] = ~ended[:, :-1]
    cleared = cleared_state[:, -1]
    step_cleared = np.argmax(cleared_state, axis=1)  # first step after which the course counts as cleared
    first_below_day = (step_cleared + 1 - (CLEAR_CONFIRMATIONS - 1)) * interval_days
    horizon = steps * interval_days
    adverse = (under_care & (info["organ_damage_max"] > DAMAGE_THRESHOLD)) | died_state
    return {
        "cleared": cleared.astype(float),
        "time_to_clear_days": np.where(cleared, first_below_day, horizon).astype(float),
        "died": died_state[:, -1].astype(float),
        "max_organ_damage": np.minimum(np.max(info["organ_damage_max"], axis=1), 1.0),
        "adverse_event_days": adverse.sum(axis=1) * interval_days,
        "total_drug_exposure": info["dose"].sum(axis=1) * interval_days,
    }
