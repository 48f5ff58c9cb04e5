"""Training twin (b): a K-PD (kinetic-pharmacodynamic) warfarin model, structurally unlike Hamberg's, as a ClinicTwin.

Structure: the K-PD model of Jacqmin et al. 2007 (J Pharmacokinet Pharmacodyn 34:57; abstract checked): no PK
compartments, a virtual dose compartment whose elimination rate KDE links the dose rate to the effect, and the apparent
in-vivo potency EDK50 (= clearance × EC50 at steady state). Its effect drives a turnover ("indirect response") pool of the
prothrombin complex rather than Hamberg's transit chains:

- dA/dt = −KDE·A (mg racemic warfarin; each day's dose a bolus into A), DR = KDE·A (mg/h; its mean = the dose rate);
- I = DR^γ / (EDK50^γ + DR^γ): the inhibition of prothrombin-complex synthesis;
- dP/dt = kout·(1 − I) − kout·P, P = 1 before any drug (the pool as a fraction of normal);
- INR = 1 + INRmax·(1 − P)^λ.

So it differs from the training model (Hamberg 2007: absorption, two-compartment PK, a 6-compartment chain and a slow one)
and from the held-out model (Hamberg 2010: one-compartment PK, two 3-compartment chains, INR linear in the factors) in its
kinetics (no absorption, one pool, no delay chain), its time constants and its weight-scaled clearance.

Values. No published warfarin K-PD parameter set could be verified for this project (Jacqmin 2007 evaluates the approach on
simulated data; Hamberg 2010's own K-PD variant would leak the held-out model). The values are therefore built from the
classical warfarin PK/PD summary of Holford 1986 (Clin Pharmacokinet 11:483; abstract checked): racemic warfarin clearance
0.2 L/h/70 kg and volume 10 L/70 kg (half-life ≈ 35 h), prothrombin-complex synthesis inhibited 50 % at about 1.5 mg/L,
prothrombin-complex half-life ≈ 17 h. Each value below says where it comes from; [assumption] marks our choices:

- KDE = CL/V = 0.02 /h for 70 kg (Holford), × (weight/70)^−0.25 (allometric CL ∝ W^0.75, V ∝ W [assumption]);
- EDK50 = CL × C50 = 0.2 L/h × 1.5 mg/L = 0.3 mg/h (7.2 mg/day) for 70 kg (Holford), × (weight/70)^0.75;
- γ = 1 (Holford's summary names an Emax model without a Hill coefficient [assumption]);
- kout = ln 2 / 17 h (Holford);
- the INR link (INRmax 20, λ 3.61) is Hamberg 2007's (model.py) applied to the one pool [assumption: Holford describes
  a hyperbolic PT-activity relationship whose shape depends on the assay]; with it the reference patient below settles at
  INR 2.1 on 6 mg/day (tested), inside the label's 5–7 mg/day for CYP2C9 *1/*1, VKORC1 G/G (clinic_metrics' table);
- covariates, relative to a CYP2C9 *1/*1, VKORC1 G/G patient of 71 years (taken as Holford's typical patient
  [assumption]): EDK50 and KDE × Hamberg 2007's CYP2C9 clearance factor and age factor (model.py [checked, as coded]),
  EDK50 × Hamberg 2007's VKORC1 EC50 ratio (G/A 3.02/4.61, A/A 2.20/4.61), both × interactions.clearance_factor;
- IIV, log-normal, truncated at ±3ω: EDK50 0.5 (about Hamberg 2007's spread of the dose requirement, √(0.31² + 0.41²)),
  KDE 0.3, kout 0.25 [assumption, unverified];
- day-to-day EDK50 × e^b (the same AR(1) process as twin_hamberg2007_wide: SD 0.15, a week's memory) [assumption].

Patients: the training population (cohort.py's Ravvaz avatars). Adherence and assay noise are the clinic protocol's.
Numerics: A is solved exactly; P is solved exactly for an input linear over each sub-step (twin_transit.chain_step with one
compartment); accuracy against scipy.integrate.solve_ivp is tested.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dosewise.therapies.base import FloatArray
from dosewise.therapies.warfarin import interactions
from dosewise.therapies.warfarin import model as hb
from dosewise.therapies.warfarin.cohort import sample_ravvaz_cohort
from dosewise.therapies.warfarin.twin_hamberg2007_wide import DailyLogFactor, truncated_eta
from dosewise.therapies.warfarin.twin_transit import chain_step

CITATION = ("K-PD model (Jacqmin et al. 2007, J Pharmacokinet Pharmacodyn 34:57) with Holford 1986 (Clin Pharmacokinet "
            "11:483) warfarin values; covariates from Hamberg 2007 [assumptions: twin_kpd.py]")

# --- Holford 1986 (abstract checked), for 70 kg ------------------------------------------------------------------------
CL_L_PER_H_70KG = 0.2
V_L_70KG = 10.0
C50_MG_PER_L = 1.5
PCA_HALF_LIFE_H = 17.0
# --- our choices (module docstring) --------------------------------------------------------------------------------------
REFERENCE_WEIGHT_KG = 70.0
CL_WEIGHT_EXPONENT, V_WEIGHT_EXPONENT = 0.75, 1.0
GAMMA = 1.0
INR_MAX, LAMBDA, INR_BASE = hb.INR_MAX, hb.LAMBDA, hb.INR_BASE
EC50_RATIO_VKORC1 = hb.EC50_MG_PER_L / hb.EC50_MG_PER_L[0]  # G/G 1, G/A 0.655, A/A 0.477
OMEGA_EDK50, OMEGA_KDE, OMEGA_KOUT = 0.5, 0.3, 0.25
BOV_LOG_SD, BOV_MEMORY_DAYS = 0.15, 7.0
SUBSTEPS_H: tuple[float, ...] = (6.0, 6.0, 6.0, 6.0)  # no absorption: the input varies slowly (t½ 35 h)


@dataclass(frozen=True)
class KpdParams:
    """Per-patient parameters, each (n,)."""

    kde_per_h: FloatArray
    edk50_mg_per_h: FloatArray
    kout_per_h: FloatArray

    @property
    def n(self) -> int:
        return int(self.kde_per_h.shape[0])


def typical_params(covariates: dict[str, FloatArray], cyp2c9: FloatArray, vkorc1: FloatArray) -> KpdParams:
    """The covariates' values of the parameters (no random effects); ``cyp2c9``/``vkorc1`` the TRUE genotype codes."""
    w = np.asarray(covariates["weight_kg"], dtype=float) / REFERENCE_WEIGHT_KG
    age = np.asarray(covariates["age_years"], dtype=float)
    cl_factor = (hb.clearance_l_per_h(np.zeros_like(age), age, np.asarray(cyp2c9), interactions.clearance_factor(covariates))
                 / hb.CL_TYPICAL_L_PER_H)  # Hamberg 2007's CYP2C9 × age × interactions, relative to *1/*1 at 71
    cl = CL_L_PER_H_70KG * w**CL_WEIGHT_EXPONENT * cl_factor
    v = V_L_70KG * w**V_WEIGHT_EXPONENT
    ec50 = C50_MG_PER_L * EC50_RATIO_VKORC1[np.asarray(vkorc1).astype(int)]
    return KpdParams(kde_per_h=cl / v, edk50_mg_per_h=cl * ec50, kout_per_h=np.full(age.shape[0], np.log(2) / PCA_HALF_LIFE_H))


