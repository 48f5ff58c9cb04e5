"""Run a dosing policy on a cohort of digital twins and record the trajectory. Used by simulate, evaluate and training."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dosewise.therapies.base import ClinicView, Cohort, DosingPolicy, TherapyPack, Trajectory


class ActionPolicy:
    """Adapts "features → action index" (a learned Q-network, a table) to a DosingPolicy, masking with the pack's guardrails.

    ``q_fn(features (n, F) float32) -> q (n, A)``. Masked actions get −inf; a row with nothing allowed holds the dose.
    """

    def __init__(self, pack: TherapyPack, q_fn: Callable[[np.ndarray], np.ndarray], name: str = "learned") -> None:
        self.pack, self.q_fn, self.name = pack, q_fn, name
        self.last_actions: np.ndarray | None = None

    def reset(self, n: int) -> None:
        self.last_actions = None

    def act(self, view: ClinicView) -> tuple[np.ndarray, np.ndarray]:
        q = np.asarray(self.q_fn(self.pack.features(view)), dtype=np.float64)
        mask = self.pack.guardrails(view).mask
        a = np.where(mask.any(axis=1), np.argmax(np.where(mask, q, -np.inf), axis=1), -1)
        self.last_actions = a
        hold = self.pack.apply_actions(view.current_dose, np.zeros_like(a))  # index 0 of every pack is its safest action
        given, regimen = self.pack.apply_actions(view.current_dose, np.maximum(a, 0))
        nothing = a < 0
        return np.where(nothing, hold[0], given), np.where(nothing, hold[1], regimen)


def rollout(
    pack: TherapyPack,
    cohort: Cohort,
    policy: DosingPolicy,
    steps: int,
    seed: int,
    record_features: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Trajectory:
    """Step every patient ``steps`` decisions under ``policy``. Same (cohort, policy, seed) → same trajectory."""
    sim = pack.simulator(cohort, seed)
    view = sim.reset()
    policy.reset(cohort.n)
    n = cohort.n
    given = np.zeros((n, steps))
    regimen = np.zeros((n, steps))
    reward = np.zeros((n, steps))
    term = np.zeros((n, steps), dtype=bool)
    actions = np.full((n, steps), -1, dtype=np.int64)
    feats = np.zeros((n, steps, pack.n_features), dtype=np.float32) if record_features else None
    info: dict[str, list[np.ndarray]] = {}
    for t in range(steps):
        if feats is not None:
            feats[:, t] = pack.features(view)
        g, r = policy.act(view)
        last = getattr(policy, "last_actions", None)
        if last is not None:
            actions[:, t] = last
        res = sim.step(g, r)
        given[:, t], regimen[:, t], reward[:, t], term[:, t] = g, r, res.reward, res.terminated
        for k, v in res.info.items():
            info.setdefault(k, []).append(np.asarray(v))
        view = res.view
        if progress is not None:
            progress(t + 1)
    return Trajectory(
        cohort=cohort, given=given, regimen=regimen, reward=reward, terminated=term,
        info={k: np.stack(v, axis=1) for k, v in info.items()}, features=feats, actions=actions,
    )
