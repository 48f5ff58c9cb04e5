"""Make sure every registered therapy has a policy to serve (run by `dosewise up` before the services start).

1. Every shipped artifact under ``policy_dir/<therapy>/<version>/`` (policy.onnx + model_card.json) is registered once (by
   its sha256, checked against its card). Trained ones enter as ``candidate``; untrained ones as ``untrained``. An artifact
   rebuilt under a version name the registry already holds with other bytes (`make policies` after a twin or pack change,
   then `git pull` or a new image on an existing database) is registered as ``<version>-<sha256[:8]>``: registry rows
   are records and keep the bytes they describe.
2. A therapy with no active policy, or whose active policy can no longer be served (its artifact missing or changed: the
   rebuild above replaced the file), gets its newest shipped trained policy activated (by "bootstrap") — only if its model
   card's cross-validation met the targets against the guideline; otherwise it stays a candidate for an admin to decide.
3. A therapy with nothing servable at all gets an untrained network of the right shape (status ``untrained``), written under
   ``var/policies`` so the repository stays clean. Every response it makes says so.
Idempotent: running it again changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from sqlalchemy import select

from dosewise import registry
from dosewise.artifacts import CARD_FILE, artifact_problem
from dosewise.settings import Settings, get_settings
from dosewise.storage.db import make_engine, make_sessionmaker, transaction
from dosewise.storage.models import Policy, utcnow
from dosewise.storage.repositories import PolicyRepository
from dosewise.therapies.registry import PACKS
from dosewise_trainer.export import export_untrained, sha256_file

log = logging.getLogger("dosewise.trainer.bootstrap")
UNTRAINED_SEED = 0


def shipped_artifacts(policy_dir: Path, therapy: str) -> list[tuple[str, Path, dict]]:
    """(version, artifact dir, model card) of every artifact shipped for a therapy, oldest first."""
    out = []
    for card_path in sorted((policy_dir / therapy).glob(f"*/{CARD_FILE}")):
        card = json.loads(card_path.read_text())
        out.append((card_path.parent.name, card_path.parent, card))
    return sorted(out, key=lambda t: t[2].get("created_at", ""))


def passed_cross_validation(card: dict) -> bool:
    """The card's own evidence that the policy beat the guideline on held-out virtual patients."""
    return bool((card.get("cross_validation") or {}).get("targets_met"))


def servable(policy: Policy, policy_dir: Path) -> bool:
    """Whether inference could load this row: its artifact is there with the bytes the registry recorded."""
    return artifact_problem(policy_dir / policy.artifact_path, policy.sha256) is None


async def ensure_policies(settings: Settings) -> list[str]:
    """Returns one line per therapy saying what it will serve."""
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    report = []
    try:
        for therapy, pack in PACKS.items():
            async with transaction(sessions) as s:
                repo = PolicyRepository(s)
                known = {p.version: p.sha256 for p in await repo.list(therapy)}
                for version, folder, card in shipped_artifacts(settings.policy_dir, therapy):
                    onnx = folder / "policy.onnx"
                    digest = sha256_file(onnx)
                    if digest != card.get("onnx", {}).get("sha256"):
                        raise SystemExit(f"{onnx}: sha256 {digest} does not match its model card; refusing to register it")
                    if digest in known.values():
                        continue
                    name = version if version not in known else f"{version}-{digest[:8]}"
                    if name != version:
                        log.warning("shipped policy rebuilt under a registered version name",
                                    extra={"therapy": therapy, "version": version, "registered_as": name})
                    status = "untrained" if card.get("status") == "untrained" else "candidate"
                    await repo.add(Policy(therapy=therapy, version=name, status=status, sha256=digest,
                                          artifact_path=str(onnx.relative_to(settings.policy_dir)), model_card=card))
                    known[name] = digest
            async with sessions() as s:
                repo = PolicyRepository(s)
                active = await repo.active(therapy)
                if active is not None and not servable(active, settings.policy_dir):
                    log.warning("active policy cannot be served; activating the newest shipped one that passed",
                                extra={"therapy": therapy, "version": active.version})
                    active = None
                trained = [] if active is not None else [
                    p for p in await repo.list(therapy) if p.status == "candidate" and p.artifact_path
                    and not Path(p.artifact_path).is_absolute() and passed_cross_validation(p.model_card)
                    and servable(p, settings.policy_dir)]
            if trained:  # audited like any activation
                await registry.activate(sessions, None, max(trained, key=lambda p: p.created_at).id, by="bootstrap",
                                        role="system")
            async with transaction(sessions) as s:
                rows = (await s.execute(select(Policy).where(Policy.therapy == therapy,
                                                             Policy.status.in_(("active", "untrained"))))).scalars().all()  # type: ignore[attr-defined]
                if not rows:
                    folder = settings.var_dir / "policies" / therapy / f"untrained-seed{UNTRAINED_SEED}"
                    onnx = export_untrained(pack, folder, seed=UNTRAINED_SEED)
                    card = json.loads((folder / CARD_FILE).read_text())
                    s.add(Policy(therapy=therapy, version=folder.name, status="untrained", sha256=sha256_file(onnx),
                                 artifact_path=str(onnx.resolve()), model_card=card, created_at=utcnow()))
                    rows = [Policy(therapy=therapy, version=folder.name, status="untrained", sha256="", artifact_path="")]
                best = next((r for r in rows if r.status == "active"), rows[0])
                report.append(f"{therapy}: {best.version} ({best.status})")
    finally:
        await engine.dispose()
    return report


def main() -> None:
    settings = get_settings()
    for line in asyncio.run(ensure_policies(settings)):
        print(f"policy  {line}")


if __name__ == "__main__":
    main()
