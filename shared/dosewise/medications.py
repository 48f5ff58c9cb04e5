"""Co-medication entries as EHRs send them ("Amiodarone HCl 200 mg tablet", "Cordarone") → the generic names the packs
check. Matching exact strings let "amiodarone hydrochloride" pass the amiodarone guardrail and the IWPC covariate unseen."""

from __future__ import annotations

import re
from collections.abc import Iterable

# US brand names of the generics the packs look for (FDA labels: Cordarone, Pacerone and Nexterone are amiodarone; Rifadin
# and Rimactane rifampin; Tegretol carbamazepine; Dilantin phenytoin).
BRANDS: dict[str, str] = {
    "cordarone": "amiodarone", "pacerone": "amiodarone", "nexterone": "amiodarone",
    "rifadin": "rifampin", "rimactane": "rifampin", "tegretol": "carbamazepine", "dilantin": "phenytoin",
}
_WORD = re.compile(r"[a-z]+")


def generics(entries: Iterable[str]) -> frozenset[str]:
    """Every word of every entry, lower case, with brand names also as their generic: a generic is taken when it is one of
    the words (salts, strengths and forms around it do not hide it)."""
    words = {w for entry in entries for w in _WORD.findall(entry.lower())}
    return frozenset(words | {BRANDS[w] for w in words if w in BRANDS})
