"""`dosewise up`'s bootstrap: what each therapy serves (SQLite and PostgreSQL). The guideline is the floor: it is always
registered and serves unless a network or the MPC showed on its card that it met its targets against the guideline; no
untrained network, and no network made for another version of its pack, is ever activated; a shipped policy rebuilt under
the same version name (`make policies` after a twin change) does not leave its therapy unservable."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from dosewise.controllers import manifest
from dosewise.settings import Settings
from dosewise.storage.db import make_engine, make_sessionmaker, transaction
from dosewise.storage.migrate import upgrade
from dosewise.storage.repositories import PolicyRepository
from dosewise.therapies.registry import PACKS, get_pack
from dosewise_trainer.bootstrap import ensure_policies, kind_of, servable
from dosewise_trainer.controllers_ship import write_controller
from dosewise_trainer.export import export_untrained, sha256_file


def _mpc(folder: Path, therapy: str, targets_met: bool) -> None:
    """The MPC's version with a card claiming (or not) that it met its targets (controllers_ship writes the real one)."""
    pack = get_pack(therapy)
    write_controller(pack, "mpc", folder)
    card = json.loads((folder / "model_card.json").read_text())
    card["clinic_evaluation" if pack.cadences else "cross_validation"] = {"targets_met": targets_met}
    (folder / "model_card.json").write_text(json.dumps(card))


def _network(folder: Path, therapy: str, targets_met: bool | None) -> Path:
    """A network of the pack's shape whose card claims (or not) that it met its targets, as `make policies` writes one."""
    pack = get_pack(therapy)
    onnx = export_untrained(pack, folder)
    card = json.loads((folder / "model_card.json").read_text())
    card["status"] = "candidate"
    if targets_met is not None:
        card["clinic_evaluation" if pack.cadences else "cross_validation"] = {"targets_met": targets_met}
    (folder / "model_card.json").write_text(json.dumps(card))
    return onnx


def _rebuild(folder: Path) -> str:
    """Stand in for `make policies`: other ONNX bytes under the same folder, its card updated to match."""
    onnx = folder / "policy.onnx"
    onnx.write_bytes(onnx.read_bytes() + b"\0")  # bootstrap only hashes the file
    card = json.loads((folder / "model_card.json").read_text())
    card["onnx"]["sha256"] = sha256_file(onnx)
    (folder / "model_card.json").write_text(json.dumps(card))
    return card["onnx"]["sha256"]


async def _rows(settings: Settings, therapy: str) -> list[tuple[str, str, str]]:
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as s:
            return sorted((p.version, kind_of(p.model_card or {}), p.status) for p in await PolicyRepository(s).list(therapy))
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


def _settings(db_url: str, tmp_path: Path) -> Settings:
    upgrade(db_url)
    (tmp_path / "policies").mkdir(exist_ok=True)
    return Settings(DATABASE_URL=db_url, DOSEWISE_VAR_DIR=tmp_path / "var", DOSEWISE_POLICY_DIR=tmp_path / "policies")


def test_with_nothing_shipped_every_therapy_serves_its_guideline_and_no_network(empty_db_url: str, tmp_path: Path) -> None:
    settings = _settings(empty_db_url, tmp_path)
    report = asyncio.run(ensure_policies(settings))
    for therapy in PACKS:
        assert f"{therapy}: guideline (guideline, active)" in report
        assert asyncio.run(_rows(settings, therapy)) == [("guideline", "guideline", "active")]
        assert asyncio.run(_active_is_servable(settings, therapy))
    assert asyncio.run(ensure_policies(settings)) == report  # idempotent


