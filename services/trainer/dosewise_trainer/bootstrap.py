"""Make sure every registered therapy has a policy to serve (run by `dosewise up` before the services start).

1. Every shipped version under ``policy_dir/<therapy>/<version>/`` — a network (policy.onnx + model_card.json) or a
   controller (controller.json + model_card.json: the guideline, the MPC; dosewise.controllers) — is registered once, by
   its sha256 checked against its card, as ``candidate``. A file rebuilt under a version name the registry already holds
   with other bytes (`make policies` after a twin or pack change, then `git pull` or a new image on an existing database)
   is registered as ``<version>-<sha256[:8]>``: registry rows are records and keep the bytes they describe.
2. Every therapy has its guideline registered: when none is shipped, one is written under ``var/policies``.
3. A therapy with no active policy, or whose active policy can no longer be served (its artifact missing or changed, or
   made for another action or feature set of the pack), gets one activated by "bootstrap", audited: a shipped network or
   MPC whose card shows it met the targets against the guideline — for a pack with clinic cadences on the held-out twin
   models under the clinic protocol (``clinic_evaluation``), otherwise in cross-validation — networks first, then the
   MPC; otherwise the guideline. The guideline is the floor; no untrained network is ever served.
Idempotent: running it again changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from dosewise import controllers, registry
from dosewise.artifacts import CARD_FILE, POLICY_FILE, artifact_problem
from dosewise.settings import Settings, get_settings
from dosewise.storage.db import make_engine, make_sessionmaker, transaction
from dosewise.storage.models import Policy
from dosewise.storage.repositories import PolicyRepository
from dosewise.therapies.base import TherapyPack
from dosewise.therapies.registry import PACKS
from dosewise_trainer.controllers_ship import write_controller
from dosewise_trainer.export import sha256_file

log = logging.getLogger("dosewise.trainer.bootstrap")
# Among versions that met the targets: a learned network, then one behind the model shield, then the MPC.
PREFERENCE = {"dqn": 0, controllers.SHIELD: 1, "mpc": 2}


def shipped_artifacts(policy_dir: Path, therapy: str) -> list[tuple[str, Path, dict]]:
    """(version, artifact dir, model card) of every artifact shipped for a therapy, oldest first."""
    out = []
    for card_path in sorted((policy_dir / therapy).glob(f"*/{CARD_FILE}")):
        card = json.loads(card_path.read_text())
        out.append((card_path.parent.name, card_path.parent, card))
    return sorted(out, key=lambda t: t[2].get("created_at", ""))


def kind_of(card: dict) -> str:
    """"dqn" for a network's card, else the controller kind it names."""
    return str(card.get("kind", "dqn"))


def artifact_file(folder: Path, card: dict) -> tuple[Path, str | None]:
    """The file a card describes and the sha256 it records."""
    if kind_of(card) == "dqn":
        return folder / POLICY_FILE, card.get("onnx", {}).get("sha256")
    return folder / controllers.MANIFEST_FILE, card.get("artifact", {}).get("sha256")


def passed_targets(card: dict, pack: TherapyPack) -> bool:
    """The card's own evidence that the policy beat the guideline: on the held-out twin models under the clinic protocol
    for a pack with cadences (issue #25's aims, clinic_card.gate_evaluation), in cross-validation on held-out virtual
    patients otherwise."""
    if card.get("status") == "untrained":  # a random network has no evidence, whatever else its card says
        return False
    evidence = card.get("clinic_evaluation") if pack.cadences else card.get("cross_validation")
    return bool((evidence or {}).get("targets_met"))


def fits_pack(card: dict, pack: TherapyPack) -> bool:
    """Whether the version was made for this pack's current actions (and, for a network, its features)."""
    if [a.get("id") for a in card.get("actions", [])] != [a.id for a in pack.actions]:
        return False
    return kind_of(card) not in ("dqn", controllers.SHIELD) or len(card.get("features", [])) == pack.n_features


