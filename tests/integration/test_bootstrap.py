"""`dosewise up`'s bootstrap on a database that has seen an older checkout: a shipped policy rebuilt under the same version
name (`make policies` after a twin change) must not leave its therapy unservable (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from dosewise.settings import Settings
from dosewise.storage.db import make_engine, make_sessionmaker
from dosewise.storage.migrate import upgrade
from dosewise.storage.repositories import PolicyRepository
from dosewise_trainer.bootstrap import ensure_policies, servable
from dosewise_trainer.export import sha256_file

SHIPPED = Path(__file__).resolve().parents[2] / "policies"


def _rebuild(folder: Path) -> str:
    """Stand in for `make policies`: other ONNX bytes under the same folder, its card updated to match."""
    onnx = folder / "policy.onnx"
    onnx.write_bytes(onnx.read_bytes() + b"\0")  # bootstrap only hashes the file
    card = json.loads((folder / "model_card.json").read_text())
    card["onnx"]["sha256"] = sha256_file(onnx)
    (folder / "model_card.json").write_text(json.dumps(card))
    return card["onnx"]["sha256"]


async def _rows(settings: Settings, therapy: str) -> list[tuple[str, str]]:
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as s:
            return sorted((p.version, p.status) for p in await PolicyRepository(s).list(therapy))
    finally:
        await engine.dispose()


async def _active_is_servable(settings: Settings, therapy: str) -> bool:
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as s:
            active = await PolicyRepository(s).active(therapy)
        return active is not None and servable(active, settings.policy_dir)
    finally:
        await engine.dispose()


def test_a_policy_rebuilt_under_its_version_name_is_registered_anew_and_served(empty_db_url: str,
                                                                              tmp_path: Path) -> None:
    upgrade(empty_db_url)
    policy_dir = tmp_path / "policies"
    shutil.copytree(SHIPPED / "warfarin", policy_dir / "warfarin")
    settings = Settings(DATABASE_URL=empty_db_url, DOSEWISE_VAR_DIR=tmp_path / "var", DOSEWISE_POLICY_DIR=policy_dir)

    asyncio.run(ensure_policies(settings))
    assert asyncio.run(_rows(settings, "warfarin")) == [("dqn-quick-seed1", "active")]

    digest = _rebuild(policy_dir / "warfarin" / "dqn-quick-seed1")
    assert not asyncio.run(_active_is_servable(settings, "warfarin"))  # what inference would meet: a hash mismatch
    report = asyncio.run(ensure_policies(settings))
    rebuilt = f"dqn-quick-seed1-{digest[:8]}"
    assert f"warfarin: {rebuilt} (active)" in report
    assert asyncio.run(_rows(settings, "warfarin")) == [("dqn-quick-seed1", "retired"), (rebuilt, "active")]
    assert asyncio.run(_active_is_servable(settings, "warfarin"))

    asyncio.run(ensure_policies(settings))  # idempotent: nothing new registered or activated
    assert asyncio.run(_rows(settings, "warfarin")) == [("dqn-quick-seed1", "retired"), (rebuilt, "active")]


@pytest.fixture(autouse=True)
def _no_shipped_side_effects() -> Iterator[None]:
    """These tests copy the shipped artifacts; the repository's own must be untouched."""
    before = sha256_file(SHIPPED / "warfarin" / "dqn-quick-seed1" / "policy.onnx")
    yield
    assert sha256_file(SHIPPED / "warfarin" / "dqn-quick-seed1" / "policy.onnx") == before