def test_a_network_serves_only_when_its_card_shows_it_met_its_targets(empty_db_url: str, tmp_path: Path) -> None:
    settings = _settings(empty_db_url, tmp_path)
    _network(settings.policy_dir / "warfarin" / "dqn-unproven", "warfarin", targets_met=False)
    _network(settings.policy_dir / "insulin_t2d" / "dqn-no-evidence", "insulin_t2d", targets_met=None)
    _network(settings.policy_dir / "immune" / "dqn-proven", "immune", targets_met=True)
    asyncio.run(ensure_policies(settings))
    assert asyncio.run(_rows(settings, "warfarin")) == [("dqn-unproven", "dqn", "candidate"),
                                                        ("guideline", "guideline", "active")]
    assert asyncio.run(_rows(settings, "insulin_t2d")) == [("dqn-no-evidence", "dqn", "candidate"),
                                                           ("guideline", "guideline", "active")]
    assert asyncio.run(_rows(settings, "immune")) == [("dqn-proven", "dqn", "active"), ("guideline", "guideline", "candidate")]


def test_an_untrained_network_is_never_activated_whatever_its_card_claims(empty_db_url: str, tmp_path: Path) -> None:
    settings = _settings(empty_db_url, tmp_path)
    folder = settings.policy_dir / "warfarin" / "random"
    _network(folder, "warfarin", targets_met=True)
    card = json.loads((folder / "model_card.json").read_text())
    (folder / "model_card.json").write_text(json.dumps({**card, "status": "untrained"}))
    asyncio.run(ensure_policies(settings))
    assert ("guideline", "guideline", "active") in asyncio.run(_rows(settings, "warfarin"))


def test_a_network_made_for_another_action_set_is_not_served(empty_db_url: str, tmp_path: Path) -> None:
    settings = _settings(empty_db_url, tmp_path)
    folder = settings.policy_dir / "warfarin" / "old-actions"
    _network(folder, "warfarin", targets_met=True)
    card = json.loads((folder / "model_card.json").read_text())
    card["actions"] = card["actions"][:-1]  # as a card from before the pack's action set changed
    (folder / "model_card.json").write_text(json.dumps(card))
    asyncio.run(ensure_policies(settings))
    assert asyncio.run(_rows(settings, "warfarin")) == [("guideline", "guideline", "active"),
                                                        ("old-actions", "dqn", "candidate")]


def test_a_network_that_met_its_targets_is_preferred_to_the_mpc_and_the_mpc_to_the_guideline(
        empty_db_url: str, tmp_path: Path) -> None:
    settings = _settings(empty_db_url, tmp_path)
    _mpc(settings.policy_dir / "warfarin" / "mpc", "warfarin", targets_met=True)
    _mpc(settings.policy_dir / "insulin_t2d" / "mpc-unproven", "insulin_t2d", targets_met=False)
    _network(settings.policy_dir / "immune" / "dqn-proven", "immune", targets_met=True)
    _mpc(settings.policy_dir / "immune" / "mpc", "immune", targets_met=True)
    asyncio.run(ensure_policies(settings))
    assert ("mpc", "mpc", "active") in asyncio.run(_rows(settings, "warfarin"))
    assert ("guideline", "guideline", "active") in asyncio.run(_rows(settings, "insulin_t2d"))
    assert ("dqn-proven", "dqn", "active") in asyncio.run(_rows(settings, "immune"))


def _shielded(folder: Path, therapy: str, targets_met: bool) -> None:
    """A network behind the shield whose card claims (or not) that it met its targets (controllers_ship writes the real
    one, with the gate's evidence)."""
    from dosewise_trainer.controllers_ship import write_shield

    network = folder.parent / f"{folder.name}-network"
    _network(network, therapy, targets_met=False)
    write_shield(get_pack(therapy), network, folder)
    card = json.loads((folder / "model_card.json").read_text())
    card["clinic_evaluation"] = {"targets_met": targets_met}
    (folder / "model_card.json").write_text(json.dumps(card))


def test_a_shielded_network_that_met_its_targets_serves_before_the_mpc(
        empty_db_url: str, tmp_path: Path) -> None:
    settings = _settings(empty_db_url, tmp_path)
    root = settings.policy_dir / "insulin_t2d"
    _shielded(root / "dqn-shield", "insulin_t2d", targets_met=True)
    _mpc(root / "mpc", "insulin_t2d", targets_met=True)
    asyncio.run(ensure_policies(settings))
    assert ("dqn-shield", "shield", "active") in asyncio.run(_rows(settings, "insulin_t2d"))
    assert asyncio.run(_active_is_servable(settings, "insulin_t2d"))


