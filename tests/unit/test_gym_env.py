"""The generic Gymnasium environment (therapies/gym_env.py), checked on every registered pack that has a simulator.

Contracts from the Gymnasium API (``Env.reset(seed=...)`` seeds all randomness; ``step`` returns obs, reward,
terminated, truncated, info; observations lie in ``observation_space``) and the issue "Digital twins".
"""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from dosewise.therapies.gym_env import TherapyEnv, make_env
from dosewise.therapies.registry import PACKS


def _env_or_skip(therapy: str, max_episode_steps: int | None = None) -> TherapyEnv:
    env = make_env(therapy, max_episode_steps=max_episode_steps)
    try:
        env.reset(seed=0)
    except NotImplementedError as e:
        pytest.skip(f"{therapy}: {e}")
    return env


THERAPIES = sorted(PACKS)


@pytest.mark.parametrize("therapy", THERAPIES)
def test_check_env_passes(therapy: str) -> None:
    """gymnasium.utils.env_checker.check_env: spaces, reset/step signatures, seeding determinism, dtypes."""
    check_env(_env_or_skip(therapy), skip_render_check=True)


@pytest.mark.parametrize("therapy", THERAPIES)
def test_same_seed_same_trajectory(therapy: str) -> None:
    """Same seed and same actions → identical observations, rewards and diagnostics; another seed → another patient."""

    def episode(seed: int) -> tuple[np.ndarray, np.ndarray, list[dict]]:
        env = _env_or_skip(therapy, max_episode_steps=25)
        obs, _ = env.reset(seed=seed)
        actions = np.random.default_rng(99).integers(0, env.action_space.n, size=25)
        all_obs, rewards, infos = [obs], [], []
        for a in actions:
            obs, r, term, trunc, info = env.step(int(a))
            all_obs.append(obs)
            rewards.append(r)
            infos.append({k: v for k, v in info.items() if k != "action_mask"})
            if term or trunc:
                break
        return np.array(all_obs), np.array(rewards), infos

    a_obs, a_rew, a_info = episode(123)
    b_obs, b_rew, b_info = episode(123)
    c_obs, _, _ = episode(124)
    np.testing.assert_array_equal(a_obs, b_obs)
    np.testing.assert_array_equal(a_rew, b_rew)
    assert str(a_info) == str(b_info)  # NaN-safe equality of the diagnostics
    assert not np.array_equal(a_obs[0], c_obs[0])


@pytest.mark.parametrize("therapy", THERAPIES)
@pytest.mark.parametrize("policy", ["random", "lowest", "highest"])
def test_observations_are_finite_and_inside_the_declared_box(therapy: str, policy: str) -> None:
    """Every observation of a whole episode is finite and in observation_space, under random, always-first and
    always-last actions (the extremes of the action set: for warfarin hold-every-day and +2 mg every day)."""
    env = _env_or_skip(therapy)
    obs, _ = env.reset(seed=5)
    rng = np.random.default_rng(5)
    n = int(env.action_space.n)
    for _ in range(env.max_episode_steps):
        assert np.all(np.isfinite(obs)), obs
        assert env.observation_space.contains(obs), (obs, env.observation_space)
        a = {"random": int(rng.integers(n)), "lowest": 0, "highest": n - 1}[policy]
        obs, _, term, trunc, _ = env.step(a)
        if term or trunc:
            break
    assert np.all(np.isfinite(obs)) and env.observation_space.contains(obs)


@pytest.mark.parametrize("therapy", THERAPIES)
def test_truncation_at_max_episode_steps_and_reward_terms_in_info(therapy: str) -> None:
    """Truncated exactly at max_episode_steps (unless the model ended the course first); info reports the HSDPO terms
    and reward = α·r_t − β·r_a − γ·r_h with the pack's weights."""
    env = _env_or_skip(therapy, max_episode_steps=7)
    env.reset(seed=1)
    w = env.pack.reward_weights
    for step in range(1, 8):
        _, r, term, trunc, info = env.step(int(env.action_space.n) // 2)
        assert {"r_t", "r_a", "r_h"} <= set(info)
        assert r == pytest.approx(w.alpha * info["r_t"] - w.beta * info["r_a"] - w.gamma * info["r_h"])
        assert info["action_mask"].shape == (env.action_space.n,)
        if term:
            return
        assert trunc == (step == 7)


def test_warfarin_episode_starts_on_the_iwpc_dose_and_replays_a_given_patient() -> None:
    """reset(options={'patient': cohort}) replays that patient; the first observation carries the IWPC start dose."""
    env = make_env("warfarin")
    patient = env.pack.sample_cohort(1, seed=42)
    obs1, _ = env.reset(seed=1, options={"patient": patient})
    obs2, _ = env.reset(seed=2, options={"patient": patient})
    names = [f.name for f in env.pack.feature_specs]
    noisy = [names.index(k) for k in ("inr_last", "inr_prev", "inr_prev2")]  # the day-0 INR carries measurement noise
    keep = np.setdiff1d(np.arange(len(names)), noisy)
    np.testing.assert_array_equal(obs1[keep], obs2[keep])
    assert obs1[noisy[0]] != obs2[noisy[0]]
    current = obs1[names.index("current_dose_mg_per_day")]
    iwpc = obs1[names.index("iwpc_dose_mg_per_day")]
    assert current == pytest.approx(np.clip(round(iwpc * 2) / 2, 0.5, 15.0))


def test_unknown_therapy_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="warfarin"):
        make_env("aspirin")
