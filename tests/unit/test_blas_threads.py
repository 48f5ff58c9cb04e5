"""Both serving processes run every BLAS they load on one thread (shared/dosewise/blas_threads.py: OpenBLAS's idle threads
spun on the core the other service needed), unless the operator says otherwise. threadpoolctl reads each loaded BLAS's own
thread count."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# What a service's __main__ does before main() (its first lines, then importing the app, which loads numpy and scipy), then
# each loaded BLAS library's threads.
PROBE = """
import json, sys
source = open(sys.argv[1]).read().rstrip()
assert source.endswith("main()"), source
exec(compile(source[: -len("main()")], sys.argv[1], "exec"))
import threadpoolctl
print(json.dumps({i["filepath"]: i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}))
"""


def _blas_threads(main_file: Path, env: dict[str, str]) -> dict[str, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(main_file)], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    threads: dict[str, int] = json.loads(out.stdout.strip().splitlines()[-1])
    assert threads, "the service loaded no BLAS library: nothing was checked"
    return threads


@pytest.mark.parametrize("service", ["api", "inference"])
def test_a_service_starts_every_blas_on_one_thread(service: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    threads = _blas_threads(REPO / f"services/{service}/dosewise_{service}/__main__.py", env)
    assert set(threads.values()) == {1}, threads


def test_an_operators_setting_wins() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")} | {
        "OPENBLAS_NUM_THREADS": "2"}
    threads = _blas_threads(REPO / "services/inference/dosewise_inference/__main__.py", env)
    assert set(threads.values()) == {2}, threads
