"""Held-out warfarin twin: the one-compartment PK/PD model of Hamberg et al. 2010 (Clin Pharmacol Ther 87:727), as a
ClinicTwin. Never trained on: the evaluation drives policies trained on the family (twin_models.py) through it.

Model (../shared/clinical.md §1, "Alternative one-compartment model" [checked]; the structure as coded in two independent
public implementations that agree: GitHub ``anzabizadeh/ReiL`` ``reil/healthcare/mathematical_models/hamberg_pkpd_2010.py``
and ``DavAug/mipd-warfarin`` ``models/hamberg_warfarin_inr_model.xml`` + ``models/hamberg_warfarin_inr_model_parameters.csv``):

- PK of S-warfarin, hours: gut --ka--> central (V) --CL-->. CL = (CL_allele1 + CL_allele2)·(1 − 0.00571·(age − 71))·e^η
  with CYP2C9 allele parts *1 0.174, *2 0.0879, *3 0.0422 L/h; V 14.3 L; ka 2 /h.
- PD: E = C^γ / (EC50^γ + C^γ), Emax 1, γ 1.15, C = central / V (mg/L); EC50 = the sum of the VKORC1 allele parts, G 2.05,
  A 0.96 mg/L (G/G 4.10, G/A 3.01, A/A 1.92) × e^η. The inflow 1 − E feeds two chains of 3 identical compartments (starting
  at 1), k_tr = 3/MTT with MTT 28.6 h and 118.3 h (ReiL: ``ktr = 3.0 / MTT``; DavAug's pooled rates 0.1049 and 0.02536 /h
  are 3/28.6 and 3/118.3).
- INR = BASE + INRmax·(1 − (F1 + F2)/2), F1, F2 the chains' last compartments, INRmax 20, BASE 1: ReiL
  (``_INR_max * (1 - mean(C[3]))``) and DavAug's SBML (``baseline_inr + maximal_inr_shift·(1 − (cf1 + cf2)/2)``) agree
  [checked, as coded]. (DavAug's README prints f1·f2/2 instead of the sum; its model file, which runs, has the sum.) Unlike
  Hamberg 2007 there is no exponent λ: the INR is linear in the factors.

Choices where the sources leave a detail open, each marked:

- **S-warfarin fraction 0.5** of the racemic dose, bioavailability 1: as ReiL (``k_a * F / 2`` with F = 1, "as seem to be
  the value used in the PK/PD paper"); CL and V are apparent oral values. DavAug's dose scaling is not visible in the files
  read [unverified there]. Check (tested): *1/*1, VKORC1 G/A, age 71 on 5 mg/day settles near INR 2.3.
- **IIV ω read as log-normal SDs** (CL 0.089, V 0.054, EC50 0.34), η truncated at ±3ω (model.py's convention). DavAug's
  parameter file lists 0.089 and 0.054 as "Log std." (and 0.240 for EC50, its own value); ReiL takes √ω (variances). Which
  one the paper means is [unverified]; as SDs, the model's unexplained dose requirement (∝ CL·EC50) has a log-SD of
  √(0.089² + 0.34²) ≈ 0.35, near what pharmacogenetic equations leave unexplained (they explain about half of the dose
  variance: Gage 2008, Clin Pharmacol Ther 84:326), where √ω would give 0.65.
- **No MTT variability** (clinical.md gives none for 2010), BASE fixed at 1 (as Ravvaz, ReiL, DavAug).
- **Age factor** 1 − 0.00571·(age − 71): clearance FALLS with age, as clinical.md states (−0.571 %/yr) and as Hamberg
  2007 has it (model.py, −0.91 %/yr). ReiL's code subtracts a negative constant (``1 - (-0.00571)·(age - 71)``), which
  makes clearance rise with age: we read that as a sign slip there and do not follow it [checked, as coded]. Floored at
  0.2 (ours; never reached for ages 18–100). DavAug replaces the linear age term with tanh (its own modification).
- **No K-PD random effect**: ReiL also draws η_KDE (ω 0.589) for the paper's K-PD variant (datasets without
  concentrations); with concentrations modelled, it would only add a second EC50-like spread, so it is left out.
- **Interacting drugs**: Hamberg 2010 has no co-medication term; CL × interactions.clearance_factor (the project's one
  interaction table, amiodarone × 0.70; an assumption shared with the training twins).
- **Residual error** (INR 0.20, additive in ReiL; DavAug log-normal 0.19) is not added: the twin reports the true INR, and
  the clinic protocol's assay noise (``clinic.ClinicNoise.assay_cv``) is the measurement error. ``INR_RESIDUAL_SD`` is kept
  for callers that want the paper's.

Patients: the Limdi 2015 European/African-American cohort (twin_cohort_limdi.py), not the training sampler.

Numerics: the PK is linear and solved exactly per sub-step; the chains are solved exactly for an input linear over each
sub-step (twin_transit.py). Accuracy against ``scipy.integrate.solve_ivp`` is tested.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import truncnorm

from dosewise.therapies import base
from dosewise.therapies.base import FloatArray
from dosewise.therapies.warfarin import interactions
from dosewise.therapies.warfarin.twin_cohort_limdi import LimdiCohort, sample_limdi_cohort
from dosewise.therapies.warfarin.twin_transit import DEFAULT_SUBSTEPS_H, absorption_step, chain_step

CITATION = "Hamberg et al. 2010, Clin Pharmacol Ther 87:727 (one-compartment model); Limdi et al. 2015 cohort"

# --- Hamberg 2010 (clinical.md §1; ReiL hamberg_pkpd_2010.py; DavAug mipd-warfarin) ----------------------------------------
CL_ALLELE_L_PER_H = {"*1": 0.174, "*2": 0.0879, "*3": 0.0422}
AGE_CL_SLOPE_PER_YEAR = 0.00571
AGE_CL_REFERENCE_YEARS = 71.0
V_L = 14.3
KA_PER_H = 2.0
EC50_ALLELE_MG_PER_L = {"G": 2.05, "A": 0.96}
GAMMA = 1.15
EMAX = 1.0
MTT1_H, MTT2_H = 28.6, 118.3
N_TRANSIT = 3
OMEGA_CL, OMEGA_V, OMEGA_EC50 = 0.089, 0.054, 0.34
INR_MAX = 20.0
INR_BASE = 1.0
INR_RESIDUAL_SD = 0.20  # not applied (module docstring)
# --- our choices (module docstring) --------------------------------------------------------------------------------------
S_FRACTION = 0.5
ETA_TRUNCATION_SD = 3.0
MIN_AGE_CL_FACTOR = 0.2

CYP2C9_CL_L_PER_H = np.array([sum(CL_ALLELE_L_PER_H[a] for a in g.split("/")) for g in base.CYP2C9_GENOTYPES])
VKORC1_EC50_MG_PER_L = np.array([sum(EC50_ALLELE_MG_PER_L[a] for a in g.split("/")) for g in base.VKORC1_GENOTYPES])


def truncated_eta(rng: np.random.Generator, omega: float, n: int) -> FloatArray:
    """η ~ N(0, ω²) truncated at ±3ω."""
    if omega <= 0:
        return np.zeros(n)
    t = ETA_TRUNCATION_SD
    return truncnorm.rvs(-t, t, loc=0.0, scale=omega, size=n, random_state=rng)


def clearance_l_per_h(cyp2c9: FloatArray, age_years: FloatArray, eta_cl: FloatArray,
                      comedication_factor: FloatArray) -> FloatArray:
    """S-warfarin CL (L/h) of the TRUE CYP2C9 genotype codes (0..5)."""
    age = np.maximum(1.0 - AGE_CL_SLOPE_PER_YEAR * (np.asarray(age_years) - AGE_CL_REFERENCE_YEARS), MIN_AGE_CL_FACTOR)
    return CYP2C9_CL_L_PER_H[np.asarray(cyp2c9).astype(int)] * age * np.exp(eta_cl) * comedication_factor


@dataclass(frozen=True)
class Hamberg2010Params:
    """Per-patient parameters, each (n,)."""

    cl_l_per_h: FloatArray
    v_l: FloatArray
    ec50_mg_per_l: FloatArray
    ktr1_per_h: FloatArray
    ktr2_per_h: FloatArray
    ka_per_h: float = KA_PER_H
    gamma: float = GAMMA

    @property
    def n(self) -> int:
        return int(self.cl_l_per_h.shape[0])


def sample_params(cohort: LimdiCohort, seed: int, iiv_scale: float = 1.0) -> Hamberg2010Params:
    """The patients' parameters from their covariates and random effects (their own seed stream); ``iiv_scale`` × every ω
    (0: typical patients, the covariates' values only)."""
    cov = cohort.covariates
    n = cov["age_years"].shape[0]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 4, 25, 2010]))
    eta_cl, eta_v, eta_ec50 = (truncated_eta(rng, iiv_scale * w, n) for w in (OMEGA_CL, OMEGA_V, OMEGA_EC50))
    return Hamberg2010Params(
        cl_l_per_h=clearance_l_per_h(cohort.cyp2c9_true, cov["age_years"], eta_cl, interactions.clearance_factor(cov)),
        v_l=V_L * np.exp(eta_v),
        ec50_mg_per_l=VKORC1_EC50_MG_PER_L[cohort.vkorc1_true.astype(int)] * np.exp(eta_ec50),
        ktr1_per_h=np.full(n, N_TRANSIT / MTT1_H),
        ktr2_per_h=np.full(n, N_TRANSIT / MTT2_H),
    )


