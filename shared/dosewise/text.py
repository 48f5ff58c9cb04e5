"""Free text as callers send it, made safe to store and to match: the one place every API contract's text fields go through.

``CleanText`` (pydantic metadata: ``Annotated[str, CleanText(max_length=64)]``) does, in this order:

1. **Refuses control characters** (Unicode category Cc: NUL, tab, newline, ESC, DEL, C1 controls) and unpaired surrogates
   (Cs: not encodable as UTF-8), each a field-level error at that field's own location (a 422 naming it). A NUL reached
   PostgreSQL, which cannot store it in text, and ``amio\\u0000darone`` matched no drug name.
2. **Removes format characters** (category Cf: zero-width space and joiners, BOM, soft hyphen, bidirectional controls,
   invisible tag characters): they render as nothing, so ``amio\\u200bdarone`` reads "amiodarone" to the clinician while it
   matched nothing. (They also join scripts such as Persian or Devanagari, and emoji sequences: free text here is
   clinical, in Latin-script words, where that loss is a letter-spacing detail.)
3. **Normalizes to NFKC**: compatibility forms become their plain letters and digits (fullwidth ``ａｍｉｏ`` → ``amio``,
   the ``ﬁ`` ligature → ``fi``, ``㎎`` → ``mg``), and composed and decomposed accents become one form.

NFKC never produces a Cc or Cf character, and no Cf character changes under NFKC (checked over every code point of
Python's Unicode 14 tables), so the result is stable: cleaning cleaned text changes nothing, and a state the gateway
cleaned validates to the same state in inference.

Length limits (``min_length``/``max_length``) count the cleaned text, with pydantic's usual string errors. Look-alike
letters of other scripts (Cyrillic ``а`` for Latin ``a``) are kept as sent: stored text says what the caller wrote; the
drug matcher maps them (``dosewise.medications``).

Used by every text field a caller writes freely and we store as written: ``PatientState.co_medications`` and
``comorbidities``, ``Genotype.cyp2c19``, the outcome's ``Feedback.reason`` and batch ``idempotency_key``. Fields that are
codes of a closed vocabulary (units, observation and adverse-event kinds, the therapy id, patterned references and key
names) are not free text: anything outside their vocabulary or pattern, a control character included, is already a 422 at
that field, and they are not stored as sent (units are stored in the canonical unit). They skip this per-item work, which
a state with a thousand dose records would pay a thousand times.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

_REFUSED = frozenset({"Cc", "Cs"})


def clean_text(text: str) -> str:
    """``text`` with format characters removed, in NFKC; raises ``PydanticCustomError`` on a control character."""
    if text.isascii() and text.isprintable():  # the common case: nothing to refuse, remove or normalize
        return text
    for i, ch in enumerate(text):
        if unicodedata.category(ch) in _REFUSED:
            kind = "an unpaired surrogate" if unicodedata.category(ch) == "Cs" else "a control character"
            raise PydanticCustomError(
                "control_character", "{char} at position {position} is {kind}, which text fields do not accept",
                {"char": f"U+{ord(ch):04X}", "position": i, "kind": kind},
            )
    visible = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return unicodedata.normalize("NFKC", visible)


def _clean_if_text(value: Any) -> Any:
    """Text is cleaned; anything else goes on to the string validator, which reports it as not a string."""
    return clean_text(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class CleanText:
    """Pydantic metadata for a free-text field: ``Annotated[str, CleanText(max_length=64)]`` (module docstring).

    The limits live here rather than in a ``Field`` beside it: pydantic applies a ``Field`` length after a validator as a
    generic check ("Value should have at most 64 items"), here they are the string's own ("String should have at most 64
    characters"), on the cleaned text, and the JSON schema shows them as usual."""

    min_length: int | None = None
    max_length: int | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        inner = handler(source)
        if inner.get("type") != "str":
            raise TypeError(f"CleanText applies to str fields, not {source!r}")
        limits = {k: v for k, v in (("min_length", self.min_length), ("max_length", self.max_length)) if v is not None}
        return core_schema.no_info_before_validator_function(_clean_if_text, {**inner, **limits})  # type: ignore[typeddict-item]
