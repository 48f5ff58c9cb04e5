"""How long every registered twin model takes to simulate a course (a benchmark: it measures and prints, asserts nothing).

For each model of dosewise.therapies.twin_models: build ``--n`` patients, then give a fixed dose every day for ``--days``
days (5 mg/day warfarin, 20 U/day insulin); prints build and simulation wall time (s) and patient-days per second. The
2 cores may be shared, so compare runs made on a quiet machine.

Usage: .venv/bin/python bench/twin_speed.py [--n 300] [--days 90] [--models NAME ...]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dosewise.therapies.twin_models import get_twin_model, twin_models

FIXED_DOSE = {"warfarin": 5.0, "insulin_t2d": 20.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--models", nargs="*", help="default: every registered model")
    args = ap.parse_args()
    names = args.models or [m.name for m in twin_models()]
    print(f"{'model':<22} {'therapy':<12} {'build s':>8} {'simulate s':>11} {'patient-days/s':>15}")
    for name in names:
        model = get_twin_model(name)
        t0 = time.perf_counter()
        twin, _ = model.build(args.n, 1)
        t1 = time.perf_counter()
        dose = np.full(args.n, FIXED_DOSE.get(model.therapy, 1.0))
        for _ in range(args.days):
            twin.advance_day(dose)
        t2 = time.perf_counter()
        print(f"{name:<22} {model.therapy:<12} {t1 - t0:>8.3f} {t2 - t1:>11.3f} {args.n * args.days / (t2 - t1):>15,.0f}")


if __name__ == "__main__":
    main()