def servable(policy: Policy, policy_dir: Path) -> bool:
    """Whether inference could load this row: its artifact is there with the bytes the registry recorded, made for the
    pack as it is now."""
    pack = PACKS.get(policy.therapy)
    return (pack is not None and artifact_problem(policy_dir / policy.artifact_path, policy.sha256) is None
            and fits_pack(policy.model_card or {}, pack))


def best_candidate(candidates: list[Policy], pack: TherapyPack, policy_dir: Path) -> Policy | None:
    """What the bootstrap activates: the newest servable network, else shielded network, else MPC, that met its targets
    against the guideline; else the newest servable guideline."""
    usable = [p for p in candidates if servable(p, policy_dir)]
    passed = [p for p in usable if kind_of(p.model_card or {}) in PREFERENCE and passed_targets(p.model_card or {}, pack)]
    if passed:
        return min(passed, key=lambda p: (PREFERENCE[kind_of(p.model_card or {})], -p.created_at.timestamp()))
    floors = [p for p in usable if kind_of(p.model_card or {}) == "guideline"]
    return max(floors, key=lambda p: p.created_at) if floors else None


async def ensure_policies(settings: Settings) -> list[str]:
    """Returns one line per therapy saying what it will serve."""
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    report = []
    try:
        for therapy, pack in PACKS.items():
            async with transaction(sessions) as s:
                repo = PolicyRepository(s)
                registered = await repo.list(therapy)
                known = {p.version: p.sha256 for p in registered}
                shipped = shipped_artifacts(settings.policy_dir, therapy)
                has_guideline = any(kind_of(c) == "guideline" and fits_pack(c, pack)
                                    for c in [card for _, _, card in shipped] + [p.model_card or {} for p in registered])
                if not has_guideline:
                    folder = settings.var_dir / "policies" / therapy / "guideline"
                    write_controller(pack, "guideline", folder)
                    shipped.append((folder.name, folder, json.loads((folder / CARD_FILE).read_text())))
                for version, folder, card in shipped:
                    path, recorded = artifact_file(folder, card)
                    digest = sha256_file(path)
                    if digest != recorded:
                        raise SystemExit(f"{path}: sha256 {digest} does not match its model card; refusing to register it")
                    if digest in known.values():
                        continue
                    name = version if version not in known else f"{version}-{digest[:8]}"
                    if name != version:
                        log.warning("shipped policy rebuilt under a registered version name",
                                    extra={"therapy": therapy, "version": version, "registered_as": name})
                    root = settings.policy_dir.resolve()
                    where = path.resolve()
                    artifact = str(where.relative_to(root)) if where.is_relative_to(root) else str(where)
                    await repo.add(Policy(therapy=therapy, version=name, status="candidate", sha256=digest,
                                          artifact_path=artifact, model_card=card))
                    known[name] = digest
            async with sessions() as s:
                repo = PolicyRepository(s)
                active = await repo.active(therapy)
                if active is not None and not servable(active, settings.policy_dir):
                    log.warning("active policy cannot be served; activating the best shipped one",
                                extra={"therapy": therapy, "version": active.version})
                    active = None
                choice = None if active is not None else best_candidate(
                    [p for p in await repo.list(therapy) if p.status == "candidate"], pack, settings.policy_dir)
            if choice is not None:  # audited like any activation
                await registry.activate(sessions, None, choice.id, by="bootstrap", role="system")
            async with sessions() as s:
                serving = await PolicyRepository(s).active(therapy)
            report.append(f"{therapy}: {serving.version} ({kind_of(serving.model_card or {})}, {serving.status})"
                          if serving is not None else f"{therapy}: nothing servable")
    finally:
        await engine.dispose()
    return report


def main() -> None:
    settings = get_settings()
    for line in asyncio.run(ensure_policies(settings)):
        print(f"policy  {line}")


if __name__ == "__main__":
    main()
