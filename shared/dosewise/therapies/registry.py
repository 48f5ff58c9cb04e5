"""The registered therapy packs. Adding a therapy = adding its module and one line here."""

from __future__ import annotations

from dosewise.therapies.base import TherapyPack
from dosewise.therapies.immune.pack import ImmunePack
from dosewise.therapies.insulin_t2d.pack import InsulinT2DPack
from dosewise.therapies.warfarin.pack import WarfarinPack

PACKS: dict[str, TherapyPack] = {p.id: p for p in (WarfarinPack(), InsulinT2DPack(), ImmunePack())}


def get_pack(therapy: str) -> TherapyPack:
    """The pack for ``therapy``; KeyError names the known ones."""
    try:
        return PACKS[therapy]
    except KeyError:
        raise KeyError(f"unknown therapy {therapy!r}; known: {', '.join(PACKS)}") from None
