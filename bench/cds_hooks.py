"""What a CDS Hooks call costs end to end (issue #26; the spec expects an answer in about 500 ms): p50 and p95 wall time of
N sequential calls against a local stack (gateway + inference, SQLite unless DATABASE_URL is set), each authenticated by a
fresh ES384 client JWT (signature, allow-list, jti remembered) and answered with its card, the recommendation stored:

  patient-view, prefetch     every prefetch key filled by the client (the anticoagulation fixture)
  patient-view, FHIR server  nothing prefetched: the gateway reads the 7 searches from a loopback FHIR server (the test
                             suite's, tests/fhir_server.py) with the access token
  patient-view, paged by 2   the same, the server answering each search 2 entries a page: 13 reads instead of 7, the
                             next pages of a search one after another
  order-sign, prefetch       a new draft warfarin order each call: a recommendation, a card with its update suggestion

The aim (issue #26): p95 ≤ 200 ms with prefetch on this machine. The 2 cores are shared with the servers and this client.

Usage: .venv/bin/python bench/cds_hooks.py [--calls 100]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the test suite's FHIR server and CDS client

from dosewise.cds.services import SERVICES  # noqa: E402
from dosewise.devstack import LocalStack  # noqa: E402
from tests.cds_client import CdsClient  # noqa: E402
from tests.fhir_server import serving  # noqa: E402

BUNDLE = REPO / "tests" / "fixtures" / "fhir" / "bundles" / "anticoag_inr_series.json"
VIEW, SIGN = "dosewise-warfarin-patient-view", "dosewise-warfarin-order-sign"
_TYPES = {"series": "Observation", "measurements": "Observation", "medications": "MedicationRequest",
          "statements": "MedicationStatement", "administrations": "MedicationAdministration", "conditions": "Condition"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def prefetch(resources: list[dict[str, Any]], service: str) -> dict[str, Any]:
    out: dict[str, Any] = {"patient": next(r for r in resources if r["resourceType"] == "Patient")}
    for key in SERVICES[service].prefetch:
        if key in _TYPES:
            out[key] = {"resourceType": "Bundle", "type": "searchset",
                        "entry": [{"resource": r} for r in resources if r["resourceType"] == _TYPES[key]]}
    return out


def draft(patient: str) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": f"draft-{uuid.uuid4().hex[:12]}", "status": "draft",
            "intent": "order", "subject": {"reference": f"Patient/{patient}"},
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": "855332", "display": "Warfarin Sodium 5 MG Oral Tablet"}]},
            "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                                   "doseAndRate": [{"doseQuantity": {"value": 5, "unit": "mg",
                                                                     "system": "http://unitsofmeasure.org",
                                                                     "code": "mg"}}]}]}


def run(api: str, client: CdsClient, service: str, body_of: Any, calls: int) -> list[float]:
    path = f"/cds-services/{service}"
    times = []
    with httpx.Client(timeout=30) as http:
        for i in range(calls + 5):  # the first 5 warm up
            body = body_of()
            headers = client.headers(api + path)
            t = time.perf_counter()
            r = http.post(api + path, json=body, headers=headers)
            elapsed = (time.perf_counter() - t) * 1000
            if r.status_code != 200 or len(r.json()["cards"]) != 1:
                raise SystemExit(f"{service}: {r.status_code} {r.text[:300]}")
            if i >= 5:
                times.append(elapsed)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=100, help="timed calls per row (after 5 to warm up)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dosewise-bench-cds-"))
    client = CdsClient(tmp)
    api_port, inf_port = free_port(), free_port()
    env = os.environ.copy() | client.env() | {
        "DOSEWISE_VAR_DIR": str(tmp), "DOSEWISE_API_PORT": str(api_port), "DOSEWISE_INFERENCE_PORT": str(inf_port),
        "DOSEWISE_INFERENCE_URL": f"http://127.0.0.1:{inf_port}", "DOSEWISE_LOG_LEVEL": "WARNING", "DOSEWISE_ENV": "test",
        "DOSEWISE_RATE_LIMIT_PER_MINUTE": "100000000", "DOSEWISE_RATE_LIMIT_BURST": "1000000",
    }
    env.setdefault("DATABASE_URL", f"sqlite+aiosqlite:///{tmp / 'dosewise.db'}")
    subprocess.run([sys.executable, "-m", "dosewise.cli.main", "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "dosewise_trainer.bootstrap"], env=env, check=True, capture_output=True)
    stack = LocalStack(env=env, log_dir=tmp)
    resources = [e["resource"] for e in json.loads(BUNDLE.read_text())["entry"]]
    patient = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    api = f"http://127.0.0.1:{api_port}"
    try:
        stack.start("inference")
        stack.start("api")
        stack.wait_ready(f"http://127.0.0.1:{inf_port}/readyz")
        stack.wait_ready(api + "/readyz")

        def hook(service: str, **extra: Any) -> Any:
            return lambda: {"hook": SERVICES[service].hook, "hookInstance": str(uuid.uuid4()),
                            "context": {"userId": "Practitioner/dr-ortiz", "patientId": patient}} | extra

        rows: list[tuple[str, list[float]]] = []
        view = hook(VIEW)
        rows.append(("patient-view, prefetch", run(api, client, VIEW, lambda: view() | {
            "prefetch": prefetch(resources, VIEW)}, args.calls)))
        for name, page_size in (("patient-view, FHIR server", None), ("patient-view, paged by 2", 2)):
            with serving(resources, token="bench-token", page_size=page_size) as fhir:
                rows.append((name, run(api, client, VIEW, hook(
                    VIEW, fhirServer=fhir.url, fhirAuthorization={"access_token": "bench-token", "token_type": "Bearer",
                                                                  "expires_in": 300, "scope": "patient/*.read",
                                                                  "subject": "dosewise"}), args.calls)))
        sign = hook(SIGN)

        def order() -> dict[str, Any]:
            body = sign()
            body["context"]["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                              "entry": [{"resource": draft(patient)}]}
            return body | {"prefetch": prefetch(resources, SIGN)}

        rows.append(("order-sign, prefetch", run(api, client, SIGN, order, args.calls)))
        db = re.sub(r"^(\w+).*", r"\1", env["DATABASE_URL"])
        print(f"CDS Hooks, {args.calls} sequential calls per row, database {db}, ES384 client JWT per call")
        print(f"{'row':28} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        for name, times in rows:
            print(f"{name:28} {statistics.median(times):8.1f} {pct(times, 0.95):8.1f} {max(times):8.1f}")
    finally:
        stack.stop_all()


if __name__ == "__main__":
    main()
