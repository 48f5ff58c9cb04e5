"""Policy artifacts on disk: how a file is fingerprinted, the same way by the trainer (model card), the bootstrap and
inference (verified on every load)."""

from __future__ import annotations

import hashlib
from pathlib import Path

POLICY_FILE = "policy.onnx"  # a policy version's ONNX file, inside its directory
CARD_FILE = "model_card.json"  # next to it: what the file is (export.py writes it)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def artifact_problem(path: Path, sha256: str) -> str | None:
    """Why the artifact a registry row names cannot be served (missing, or not the bytes the registry recorded), or None.
    Inference refuses to load such a file; the bootstrap replaces an active row that names one."""
    if not path.is_file():
        return "artifact missing"
    digest = sha256_file(path)
    return None if digest == sha256 else f"artifact hash {digest[:12]} ≠ registry {sha256[:12]}"
