"""Simulated patient-days per second: each pack's vectorized simulator against a naive per-patient solve_ivp loop.

    .venv/bin/python bench/sim_throughput.py [--patients 20000] [--days 90] [--naive-patients 5] [--naive-days 30]

For every pack in ``dosewise.therapies.registry.PACKS`` (packs whose cohort sampler or simulator raises
NotImplementedError are skipped) it times ``VectorSimulator.step`` on a cohort given its starting regimen every day, and,
when the simulator offers ``solve_ivp_reference(given (n, days)) -> (n, days)`` (the same model integrated one patient at
a time with ``scipy.integrate.solve_ivp``), that naive loop on a few patients. Single core: BLAS/OpenMP threads are pinned
to 1 before numpy loads. Aims (issue "Digital twins"): ≥ 200,000 patient-days/s for warfarin and ≥ 100× the naive loop.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402

from dosewise.therapies.base import TherapyPack  # noqa: E402
from dosewise.therapies.registry import PACKS  # noqa: E402


@dataclass
class Result:
    pack: str
    vectorized_patient_days_per_s: float
    naive_patient_days_per_s: float | None

    @property
    def speedup(self) -> float | None:
        if self.naive_patient_days_per_s is None:
            return None
        return self.vectorized_patient_days_per_s / self.naive_patient_days_per_s


def time_vectorized(pack: TherapyPack, patients: int, days: float, seed: int) -> float:
    """Patient-days per second of ``sim.step`` (the cohort is built before the clock starts)."""
    cohort = pack.sample_cohort(patients, seed)
    sim = pack.simulator(cohort, seed)
    view = sim.reset()
    steps = max(1, round(days / pack.decision_interval_days))
    start = time.perf_counter()
    for _ in range(steps):
        view = sim.step(view.current_dose, view.current_dose).view
    elapsed = time.perf_counter() - start
    return patients * steps * pack.decision_interval_days / elapsed


def time_naive(pack: TherapyPack, patients: int, days: float, seed: int) -> float | None:
    """Patient-days per second of the simulator's per-patient solve_ivp reference, or None when it has none."""
    sim = pack.simulator(pack.sample_cohort(patients, seed), seed)
    reference = getattr(sim, "solve_ivp_reference", None)
    if reference is None:
        return None
    view = sim.reset()
    steps = max(1, round(days / pack.decision_interval_days))
    given = np.repeat(view.current_dose[:, None], steps, axis=1)
    start = time.perf_counter()
    reference(given)
    elapsed = time.perf_counter() - start
    return patients * steps * pack.decision_interval_days / elapsed


def main(argv: list[str] | None = None) -> list[Result]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=20_000, help="cohort size for the vectorized simulator")
    ap.add_argument("--days", type=float, default=90.0, help="simulated days for the vectorized simulator")
    ap.add_argument("--naive-patients", type=int, default=5, help="patients for the naive solve_ivp loop")
    ap.add_argument("--naive-days", type=float, default=30.0, help="simulated days for the naive loop")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    print(f"vectorized: {args.patients} patients × {args.days:g} days; naive solve_ivp loop: "
          f"{args.naive_patients} patients × {args.naive_days:g} days; one core")
    print(f"{'pack':<14}{'vectorized patient-days/s':>28}{'naive solve_ivp patient-days/s':>33}{'speed-up':>11}")
    results: list[Result] = []
    for pack_id, pack in PACKS.items():
        try:
            vec = time_vectorized(pack, args.patients, args.days, args.seed)
        except NotImplementedError as e:
            print(f"{pack_id:<14}skipped: {e}")
            continue
        naive = time_naive(pack, args.naive_patients, args.naive_days, args.seed)
        r = Result(pack_id, vec, naive)
        results.append(r)
        naive_s = f"{naive:,.0f}" if naive is not None else "n/a (no solve_ivp_reference)"
        speed_s = f"{r.speedup:,.0f}×" if r.speedup is not None else "–"
        print(f"{pack_id:<14}{vec:>28,.0f}{naive_s:>33}{speed_s:>11}")
    return results


if __name__ == "__main__":
    main()
