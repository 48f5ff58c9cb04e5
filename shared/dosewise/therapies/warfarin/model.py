"""Warfarin PK/PD of Hamberg et al. 2007 (Clin Pharmacol Ther 81:529–538), vectorized over patients.

Model (../shared/clinical.md §1; parameters as implemented in GitHub ``anzabizadeh/ReiL``
``reil/healthcare/mathematical_models/hamberg_pkpd.py``, adapted from Ravvaz et al. 2017):

- PK of S-warfarin, time in hours: gut --ka--> central (V1) <--Q--> peripheral (V2), elimination CL from the central
  compartment. CL = CL_typ·e^η · (1 − 0.0091·(age − 71)) · (1 − Δ_CYP2C9) · f_comedication (the product of the
  interaction table's clearance factors, interactions.py).
- PD: E = Emax·C^γ / (EC50^γ + C^γ), C = S-warfarin central concentration (mg/L), EC50 by VKORC1 genotype.
  The inflow 1 − E feeds two transit chains that start at 1 (no drug): six compartments with rate k_tr1 and one with
  k_tr2 = 1/MTT2. INR = BASE + INRmax·(1 − A6·A7)^λ.

Decisions we took (each one is tested in tests/unit/test_warfarin_twin.py):

- **k_tr1 = 6/MTT1** (MTT1 = the whole six-compartment chain's mean transit time, 11.6 h). ReiL's code does the same and
  notes that the paper's text reads 1/MTT1. We follow 6/MTT1 because (a) the transit-compartment convention is
  MTT = n/k_tr for a chain of n identical compartments, as Hamberg 2010 (Clin Pharmacol Ther 87:727) is coded with
  k_tr = 3/MTT for its 3-compartment chains; (b) the fast chain stands for factor VII (half-life ≈ 6 h), so its total delay
  should be hours, not the 6 × 11.6 = 69.6 h that 1/MTT1 would give. Consequence (tested): the INR starts to rise within
  the first two days; with 1/MTT1 it stays flat until day 3.
- **Dose**: half the racemic dose is S-warfarin (Hamberg modelled S-warfarin only, as ReiL does), with bioavailability 1:
  Hamberg's CL, V1, V2 are *apparent* oral values (CL/F, V/F), so multiplying by F again (ReiL uses F = 0.9) would count
  bioavailability twice.
- **IIV**: the ω values are read as SDs of log-normal random effects (≈ CV), η truncated at ±3ω. ReiL takes √ω (reads ω
  as a variance); that would give a log-SD of 0.85 for the dose requirement (∝ CL·EC50) against 0.51 here — far wider
  than real stable doses left unexplained by covariates (pharmacogenetic equations explain 53–54 % of the dose variance,
  Gage et al. 2008, Clin Pharmacol Ther 84:326).
- **Amiodarone** (our assumption: the IWPC algorithm treats it as a dose covariate, Hamberg 2007 has no term):
  CL × 0.70. At steady state the dose requirement scales with CL, and published dose effects span −17 % to −55 %:
  IWPC 2009 ≈ −17 % (−0.5503 on √weekly dose), Gage 2008 (Clin Pharmacol Ther 84:326) −22 %, Sanoski & Bauman 2002
  (Chest 121:19) 25–40 % lower doses at amiodarone 100–400 mg/day (44 % mean maximum), Kerin 1988 (Arch Intern Med
  148:1779) −35 % (25–50 %), Almog et al. 1985 (Eur J Clin Pharmacol, PMID 4007030) warfarin clearance 1.4 vs 3.1 mL/min. −30 % is
  mid-range.
- **Residual noise** on the INR (σ = 0.0325, log scale) is applied to *measured* INRs only (simulator.py); the state and the
  "true" INR are deterministic given the patient's parameters.

Numerics: the PK part is linear, so each sub-step uses its exact solution (closed-form 2×2 matrix exponential plus the
absorption convolution). The transit chains are linear in their input u = 1 − E(C); each sub-step integrates them exactly for
an input that is linear between the sub-step's ends (exponential integrator with first-order hold). The only approximation
is that linear interpolation of u; short sub-steps follow each dose, where C changes fastest. Accuracy against
``scipy.integrate.solve_ivp`` is tested.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from math import factorial

import numpy as np
from scipy.integrate import solve_ivp
from scipy.special import gammainc

# --- Hamberg 2007 Table 2 (PK), as coded in ReiL hamberg_pkpd.py --------------------------------------------------------
CL_TYPICAL_L_PER_H = 0.314  # S-warfarin apparent oral clearance, CYP2C9 *1/*1, age 71
# Fractional CL reduction by CYP2C9 genotype, index = base.CYP2C9_GENOTYPES (*1/*1 *1/*2 *1/*3 *2/*2 *2/*3 *3/*3)
CYP2C9_CL_REDUCTION = np.array([0.0, 0.315, 0.453, 0.722, 0.690, 0.852])
AGE_CL_SLOPE_PER_YEAR = 0.0091  # CL falls ~9 % per decade, centred on 71 years (applied both sides, as ReiL argues)
AGE_CL_REFERENCE_YEARS = 71.0
V1_L = 13.8
V2_L = 6.59
Q_L_PER_H = 0.131
KA_PER_H = 2.0
OMEGA_CL, OMEGA_V1, OMEGA_V2 = 0.310, 0.262, 0.991
# --- Hamberg 2007 Table 4 (PD) -----------------------------------------------------------------------------------------
EMAX = 1.0
GAMMA = 0.424
EC50_MG_PER_L = np.array([4.61, 3.02, 2.20])  # index = base.VKORC1_GENOTYPES (G/G, G/A, A/A)
OMEGA_EC50 = 0.409
MTT1_H, OMEGA_MTT1 = 11.6, 0.141
MTT2_H, OMEGA_MTT2 = 120.0, 1.020
N_TRANSIT1 = 6
LAMBDA = 3.61
INR_MAX = 20.0  # Hamberg 2007 p. 538
INR_BASE = 1.0  # Hamberg fits BASE per patient; Ravvaz (and ReiL) fix it to 1
SIGMA_INR = 0.0325  # residual error of log INR
# --- our choices (see module docstring) --------------------------------------------------------------------------------
S_FRACTION = 0.5  # racemic warfarin is 1:1 R/S; only S is modelled
AMIODARONE_CL_FACTOR = 0.70  # our assumption, mid-range of IWPC/Gage/Sanoski/Kerin/Almog (module docstring); interactions.py
ETA_TRUNCATION_SD = 3.0
MIN_AGE_CL_FACTOR = 0.2  # keeps CL positive for implausible ages; never reached for ages 18–100

# State layout, shape (N_STATES, n): amounts of S-warfarin (mg) then the dimensionless transit compartments.
GUT, CENTRAL, PERIPHERAL = 0, 1, 2
CHAIN1 = slice(3, 3 + N_TRANSIT1)  # A1..A6
A6 = 3 + N_TRANSIT1 - 1
A7 = 3 + N_TRANSIT1
N_STATES = 4 + N_TRANSIT1

# Sub-steps (hours) of one day after the morning dose: short right after the dose, where absorption (ka = 2/h) moves C fast.
# Six sub-steps keep the INR within 0.002 of solve_ivp (rtol 1e-10) over 30 days of random doses (tested with < 0.005);
# uniform 1-h steps err 0.005, uniform 2-h steps 0.016.
DEFAULT_SUBSTEPS_H: tuple[float, ...] = (0.25, 0.75, 2.0, 5.0, 8.0, 8.0)


@dataclass
class HambergParams:
    """Per-patient model parameters, each shape (n,). ``transit1_per_mtt`` is the numerator of k_tr1 (6; 1 = paper text)."""

    cl_l_per_h: np.ndarray
    v1_l: np.ndarray
    v2_l: np.ndarray
    ec50_mg_per_l: np.ndarray
    mtt1_h: np.ndarray
    mtt2_h: np.ndarray
    q_l_per_h: float = Q_L_PER_H
    ka_per_h: float = KA_PER_H
    transit1_per_mtt: float = float(N_TRANSIT1)

    @property
    def n(self) -> int:
        return int(self.cl_l_per_h.shape[0])

    @property
    def ktr1_per_h(self) -> np.ndarray:
        return self.transit1_per_mtt / self.mtt1_h

    @property
    def ktr2_per_h(self) -> np.ndarray:
        return 1.0 / self.mtt2_h

    def take(self, idx: np.ndarray | slice) -> HambergParams:
        return HambergParams(
            self.cl_l_per_h[idx], self.v1_l[idx], self.v2_l[idx], self.ec50_mg_per_l[idx], self.mtt1_h[idx],
            self.mtt2_h[idx], self.q_l_per_h, self.ka_per_h, self.transit1_per_mtt,
        )

    @classmethod
    def from_hidden(cls, hidden: dict[str, np.ndarray], transit1_per_mtt: float = float(N_TRANSIT1)) -> HambergParams:
        """The parameters stored in ``Cohort.hidden`` by cohort.py (keys are the field names)."""
        return cls(
            cl_l_per_h=hidden["cl_l_per_h"], v1_l=hidden["v1_l"], v2_l=hidden["v2_l"], ec50_mg_per_l=hidden["ec50_mg_per_l"],
            mtt1_h=hidden["mtt1_h"], mtt2_h=hidden["mtt2_h"], transit1_per_mtt=transit1_per_mtt,
        )


def clearance_l_per_h(
    eta_cl: np.ndarray, age_years: np.ndarray, cyp2c9: np.ndarray, comedication_factor: np.ndarray
) -> np.ndarray:
    """S-warfarin CL (L/h) from its random effect and covariates; ``cyp2c9`` is the TRUE genotype code (0..5);
    ``comedication_factor`` the interactions' clearance factor (interactions.clearance_factor: 0.70 for amiodarone)."""
    age_factor = np.maximum(1.0 - AGE_CL_SLOPE_PER_YEAR * (age_years - AGE_CL_REFERENCE_YEARS), MIN_AGE_CL_FACTOR)
    return (CL_TYPICAL_L_PER_H * np.exp(eta_cl) * age_factor * (1.0 - CYP2C9_CL_REDUCTION[cyp2c9.astype(int)])
            * comedication_factor)


