"""Both serving processes run numpy on one BLAS thread (shared/dosewise/blas_threads.py: OpenBLAS's idle threads spun on the
core the other service needed), unless the operator says otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# What a service's __main__ does before main(), then OpenBLAS's own answer (numpy's bundled scipy-openblas), else numpy's
# view of the variable it read at import.
PROBE = """
import ctypes, glob, os, sys
source = open(sys.argv[1]).read().rstrip()
assert source.endswith("main()"), source
exec(compile(source[: -len("main()")], sys.argv[1], "exec"))
import numpy
libs = glob.glob(os.path.join(os.path.dirname(numpy.__file__), "..", "numpy.libs", "libscipy_openblas64_*.so"))
if libs:
    print(ctypes.CDLL(libs[0]).scipy_openblas_get_num_threads64_())
else:
    print(os.environ["OPENBLAS_NUM_THREADS"])
"""


def _blas_threads(main_file: Path, env: dict[str, str]) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, str(main_file)], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("service", ["api", "inference"])
def test_a_service_starts_numpy_on_one_blas_thread(service: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    assert _blas_threads(REPO / f"services/{service}/dosewise_{service}/__main__.py", env) == 1


def test_an_operators_setting_wins() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")} | {
        "OPENBLAS_NUM_THREADS": "2"}
    assert _blas_threads(REPO / "services/inference/dosewise_inference/__main__.py", env) == 2
