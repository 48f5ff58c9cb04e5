"""Every service's Prometheus metrics on a real stack (gateway, inference, trainer as processes), once embedded (SQLite, the
table queue) and once on PostgreSQL and Redis: a recommendation, a 422, a read, two 404s and an outcome move exactly the
numbers they should by exactly one; the trainer counts the transition it wrote; the backlog is reported; a hot swap moves
inference's policy gauge and a policy that fails to load is counted. No scrape carries a patient reference, a pseudonym or a
recommendation id."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dosewise.schemas import PATIENT_STATE_EXAMPLE
from dosewise.settings import Settings
from dosewise.storage.db import make_engine, make_sessionmaker, transaction
from dosewise.storage.models import Policy
from dosewise.storage.repositories import PolicyRepository
from dosewise.therapies.registry import get_pack
from dosewise_trainer.export import export_untrained, sha256_file
from tests.conftest import REDIS_HOST, REDIS_PORT, require_server
from tests.e2e.conftest import Stack, _stack, free_port

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
DECIDED = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
WAIT_S = 30.0


@pytest.fixture(scope="module", params=["sqlite", "postgres-redis"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp(f"metrics-{request.param}")
    env = {"DOSEWISE_TRAINER_METRICS_PORT": str(free_port()), "DOSEWISE_RETRAIN": "false", "DOSEWISE_QUEUE_BLOCK_MS": "200"}
    if request.param == "sqlite":
        from dosewise.storage.migrate import upgrade

        url = f"sqlite+aiosqlite:///{tmp / 'dosewise.db'}"
        upgrade(url)
    else:
        url = request.getfixturevalue("pg_url")
        require_server("Redis", REDIS_HOST, REDIS_PORT)
        env |= {"REDIS_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/0", "DOSEWISE_QUEUE_PREFIX": f"metrics-{uuid.uuid4().hex[:8]}:"}
    yield from _stack(url, tmp, env, trainer=True)


def trainer_url(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.env['DOSEWISE_TRAINER_METRICS_PORT']}/metrics"


def scrape_text(url: str) -> str:
    r = httpx.get(url, timeout=10)  # no credential: /metrics is public, like the probes
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain"), (r.status_code, r.text[:200])
    return r.text


def parse(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(url: str) -> Samples:
    return parse(scrape_text(url))


def trainer_scrape(stack: Stack) -> Samples:
    """The trainer's metrics, once its server is up (the trainer has no readiness endpoint)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            return scrape(trainer_url(stack))
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests(samples: Samples, method: str, route: str, status: int) -> float:
    return value(samples, "dosewise_http_request_duration_seconds_count", method=method, route=route, status=str(status))


def outcome(rec: dict[str, Any]) -> dict[str, Any]:
    return {"recommendation_id": rec["recommendation_id"], "dose_given": rec["recommended_dose"],
            "regimen": rec["plan"]["dose_per_day"], "feedback": {"decision": "accepted"},
            "observations": [{"kind": "inr", "value": 2.5, "unit": "{INR}", "time": (DECIDED + timedelta(days=1)).isoformat()}]}


