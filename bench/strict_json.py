"""What the gateway's strict body parse costs on a 1,000-patient batch (POST /v1/recommendations:batch), in this process on
one core: CPU time of this thread, best of N runs (ms; CPU time, because these 2 cores are shared and wall time is not):

  plain    json.loads(bytes), FastAPI's own parse (what every JSON body cost before the strict parse)
  strict   dosewise_api.middleware.parse_strictly: json.loads with an object_pairs_hook that notices a repeated key, and a
           search of the text for a NUL escape (what every JSON body costs now, once)
  both     strict then plain: what a body costs on a route whose router does not take the parsed body on (ParsedBodyRoute)
  error    strict on the same body with one duplicated key in its last patient: the walk that names it runs only then

Usage: .venv/bin/python bench/strict_json.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from dosewise.schemas import PATIENT_STATE_EXAMPLE
from dosewise_api.middleware import parse_strictly


def best_ms(f: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.thread_time()
        f()
        times.append(time.thread_time() - t)
    return min(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    body = json.dumps({"patients": [PATIENT_STATE_EXAMPLE | {"patient_ref": f"bench-{i:05d}"} for i in range(1000)]}).encode()
    assert parse_strictly(body) == (json.loads(body), [])
    bad = body[: body.rindex(b'"pregnant"')] + b'"pregnant": true, ' + body[body.rindex(b'"pregnant"'):]
    [error] = parse_strictly(bad)[1]
    assert error["loc"] == ("body", "patients", 999, "pregnant"), error
    rows = {
        "plain": best_ms(lambda: json.loads(body), args.repeats),
        "strict": best_ms(lambda: parse_strictly(body), args.repeats),
        "both": best_ms(lambda: (parse_strictly(body), json.loads(body)), args.repeats),
        "error": best_ms(lambda: parse_strictly(bad), args.repeats),
    }
    print(f"1,000-patient batch body: {len(body):,} bytes; CPU ms, best of {args.repeats}")
    for name, ms in rows.items():
        print(f"  {name:<7}{ms:7.1f} ms")
    print(f"strict parse over plain: +{rows['strict'] - rows['plain']:.1f} ms "
          f"({rows['strict'] / rows['plain'] - 1:+.0%}); parsing twice would add {rows['both'] - rows['strict']:.1f} ms more")


if __name__ == "__main__":
    main()
