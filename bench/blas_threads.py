"""CPU per serving-sized matrix product under the ways of holding a process to one BLAS thread: none (OpenBLAS's default, a
thread per core), the environment variables set before numpy loads (dosewise.blas_threads), threadpoolctl's limit applied
at run time once numpy and scipy are loaded, and the same limit applied before scipy loads (a library loaded after the call
is not limited).

Each way runs in a fresh process: products of a 64 × 128 batch through a 128-wide layer with a short pause between them, as
requests arrive, so that a BLAS thread left spinning after a product shows as CPU. Printed per way: the BLAS libraries loaded
and their threads (threadpoolctl's view), the process's OS threads, and CPU and wall time per product.
Usage: .venv/bin/python bench/blas_threads.py [--products 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

WAYS = ("default", "environment", "threadpoolctl", "threadpoolctl-early")
VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

CHILD = """
import json, sys, time
way, products = sys.argv[1], int(sys.argv[2])
if way == "environment":
    from dosewise.blas_threads import use_one_blas_thread
    use_one_blas_thread()
import numpy as np
import threadpoolctl
if way == "threadpoolctl-early":
    threadpoolctl.threadpool_limits(limits=1, user_api="blas")
import scipy.linalg  # noqa: F401  # the services load scipy's own OpenBLAS too (the therapy packs' twins)
if way == "threadpoolctl":
    threadpoolctl.threadpool_limits(limits=1, user_api="blas")
rng = np.random.default_rng(0)
x, w = rng.standard_normal((64, 128)), rng.standard_normal((128, 128))
cpu, wall = time.process_time(), time.perf_counter()
for _ in range(products):
    np.tanh(x @ w)
    time.sleep(0.001)
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
threads = int(open("/proc/self/status").read().split("Threads:")[1].split()[0])
print(json.dumps({"cpu_us": cpu / products * 1e6, "wall_us": wall / products * 1e6, "os_threads": threads,
                  "blas": [(i["filepath"].rsplit("/", 1)[-1], i["num_threads"]) for i in threadpoolctl.threadpool_info()]}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--products", type=int, default=3000)
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    print(f"{args.products:,} products of (64×128)·(128×128), 1 ms apart; {os.cpu_count()} cores")
    for way in WAYS:
        out = subprocess.run([sys.executable, "-c", CHILD, way, str(args.products)], env=env, capture_output=True,
                             text=True, check=True)
        r = json.loads(out.stdout)
        blas = ", ".join(f"{name}: {n}" for name, n in r["blas"])
        print(f"  {way:19s} CPU {r['cpu_us']:7.1f} µs  wall {r['wall_us']:7.1f} µs  OS threads {r['os_threads']}  ({blas})")


if __name__ == "__main__":
    main()
