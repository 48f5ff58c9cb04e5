"""The INR target of every warfarin rule, guideline, metric and simulator: one place (a leaf module, so each can import it).

2.0–3.0, the ACCP/CHEST target for atrial fibrillation and venous thromboembolism (Holbrook et al., Chest 2012;141:e152S;
../shared/clinical.md §1 "Metrics").
"""

from __future__ import annotations

INR_TARGET: tuple[float, float] = (2.0, 3.0)
