"""A Gymnasium environment for any therapy pack: one virtual patient, one decision per step.

Description
    Each episode draws a new patient from the pack's cohort sampler (or replays one given in ``reset(options=...)``) and
    steps the pack's vectorized simulator with n = 1. The policy sees only ``pack.features`` of the clinic's view.

Action Space
    ``Discrete(pack.n_actions)``: the pack's ``actions`` (warfarin: hold, −2 … +2 mg/day), mapped to a dose by
    ``pack.apply_actions``. ``action_masks()`` returns the pack's guardrail mask (sb3-contrib MaskablePPO convention); the
    environment itself does not refuse a masked action.

Observation Space
    ``Box(float32)`` of ``pack.n_features``; the feature names and units are ``pack.feature_specs``. Bounds come from the
    pack's optional ``feature_bounds`` ((low, high) per feature), else (−inf, inf).

Rewards
    The simulator's HSDPO reward R = α·T − β·A − γ·H with the pack's ``reward_weights``; ``info`` carries the terms
    separately (r_t, r_a, r_h) and the simulator's diagnostics (e.g. ``inr_true``). Diagnostics are not for the learner.

Starting State
    Day 0 of therapy, as the pack's simulator defines it (warfarin: drug-naive, regimen = IWPC dose).

Episode End
    ``terminated`` when the simulator says the patient's course ended inside the model (e.g. death in the immune model);
    ``truncated`` after ``max_episode_steps`` decisions (default: 90 days' worth, or the pack's ``episode_days``).

Arguments
    ``make_env(therapy, max_episode_steps=None)``.

Version History
    v0: first version (issue "Digital twins").
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from dosewise.therapies.base import ClinicView, Cohort, TherapyPack, VectorSimulator

_SEED_HIGH = 2**31 - 1


class TherapyEnv(gym.Env[np.ndarray, np.int64]):
    """One patient of ``pack`` as a Gymnasium environment; see the module docstring for the spec sheet."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, pack: TherapyPack, max_episode_steps: int | None = None) -> None:
        self.pack = pack
        if max_episode_steps is None:
            days = float(pack.episode_days)
            max_episode_steps = max(1, round(days / pack.decision_interval_days))
        self.max_episode_steps = int(max_episode_steps)
        bounds = pack.feature_bounds
        if bounds is None:
            low = np.full(pack.n_features, -np.inf, dtype=np.float32)
            high = np.full(pack.n_features, np.inf, dtype=np.float32)
        else:
            if len(bounds) != pack.n_features:
                raise ValueError(f"{pack.id}: feature_bounds has {len(bounds)} entries for {pack.n_features} features")
            low = np.array([b[0] for b in bounds], dtype=np.float32)
            high = np.array([b[1] for b in bounds], dtype=np.float32)
        self.observation_space = gym.spaces.Box(low=low, high=high, dtype=np.float32)
        self.action_space = gym.spaces.Discrete(pack.n_actions)
        self._sim: VectorSimulator | None = None
        self._view: ClinicView | None = None
        self._steps = 0
        self.patient: Cohort | None = None

    def _obs(self) -> np.ndarray:
        assert self._view is not None
        return np.asarray(self.pack.features(self._view)[0], dtype=np.float32)

    def action_masks(self) -> np.ndarray:
        """Allowed actions now (the pack's guardrails), shape (n_actions,)."""
        if self._view is None:
            raise RuntimeError("call reset() first")
        return self.pack.guardrails(self._view).mask[0]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new patient. ``options={"patient": cohort}`` replays a given one-patient Cohort instead of sampling."""
        super().reset(seed=seed)
        patient_seed, sim_seed = (int(s) for s in self.np_random.integers(0, _SEED_HIGH, size=2))
        patient = (options or {}).get("patient")
        if patient is None:
            patient = self.pack.sample_cohort(1, patient_seed)
        elif patient.n != 1:
            raise ValueError(f"options['patient'] must hold one patient, got {patient.n}")
        self.patient = patient
        self._sim = self.pack.simulator(patient, sim_seed)
        self._view = self._sim.reset()
        self._steps = 0
        return self._obs(), {"action_mask": self.action_masks()}

    def step(self, action: int | np.integer) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._sim is None or self._view is None:
            raise RuntimeError("call reset() first")
        if not self.action_space.contains(np.int64(action)):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        given, regimen = self.pack.apply_actions(self._view.current_dose, np.array([int(action)]))
        res = self._sim.step(given, regimen)
        self._view = res.view
        self._steps += 1
        terminated = bool(res.terminated[0])
        truncated = (not terminated) and self._steps >= self.max_episode_steps
        info: dict[str, Any] = {k: float(np.asarray(v)[0]) for k, v in res.info.items()}
        info["given"] = float(given[0])
        info["regimen"] = float(regimen[0])
        info["action_mask"] = self.action_masks()
        return self._obs(), float(res.reward[0]), terminated, truncated, info


def make_env(therapy: str | TherapyPack, max_episode_steps: int | None = None) -> TherapyEnv:
    """The environment for a registered therapy id (``dosewise.therapies.registry.PACKS``) or a pack instance."""
    if isinstance(therapy, str):
        from dosewise.therapies.registry import get_pack

        therapy = get_pack(therapy)
    return TherapyEnv(therapy, max_episode_steps=max_episode_steps)