def initial_state(n: int) -> np.ndarray:
    """Drug-naive patients: no warfarin anywhere, every transit compartment at its baseline 1."""
    x = np.zeros((N_STATES, n))
    x[CHAIN1] = 1.0
    x[A7] = 1.0
    return x


def inflow(central_mg: np.ndarray, p: HambergParams) -> np.ndarray:
    """u = 1 − E(C): the share of clotting-factor synthesis left by the S-warfarin concentration C = central / V1."""
    cg = np.power(np.maximum(central_mg, 0.0) / p.v1_l, GAMMA)
    return _inflow_of(cg, p.ec50_mg_per_l**GAMMA)


def _inflow_of(cg: np.ndarray, ec50_gamma: np.ndarray) -> np.ndarray:
    """1 − E from C^γ and EC50^γ (broadcasting): the Emax model's one definition for every array path."""
    return 1.0 - EMAX * cg / (ec50_gamma + cg)


def inr_from_state(x: np.ndarray) -> np.ndarray:
    """The true INR (no residual error) of each patient; ``x`` is (N_STATES, n) or (N_STATES,)."""
    return inr_from_chains(x[A6], x[A7])


def inr_from_chains(a6: np.ndarray, a7: np.ndarray) -> np.ndarray:
    """The true INR from the last compartments of the two transit chains (any matching shapes)."""
    # minimum(maximum(·)), not np.clip: the same values, without np.clip's Python wrapper (called every simulated day)
    return INR_BASE + INR_MAX * np.power(np.minimum(np.maximum(1.0 - a6 * a7, 0.0), 1.0), LAMBDA)