def inflow(dr_mg_per_h: FloatArray, edk50_gamma: FloatArray) -> FloatArray:
    """u = 1 − I(DR)."""
    d = np.power(np.maximum(dr_mg_per_h, 0.0), GAMMA)
    return 1.0 - d / (edk50_gamma + d)


def inr_of(pca: FloatArray) -> FloatArray:
    return INR_BASE + INR_MAX * np.power(np.clip(1.0 - pca, 0.0, 1.0), LAMBDA)


class KpdModel:
    """N patients' state (A, P) and one-day propagation: the numerical core of the twin."""

    def __init__(self, p: KpdParams, substeps_h: tuple[float, ...] = SUBSTEPS_H) -> None:
        if abs(sum(substeps_h) - 24.0) > 1e-9:
            raise ValueError(f"sub-steps must sum to 24 h, got {sum(substeps_h)}")
        self.p, self.substeps_h = p, substeps_h
        hs = sorted(set(substeps_h))
        self._decay = {h: np.exp(-p.kde_per_h * h) for h in hs}
        self._pool = {h: chain_step(p.kout_per_h, h, 1) for h in hs}
        self.edk50_factor = np.ones(p.n)
        self.amount = np.zeros(p.n)
        self.pca = np.ones((1, p.n))

    def _u(self, edk50_gamma: FloatArray) -> FloatArray:
        return inflow(self.p.kde_per_h * self.amount, edk50_gamma)

    def inr(self) -> FloatArray:
        return inr_of(self.pca[0])

    def advance_day(self, dose_mg: FloatArray) -> None:
        """A bolus of ``dose_mg`` racemic warfarin (n,) now, then 24 h."""
        e50g = (self.p.edk50_mg_per_h * self.edk50_factor) ** GAMMA
        self.amount = self.amount + dose_mg
        u0 = self._u(e50g)
        for h in self.substeps_h:
            self.amount = self._decay[h] * self.amount
            u1 = self._u(e50g)
            self.pca = self._pool[h].apply(self.pca, u0, u1)
            u0 = u1

    def rhs(self, i: int) -> Callable[[float, np.ndarray], np.ndarray]:
        """dy/dt (per hour) of patient ``i``, y = (A, P): the reference for tests (today's EDK50 factor)."""
        kde, kout = float(self.p.kde_per_h[i]), float(self.p.kout_per_h[i])
        e50g = float(self.p.edk50_mg_per_h[i] * self.edk50_factor[i]) ** GAMMA

        def f(t: float, y: np.ndarray) -> np.ndarray:
            u = float(inflow(np.array(kde * y[0]), np.array(e50g)))
            return np.array([-kde * y[0], kout * (u - y[1])])

        return f


