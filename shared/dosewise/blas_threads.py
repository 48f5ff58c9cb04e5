"""One BLAS thread per serving process, set before numpy loads (import and call this first in a service's ``__main__``).

The serving matrices are small (a 6 × 6 transit-chain map, a 128-wide MLP for attribution gradients), so OpenBLAS's extra
threads buy nothing, and between calls they spin on the other core, taking the CPU the other service needs
(bench/blas_threads.py: CPU per product with a thread per core against one). onnxruntime is already on one intra-op thread
(policy_store.py). An operator's explicit setting wins; each BLAS reads these variables once, when it is loaded.

Why the variables and not threadpoolctl's ``threadpool_limits`` (the field's run-time control, used by the tests to check
this): a service loads two OpenBLAS builds (numpy's and scipy's), and a run-time limit reaches only those loaded when it is
called, so a library imported later, or lazily on a first request, would escape it; the variables reach every BLAS the
process ever loads, and the worker threads are never started. The CPU saved is the same (bench/blas_threads.py).
"""

from __future__ import annotations

import os

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def use_one_blas_thread() -> None:
    for name in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