def make_rhs(p: HambergParams, i: int = 0) -> Callable[[float, np.ndarray], np.ndarray]:
    """dy/dt (per hour) of patient ``i``'s full model for ``scipy.integrate.solve_ivp``; ``y`` is (N_STATES,).

    Written for speed with scalar constants (the naive reference in tests and bench/sim_throughput.py should not be slow
    because of Python overhead we could avoid).
    """
    k10 = float(p.cl_l_per_h[i] / p.v1_l[i])
    k12 = float(p.q_l_per_h / p.v1_l[i])
    k21 = float(p.q_l_per_h / p.v2_l[i])
    ka, v1 = float(p.ka_per_h), float(p.v1_l[i])
    ec50g = float(p.ec50_mg_per_l[i]) ** GAMMA
    k1, k2 = float(p.ktr1_per_h[i]), float(p.ktr2_per_h[i])

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        c = y[CENTRAL] / v1
        cg = c**GAMMA if c > 0.0 else 0.0
        u = 1.0 - EMAX * cg / (ec50g + cg)
        dy = np.empty(N_STATES)
        dy[GUT] = -ka * y[GUT]
        dy[CENTRAL] = ka * y[GUT] - (k10 + k12) * y[CENTRAL] + k21 * y[PERIPHERAL]
        dy[PERIPHERAL] = k12 * y[CENTRAL] - k21 * y[PERIPHERAL]
        dy[3] = k1 * (u - y[3])
        dy[4:A7] = k1 * (y[3:A6] - y[4:A7])
        dy[A7] = k2 * (u - y[A7])
        return dy

    return rhs


