"""Milliseconds per patient-visit of the model-predictive controller (shared/dosewise/mpc.py), per visit pack.

    .venv/bin/python bench/mpc.py [--visits 1000] [--repeats 3] [--grid 15] [--pack warfarin --pack insulin_t2d]

The visits: ``--visits`` patients of the pack's cohort dosed by its guideline, their clinic views taken at days 10, 20, 40
and 60 (a quarter each: early courses that replay from day 0 and long ones that start from a steady state), scored and
planned as one batch by ``MpcPolicy.plan`` (fit, every action rolled forward on every grid candidate, objective,
guardrails, recheck). Prints the best of ``--repeats`` runs. Aim (issue #25): ≤ 1–2 ms per patient-visit on 2 cores.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dosewise.mpc import DEFAULT_GRID_SIZE, MpcPolicy
from dosewise.therapies.base import ClinicView, TherapyPack
from dosewise.therapies.registry import PACKS

SNAPSHOT_DAYS = (10, 20, 40, 60)


def concat(views: list[ClinicView]) -> ClinicView:
    """One batch of the rows of several views."""
    first = views[0]
    return ClinicView(
        day=np.concatenate([v.day for v in views]), current_dose=np.concatenate([v.current_dose for v in views]),
        dose_history=np.concatenate([v.dose_history for v in views]),
        obs={k: np.concatenate([v.obs[k] for v in views]) for k in first.obs},
        obs_age_days={k: np.concatenate([v.obs_age_days[k] for v in views]) for k in first.obs_age_days},
        covariates={k: np.concatenate([v.covariates[k] for v in views]) for k in first.covariates},
    )


def visits(pack: TherapyPack, n: int, seed: int = 3) -> ClinicView:
    """n clinic views of guideline-dosed twins, a quarter at each of SNAPSHOT_DAYS."""
    per = [n // len(SNAPSHOT_DAYS) + (i < n % len(SNAPSHOT_DAYS)) for i in range(len(SNAPSHOT_DAYS))]
    sim = pack.simulator(pack.sample_cohort(n, seed), seed)
    policy = pack.guideline_policy()
    policy.reset(n)
    view = sim.reset()
    taken, lo = [], 0
    for day in range(1, max(SNAPSHOT_DAYS) + 1):
        given, regimen = policy.act(view)
        view = sim.step(given, regimen).view
        if day in SNAPSHOT_DAYS:
            k = per[SNAPSHOT_DAYS.index(day)]
            taken.append(view.take(np.arange(lo, lo + k)))
            lo += k
    return concat(taken)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visits", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--grid", type=int, default=DEFAULT_GRID_SIZE)
    parser.add_argument("--pack", action="append", default=None, help="pack id (repeatable); default warfarin, insulin_t2d")
    args = parser.parse_args()
    for pack_id in args.pack or ["warfarin", "insulin_t2d"]:
        pack = PACKS[pack_id]
        batch = visits(pack, args.visits)
        policy = MpcPolicy(pack, grid_size=args.grid)
        best = np.inf
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            plan = policy.plan(batch)
            best = min(best, time.perf_counter() - t0)
        one = np.inf
        single = batch.take(np.arange(1))
        for _ in range(max(args.repeats, 5)):
            t0 = time.perf_counter()
            policy.plan(single)
            one = min(one, time.perf_counter() - t0)
        changed = np.mean(plan.action >= 0)
        print(f"{pack_id:12s} {args.visits} visits, {pack.n_actions} actions, grid {args.grid}: "
              f"{best / args.visits * 1e3:.3f} ms per patient-visit in a batch; {one * 1e3:.2f} ms for one alone "
              f"({changed:.0%} planned from the action set)")


if __name__ == "__main__":
    main()
