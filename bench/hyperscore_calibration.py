"""Calibrate the HyperScore on held-out twins and print Spearman(HyperScore, realized reward) on held-out patients.

    .venv/bin/python bench/hyperscore_calibration.py --therapy warfarin --policy policies/warfarin/<version>
    .venv/bin/python bench/hyperscore_calibration.py --therapy warfarin --train-quick /tmp/hs_policy   # train one first

Writes hyperscore.json (and feature_stats.json when missing) next to the policy unless --no-write. ``--cohorts N`` repeats
the protocol on N−1 more held-out cohorts (seeds seed+1, …; never written) and prints each test Spearman and their median:
one cohort's test half is 200 patients, and the insulin ρ moved by ±0.05 from cohort to cohort.
The protocol is in services/trainer/dosewise_trainer/calibrate_hyperscore.py. Then times the full per-recommendation scoring
(``dosewise_inference.explain.score_and_explain``: forecast, sub-scores, attributions, rationale) one decision at a time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import numpy as np

from dosewise.therapies.base import GuardrailResult
from dosewise.therapies.registry import get_pack
from dosewise_inference.explain import load_sidecars, score_and_explain
from dosewise_trainer.calibrate_hyperscore import CalibrationArgs, calibrate
from dosewise_trainer.calibration_report import print_report
from dosewise_trainer.export import load_onnx_session


def time_scoring(therapy: str, policy: Path, n: int, seed: int = 7) -> dict[str, float]:
    """p50/p99 wall and CPU milliseconds of score_and_explain for n single decisions (patients on day 2–40 of a guideline
    rollout, one onnxruntime run for their Q-values first, as the endpoint has)."""
    pack = get_pack(therapy)
    session = load_onnx_session(policy)
    cfg, stats = load_sidecars(policy)
    sim = pack.simulator(pack.sample_cohort(n, seed), seed)
    guideline = pack.guideline_policy()
    guideline.reset(n)
    stop = np.random.default_rng(seed).integers(2, 40, n)
    views = []
    view = sim.reset()
    for t in range(40):
        views.extend((i, view.take(np.array([i]))) for i in np.flatnonzero(stop == t))
        view = sim.step(*guideline.act(view)).view
    wall, cpu = [], []
    for _, v in views:
        x = pack.features(v)
        guard = pack.guardrails(v)
        q, heads = session.run(["q_values", "q_heads"], {"features": x})
        chosen = int(np.argmax(np.where(guard.mask[0], q[0], -np.inf))) if guard.mask[0].any() else -1
        t0, c0 = time.perf_counter(), time.process_time()
        score_and_explain(pack, session, v, x[0], guard.mask[0], chosen, q[0], heads[0], cfg, stats,
                          guard=GuardrailResult(guard.mask, guard.firings))
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    w, c = np.array(wall[1:]) * 1e3, np.array(cpu[1:]) * 1e3  # the first call warms caches
    return {"n": float(w.size), "wall_p50_ms": float(np.median(w)), "wall_p99_ms": float(np.quantile(w, 0.99)),
            "cpu_p50_ms": float(np.median(c)), "cpu_p99_ms": float(np.quantile(c, 0.99))}


def main() -> None:
    d = CalibrationArgs()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--therapy", default=d.therapy)
    p.add_argument("--policy", type=Path, help="policy directory holding policy.onnx")
    p.add_argument("--train-quick", type=Path, help="train a policy with `dosewise train --quick` budgets into this directory")
    p.add_argument("--train-seed", type=int, default=1)
    p.add_argument("--patients", type=int, default=d.patients)
    p.add_argument("--days", type=int, default=d.days)
    p.add_argument("--decisions-per-patient", type=int, default=d.decisions_per_patient)
    p.add_argument("--horizon-days", type=int, default=d.horizon_days, help="the twin forecast's horizon")
    p.add_argument("--outcome-days", type=int, default=d.outcome_days, help="realized reward: the return over these days")
    p.add_argument("--discount", type=float, default=None, help="its per-day discount (default: the policy's training γ)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--cohorts", type=int, default=1, help="held-out cohorts to calibrate on (the first one is written)")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--json", type=Path, help="also write the full report here")
    p.add_argument("--time", type=int, default=200, help="time score_and_explain on this many single decisions (0: skip)")
    a = p.parse_args()
    if a.policy is None and a.train_quick is None:
        p.error("give --policy or --train-quick")
    policy = a.policy
    if a.train_quick is not None:
        from dosewise_trainer.algorithms import dqn

        dqn.train(dqn.Args.quick(a.therapy, seed=a.train_seed, out_dir=str(a.train_quick), progress=False))
        policy = a.train_quick
    args = CalibrationArgs(
        therapy=a.therapy, policy=str(policy), patients=a.patients, days=a.days,
        decisions_per_patient=a.decisions_per_patient, horizon_days=a.horizon_days, outcome_days=a.outcome_days,
        discount=a.discount, seed=a.seed, write=not a.no_write,
    )
    report = calibrate(args)
    print_report(report)
    if a.cohorts > 1:
        more = [calibrate(dataclasses.replace(args, seed=a.seed + k, write=False)) for k in range(1, a.cohorts)]
        rho = [report.spearman_test] + [r.spearman_test for r in more]
        ceiling = [report.ceiling_rank_test] + [r.ceiling_rank_test for r in more]
        print(f"  test Spearman on {a.cohorts} held-out cohorts (seeds {a.seed}–{a.seed + a.cohorts - 1}): "
              f"{', '.join(f'{x:.3f}' for x in rho)}; median {statistics.median(rho):.3f} (rank ceilings "
              f"{', '.join(f'{x:.3f}' for x in ceiling)})")
    timing = time_scoring(a.therapy, Path(policy), a.time) if a.time > 0 else None
    if timing:
        print(f"  score_and_explain per recommendation ({timing['n']:.0f} decisions): wall p50 {timing['wall_p50_ms']:.1f} ms, "
              f"p99 {timing['wall_p99_ms']:.1f} ms; CPU p50 {timing['cpu_p50_ms']:.1f} ms, p99 {timing['cpu_p99_ms']:.1f} ms")
    if a.json:
        a.json.write_text(json.dumps({**report.summary(), "timing": timing}, indent=2) + "\n")


if __name__ == "__main__":
    main()
