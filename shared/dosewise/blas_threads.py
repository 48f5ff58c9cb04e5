"""One BLAS thread per serving process, set before numpy loads (import and call this first in a service's ``__main__``).

The serving matrices are small (a 6 × 6 transit-chain map, a 128-wide MLP for attribution gradients), so OpenBLAS's extra
threads buy nothing, and between calls they spin on the other core: measured at 200 requests/s, inference used 6.3 ms of
CPU per request with numpy's default threads and 2.6 ms with one (p99 latency 109–146 vs 66–80 ms), the spinning taking the
core the gateway needed. onnxruntime is already on one intra-op thread (policy_store.py). An operator's explicit setting
wins; numpy reads these variables once, when it is first imported.
"""

from __future__ import annotations

import os

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def use_one_blas_thread() -> None:
    for name in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
