"""The HTTP metrics middleware (dosewise.metrics_asgi) labels requests by route template, never by path; the exposition
merges every process's values when PROMETHEUS_MULTIPROC_DIR is set; a batch's HyperScores are observed exactly
(dosewise.metrics)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from prometheus_client import REGISTRY, CollectorRegistry, Histogram
from prometheus_client.parser import text_string_to_metric_families

from dosewise.metrics import HYPERSCORE_BUCKETS, observe_many
from dosewise.metrics_asgi import UNMATCHED, HttpMetrics


def app_with_a_router() -> FastAPI:
    app = FastAPI()
    things = APIRouter(prefix="/v1/things")

    @things.get("/{thing_id}")
    async def get_thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    @things.post("/{thing_id}/fail")
    async def fail(thing_id: int) -> None:
        raise RuntimeError("boom")

    app.include_router(things)
    app.add_middleware(HttpMetrics)
    return app


def requests(method: str, route: str, status: int) -> float:
    return REGISTRY.get_sample_value("dosewise_http_request_duration_seconds_count",
                                     {"method": method, "route": route, "status": str(status)}) or 0.0


@pytest.fixture()
def client() -> httpx.AsyncClient:
    # raise_app_exceptions=False: the client sees the 500 a server would send
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app_with_a_router(), raise_app_exceptions=False),
                             base_url="http://test")


async def test_requests_count_under_their_route_template_and_status(client: httpx.AsyncClient) -> None:
    cases = [("GET", "/v1/things/41", "/v1/things/{thing_id}", 200), ("GET", "/v1/things/42", "/v1/things/{thing_id}", 200),
             ("GET", "/v1/things/not-a-number", "/v1/things/{thing_id}", 422),
             ("DELETE", "/v1/things/41", "/v1/things/{thing_id}", 405),
             ("POST", "/v1/things/7/fail", "/v1/things/{thing_id}/fail", 500),
             ("GET", "/patients/ward7-bed14/anything", UNMATCHED, 404), ("GET", "/docs", "/docs", 200)]
    before = {(m, route, status): requests(m, route, status) for m, _, route, status in cases}
    async with client:
        for method, path, _, status in cases:
            assert (await client.request(method, path)).status_code == status, path
        assert (await client.request("BREW", "/v1/things/1")).status_code == 405
    moved = {key: requests(*key) - n for key, n in before.items()}
    assert moved == {**{k: 1 for k in before}, ("GET", "/v1/things/{thing_id}", 200): 2}
    assert requests("OTHER", "/v1/things/{thing_id}", 405) >= 1  # an unknown method is one label, not a new one each


async def test_no_raw_path_ever_becomes_a_label(client: httpx.AsyncClient) -> None:
    async with client:
        await client.get("/v1/things/987654321")
        await client.get("/ward7-bed14-patient")
    routes = {s.labels["route"] for f in REGISTRY.collect() if f.name == "dosewise_http_request_duration_seconds"
              for s in f.samples}
    assert not [r for r in routes if "987654321" in r or "ward7" in r]


SCRIPT = """
import sys
from dosewise import metrics
from dosewise.schemas import PolicyRef
metrics.RECOMMENDATIONS.labels("warfarin", "keep", "false").inc(int(sys.argv[1]))
ref = PolicyRef(id="p", therapy="warfarin", version="v" + sys.argv[2], status="active", sha256="0" * 64)
metrics.serving_policy_changed("warfarin", None, ref)
"""


def test_with_a_multiprocess_directory_a_scrape_merges_every_process(tmp_path: Path) -> None:
    env = os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for n, version in ((2, "1"), (3, "1")):  # two worker processes, each with its own counts
        subprocess.run([sys.executable, "-c", SCRIPT, str(n), version], env=env, check=True)
    scrape = subprocess.run([sys.executable, "-c", "import sys; from dosewise import metrics; "
                             "sys.stdout.write(metrics.exposition().decode())"],
                            env=env, check=True, capture_output=True, text=True).stdout
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(scrape) for s in f.samples}
    assert samples[("dosewise_recommendations_total",
                    (("action", "keep"), ("needs_review", "false"), ("therapy", "warfarin")))] == 5
    assert samples[("dosewise_serving_policy", (("status", "active"), ("therapy", "warfarin"), ("version", "v1")))] == 1


def test_observing_many_values_at_once_equals_observing_them_one_by_one() -> None:
    """observe_many (a batch's HyperScores) reads prometheus_client's bucket counters: an upgrade that changes them must
    fail here rather than miscount."""
    registry = CollectorRegistry()
    one_by_one = Histogram("one_by_one", "h", buckets=HYPERSCORE_BUCKETS, registry=registry)
    at_once = Histogram("at_once", "h", buckets=HYPERSCORE_BUCKETS, registry=registry)
    values = [99.0, 100.0, 100.5, 124.999, 125.0, 125.001, 150.0, 199.9, 200.0, 250.0] * 3
    for v in values:
        one_by_one.observe(v)
    observe_many(at_once, values)

    def samples(name: str) -> list[tuple[str, dict[str, str], float]]:
        [family] = [f for f in registry.collect() if f.name == name]
        return [(s.name.removeprefix(name), s.labels, s.value) for s in family.samples]

    buckets = [s for s in samples("at_once") if s[0] != "_sum"]
    assert buckets == [s for s in samples("one_by_one") if s[0] != "_sum"]  # every bucket, the count
    assert registry.get_sample_value("at_once_sum") == pytest.approx(registry.get_sample_value("one_by_one_sum"))
    assert registry.get_sample_value("at_once_count") == len(values)
