"""Each service installs alone: torch stays out of the gateway and inference, the trainer pins the CPU build on disk."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def deps(pkg: str) -> list[str]:
    return tomllib.loads((ROOT / pkg / "pyproject.toml").read_text())["project"]["dependencies"]


@pytest.mark.parametrize("pkg", ["shared", "services/api", "services/inference"])
def test_torch_is_not_a_dependency(pkg: str) -> None:
    assert not [d for d in deps(pkg) if d.lower().startswith("torch")]


def test_trainer_pins_torch_2_13_0() -> None:
    assert "torch==2.13.0" in deps("services/trainer")


@pytest.mark.parametrize("module", ["dosewise_inference.app", "dosewise_api.app", "dosewise.decision"])
def test_serving_code_never_imports_torch(module: str) -> None:
    code = f"import sys, {module}; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_shared_never_imports_a_service() -> None:
    offenders = [p for p in (ROOT / "shared").rglob("*.py")
                 if any(f"import {s}" in p.read_text() or f"from {s}" in p.read_text()
                        for s in ("dosewise_api", "dosewise_inference", "dosewise_trainer", "fastapi", "torch", "onnxruntime"))]
    assert not offenders, offenders