def test_requests_recommendations_outcomes_and_transitions_move_the_right_numbers(stack: Stack) -> None:
    patient_ref = f"metrics-patient-{uuid.uuid4().hex[:8]}"
    state = PATIENT_STATE_EXAMPLE | {
        "patient_ref": patient_ref, "as_of": DECIDED.isoformat(),
        "observations": [{"kind": "inr", "value": 2.4, "unit": "{INR}", "time": (DECIDED - timedelta(days=1)).isoformat()}],
        "doses": [{"amount": 5, "unit": "mg", "time": (DECIDED - timedelta(days=d, hours=12)).isoformat()} for d in range(7)]}
    api0, inf0, tr0 = scrape(stack.api + "/metrics"), scrape(stack.inference + "/metrics"), trainer_scrape(stack)

    with httpx.Client(base_url=stack.api, headers=stack.clinician_headers, timeout=30) as c:
        made = c.post("/v1/recommendations", json=state)
        assert made.status_code == 200, made.text
        rec = made.json()
        assert c.post("/v1/recommendations", json=state | {"therapy": "no-such-therapy"}).status_code == 422
        assert c.get(f"/v1/recommendations/{rec['recommendation_id']}").status_code == 200
        assert c.get(f"/v1/recommendations/{uuid.uuid4()}").status_code == 404
        assert c.get(f"/v1/{patient_ref}/nothing-here").status_code == 404
        recorded = c.post("/v1/outcomes", json=outcome(rec), headers={"Idempotency-Key": f"metrics-{uuid.uuid4().hex}"})
        assert recorded.status_code == 201, recorded.text
    assert httpx.post(stack.inference + "/v1/recommend", json={"therapy": "warfarin"}, timeout=10).status_code == 422

    deadline, tr1 = time.monotonic() + WAIT_S, tr0
    while value(tr1, "dosewise_trainer_transitions_written_total") == value(tr0, "dosewise_trainer_transitions_written_total"):
        assert time.monotonic() < deadline, "the trainer wrote no transition"
        time.sleep(0.3)
        tr1 = trainer_scrape(stack)
    api_text, inf_text, tr_text = scrape_text(stack.api + "/metrics"), scrape_text(stack.inference + "/metrics"), \
        scrape_text(trainer_url(stack))
    api1, inf1, tr1 = parse(api_text), parse(inf_text), parse(tr_text)

    # The gateway, by route template and status.
    for method, route, status in (("POST", "/v1/recommendations", 200), ("POST", "/v1/recommendations", 422),
                                  ("GET", "/v1/recommendations/{recommendation_id}", 200),
                                  ("GET", "/v1/recommendations/{recommendation_id}", 404),
                                  ("GET", "<unmatched>", 404), ("POST", "/v1/outcomes", 201)):
        assert requests(api1, method, route, status) - requests(api0, method, route, status) == 1, (method, route, status)
    # What the recommendation was: its action and review flag, its guardrails, its HyperScore.
    review = "true" if rec["score"] is None or rec["score"]["needs_review"] else "false"
    labels = {"therapy": "warfarin", "action": rec["action"], "needs_review": review}
    assert value(api1, "dosewise_recommendations_total", **labels) - value(api0, "dosewise_recommendations_total", **labels) == 1
    assert sum(api1.get(k, 0) - api0.get(k, 0) for k in api1 if k[0] == "dosewise_recommendations_total") == 1
    for rule in {g["rule"] for g in rec["guardrails"]}:
        fired = sum(g["rule"] == rule for g in rec["guardrails"])
        assert (value(api1, "dosewise_guardrail_firings_total", therapy="warfarin", rule=rule)
                - value(api0, "dosewise_guardrail_firings_total", therapy="warfarin", rule=rule)) == fired
    if rec["score"] is not None:
        assert value(api1, "dosewise_hyperscore_count", therapy="warfarin") - value(api0, "dosewise_hyperscore_count",
                                                                                    therapy="warfarin") == 1
        assert (value(api1, "dosewise_hyperscore_sum", therapy="warfarin") - value(api0, "dosewise_hyperscore_sum",
                                                                                  therapy="warfarin")
                == pytest.approx(rec["score"]["hyperscore"]))
    # Inference: the gateway's one call, the 422 sent to it directly, and who serves.
    assert requests(inf1, "POST", "/v1/recommend", 200) - requests(inf0, "POST", "/v1/recommend", 200) == 1
    assert requests(inf1, "POST", "/v1/recommend", 422) - requests(inf0, "POST", "/v1/recommend", 422) == 1
    policy = rec["policy"]
    assert value(inf1, "dosewise_serving_policy", therapy="warfarin", version=policy["version"], status=policy["status"]) == 1
    # The trainer: the one outcome became one transition, acknowledged once.
    for name in ("dosewise_trainer_transitions_written_total", "dosewise_trainer_messages_acknowledged_total"):
        assert value(tr1, name) - value(tr0, name) == 1, name
    # The backlog, from the gateway and the trainer alike, read without an error.
    for samples in (api1, tr1):
        assert ("dosewise_outbox_unsent_events", frozenset()) in samples
        assert ("dosewise_queue_pending_messages", frozenset({("stream", "outcomes"), ("group", "trainer")})) in samples
        assert value(samples, "dosewise_backlog_probe_errors_total", probe="queue") == 0
        assert value(samples, "dosewise_backlog_probe_errors_total", probe="outbox") == 0
    # Nothing that identifies a patient or a recommendation, in any label.
    for text in (api_text, inf_text, tr_text):
        for secret in (patient_ref, rec["patient_ref"], rec["recommendation_id"]):
            assert secret not in text