def solve_ivp_inr(
    p: HambergParams, daily_dose_s_mg: np.ndarray, method: str = "RK45", rtol: float = 1e-3, atol: float = 1e-6
) -> np.ndarray:
    """True INR at the end of each day (n, days), integrating each patient on its own with ``solve_ivp`` and restarting
    at every morning dose (a bolus into the gut). The naive baseline; defaults are solve_ivp's own tolerances."""
    n, days = daily_dose_s_mg.shape
    out = np.empty((n, days))
    for i in range(n):
        rhs = make_rhs(p, i)
        y = initial_state(1)[:, 0]
        for d in range(days):
            y = y.copy()
            y[GUT] += daily_dose_s_mg[i, d]
            y = solve_ivp(rhs, (0.0, 24.0), y, method=method, rtol=rtol, atol=atol).y[:, -1]
            out[i, d] = inr_from_state(y)
    return out


@dataclass
class _StepCoefficients:
    """Exact one-sub-step maps for a sub-step of length h, each array (n,) or stacked as noted. When every patient has the
    same transit rates (the forecast's twins: MTT at its typical value) the chain arrays have one column, (·, 1), which
    broadcasts, and ``chain1_matrix`` is the single (6, 6) map: computed once instead of n times (build of 42,000 twins
    99 → 22 ms) and applied as one matrix product."""

    gut_decay: float
    pk: np.ndarray  # (2, 3, n): rows central/peripheral; columns gut/central/peripheral
    chain1_matrix: np.ndarray  # (6, 6, n) or (6, 6): M[i, k] = c_{i−k} for i ≥ k, else 0, c_j = e^{-kh}(kh)^j / j!
    chain1_w0: np.ndarray  # (6, n) or (6, 1): weight of u at the sub-step start
    chain1_w1: np.ndarray  # (6, n) or (6, 1): weight of u at the sub-step end
    chain2: np.ndarray  # (3, n) or (3, 1): decay, w0, w1

    def chain1_step(self, chain: np.ndarray) -> np.ndarray:
        """M applied to each patient's transit chain (6, n)."""
        if self.chain1_matrix.ndim == 2:
            return self.chain1_matrix @ chain
        return np.einsum("ikn,kn->in", self.chain1_matrix, chain)


def _pk_coefficients(p: HambergParams, h: float) -> np.ndarray:
    """Exact PK transition over h hours: the 2×2 disposition exponential (Sylvester's formula) and the gut convolution."""
    out = np.empty((2, 3, p.n))
    out[0, 0], out[0, 1], out[0, 2], out[1, 0], out[1, 1], out[1, 2] = _pk_maps(p, h)
    return out


def _pk_maps(p: HambergParams, h: float | np.ndarray) -> tuple[np.ndarray, ...]:
    """The six entries of the exact PK transition over ``h`` hours, broadcasting ``h`` against the (n,) parameters:
    gut, central, peripheral → central, then the same → peripheral."""
    k10, k12, k21, ka = p.cl_l_per_h / p.v1_l, p.q_l_per_h / p.v1_l, p.q_l_per_h / p.v2_l, p.ka_per_h
    m11, m12, m21, m22 = -(k10 + k12), k21, k12, -k21
    s = k10 + k12 + k21
    root = np.sqrt(s * s - 4.0 * k10 * k21)
    lam1, lam2 = -(s + root) / 2.0, -(s - root) / 2.0  # −α, −β (distinct: root > 0 whenever CL > 0)
    e1, e2 = np.exp(lam1 * h), np.exp(lam2 * h)
    d = lam1 - lam2

    def sylvester(m_ij: np.ndarray | float, diag: bool) -> np.ndarray:
        i1 = 1.0 if diag else 0.0
        return (e1 * (m_ij - lam2 * i1) - e2 * (m_ij - lam1 * i1)) / d

    # Gut → central/peripheral: ka·Σ_i P_i e1 · (e^{λ_i h} − e^{−ka h}) / (ka + λ_i), P_i the spectral projectors of M.
    eka = np.exp(-ka * h)
    g1 = (e1 - eka) / (ka + lam1)
    g2 = (e2 - eka) / (ka + lam2)
    gut_c = ka * ((m11 - lam2) * g1 - (m11 - lam1) * g2) / d
    gut_p = ka * (m21 * g1 - m21 * g2) / d
    return gut_c, sylvester(m11, True), sylvester(m12, False), gut_p, sylvester(m21, False), sylvester(m22, True)


