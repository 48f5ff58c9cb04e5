"""Policies that are not networks — the therapy's guideline and the model-predictive controller — as served policies.

Inference serves every policy the same way: per patient a score for every action of the pack, masked by the guardrails,
the best allowed action chosen, and the gateway's final check on it (issue #25: "each registered and gated like any
policy"; "the guideline is the floor"). A network's scores are its Q-values. A controller's are:

- ``mpc``: ``dosewise.mpc.action_scores`` — minus each action's expected cost under the patient's fitted twin;
- ``guideline``: 0 for the action the guideline takes and −1 for every other one, so the guideline's own action wins
  whenever the guardrails allow it, and otherwise the masked argmax falls to the lowest-index allowed action (index 0
  is every pack's safest). The guideline is the pack's visit-level guideline where it has one; a pack with only a daily
  guideline (the immune model) gets the action nearest to what that guideline gives.

A controller is registered like a network, with a small JSON manifest in place of the ONNX file (``MANIFEST_FILE``): its
sha256 is what the registry checks, so a changed manifest is a new version, as a changed network is. It names the pack's
actions it scores: after a change of the pack's action set the controller is a new version too, so the bootstrap registers
and serves it rather than finding its bytes already registered under the old card (made for the old actions, unservable).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dosewise.therapies.base import ClinicView, FloatArray, TherapyPack
from dosewise.therapies.clinic import keep_action_index

ControllerKind = Literal["guideline", "mpc"]
KINDS: tuple[ControllerKind, ...] = ("guideline", "mpc")
# A network behind the model-predictive shield (dosewise.shield): its manifest names the network file beside it and that
# file's sha256, so the registry's hash of the manifest covers the network too.
SHIELD = "shield"
MANIFEST_FILE = "controller.json"
GUIDELINE_OTHER_SCORE = -1.0


def manifest(kind: ControllerKind, therapy: str, actions: Sequence[str]) -> dict[str, Any]:
    """What a controller's manifest holds: its kind, therapy and the ids of the actions it scores (the code is the
    version's behaviour)."""
    if kind not in KINDS:
        raise ValueError(f"unknown controller kind {kind!r}; known: {', '.join(KINDS)}")
    return {"kind": kind, "therapy": therapy, "actions": list(actions)}


def shield_manifest(therapy: str, actions: Sequence[str], network_file: str, network_sha256: str) -> dict[str, Any]:
    """A shielded network's manifest: the kind, therapy and action ids as a controller's, and the network it guards."""
    return {"kind": SHIELD, "therapy": therapy, "actions": list(actions),
            "network": {"file": network_file, "sha256": network_sha256}}


def read_manifest(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    if data.get("kind") not in (*KINDS, SHIELD):
        raise ValueError(f"{path}: unknown controller kind {data.get('kind')!r}")
    if data["kind"] == SHIELD:
        network = data.get("network")
        if not isinstance(network, dict) or not isinstance(network.get("file"), str) or "/" in network["file"] \
                or not isinstance(network.get("sha256"), str):
            raise ValueError(f"{path}: a shield manifest names its network as {{'file': name beside it, 'sha256': hex}}")
    return data


def has_controller(pack: TherapyPack, kind: ControllerKind) -> bool:
    """Whether ``kind`` can dose this pack: every pack has a guideline; the MPC needs the pack's forecast twin."""
    if kind == "guideline":
        return True
    from dosewise import forecast

    return forecast.twin_spec(pack) is not None and bool(pack.cadences)


def guideline_actions(pack: TherapyPack, view: ClinicView) -> np.ndarray:
    """(n,) the action index the pack's guideline takes for each patient (stateless: from the view alone)."""
    try:
        plan = pack.visit_guideline_policy().plan(view)
        action = np.asarray(plan.action, dtype=np.int64)
        # Rows the start rule decided carry no action; the start itself is the decision flow's (decision.py), for every
        # kind of policy alike, so rank "keep" first there.
        return np.where(action >= 0, action, keep_action_index(pack))
    except NotImplementedError:
        policy = pack.guideline_policy()
        policy.reset(view.n)
        given, regimen = policy.act(view)
        return _nearest_actions(pack, view, np.asarray(given, dtype=float), np.asarray(regimen, dtype=float))


def _nearest_actions(pack: TherapyPack, view: ClinicView, given: FloatArray, regimen: FloatArray) -> np.ndarray:
    """The action whose (first day's dose, regimen) is nearest to a dosing policy's, per patient."""
    per_action = [pack.apply_actions(view.current_dose, np.full(view.n, a, dtype=np.int64)) for a in range(pack.n_actions)]
    g = np.stack([p[0] for p in per_action], axis=1)
    r = np.stack([p[1] for p in per_action], axis=1)
    distance = np.abs(g - given[:, None]) + np.abs(r - regimen[:, None])
    return np.argmin(distance, axis=1).astype(np.int64)


def scores(kind: ControllerKind, pack: TherapyPack, view: ClinicView) -> FloatArray:
    """(n, A) a controller's action scores (module docstring): larger is better, unmasked."""
    if view.n == 0:
        return np.zeros((0, pack.n_actions))
    if kind == "mpc":
        from dosewise import mpc

        return mpc.action_scores(pack, view)
    if kind == "guideline":
        out = np.full((view.n, pack.n_actions), GUIDELINE_OTHER_SCORE)
        out[np.arange(view.n), guideline_actions(pack, view)] = 0.0
        return out
    raise ValueError(f"unknown controller kind {kind!r}")
