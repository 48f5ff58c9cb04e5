"""UCUM quantities of FHIR observations → the canonical units of PatientState, and eGFR from creatinine.

Reads the UCUM ``code`` first (``system`` http://unitsofmeasure.org), then the human ``unit``, both case-insensitively as
dosewise.units does. A quantity without any unit is read only where one unit is the only one in use for its LOINC code
(``DEFAULT_UNIT``), and said so in the answer's warnings; anywhere else it is refused.
"""

from __future__ import annotations

from dosewise import units

# Glucose: the JSON contract's factor (dosewise.units, 18.0 mg/dL per mmol/L), so a value means the same on both routes.
GLUCOSE_MG_DL_PER_MMOL_L = units.GLUCOSE_MG_DL_PER_MMOL_L
# Creatinine, molar mass 113.12 g/mol: 1 mg/dL = 88.4 µmol/L (KDIGO 2012 CKD guideline, conversion table).
CREATININE_UMOL_L_PER_MG_DL = 88.4

_GLUCOSE = {"mg/dl": 1.0, "mmol/l": GLUCOSE_MG_DL_PER_MMOL_L}
_CREATININE = {"mg/dl": 1.0, "umol/l": 1.0 / CREATININE_UMOL_L_PER_MG_DL, "µmol/l": 1.0 / CREATININE_UMOL_L_PER_MG_DL,
               "μmol/l": 1.0 / CREATININE_UMOL_L_PER_MG_DL}
_EGFR_PER_BSA = {"ml/min/{1.73_m2}", "ml/min/1.73m2", "ml/min/1.73_m2", "ml/min/{1.73m2}", "ml/min/1.73 m2"}
_PERCENT = {"%": 1.0}

# For a quantity that has no unit at all: the one unit in use for that quantity (an INR is a ratio; HbA1c in %; eGFR in
# mL/min/1.73 m²). Glucose, creatinine, weight and height come in two units each: never guessed.
DEFAULT_UNIT = {"inr": "{INR}", "hba1c": "%", "egfr": "mL/min/{1.73_m2}"}
CANONICAL = {"inr": "{INR}", "glucose": "mg/dL", "creatinine": "mg/dL", "hba1c": "%", "egfr": "mL/min/1.73m2",
             "mass": "kg", "length": "cm"}


class QuantityError(ValueError):
    """A unit that does not fit the quantity, or none where one is needed."""


def to_canonical(value: float, unit: str, quantity: str) -> tuple[float, str | None]:
    """(value in the canonical unit, a normalization to report or None). Raises QuantityError."""
    u = unit.strip().lower()
    if quantity == "glucose":
        table: dict[str, float] = _GLUCOSE
    elif quantity == "creatinine":
        table = _CREATININE
    elif quantity == "hba1c":
        table = _PERCENT
    elif quantity == "egfr":
        if u in _EGFR_PER_BSA:
            return value, None
        if u == "ml/min":
            # An eGFR is per 1.73 m² by definition (every CKD-EPI and MDRD equation); exports write the bare unit.
            return value, "read eGFR in 'mL/min' as mL/min/1.73 m² (an estimated GFR is normalized to body surface area)"
        raise QuantityError(f"unit {unit!r} is not an eGFR unit; expected mL/min/{{1.73_m2}}")
    elif quantity in ("inr", "mass", "length"):
        try:
            return units.to_canonical(value, unit, quantity), None
        except units.UnitError as e:
            raise QuantityError(str(e)) from None
    else:
        raise KeyError(quantity)
    factor = table.get(u)
    if factor is None:
        raise QuantityError(f"unit {unit!r} is not a {quantity} unit; expected one of: {', '.join(sorted(table))}")
    return value * factor, None


def ckd_epi_2021(creatinine_mg_dl: float, age_years: float, female: bool) -> float:
    """eGFR (mL/min/1.73 m²) by the race-free CKD-EPI 2021 creatinine equation, Inker et al., N Engl J Med
    2021;385:1737-1749 (PMID 34554658): 142 · min(Scr/κ, 1)^α · max(Scr/κ, 1)^−1.200 · 0.9938^age · 1.012 [female],
    κ 0.7 (female) / 0.9 (male), α −0.241 (female) / −0.302 (male). For adults (≥ 18 years), Scr in mg/dL (IDMS-traceable)."""
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)
    ratio = creatinine_mg_dl / kappa
    egfr = 142.0 * min(ratio, 1.0) ** alpha * max(ratio, 1.0) ** -1.200 * 0.9938 ** age_years
    return egfr * 1.012 if female else egfr
