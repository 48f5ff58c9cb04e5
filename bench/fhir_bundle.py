"""What reading a FHIR bundle costs (POST /v1/fhir/recommendations, before inference), in this process on one core: CPU time
of this thread (ms; these 2 cores are shared, so wall time is not), median and p95 of N runs, per bundle:

  mapping  dosewise.fhir.map_bundle: select the mapped resource types from the raw JSON, parse those with fhir.resources
           R4B, map them to a PatientState (or the BundleError naming what is missing)
  full     fhir.resources R4B Bundle.model_validate of the whole bundle: what parsing everything would cost ("refused":
           the whole parse fails on a resource the mapping never reads, or on a deviation it normalizes first)

Bundles: tests/fixtures/fhir/bundles, and the whole Synthea exports of ../shared/fixtures/fhir when they are beside the clone.

Usage: .venv/bin/python bench/fhir_bundle.py [--repeats 21]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from dosewise.fhir import BundleError, map_bundle

REPO = Path(__file__).resolve().parents[1]
SOURCES = (REPO / "tests" / "fixtures" / "fhir" / "bundles", REPO.parent / "shared" / "fixtures" / "fhir")


def cpu_ms(f: Callable[[], object], repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        t = time.thread_time()
        f()
        times.append((time.thread_time() - t) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]


def full(bundle: dict) -> bool:
    try:
        Bundle.model_validate(bundle)
    except ValidationError:
        return False
    return True


def mapped(bundle: dict) -> str:
    try:
        return map_bundle(bundle).state.therapy
    except BundleError as e:
        return f"422 ({len(e.errors)} problems)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=21)
    args = ap.parse_args()
    print(f"{'bundle':<40} {'kB':>6} {'mapping p50/p95 ms':>19} {'full p50/p95 ms':>16}  answer")
    for path in [p for d in SOURCES if d.is_dir() for p in sorted(d.glob("*.json"))]:
        bundle = json.loads(path.read_text())
        if not bundle.get("entry") or len(bundle["entry"]) < 2:
            continue
        m50, m95 = cpu_ms(lambda b=bundle: mapped(b), args.repeats)
        f50, f95 = cpu_ms(lambda b=bundle: full(b), max(3, args.repeats // 3))
        print(f"{path.name[:40]:<40} {path.stat().st_size / 1024:>6.0f} {m50:>9.1f}/{m95:<9.1f} {f50:>7.1f}/{f95:<8.1f} "
              f"{mapped(bundle)}{'' if full(bundle) else '; full parse refused'}")


if __name__ == "__main__":
    main()