class KpdTwin:
    """N Ravvaz avatars on the K-PD model (module docstring) as a clinic.ClinicTwin; doses in mg racemic warfarin/day."""

    truth_key = "inr_true"

    def __init__(self, n: int, seed: int, iiv_scale: float = 1.0, bov_log_sd: float = BOV_LOG_SD,
                 substeps_h: tuple[float, ...] = SUBSTEPS_H) -> None:
        self.n = n
        cohort = sample_ravvaz_cohort(n, seed)
        self.covariates: dict[str, FloatArray] = {k: np.asarray(v, dtype=float).copy() for k, v in cohort.covariates.items()}
        cyp, vk = cohort.hidden["cyp2c9_true"], cohort.hidden["vkorc1_true"]
        typ = typical_params(self.covariates, cyp, vk)
        rng = np.random.default_rng(np.random.SeedSequence([seed, 4, 25, 2007_57]))
        e_edk, e_kde, e_kout = (truncated_eta(rng, iiv_scale * w, n) for w in (OMEGA_EDK50, OMEGA_KDE, OMEGA_KOUT))
        self.params = KpdParams(kde_per_h=typ.kde_per_h * np.exp(e_kde), edk50_mg_per_h=typ.edk50_mg_per_h * np.exp(e_edk),
                                kout_per_h=typ.kout_per_h * np.exp(e_kout))
        self.hidden: dict[str, FloatArray] = {
            "cyp2c9": np.asarray(cyp, dtype=float), "vkorc1": np.asarray(vk, dtype=float),
            "kde_per_h": self.params.kde_per_h, "edk50_mg_per_h": self.params.edk50_mg_per_h,
            "kout_per_h": self.params.kout_per_h,
        }
        self.model = KpdModel(self.params, substeps_h)
        self._potency = DailyLogFactor(n, bov_log_sd, BOV_MEMORY_DAYS,
                                       np.random.default_rng(np.random.SeedSequence([seed, 4, 25, 2007_58])))

    def truth_now(self) -> dict[str, FloatArray]:
        return {"inr_true": self.model.inr()}

    def advance_day(self, given: FloatArray) -> dict[str, FloatArray]:
        dose = np.clip(np.nan_to_num(np.broadcast_to(np.asarray(given, dtype=float), (self.n,))), 0.0, None)
        self.model.edk50_factor = self._potency.step()
        self.model.advance_day(dose)
        return self.truth_now()


def build_kpd(n: int, seed: int) -> tuple[KpdTwin, dict[str, FloatArray]]:
    """Registry builder: the K-PD twins and their group data (true genotypes ``cyp2c9``/``vkorc1`` and parameters)."""
    twin = KpdTwin(n, seed)
    return twin, dict(twin.hidden)
