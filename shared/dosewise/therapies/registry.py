"""The registered therapy packs. Adding a therapy = adding its package and one ``register`` line at the end of this file.

Registration also collects the packs' observation kinds: the API contract (dosewise.schemas) accepts exactly the kinds of
the registered packs, so this module sits below it and imports no contract.
"""

from __future__ import annotations

from dosewise.therapies.base import ObservationKind, TherapyPack
from dosewise.therapies.immune.pack import ImmunePack
from dosewise.therapies.insulin_t2d.pack import InsulinT2DPack
from dosewise.therapies.warfarin.pack import WarfarinPack

PACKS: dict[str, TherapyPack] = {}
OBSERVATION_KINDS: dict[str, ObservationKind] = {}  # every registered pack's observation kinds, in registration order


def register(pack: TherapyPack) -> TherapyPack:
    """Serve, train and evaluate ``pack`` under its id. Refused (ValueError): an id already registered, a kind the pack
    reads but does not define, a kind another pack defines differently."""
    if pack.id in PACKS:
        raise ValueError(f"therapy {pack.id!r} is already registered")
    undefined = [k for k in pack.observation_kinds if k not in pack.observation_definitions]
    if undefined:
        raise ValueError(f"therapy {pack.id!r} reads observation kinds it does not define: {', '.join(undefined)}")
    clash = [k for k, kind in pack.observation_definitions.items() if OBSERVATION_KINDS.get(k, kind) != kind]
    if clash:
        raise ValueError(f"therapy {pack.id!r} defines observation kinds another pack defines differently: {', '.join(clash)}")
    PACKS[pack.id] = pack
    for k, kind in pack.observation_definitions.items():
        OBSERVATION_KINDS.setdefault(k, kind)
    return pack


def unregister(therapy: str) -> None:
    """Remove a therapy and the observation kinds no other registered pack defines (tests register packs of their own)."""
    PACKS.pop(therapy)
    defined = {k for p in PACKS.values() for k in p.observation_definitions}
    for k in [k for k in OBSERVATION_KINDS if k not in defined]:
        del OBSERVATION_KINDS[k]


def get_pack(therapy: str) -> TherapyPack:
    """The pack for ``therapy``; KeyError names the known ones."""
    try:
        return PACKS[therapy]
    except KeyError:
        raise KeyError(f"unknown therapy {therapy!r}; known: {', '.join(PACKS)}") from None


register(WarfarinPack())
register(InsulinT2DPack())
register(ImmunePack())
