"""Sanity of the basal-insulin twin models (issue #25, "robust to the model"): fasting glucose vs dose, per model and per
insulin-sensitivity tertile, and how many patients have a night below 70 mg/dL on 0.2 U/kg.

Every registered insulin_t2d model (dosewise.therapies.twin_models) is built with the same n and seed and given a fixed
weight-based dose (0, 0.1, 0.2, 0.3, 0.5 U/kg/day, whole units, every dose taken, no clinic noise) for ``--days`` days.
Printed per model and dose: the median true fasting glucose on the last morning, overall and per tertile of the model's
hidden insulin sensitivity (``si``; the family's is the within-model rank), the median nightly minimum, and the share of
patients with at least one night below 70 mg/dL during the course (the night's minimum is each model's
``glucose_night_min_mg_dl``: midnight to the 07:00 reading where the model has meals, else its 24-h minimum; a model
without one, the pack's own simulator, is read on its fasting glucose instead, as clinic_metrics.py does, and says so).
Usage: .venv/bin/python bench/insulin_twins.py [--n 300] [--days 14] [--seed 1] [--models NAME ...]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dosewise.therapies.insulin_t2d.clinic_metrics import NIGHT_MIN_KEY, tertiles
from dosewise.therapies.twin_models import get_twin_model, twin_models

DOSES_U_PER_KG = (0.0, 0.1, 0.2, 0.3, 0.5)
HYPO_MG_DL = 70.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--models", nargs="*", default=None, help="twin model names (default: every insulin_t2d model)")
    a = ap.parse_args()
    names = a.models or [m.name for m in twin_models("insulin_t2d")]
    print(f"{a.n} patients, {a.days} days at a fixed dose, seed {a.seed}; glucose in mg/dL (medians)")
    header = f"{'U/kg':>5} {'fasting':>8} {'low-SI':>7} {'mid-SI':>7} {'high-SI':>7} {'night min':>9} {'any night<70':>12}"
    for name in names:
        model = get_twin_model(name)
        print(f"\n{name} ({model.role}): {model.citation}")
        print(header)
        t0 = time.perf_counter()
        for u in DOSES_U_PER_KG:
            twin, groups = model.build(a.n, a.seed)
            dose = np.round(u * np.asarray(twin.covariates["weight_kg"]))
            any_low = np.zeros(a.n, dtype=bool)
            day: dict[str, np.ndarray] = {}
            for _ in range(a.days):
                day = twin.advance_day(dose)
                night = day.get(NIGHT_MIN_KEY, day["glucose_fasting_true"])
                any_low |= night < HYPO_MG_DL
            f = day["glucose_fasting_true"]
            ter = tertiles(groups["si"])
            by_t = [np.median(f[ter == k]) for k in range(3)]
            print(f"{u:>5.1f} {np.median(f):>8.0f} {by_t[0]:>7.0f} {by_t[1]:>7.0f} {by_t[2]:>7.0f} "
                  f"{np.median(night):>9.0f} {100 * any_low.mean():>11.1f}%")
        source = "" if NIGHT_MIN_KEY in day else "; no night minimum: nights read on fasting glucose"
        print(f"({time.perf_counter() - t0:.1f} s for the {len(DOSES_U_PER_KG)} doses{source})")


if __name__ == "__main__":
    main()