async def _register(db_url: str, therapy: str, version: str, onnx: Path, sha256: str) -> str:
    engine = make_engine(Settings(DATABASE_URL=db_url))
    try:
        async with transaction(make_sessionmaker(engine)) as s:
            return (await PolicyRepository(s).add(Policy(therapy=therapy, version=version, status="candidate", sha256=sha256,
                                                         artifact_path=str(onnx), model_card={"test": True}))).id
    finally:
        await engine.dispose()


def _wait_for(url: str, seen: Callable[[Samples], bool], what: str) -> Samples:
    """The first scrape of ``url`` in which ``seen`` holds (inference re-reads the registry every 0.5 s here)."""
    deadline = time.monotonic() + WAIT_S
    while not seen(samples := scrape(url)):
        assert time.monotonic() < deadline, f"{what}: not seen within {WAIT_S:g} s"
        time.sleep(0.2)
    return samples


def test_a_hot_swap_moves_the_policy_gauge_and_a_failed_load_is_counted(stack: Stack, tmp_path: Path) -> None:
    url = stack.inference + "/metrics"
    with httpx.Client(base_url=stack.api, timeout=30) as api:
        serving = api.post("/v1/recommendations", json=PATIENT_STATE_EXAMPLE, headers=stack.clinician_headers).json()["policy"]
        failures0 = value(scrape(url), "dosewise_policy_load_failures_total", therapy="warfarin")
        tag = tmp_path.name[-8:]
        good = export_untrained(get_pack("warfarin"), tmp_path / "good", seed=11)
        bad = export_untrained(get_pack("warfarin"), tmp_path / "bad", seed=12)
        good_id = asyncio.run(_register(stack.db_url, "warfarin", f"metrics-good-{tag}", good, sha256_file(good)))
        bad_id = asyncio.run(_register(stack.db_url, "warfarin", f"metrics-bad-{tag}", bad, "0" * 64))
        try:
            assert api.post(f"/v1/policies/{good_id}/activate", headers=stack.admin_headers).status_code == 200
            swapped = _wait_for(url, lambda s: value(s, "dosewise_serving_policy", therapy="warfarin",
                                                     version=f"metrics-good-{tag}", status="active") == 1,
                                "the swap to the new version")
            # The version swapped out no longer reads as serving: its series is gone (or 0).
            assert value(swapped, "dosewise_serving_policy", therapy="warfarin", version=serving["version"],
                         status=serving["status"]) == 0
            serving_series = [k for k, v in swapped.items() if k[0] == "dosewise_serving_policy" and v == 1
                              and ("therapy", "warfarin") in k[1]]
            assert len(serving_series) == 1, serving_series

            assert api.post(f"/v1/policies/{bad_id}/activate", headers=stack.admin_headers).status_code == 200
            failed = _wait_for(url, lambda s: value(s, "dosewise_policy_load_failures_total", therapy="warfarin") > failures0,
                               "a counted load failure")
            assert value(failed, "dosewise_serving_policy", therapy="warfarin", version=f"metrics-good-{tag}",
                         status="active") == 1  # the previous version still serves
        finally:
            assert api.post(f"/v1/policies/{serving['id']}/activate", headers=stack.admin_headers).status_code == 200
        _wait_for(url, lambda s: value(s, "dosewise_serving_policy", therapy="warfarin", version=serving["version"],
                                       status="active") == 1, "the original version back")
