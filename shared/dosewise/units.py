"""Unit normalization: every quantity is stored and computed in one canonical unit, named in the field or here.

Accepted spellings include the UCUM codes EHRs send (``mg/dL``, ``mmol/L``, ``[lb_av]``, ``[in_i]``, ``{INR}``).
Glucose: 1 mmol/L = 18.0 mg/dL (molar mass of glucose 180.16 g/mol; the factor used by ADA/ADAG tables).
"""

from __future__ import annotations

from dataclasses import dataclass

GLUCOSE_MG_DL_PER_MMOL_L = 18.0  # ADA Standards of Care conversion factor (180.16 g/mol ÷ 10, rounded)


class UnitError(ValueError):
    """A unit we do not know, or one that does not fit the quantity."""


@dataclass(frozen=True)
class Conversion:
    canonical: str
    factor: float  # canonical = value · factor


_MASS = {"kg": 1.0, "g": 0.001, "lb": 0.45359237, "[lb_av]": 0.45359237, "lbs": 0.45359237}
_LENGTH = {"cm": 1.0, "m": 100.0, "mm": 0.1, "in": 2.54, "[in_i]": 2.54}
_GLUCOSE = {"mg/dl": 1.0, "mmol/l": GLUCOSE_MG_DL_PER_MMOL_L}
_INR = {"{inr}": 1.0, "inr": 1.0, "1": 1.0, "ratio": 1.0, "{ratio}": 1.0}
_DIMENSIONLESS = {"1": 1.0, "a.u.": 1.0, "{a.u.}": 1.0, "au": 1.0}
_DOSE_MG = {"mg": 1.0, "g": 1000.0, "ug": 0.001, "mcg": 0.001}
_DOSE_U = {"u": 1.0, "[iu]": 1.0, "iu": 1.0, "units": 1.0, "unit": 1.0}
_EGFR = {"ml/min/1.73m2": 1.0, "ml/min/{1.73_m2}": 1.0, "ml/min": 1.0}

QUANTITIES: dict[str, tuple[str, dict[str, float]]] = {
    "mass": ("kg", _MASS),
    "length": ("cm", _LENGTH),
    "glucose": ("mg/dL", _GLUCOSE),
    "inr": ("{INR}", _INR),
    "dimensionless": ("1", _DIMENSIONLESS),
    "dose_mg": ("mg", _DOSE_MG),
    "dose_units": ("U", _DOSE_U),
    "egfr": ("mL/min/1.73m2", _EGFR),
}


# How UCUM writes the spellings above whose case it fixes (UCUM is case-sensitive; matching here is not, since HL7 v2 feeds
# often send units in upper case). The OpenAPI document lists units in this spelling.
_UCUM_CASE = {"mg/dl": "mg/dL", "mmol/l": "mmol/L", "{inr}": "{INR}", "inr": "INR", "u": "U", "[iu]": "[IU]", "iu": "IU",
              "ml/min/1.73m2": "mL/min/1.73m2", "ml/min/{1.73_m2}": "mL/min/{1.73_m2}", "ml/min": "mL/min"}


def spellings(quantity: str) -> dict[str, float]:
    """The spellings accepted for a quantity (UCUM case; matched case-insensitively, surrounding spaces ignored), each with
    its factor to the canonical unit."""
    return {_UCUM_CASE.get(unit, unit): factor for unit, factor in QUANTITIES[quantity][1].items()}


def allowed_units(quantity: str) -> list[str]:
    """Spellings accepted for a quantity, for error messages."""
    return sorted(spellings(quantity))


def to_canonical(value: float, unit: str, quantity: str) -> float:
    """Convert ``value`` in ``unit`` to the canonical unit of ``quantity``; raises UnitError for an unknown unit."""
    table = QUANTITIES[quantity][1]
    factor = table.get(unit.strip().lower())
    if factor is None:
        raise UnitError(f"unit {unit!r} is not a {quantity} unit; allowed: {', '.join(allowed_units(quantity))}")
    return value * factor


def canonical_unit(quantity: str) -> str:
    return QUANTITIES[quantity][0]
