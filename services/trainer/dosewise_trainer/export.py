"""Export a learned Q-network as ONNX with its model card, and load an exported policy back as a numpy ``q_fn``.

The ONNX contract (what the inference service relies on):

- input ``features``: float32 (batch, F) in the RAW units of ``pack.feature_specs`` (normalization is inside the graph);
- output ``q_values``: float32 (batch, A), the ensemble mean: the policy's Q;
- output ``q_heads``: float32 (batch, K, A), every ensemble head: their spread is the policy's uncertainty;
- opset ``OPSET``, dynamic batch axis.

``model_card.json`` next to it says what the file is: therapy, feature and action specs with units, training config and
seed, training-cohort hash, cross-validation results (null until evaluation fills them), git commit, sha256 of the ONNX
file, opset, creation time and status ("candidate" after training, "untrained" for a placeholder).
"""

from __future__ import annotations

import io
import json
import subprocess
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dosewise.artifacts import CARD_FILE, POLICY_FILE, sha256_file
from dosewise.therapies.base import TherapyPack
from dosewise_trainer.algorithms.networks import ExportedPolicy, QNetwork, build_q_network

OPSET = 17
CARD_SCHEMA_VERSION = 1



def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10,
                             check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_commit() -> str | None:
    """HEAD of the checkout this code runs from, or None outside a git checkout (e.g. in a container image)."""
    return _git("rev-parse", "HEAD") or None


def git_dirty() -> bool | None:
    """Whether tracked files differ from HEAD (then the commit alone does not reproduce the policy); None without git."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status)


def _onnx_bytes(module: QNetwork) -> bytes:
    wrapper = ExportedPolicy(module).eval()
    example = torch.zeros(2, module.config["n_features"], dtype=torch.float32)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of torch.export, which needs onnxscript (not installed); this
        # exporter handles a static MLP exactly, and the parity test checks the result.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper, (example,), buf, input_names=["features"], output_names=["q_values", "q_heads"],
            dynamic_axes={"features": {0: "batch"}, "q_values": {0: "batch"}, "q_heads": {0: "batch"}},
            opset_version=OPSET, dynamo=False, do_constant_folding=True,
        )
    return buf.getvalue()


def export_policy(
    module: QNetwork,
    pack: TherapyPack,
    out_dir: Path | str,
    train_config: dict[str, Any],
    cohort_hash: str | None,
    cv_results: dict[str, Any] | None = None,
    status: str = "candidate",
    clinic: dict[str, Any] | None = None,
) -> Path:
    """Write ``out_dir/policy.onnx`` and ``out_dir/model_card.json``; returns the ONNX path. ``clinic``: for a policy
    trained at visit cadence, what it was trained for (protocol, cadences, twin models, clinic noise); the card's
    ``clinic_evaluation`` stays null until the clinic evaluation on held-out twin models fills it."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    module.eval()
    onnx_path = out_dir / POLICY_FILE
    onnx_path.write_bytes(_onnx_bytes(module))
    card = {
        "schema_version": CARD_SCHEMA_VERSION,
        "therapy": pack.id,
        "therapy_name": pack.name,
        "status": status,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "onnx": {"file": POLICY_FILE, "sha256": sha256_file(onnx_path), "opset": OPSET, "input": "features",
                 "outputs": ["q_values", "q_heads"], "n_heads": module.config["n_heads"]},
        "network": module.config,
        "features": [{"name": f.name, "unit": f.unit, "description": f.description, "loc": f.loc, "scale": f.scale}
                     for f in pack.feature_specs],
        "actions": [{"index": i, "id": a.id, "label": a.label, "kind": a.kind, "delta": a.delta,
                     "unit": _delta_unit(pack, a.kind), "hold_doses": a.doses_held} for i, a in enumerate(pack.actions)],
        "dose_unit": pack.dose_unit,
        "reward_weights": {"alpha": pack.reward_weights.alpha, "beta": pack.reward_weights.beta,
                           "gamma": pack.reward_weights.gamma},
        "training": {"config": train_config, "seed": train_config.get("seed"), "cohort_hash": cohort_hash},
        "cross_validation": cv_results,
        "protocol": (clinic or {}).get("protocol", "daily"),
        "clinic": clinic,
        "clinic_evaluation": None,
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
    }
    (out_dir / CARD_FILE).write_text(json.dumps(card, indent=2, default=str) + "\n")
    return onnx_path


def _delta_unit(pack: TherapyPack, kind: str) -> str:
    """The unit of an action's ``delta``: % of the regimen for scale and hold actions, else the dose unit per day."""
    return "%" if kind in ("scale", "hold") else f"{pack.dose_unit}/day"


def export_untrained(pack: TherapyPack, out_dir: Path | str, seed: int = 0, n_heads: int = 5) -> Path:
    """A randomly initialised network of the right shape, marked "untrained": lets ``make run`` serve before any training.

    Its recommendations mean nothing clinically; the card's status says so and the gateway shows it with every response.
    """
    torch.manual_seed(seed)
    module = build_q_network(pack, n_heads=n_heads)
    config = {"algorithm": "untrained", "seed": seed, "n_heads": n_heads}
    return export_policy(module, pack, out_dir, config, cohort_hash=None, status="untrained")


def read_model_card(path: Path | str) -> dict[str, Any]:
    """The model card of a policy directory, or of the directory holding ``path`` when it is the ONNX file."""
    path = Path(path)
    return json.loads(((path if path.is_dir() else path.parent) / CARD_FILE).read_text())


def load_onnx_session(path: Path | str) -> Any:
    """An onnxruntime session on one thread (the machine is shared; scoring a cohort is a few large batches)."""
    import onnxruntime as ort

    path = Path(path)
    if path.is_dir():
        path = path / POLICY_FILE
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def load_onnx_q_fn(path: Path | str) -> Callable[[np.ndarray], np.ndarray]:
    """``features (n, F) raw units → ensemble-mean Q (n, A)`` from an exported policy (file or directory), for
    ``rollout.ActionPolicy``. For the heads too, use ``load_onnx_q_heads_fn``."""
    session = load_onnx_session(path)

    def q_fn(features: np.ndarray) -> np.ndarray:
        return session.run(["q_values"], {"features": np.asarray(features, dtype=np.float32)})[0]

    return q_fn


def load_onnx_q_heads_fn(path: Path | str) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``features (n, F) → (q_values (n, A), q_heads (n, K, A))`` from an exported policy."""
    session = load_onnx_session(path)

    def fn(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q, heads = session.run(["q_values", "q_heads"], {"features": np.asarray(features, dtype=np.float32)})
        return q, heads

    return fn