def inflow(conc_mg_per_l: FloatArray, ec50_gamma: FloatArray, gamma: float) -> FloatArray:
    """u = 1 − E(C)."""
    cg = np.power(np.maximum(conc_mg_per_l, 0.0), gamma)
    return 1.0 - EMAX * cg / (ec50_gamma + cg)


def inr_of(f1: FloatArray, f2: FloatArray) -> FloatArray:
    """INR = BASE + INRmax·(1 − (F1 + F2)/2)."""
    return INR_BASE + INR_MAX * (1.0 - 0.5 * (f1 + f2))


class Hamberg2010Model:
    """N patients' state and one-day propagation (no covariates, no clinic): the numerical core of the twin."""

    def __init__(self, p: Hamberg2010Params, substeps_h: tuple[float, ...] = DEFAULT_SUBSTEPS_H) -> None:
        if abs(sum(substeps_h) - 24.0) > 1e-9:
            raise ValueError(f"sub-steps must sum to 24 h, got {sum(substeps_h)}")
        self.p, self.substeps_h = p, substeps_h
        ke = p.cl_l_per_h / p.v_l
        ka = np.full(p.n, p.ka_per_h)
        hs = sorted(set(substeps_h))
        self._pk = {h: absorption_step(ka, ke, h) for h in hs}
        self._c1 = {h: chain_step(p.ktr1_per_h, h, N_TRANSIT) for h in hs}
        self._c2 = {h: chain_step(p.ktr2_per_h, h, N_TRANSIT) for h in hs}
        self._ec50g = p.ec50_mg_per_l**p.gamma
        self.gut, self.central = np.zeros(p.n), np.zeros(p.n)
        self.chain1, self.chain2 = np.ones((N_TRANSIT, p.n)), np.ones((N_TRANSIT, p.n))

    def concentration(self) -> FloatArray:
        return self.central / self.p.v_l

    def inr(self) -> FloatArray:
        return inr_of(self.chain1[-1], self.chain2[-1])

    def advance_day(self, dose_s_mg: FloatArray) -> None:
        """An oral bolus of ``dose_s_mg`` S-warfarin (n,) now, then 24 h."""
        self.gut = self.gut + dose_s_mg
        u0 = inflow(self.concentration(), self._ec50g, self.p.gamma)
        for h in self.substeps_h:
            pk = self._pk[h]
            self.central = pk.cc * self.central + pk.gc * self.gut
            self.gut = pk.gg * self.gut
            u1 = inflow(self.concentration(), self._ec50g, self.p.gamma)
            self.chain1 = self._c1[h].apply(self.chain1, u0, u1)
            self.chain2 = self._c2[h].apply(self.chain2, u0, u1)
            u0 = u1

    def rhs(self, i: int) -> Callable[[float, np.ndarray], np.ndarray]:
        """dy/dt (per hour) of patient ``i``, y = (gut, central, chain1 ×3, chain2 ×3): the reference for tests."""
        p = self.p
        ka, ke, v = p.ka_per_h, float(p.cl_l_per_h[i] / p.v_l[i]), float(p.v_l[i])
        k1, k2, e50g = float(p.ktr1_per_h[i]), float(p.ktr2_per_h[i]), float(self._ec50g[i])

        def f(t: float, y: np.ndarray) -> np.ndarray:
            u = float(inflow(np.array(y[1] / v), np.array(e50g), p.gamma))
            dy = np.empty(2 + 2 * N_TRANSIT)
            dy[0] = -ka * y[0]
            dy[1] = ka * y[0] - ke * y[1]
            for off, k in ((2, k1), (2 + N_TRANSIT, k2)):
                c = y[off:off + N_TRANSIT]
                dy[off] = k * (u - c[0])
                dy[off + 1:off + N_TRANSIT] = k * (c[:-1] - c[1:])
            return dy

        return f


