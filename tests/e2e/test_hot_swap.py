"""Zero-downtime hot swap: requests flow continuously while five activations happen; none fails, and every response names
the version whose weights really produced its Q-values (recomputed here from each version's ONNX file)."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort

from dosewise import decision
from dosewise.schemas import PATIENT_STATE_EXAMPLE, PatientState
from dosewise.settings import Settings
from dosewise.storage.db import make_engine, make_sessionmaker, transaction
from dosewise.storage.models import Policy
from dosewise.storage.repositories import PolicyRepository
from dosewise.therapies.registry import get_pack
from dosewise_trainer.export import export_untrained, sha256_file
from tests.e2e.conftest import Stack

SWAPS = 5
SWAP_VISIBLE_WITHIN_S = 5.0
RESPONSES_PER_VERSION = 5


async def _register(db_url: str, folder: Path, versions: list[str]) -> dict[str, str]:
    engine = make_engine(Settings(DATABASE_URL=db_url))
    ids: dict[str, str] = {}
    try:
        async with transaction(make_sessionmaker(engine)) as s:
            repo = PolicyRepository(s)
            for v in versions:
                onnx = folder / v / "policy.onnx"
                p = await repo.add(Policy(therapy="warfarin", version=v, status="candidate", sha256=sha256_file(onnx),
                                          artifact_path=str(onnx), model_card={"test": True}))
                ids[v] = p.id
    finally:
        await engine.dispose()
    return ids


def test_five_swaps_under_continuous_load(stack: Stack, tmp_path: Path) -> None:
    pack = get_pack("warfarin")
    tag = tmp_path.name[-8:]
    versions = [f"swap-{tag}-{k}" for k in range(3)]
    expected: dict[str, np.ndarray] = {}
    features = decision.prepare([PatientState.model_validate(PATIENT_STATE_EXAMPLE)]).features
    for k, v in enumerate(versions):
        onnx = export_untrained(pack, tmp_path / v, seed=100 + k)
        expected[v] = ort.InferenceSession(str(onnx)).run(["q_values"], {"features": features})[0][0]
    ids = asyncio.run(_register(stack.db_url, tmp_path, versions))

    results: list[tuple[int, str, list[float]]] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=stack.api, timeout=10, headers=getattr(stack, "clinician_headers", {})) as c:
            while not stop.is_set():
                r = c.post("/v1/recommendations", json=PATIENT_STATE_EXAMPLE)
                body = r.json()
                results.append((r.status_code, body.get("policy", {}).get("version", ""),
                                [a["q_value"] for a in body.get("action_values", [])]))

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        admin = httpx.Client(base_url=stack.api, timeout=10, headers=getattr(stack, "admin_headers", {}))
        order = [versions[i % len(versions)] for i in range(SWAPS)]
        for v in order:
            r = admin.post(f"/v1/policies/{ids[v]}/activate")
            assert r.status_code == 200, r.text
            start, deadline = len(results), time.monotonic() + SWAP_VISIBLE_WITHIN_S
            while time.monotonic() < deadline and not (results and results[-1][1] == v):
                time.sleep(0.05)
            assert results and results[-1][1] == v, f"{v} not serving {SWAP_VISIBLE_WITHIN_S} s after activation"
            while sum(1 for _, w, _ in results[start:] if w == v) < RESPONSES_PER_VERSION:
                time.sleep(0.05)  # let traffic flow on this version before the next swap
        # Rollback brings back the previously active version everywhere within seconds (issue 6: ≤ 5 s).
        previous = order[-2]
        t0 = time.monotonic()
        r = admin.post("/v1/therapies/warfarin/rollback")
        assert r.status_code == 200 and r.json()["version"] == previous, r.text
        start = len(results)
        while time.monotonic() - t0 < SWAP_VISIBLE_WITHIN_S and not any(w == previous for _, w, _ in results[start:]):
            time.sleep(0.05)
        assert any(w == previous for _, w, _ in results[start:]), "rollback not served within 5 s"
    finally:
        stop.set()
        for t in threads:
            t.join()

    failures = [r for r in results if r[0] != 200]
    assert not failures, failures[:3]
    served = {v for _, v, _ in results}
    assert set(versions) <= served
    for _, v, q in results:
        if v in expected:  # responses before the first swap come from the bootstrap policy
            np.testing.assert_allclose(q, expected[v], atol=1e-5, err_msg=f"response names {v} but its Q-values differ")


def test_a_policy_that_fails_to_load_leaves_the_previous_one_serving(stack: Stack, tmp_path: Path) -> None:
    """An activated artifact inference cannot verify (here: bytes other than the registry's sha256) is never served: the
    previous version keeps answering, and inference's readiness says which choice is not loaded and why."""
    onnx = export_untrained(get_pack("warfarin"), tmp_path / "tampered", seed=7)

    async def register() -> str:
        engine = make_engine(Settings(DATABASE_URL=stack.db_url))
        try:
            async with transaction(make_sessionmaker(engine)) as s:
                p = await PolicyRepository(s).add(Policy(
                    therapy="warfarin", version=f"tampered-{tmp_path.name[-8:]}", status="candidate", sha256="0" * 64,
                    artifact_path=str(onnx), model_card={"test": True}))
                return p.id
        finally:
            await engine.dispose()

    tampered = asyncio.run(register())
    with httpx.Client(base_url=stack.api, timeout=10, headers=stack.admin_headers) as admin, \
            httpx.Client(base_url=stack.api, timeout=10, headers=stack.clinician_headers) as clinic:
        serving = clinic.post("/v1/recommendations", json=PATIENT_STATE_EXAMPLE).json()["policy"]
        assert admin.post(f"/v1/policies/{tampered}/activate").status_code == 200
        try:
            deadline, check = time.monotonic() + SWAP_VISIBLE_WITHIN_S, ""
            while time.monotonic() < deadline and "not loaded" not in check:
                check = httpx.get(f"{stack.inference}/readyz", timeout=5).json()["checks"]["policy:warfarin"]
                time.sleep(0.1)
            assert check.startswith(serving["version"]) and "artifact hash" in check, check
            r = clinic.post("/v1/recommendations", json=PATIENT_STATE_EXAMPLE)
            assert r.status_code == 200 and r.json()["policy"]["id"] == serving["id"]
        finally:
            assert admin.post(f"/v1/policies/{serving['id']}/activate").status_code == 200
        deadline = time.monotonic() + SWAP_VISIBLE_WITHIN_S
        while time.monotonic() < deadline and "not loaded" in check:  # undone: readiness is clean again
            check = httpx.get(f"{stack.inference}/readyz", timeout=5).json()["checks"]["policy:warfarin"]
            time.sleep(0.1)
        assert check == f"{serving['version']} (active)", check


def test_the_registry_answers_in_its_documented_schema(stack: Stack) -> None:
    """Integrators' generated clients type the registry's answers: every timestamp carries its UTC offset (SQLite reads
    them back naive)."""
    with httpx.Client(base_url=stack.api, timeout=10, headers=stack.admin_headers) as admin:
        listed = admin.get("/v1/policies").json()
        spec = admin.get("/openapi.json").json()
    assert listed["count"] == len(listed["data"]) >= 1
    for row in listed["data"]:
        stamps = [row["created_at"]] + ([row["activated_at"]] if row["activated_at"] else [])
        assert all(datetime.fromisoformat(t).utcoffset() == timedelta(0) for t in stamps), stamps
    ok = spec["paths"]["/v1/policies"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/PoliciesPublic"}
    for path in ("/v1/policies/{policy_id}/activate", "/v1/therapies/{therapy}/rollback"):
        ok = spec["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": "#/components/schemas/PolicyPublic"}