def _chain_input_weights(kh: np.ndarray, n_comp: int) -> tuple[np.ndarray, np.ndarray]:
    """(w0, w1), each (n_comp, n): compartment i's response to an input linear from u0 to u1 over the sub-step.

    For identical rates k the response of compartment i to a unit input is the Gamma(i, k) CDF P_i; for a ramp
    A_i = u0 · i·P_{i+1}/(kh) + u1 · (P_i − i·P_{i+1}/(kh)) (integrate τ·g_i(τ) = (i/k)·g_{i+1}(τ)).
    """
    i = np.arange(1, n_comp + 1)[:, None]
    p_i = gammainc(i, kh[None, :])
    p_next = gammainc(i + 1, kh[None, :])
    w0 = i * p_next / kh[None, :]
    return w0, p_i - w0


def _shared(values: np.ndarray) -> np.ndarray:
    """``values`` (n,), or its one value as (1,) when all n are equal."""
    return values[:1] if values.size and np.all(values == values[0]) else values


_POWERS = np.arange(N_TRANSIT1)[:, None]  # j of c_j, as a column
_FACTORIALS = np.array([factorial(j) for j in range(N_TRANSIT1)], dtype=float)[:, None]
_LOWER = (_POWERS - _POWERS.T) >= 0  # i ≥ k
_LAG = np.clip(_POWERS - _POWERS.T, 0, None)  # i − k where it is ≥ 0