class Hamberg2010Twin:
    """N held-out twins (Hamberg 2010 on the Limdi 2015 cohort) as a clinic.ClinicTwin; doses in mg racemic warfarin."""

    truth_key = "inr_true"

    def __init__(self, n: int, seed: int, genotype_unknown_fraction: float = 0.0, inducer_fraction: float = 0.0,
                 substeps_h: tuple[float, ...] = DEFAULT_SUBSTEPS_H, iiv_scale: float = 1.0) -> None:
        self.n = n
        self.cohort = sample_limdi_cohort(n, seed, genotype_unknown_fraction, inducer_fraction)
        self.covariates: dict[str, FloatArray] = {k: v.copy() for k, v in self.cohort.covariates.items()}
        self.params = sample_params(self.cohort, seed, iiv_scale)
        self.model = Hamberg2010Model(self.params, substeps_h)

    @property
    def hidden(self) -> dict[str, FloatArray]:
        """What a clinic never sees: true genotypes (``cyp2c9``/``vkorc1``, what clinic_metrics' groups read) and the
        parameters."""
        p = self.params
        return {"cyp2c9": self.cohort.cyp2c9_true.astype(float), "vkorc1": self.cohort.vkorc1_true.astype(float),
                "cl_l_per_h": p.cl_l_per_h, "v_l": p.v_l, "ec50_mg_per_l": p.ec50_mg_per_l,
                "ancestry_group": self.cohort.group.astype(float)}

    def truth_now(self) -> dict[str, FloatArray]:
        return {"inr_true": self.model.inr(), "s_warfarin_mg_per_l": self.model.concentration()}

    def advance_day(self, given: FloatArray) -> dict[str, FloatArray]:
        dose = np.clip(np.nan_to_num(np.broadcast_to(np.asarray(given, dtype=float), (self.n,))), 0.0, None)
        self.model.advance_day(S_FRACTION * dose)
        return self.truth_now()


def build_hamberg2010(n: int, seed: int) -> tuple[Hamberg2010Twin, dict[str, FloatArray]]:
    """Registry builder: the held-out twins and their group data (the hidden values)."""
    twin = Hamberg2010Twin(n, seed)
    return twin, twin.hidden
