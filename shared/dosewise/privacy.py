"""Pseudonymization: patient references from callers are replaced by a keyed HMAC before anything is stored or logged."""

from __future__ import annotations

import hashlib
import hmac

PSEUDONYM_PREFIX = "pz_"


def pseudonymize(patient_ref: str, key: str) -> str:
    """Stable, keyed, one-way: the same reference maps to the same pseudonym under one key; without the key it cannot be
    reversed or recomputed from a guessed identifier (unlike a plain hash)."""
    digest = hmac.new(key.encode(), patient_ref.encode(), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:40]