def _chain_maps(kh1: np.ndarray, kh2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The transit chains' sub-step maps for rates × sub-step ``kh1``, ``kh2`` (m,): the (6, 6, m) Poisson matrix, chain 1's
    input weights w0, w1 (6, m), and chain 2's (decay, w0, w1) (3, m)."""
    toeplitz = np.exp(-kh1)[None, :] * kh1[None, :] ** _POWERS / _FACTORIALS
    w0, w1 = _chain_input_weights(kh1, N_TRANSIT1)
    c0, c1 = _chain_input_weights(kh2, 1)
    matrix = np.where(_LOWER[:, :, None], toeplitz[_LAG], 0.0)
    return matrix, w0, w1, np.stack([np.exp(-kh2), c0[0], c1[0]])


@lru_cache(maxsize=64)
def _shared_chain_maps(kh1: float, kh2: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``_chain_maps`` of one shared pair of rates, the matrix as (6, 6): the forecast builds twins with the same typical
    rates on every request, so the numbers are computed once per process (read-only arrays)."""
    matrix, w0, w1, chain2 = _chain_maps(np.array([kh1]), np.array([kh2]))
    out = (matrix[:, :, 0], w0, w1, chain2)
    for a in out:
        a.flags.writeable = False
    return out


def _step_coefficients(p: HambergParams, h: float) -> _StepCoefficients:
    ktr1, ktr2 = _shared(p.ktr1_per_h), _shared(p.ktr2_per_h)
    if ktr1.size != ktr2.size:  # one rate shared, the other not: per patient
        ktr1, ktr2 = np.broadcast_to(ktr1, (p.n,)), np.broadcast_to(ktr2, (p.n,))
    if ktr1.size == 1 != p.n:
        matrix, w0, w1, chain2 = _shared_chain_maps(float(ktr1[0] * h), float(ktr2[0] * h))
    else:
        matrix, w0, w1, chain2 = _chain_maps(ktr1 * h, ktr2 * h)
    return _StepCoefficients(
        gut_decay=float(np.exp(-p.ka_per_h * h)), pk=_pk_coefficients(p, h), chain1_matrix=matrix,
        chain1_w0=w0, chain1_w1=w1, chain2=chain2,
    )


class DayPropagator:
    """Advances N patients by one day: an oral bolus into the gut at the start, then the fixed sub-steps.

    All coefficients are computed once per cohort; a sub-step costs about 25 numpy calls on (n,)-sized arrays.
    """

    def __init__(self, params: HambergParams, substeps_h: tuple[float, ...] = DEFAULT_SUBSTEPS_H) -> None:
        if abs(sum(substeps_h) - 24.0) > 1e-9:
            raise ValueError(f"sub-steps must sum to 24 h, got {sum(substeps_h)}")
        self.params = params
        self.substeps_h = substeps_h
        self._coef = {h: _step_coefficients(params, h) for h in sorted(set(substeps_h))}
        self._ec50_gamma = params.ec50_mg_per_l**GAMMA

    def _inflow(self, central_mg: np.ndarray) -> np.ndarray:
        cg = np.power(np.maximum(central_mg, 0.0) / self.params.v1_l, GAMMA)
        return _inflow_of(cg, self._ec50_gamma)

    def advance_day(self, x: np.ndarray, dose_s_mg: np.ndarray) -> np.ndarray:
        """Give ``dose_s_mg`` of S-warfarin (n,) now and return the state (N_STATES, n) 24 h later (``x`` is updated)."""
        x[GUT] += dose_s_mg
        u0 = self._inflow(x[CENTRAL])
        for h in self.substeps_h:
            c = self._coef[h]
            # central and peripheral from gut/central/peripheral: one (2 × 3) map per patient, one call
            x[CENTRAL : PERIPHERAL + 1] = np.einsum("ijn,jn->in", c.pk, x[GUT : PERIPHERAL + 1])
            x[GUT] *= c.gut_decay
            u1 = self._inflow(x[CENTRAL])
            # Each transit compartment i receives from every earlier one k the Poisson share c_{i−k} (one product).
            x[CHAIN1] = c.chain1_w0 * u0 + c.chain1_w1 * u1 + c.chain1_step(x[CHAIN1])
            x[A7] = c.chain2[0] * x[A7] + c.chain2[1] * u0 + c.chain2[2] * u1
            u0 = u1
        return x


# --- whole paths at once (the twin forecast) ---------------------------------------------------------------------------
# When every dose is known before the simulation starts (a forecast's replay and its two plans), nothing feeds back, and
# the model's structure allows the whole path in a few array operations instead of a loop over days and sub-steps: the PK
# is linear and time-invariant, so the central amount at every sub-step boundary is the start state's free response plus
# a superposition of the doses' bolus responses (the same exact maps DayPropagator applies one sub-step at a time); the
# transit chains are linear in u = 1 − E(C) with the same first-order-hold maps, so the chains' last compartments at the
# end of each day are fixed linear combinations of u at the boundaries and of the chains' common start value. Same
# equations and sub-steps, summed in another order: the INR agrees with DayPropagator's to rounding
# (tests/unit/test_warfarin_twin.py).


def _boundary_times(days: int, substeps_h: tuple[float, ...]) -> np.ndarray:
    """Hours from the first dose to each sub-step boundary: day d's boundaries are 24d + the sub-steps' start offsets,
    then the end 24·days; (days + 1)·S entries, the first days·S + 1 of them the path's boundaries."""
    offsets = np.concatenate([[0.0], np.cumsum(substeps_h)[:-1]])
    return (24.0 * np.arange(days + 1)[:, None] + offsets[None, :]).ravel()


@lru_cache(maxsize=128)
def _bolus_lags(days: int, n_sub: int) -> tuple[np.ndarray, np.ndarray]:
    """For boundary j and day d: the index of the lag t_j − 24d in ``_boundary_times`` (j − d·S), clipped, and whether
    dose d was given by then (j ≥ d·S). (T, days) each, read-only."""
    t = days * n_sub + 1
    lag = np.arange(t)[:, None] - n_sub * np.arange(days)[None, :]
    given = lag >= 0
    lag = np.maximum(lag, 0)
    lag.flags.writeable = given.flags.writeable = False
    return lag, given


@lru_cache(maxsize=128)
def _chain_response(days: int, substeps_h: tuple[float, ...], ktr1_per_h: float, ktr2_per_h: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """A6 and A7 at the end of each day as linear functions of u at the T = days·S + 1 boundaries and of the chains'
    common start value: two (T + 1, days) matrices, row T the start value's weight. Found by running DayPropagator's
    chain recurrence once on coefficient vectors instead of numbers; one set per path length and rates (read-only)."""
    n_sub = len(substeps_h)
    t = days * n_sub + 1
    maps = [_shared_chain_maps(float(ktr1_per_h * h), float(ktr2_per_h * h)) for h in substeps_h]
    chain = np.zeros((N_TRANSIT1, t + 1))
    chain[:, t] = 1.0
    a7 = np.zeros(t + 1)
    a7[t] = 1.0
    r6, r7 = np.empty((t + 1, days)), np.empty((t + 1, days))
    for j in range(t - 1):
        matrix, w0, w1, chain2 = maps[j % n_sub]
        chain = matrix @ chain
        chain[:, j] += w0[:, 0]
        chain[:, j + 1] += w1[:, 0]
        a7 = chain2[0, 0] * a7
        a7[j] += chain2[1, 0]
        a7[j + 1] += chain2[2, 0]
        if (j + 1) % n_sub == 0:
            r6[:, (j + 1) // n_sub - 1], r7[:, (j + 1) // n_sub - 1] = chain[-1], a7
    r6.flags.writeable = r7.flags.writeable = False
    return r6, r7


def inr_paths(params: HambergParams, ec50_mg_per_l: np.ndarray, dose_s_mg: np.ndarray, start_s_mg_per_day: np.ndarray,
              substeps_h: tuple[float, ...] = DEFAULT_SUBSTEPS_H) -> np.ndarray:
    """True INR at the end of each day, (n, P, G, days), for n patients under P dose plans and G EC50 values at once.

    ``params``: the n patients (CL, V1, V2, transit times; its EC50 is not used, and the transit rates must be shared by
    all, as the forecast's typical-value twins have them); ``ec50_mg_per_l`` (n, G); ``dose_s_mg`` (n, P, days): the
    S-warfarin given at the start of each day; ``start_s_mg_per_day`` (n,): each patient starts at the continuous-infusion
    steady state of this S-warfarin rate (0 = drug-naive), the state the forecast's steady start sets. What
    DayPropagator.advance_day and inr_from_state give day by day from the same start (see the comment above).
    """
    n, plans, days = dose_s_mg.shape
    if n == 0:
        return np.empty((0, plans, ec50_mg_per_l.shape[1], days))
    ktr1, ktr2 = _shared(params.ktr1_per_h), _shared(params.ktr2_per_h)
    if ktr1.size != 1 or ktr2.size != 1:
        raise ValueError("inr_paths needs transit rates shared by all patients")
    times = _boundary_times(days, substeps_h)
    t = days * len(substeps_h) + 1
    gut_c, c_c, p_c = (m.T for m in _pk_maps(params, times[:, None])[:3])  # (n, (days + 1)·S)
    lag, given = _bolus_lags(days, len(substeps_h))
    bolus = np.where(given, gut_c[:, lag], 0.0)  # (n, T, days): central amount at boundary j per mg given on day d
    c_ss = start_s_mg_per_day / 24.0 / params.cl_l_per_h  # mg/L: infusion rate / CL; peripheral at C·V2 (Q·C1 = Q·C2)
    central = (dose_s_mg @ bolus.transpose(0, 2, 1)
               + ((c_ss * params.v1_l)[:, None] * c_c[:, :t] + (c_ss * params.v2_l)[:, None] * p_c[:, :t])[:, None, :])
    ec50_g = (ec50_mg_per_l**GAMMA)[:, None, :, None]  # (n, 1, G, 1)
    cg = np.power(np.maximum(central, 0.0) / params.v1_l[:, None, None], GAMMA)[:, :, None, :]  # (n, P, 1, T)
    u = _inflow_of(cg, ec50_g)  # (n, P, G, T)
    cg0 = np.power(c_ss, GAMMA)[:, None, None, None]
    start = _inflow_of(cg0, ec50_g)  # the chains' start value: u at the steady concentration
    r6, r7 = _chain_response(days, tuple(substeps_h), float(ktr1[0]), float(ktr2[0]))
    return inr_from_chains(u @ r6[:t] + start * r6[t], u @ r7[:t] + start * r7[t])
