"""``VectorSimulator.fork``: the same twins in the same state with fresh noise — what the HyperScore calibration uses to
measure how much of an outcome is chance (calibrate_hyperscore.py, step 5)."""

from __future__ import annotations

import numpy as np
import pytest

from dosewise.therapies.base import TherapyPack, VectorSimulator
from dosewise.therapies.registry import PACKS


def advanced(pack: TherapyPack, days: int = 5) -> tuple[VectorSimulator, np.ndarray]:
    sim = pack.simulator(pack.sample_cohort(12, seed=4), seed=4)
    view = sim.reset()
    for _ in range(days):
        view = sim.step(view.current_dose, view.current_dose).view
    return sim, view.current_dose


def future(sim: VectorSimulator, dose: np.ndarray, days: int = 6) -> np.ndarray:
    out = []
    for _ in range(days):
        res = sim.step(dose, dose)
        out.append(np.concatenate([res.reward, *(np.nan_to_num(v[:, 0], nan=-1.0) for v in res.view.obs.values())]))
    return np.stack(out)


@pytest.mark.parametrize("pack_id", sorted(PACKS))
def test_the_same_seed_gives_the_same_future_and_another_seed_another(pack_id: str) -> None:
    sim, dose = advanced(PACKS[pack_id])
    a, b, c = future(sim.fork(1), dose), future(sim.fork(1), dose), future(sim.fork(2), dose)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c), "a fork with another seed drew the same noise"


@pytest.mark.parametrize("pack_id", sorted(PACKS))
def test_stepping_a_fork_leaves_the_original_where_it_was(pack_id: str) -> None:
    pack = PACKS[pack_id]
    sim, dose = advanced(pack)
    again, _ = advanced(pack)  # the same course, never forked
    future(sim.fork(3), dose)
    np.testing.assert_array_equal(future(sim, dose), future(again, dose))
