"""The comparator policy for the immune pack: a simple, clinically shaped treat–escalate–stop rule.

This is **our baseline, not a published guideline** — there is no clinical guideline for dosing the Stengel 2002 model's
abstract pathogen-killing agent. It mimics how an anti-infective is commonly run: start a standard dose when the infection
is detected, escalate when the patient deteriorates, stop once the pathogen is no longer detectable. It reads only the
ClinicView (measured pathogen load and organ damage), never the hidden state.

Rule, applied at every decision for every patient:
1. Pathogen load undetectable (reported 0, below simulator.DETECTION_LIMIT) → stop: level 0.
2. Otherwise treat at the standard level 1 a.u., escalated to the top level 2 a.u. when deteriorating — measured organ
   damage above 0.5 (simulator.DAMAGE_THRESHOLD) or the load higher than at the previous measurement — and kept there
   until the load is undetectable (no de-escalation while the infection is still detectable).
3. No pathogen measurement on record → hold the current level.
"""

from __future__ import annotations

import numpy as np

from dosewise.therapies.base import ClinicView, FloatArray
from dosewise.therapies.immune.simulator import DAMAGE_THRESHOLD

STANDARD_LEVEL = 1.0  # a.u.
ESCALATED_LEVEL = 2.0  # a.u. (the pack's top level)


class ImmuneGuidelinePolicy:
    """Treat at the standard level while the pathogen is detectable, escalate on deterioration, stop when undetectable."""

    name = "guideline"

    def reset(self, n: int) -> None:
        """Stateless: everything the rule needs is in the view."""

    def act(self, view: ClinicView) -> tuple[FloatArray, FloatArray]:
        load = view.obs["pathogen_load"]
        damage = view.obs["organ_damage"]
        last, prev = load[:, 0], load[:, 1]
        detectable = last > 0.0
        rising = ~np.isnan(prev) & (last > prev)
        deteriorating = rising | (np.nan_to_num(damage[:, 0], nan=0.0) > DAMAGE_THRESHOLD)
        already_escalated = view.current_dose >= ESCALATED_LEVEL
        level = np.where(deteriorating | already_escalated, ESCALATED_LEVEL, STANDARD_LEVEL)
        level = np.where(detectable, level, 0.0)
        level = np.where(np.isnan(last), view.current_dose, level)
        return level.copy(), level.copy()