def test_a_shielded_network_without_evidence_never_serves(empty_db_url: str, tmp_path: Path) -> None:
    settings = _settings(empty_db_url, tmp_path)
    _shielded(settings.policy_dir / "insulin_t2d" / "dqn-shield", "insulin_t2d", targets_met=False)
    asyncio.run(ensure_policies(settings))
    assert ("guideline", "guideline", "active") in asyncio.run(_rows(settings, "insulin_t2d"))


def test_a_policy_rebuilt_under_its_version_name_is_registered_anew_and_served(empty_db_url: str,
                                                                              tmp_path: Path) -> None:
    settings = _settings(empty_db_url, tmp_path)
    folder = settings.policy_dir / "immune" / "dqn-quick"
    _network(folder, "immune", targets_met=True)
    asyncio.run(ensure_policies(settings))
    assert ("dqn-quick", "dqn", "active") in asyncio.run(_rows(settings, "immune"))

    digest = _rebuild(folder)
    assert not asyncio.run(_active_is_servable(settings, "immune"))  # what inference would meet: a hash mismatch
    report = asyncio.run(ensure_policies(settings))
    rebuilt = f"dqn-quick-{digest[:8]}"
    assert f"immune: {rebuilt} (dqn, active)" in report
    expected = [("dqn-quick", "dqn", "retired"), (rebuilt, "dqn", "active"), ("guideline", "guideline", "candidate")]
    assert asyncio.run(_rows(settings, "immune")) == expected
    assert asyncio.run(_active_is_servable(settings, "immune"))

    asyncio.run(ensure_policies(settings))  # idempotent: nothing new registered or activated
    assert asyncio.run(_rows(settings, "immune")) == expected


async def _registered_for_an_older_pack(settings: Settings, therapy: str) -> None:
    """Every registered version of the therapy as made before its action set changed (one action fewer), as a database
    bootstrapped before d7cf487's warfarin percent actions holds them: the cards, and the guideline's manifest as
    written then."""
    engine = make_engine(settings)
    try:
        async with transaction(make_sessionmaker(engine)) as s:
            for p in await PolicyRepository(s).list(therapy):
                card = dict(p.model_card or {})
                card["actions"] = card["actions"][:-1]
                p.model_card = card
                if kind_of(card) == "guideline":
                    path = settings.policy_dir / p.artifact_path
                    path.write_text(json.dumps(manifest("guideline", therapy, [a["id"] for a in card["actions"]])))
                    p.sha256 = sha256_file(path)
                s.add(p)
    finally:
        await engine.dispose()


def test_after_a_pack_change_the_registered_guideline_is_replaced_by_one_that_fits(empty_db_url: str,
                                                                                   tmp_path: Path) -> None:
    """An existing database whose active network and guideline were made for the pack's former actions (the 8-action
    warfarin DQN and its guideline): the network's artifact is gone, and the guideline's manifest has the same bytes as
    the one written for the new pack. The therapy must still end up serving a guideline made for its actions."""
    settings = _settings(empty_db_url, tmp_path)
    folder = settings.policy_dir / "warfarin" / "dqn-old"
    _network(folder, "warfarin", targets_met=True)
    asyncio.run(ensure_policies(settings))
    assert ("dqn-old", "dqn", "active") in asyncio.run(_rows(settings, "warfarin"))
    asyncio.run(_registered_for_an_older_pack(settings, "warfarin"))
    for f in folder.iterdir():  # the repository no longer ships it
        f.unlink()
    folder.rmdir()
    assert not asyncio.run(_active_is_servable(settings, "warfarin"))

    report = asyncio.run(ensure_policies(settings))
    assert asyncio.run(_active_is_servable(settings, "warfarin")), report
    [line] = [x for x in report if x.startswith("warfarin:")]
    assert "(guideline, active)" in line
    assert asyncio.run(ensure_policies(settings)) == report  # idempotent
