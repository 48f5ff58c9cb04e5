"""Warfarin's dose-changing drug interactions: ONE table, read by the guardrails (guardrails.py), the IWPC covariates the
policy sees (base.ClinicView: ``amiodarone``, ``enzyme_inducer``) and the twins' S-warfarin clearance (model.py's cohort,
the forecast twin in dosewise/forecast.py).

Which drugs: those ../shared/clinical.md §1 lists as changing the dose materially, each rated **level 1 ("highly
probable")** by the systematic review of Wells et al. 1994 (Ann Intern Med 121:676, PMID 7944078, "Interactions of warfarin
with drugs and food"; abstract checked): warfarin's effect potentiated by cotrimoxazole, fluconazole, metronidazole and
amiodarone, inhibited by rifampin and carbamazepine. Its update, Holbrook et al. 2005 (Arch Intern Med 165:1095; abstract
checked, tables not seen), finds the reports on azole antifungals and amiodarone consistent enough to say "avoid or monitor
closely". Phenytoin is an enzyme inducer of the IWPC 2009 equation (NEJM 360:753; ../shared/clinical.md), not in Wells'
level-1 list.

Every row is a 0/1 covariate of the ClinicView named by its id (amiodarone's is the IWPC covariate of that name), set when a
co-medication entry names one of its ``ingredients`` (dosewise/medications.py: names, brands, spellings, RxNorm codes). The
simulated cohorts carry amiodarone only (Ravvaz 2017), so training is unchanged by the other rows; they reach the
guardrails and the forecast twin of real patients.

``cl_factor`` multiplies S-warfarin clearance in the Hamberg 2007 twins. At steady state the dose a patient needs scales with
clearance, so a published dose change is read as a clearance change (as model.py does for amiodarone). Tags as in
../shared/clinical.md: [checked] seen in the source; [secondary] only in a summary; our choices say so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Literal

import numpy as np

from dosewise.medications import ingredients
from dosewise.therapies.warfarin.iwpc import PG_ENZYME_INDUCER
from dosewise.therapies.warfarin.model import AMIODARONE_CL_FACTOR

Effect = Literal["raises_inr", "lowers_inr"]

# The IWPC pharmacogenetic equation adds PG_ENZYME_INDUCER to √(weekly dose): at 35 mg/week (5 mg/day) that is a dose, and
# so a clearance, × ((√35 + 1.1816) / √35)² = 1.44.
IWPC_INDUCER_CL_FACTOR = ((math.sqrt(35.0) + PG_ENZYME_INDUCER) / math.sqrt(35.0)) ** 2


@dataclass(frozen=True)
class Interaction:
    id: str  # the ClinicView covariate (0/1)
    name: str  # as a guardrail message names it
    ingredients: frozenset[str]  # generics (dosewise/medications.py), any of which means the patient takes it
    effect: Effect
    mechanism: str  # in words, for the message
    cl_factor: float  # S-warfarin clearance × this in the twins
    iwpc: Literal["amiodarone", "enzyme_inducer"] | None  # the IWPC covariate it sets
    source: str


INTERACTIONS: tuple[Interaction, ...] = (
    Interaction(
        "amiodarone", "amiodarone", frozenset({"amiodarone"}), "raises_inr", "CYP2C9 inhibition",
        AMIODARONE_CL_FACTOR,  # × 0.70: mid-range of IWPC, Gage, Sanoski, Kerin, Almog (model.py's docstring)
        "amiodarone",
        "Wells 1994 level 1; FDA Coumadin label (2011), Drug interactions; IWPC 2009 covariate"),
    Interaction(
        "fluconazole", "fluconazole", frozenset({"fluconazole"}), "raises_inr", "CYP2C9 inhibition",
        # Our choice, × 0.50, between × 0.35 (S-warfarin AUC +184 % with fluconazole 400 mg/day for 14 days in six healthy
        # volunteers, as an interaction monograph reports the study [secondary]) and the ~25 % empiric dose reduction some
        # clinicians make [secondary]: the usual 50–200 mg/day inhibit less than 400. Kunze et al. 1996 (Drug Metab Dispos
        # 24:414; abstract checked): fluconazole inhibits CYP2C9, which clears 85 % of S-warfarin, at Ki 7–8 µM.
        0.50, None, "Wells 1994 level 1; Kunze 1996 Drug Metab Dispos 24:414"),
    Interaction(
        "metronidazole", "metronidazole", frozenset({"metronidazole"}), "raises_inr", "CYP2C9 inhibition",
        # × 0.65: a pre-emptive dose reduction of 30–35 % (mean 34.6 %) kept INR in range where no reduction let it rise by
        # 1.28 (20 patients, PMID 21417792; abstract checked).
        0.65, None, "Wells 1994 level 1; PMID 21417792 (pre-emptive dose reduction)"),
    Interaction(
        # Sulfamethoxazole is the CYP2C9 inhibitor of the pair; trimethoprim alone is not in the table (no rating found):
        # an entry naming only trimethoprim is reported as not recognized.
        "sulfamethoxazole_trimethoprim", "trimethoprim-sulfamethoxazole", frozenset({"sulfamethoxazole"}), "raises_inr",
        "CYP2C9 inhibition by sulfamethoxazole",
        # × 0.80: the upper end of the 10–20 % pre-emptive reductions advised [secondary: EBM Consult, 2015]. O'Reilly &
        # Motley 1979 (Ann Intern Med 91:34; abstract checked) saw the prothrombin effect without a change in racemic
        # warfarin's half-life, i.e. not a change of the mixture's clearance; the S-enantiomer's is what the twin models.
        # Hale & Lesar (Drug Metab Drug Interact, doi:10.1515/dmdi-2013-0049; abstract checked): concurrent use raises INR
        # "rapidly and consistently", with two- to five-fold bleeding.
        0.80, None, "Wells 1994 level 1 (cotrimoxazole); Hale & Lesar, doi:10.1515/dmdi-2013-0049"),
    Interaction(
        "rifampin", "rifampicin (rifampin)", frozenset({"rifampin"}), "lowers_inr", "CYP2C9, CYP3A4 and CYP1A2 induction",
        # × 3.0: in case reports dose increases of 233 % to 600 % (3.3- to 7-fold doses) still left INR below the range
        # during rifampicin, and the dose took two to four months to come back down after it stopped (BMC Pharmacol
        # Toxicol 2013;14:27, Table 1 [secondary]): the low end.
        3.0, "enzyme_inducer", "Wells 1994 level 1; IWPC 2009 covariate; BMC Pharmacol Toxicol 2013;14:27"),
    Interaction(
        "carbamazepine", "carbamazepine", frozenset({"carbamazepine"}), "lowers_inr", "CYP3A4 and CYP2C9 induction",
        IWPC_INDUCER_CL_FACTOR, "enzyme_inducer", "Wells 1994 level 1; IWPC 2009 covariate"),
    Interaction(
        "phenytoin", "phenytoin", frozenset({"phenytoin"}), "lowers_inr", "CYP2C9 and CYP3A4 induction",
        IWPC_INDUCER_CL_FACTOR, "enzyme_inducer", "IWPC 2009 covariate"),
)
BY_ID: dict[str, Interaction] = {x.id: x for x in INTERACTIONS}
RAISES_INR: tuple[Interaction, ...] = tuple(x for x in INTERACTIONS if x.effect == "raises_inr")
LOWERS_INR: tuple[Interaction, ...] = tuple(x for x in INTERACTIONS if x.effect == "lowers_inr")
IWPC_COVARIATES: tuple[str, ...] = ("amiodarone", "enzyme_inducer")
# The table's rows as covariates, but for amiodarone's, which is the IWPC covariate itself.
ROW_COVARIATES: tuple[str, ...] = tuple(x.id for x in INTERACTIONS if x.id not in IWPC_COVARIATES)
# What the warfarin pack adds to base.COVARIATES (WarfarinPack.comedication_covariates), so rules and twins read what a
# clinic sees of the co-medications, for simulated and real patients alike.
COVARIATES: tuple[str, ...] = IWPC_COVARIATES + ROW_COVARIATES
# Generics a co-medication entry may name for the warfarin pack to know what it does: the table's, and warfarin itself.
KNOWN: frozenset[str] = frozenset().union(*(x.ingredients for x in INTERACTIONS)) | {"warfarin"}


@lru_cache(maxsize=1024)
def covariates_of(meds: frozenset[str]) -> Mapping[str, float]:
    """The IWPC covariates and every row's 0/1 for a patient taking the generics ``meds``: amiodarone for amiodarone, the
    enzyme inducer for any of the IWPC inducers (carbamazepine, phenytoin, rifampin). Cached (read-only): patients share a
    few combinations, and a batch of 1,000 asked for them 1,000 times."""
    out = {x.id: 1.0 if x.ingredients & meds else 0.0 for x in INTERACTIONS}
    for cov in IWPC_COVARIATES:
        out[cov] = max((out[x.id] for x in INTERACTIONS if x.iwpc == cov), default=0.0)
    return MappingProxyType(out)


@lru_cache(maxsize=1024)
def flags_of(meds: frozenset[str]) -> tuple[float, ...]:
    """``covariates_of(meds)`` in the order of COVARIATES."""
    takes = covariates_of(meds)
    return tuple(takes[c] for c in COVARIATES)


def clearance_factor(covariates: Mapping[str, np.ndarray]) -> np.ndarray:
    """(n,) the product of the ``cl_factor`` of every row a patient takes (1 for none)."""
    factor = np.ones_like(np.asarray(covariates["amiodarone"], dtype=float))
    for x in INTERACTIONS:
        factor = factor * np.where(np.asarray(covariates[x.id]) > 0.5, x.cl_factor, 1.0)
    return factor


def taken(covariates: Mapping[str, np.ndarray], rows: Sequence[Interaction], i: int) -> list[Interaction]:
    """The rows among ``rows`` that patient ``i`` takes."""
    return [x for x in rows if covariates[x.id][i] > 0.5]


def unrecognized(entries: Iterable[str]) -> list[str]:
    """The entries naming no generic the warfarin pack knows (KNOWN): neither a drug of the table nor warfarin."""
    return [e for e in entries if not ingredients(e) & KNOWN]


def comedication_warnings(entries: Sequence[str]) -> list[str]:
    """One warning per co-medication entry the table cannot speak for."""
    return list(_warnings(tuple(entries))) if entries else []


@lru_cache(maxsize=4096)
def _warnings(entries: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"Co-medication '{e}' was not recognized; interactions with it were not checked." for e in unrecognized(entries))

