"""Fasting glucose–insulin model for type 2 diabetes on basal insulin, vectorized over N patients.

Model: the modified Kanderian ("Medtronic virtual patient") model for T2D of Aradóttir et al. 2019, as coded in the public
repository ``dinesh-krishnamoorthy/Diabetes-Model-free-Titration`` (``T2D/paper/MVP_T2D.m``, ``mainLS.m``,
``main_50patients.m``; ../shared/clinical.md §2 [checked]). Time in days::

    dIs/dt = (u − Is)/τ1                    subcutaneous insulin            [U/day]
    dIp/dt = (Is/CL − Ip)/τ1                plasma insulin                  [U/day]   (CL ≡ 1 in Aradóttir; see below)
    dIe/dt = p2·(Ip + B·G) − p2·Ie          insulin effect                  [U/day]
    dG/dt  = −(GEZI + SI·Ie)·G + EGP        plasma glucose                  [mmol/L]

τ1 0.5 d, p2 15.8 /d, GEZI 3.31 /d (Kanderian means, as in the public code); per patient SI [1/U], EGP [mmol/L/day], B.
A daily dose of D units enters as u = 24·D U/day during the first hour of the day (``mainLS.m``: ``u0 = 5*24`` held for one
hour of 6-minute steps).

**Dosewise extension, not Aradóttir's — renal insulin clearance.** The original Kanderian model divides the subcutaneous
flux by a clearance CI (Ip_ss = Is/CI); the T2D version normalises CI to 1. We put a *relative* clearance CL(eGFR) back in
front of exogenous insulin, so a patient with CL = 0.75 gets 1/0.75 = 1.33 × the plasma insulin from the same dose. CL
follows the renal dose-reduction rule of Snyder & Berns 2004 (Semin Dial 17:365; also in Iglesias & Díez 2008, Diabetes
Obes Metab 10:811; citation details recalled) [secondary, ../shared/clinical.md §2 "Renal impairment"]: GFR > 50 mL/min
no change, 10–50 → 75 % of the dose, < 10 → 50 %. Other sources are more aggressive (clinical.md: "sources disagree"); we
keep this one and say so. We smooth the two steps with linear ramps of ±5 mL/min around each cut-off (assumption, so that
the effect is continuous in eGFR).
The endogenous term B·G is left unchanged: endogenous insulin passes the liver first, so the kidney's share of its clearance
is smaller than for subcutaneous insulin (Rabkin et al. 1984, Diabetologia 27:351) [unverified, recalled].

Integration: Euler–Maruyama-type steps of 6 minutes as in the public code, with the drift advanced by an exponential
(integrating-factor) update — exact for Is and Ip, and for Ie and G with the coupling frozen over one step — so that large
insulin effects (k = GEZI + SI·Ie up to ~500 /day) stay stable, where plain Euler at 6 minutes would not. Process noise of
intensity σ is added to all four states as in the public code (σ per patient, ``main_50patients.m``: σ = |2 + N(0, 1)|),
each with the exact variance of its own Ornstein–Uhlenbeck relaxation over the step, σ²(1 − e^(−2λdt))/(2λ); this tends to
the public code's σ²·dt as dt → 0, and keeps fasting-glucose statistics independent of the step size (checked by hand
for 3000 nominal patients at 20 U/day: mean and SD of fasting G agree within 1 % / 4 % between 1- and 30-minute steps).
Deterministic error vs LSODA: ≈ 0.2 % at 6 minutes (tests/unit/test_insulin_twin.py). ``SimConfig.dt_minutes`` trades
accuracy for speed (≈ 0.6 % at 30 minutes, ~4× faster).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dosewise.therapies.base import FloatArray

# Population constants — Kanderian et al. means, as used by Aradóttir 2019 / Krishnamoorthy (clinical.md §2) [checked].
TAU1_DAYS = 0.5  # subcutaneous and plasma insulin time constant, days
P2_PER_DAY = 15.8  # insulin-action delay rate, 1/day
GEZI_PER_DAY = 3.31  # glucose effectiveness at zero insulin, 1/day

# Nominal patient (clinical.md §2; ``mainLS.m``: d_in = [1.8; 368; 1.27]).
NOMINAL_SI = 1.8  # 1/U
NOMINAL_EGP = 368.0  # mmol/L/day
NOMINAL_B = 1.27  # U·L/(mmol·day)

INFUSION_HOURS = 1.0  # a daily dose D enters as 24·D/INFUSION_HOURS U/day for this long (``mainLS.m``)
G_FLOOR_MMOL_L = 0.5  # numerical floor: the noise term must not drive glucose negative (not in the public code)

# Snyder & Berns 2004 renal dose rule as relative insulin clearance vs eGFR (mL/min/1.73 m²), with ±5 ramps (see docstring).
_RENAL_EGFR_KNOTS = np.array([5.0, 15.0, 45.0, 55.0])
_RENAL_CL_VALUES = np.array([0.5, 0.75, 0.75, 1.0])


def renal_clearance_factor(egfr_ml_min_1_73m2: FloatArray) -> FloatArray:
    """Relative exogenous-insulin clearance (1 = normal) from eGFR — Dosewise's extension (module docstring).

    It equals the fraction of the usual dose that gives the usual effect: 1.0 above ~55, 0.75 for 15–45, 0.5 below 5.
    Unknown (NaN) eGFR is treated as normal renal function.
    """
    egfr = np.asarray(egfr_ml_min_1_73m2, dtype=float)
    return np.where(np.isnan(egfr), 1.0, np.interp(np.nan_to_num(egfr, nan=100.0), _RENAL_EGFR_KNOTS, _RENAL_CL_VALUES))


@dataclass
class PatientParams:
    """Per-patient model parameters (hidden from any policy), each (n,)."""

    si: FloatArray  # insulin sensitivity, 1/U (before any mid-course change)
    egp: FloatArray  # endogenous glucose production, mmol/L/day
    b: FloatArray  # endogenous insulin coefficient
    clearance: FloatArray  # relative exogenous-insulin clearance (Dosewise renal extension), 1 = normal
    sigma: FloatArray  # process-noise intensity, state units/√day

    @classmethod
    def nominal(cls, n: int = 1, clearance: float = 1.0, sigma: float = 0.0) -> PatientParams:
        """The nominal patient of clinical.md §2, repeated n times."""
        return cls(
            si=np.full(n, NOMINAL_SI), egp=np.full(n, NOMINAL_EGP), b=np.full(n, NOMINAL_B),
            clearance=np.full(n, clearance), sigma=np.full(n, sigma),
        )


def rhs(x: FloatArray, u: FloatArray | float, si: FloatArray, p: PatientParams) -> FloatArray:
    """The drift f(x) for states x (4, n) = (Is, Ip, Ie, G), input u in U/day. Used by reference integrations (solve_ivp)."""
    i_s, i_p, i_e, g = x
    return np.stack([
        (u - i_s) / TAU1_DAYS,
        (i_s / p.clearance - i_p) / TAU1_DAYS,
        P2_PER_DAY * (i_p + p.b * g) - P2_PER_DAY * i_e,
        -(GEZI_PER_DAY + si * i_e) * g + p.egp,
    ])


def untreated_glucose_mmol_l(si: FloatArray, egp: FloatArray, b: FloatArray, ip: FloatArray | float = 0.0) -> FloatArray:
    """Equilibrium G with constant plasma insulin Ip: SI·B·G² + (GEZI + SI·Ip)·G − EGP = 0, positive root."""
    a = si * b
    bb = GEZI_PER_DAY + si * ip
    return (-bb + np.sqrt(bb * bb + 4.0 * a * egp)) / (2.0 * a)


def equilibrium(p: PatientParams, dose_u_per_day: FloatArray | float, si: FloatArray | None = None) -> FloatArray:
    """Steady state (4, n) under *continuous* delivery of ``dose_u_per_day`` (u = D). With D = 0: the insulin-naive state.

    This is the steady state ../shared/clinical.md §2 quotes (12.0 / 6.7 / 5.0 mmol/L at 0 / 20 / 32.7 U/day, nominal patient).
    Under the reference's once-daily one-hour injection the 24-h mean glucose matches it within 1 %, but the fasting sample
    taken just before the next injection is higher — 7.51 / 5.81 mmol/L at 20 / 32.7 U/day — because plasma insulin falls to
    ≈ 0.74 × its daily mean by then (τ1 = 0.5 d). The simulator reports that pre-dose value as fasting glucose.
    """
    s = p.si if si is None else si
    d = np.broadcast_to(np.asarray(dose_u_per_day, dtype=float), s.shape)
    i_p = d / p.clearance
    g = untreated_glucose_mmol_l(s, p.egp, p.b, i_p)
    return np.stack([d.copy(), i_p, i_p + p.b * g, g])


@dataclass
class DayResult:
    """What one simulated day returns besides the new state: the 24-h mean glucose (for the ADAG HbA1c estimate)."""

    x: FloatArray  # (4, n) state at the end of the day (the next fasting sample)
    mean_glucose_mmol_l: FloatArray  # (n,) time-average of G over the day
    min_glucose_mmol_l: FloatArray | None = None  # (n,) lowest G at a step's end over the day (a clinic twin's 24-h minimum)


def _day_steps(dt_minutes: float, infusion_hours: float) -> tuple[int, float, int, float, float, float]:
    """A day's integration grid and its exact one-step factors: (steps, dt in days, injection steps, e^(−dt/τ1),
    (dt/τ1)·e^(−dt/τ1), e^(−p2·dt))."""
    steps = round(24 * 60 / dt_minutes)
    dt = 1.0 / steps  # days
    n_inf = round(infusion_hours * 60 / dt_minutes)
    if not np.isclose(n_inf * dt_minutes, infusion_hours * 60) or n_inf < 1 or n_inf > steps:
        raise ValueError(f"infusion of {infusion_hours} h must be a whole number of {dt_minutes}-minute steps within a day")
    a = float(np.exp(-dt / TAU1_DAYS))
    return steps, dt, n_inf, a, (dt / TAU1_DAYS) * a, float(np.exp(-P2_PER_DAY * dt))


def advance_day(
    x: FloatArray,
    dose_u: FloatArray,
    si: FloatArray,
    p: PatientParams,
    rng: np.random.Generator | None,
    dt_minutes: float = 6.0,
    infusion_hours: float = INFUSION_HOURS,
) -> DayResult:
    """Advance every patient one day: ``dose_u`` (n,) injected over the first ``infusion_hours``, then nothing.

    ``rng=None`` or σ = 0 → deterministic. ``infusion_hours=24`` gives continuous delivery (for steady-state checks).
    Vectorized over patients; the only Python loop is over the ~240 time steps of the day.
    """
    steps, dt, n_inf, a, ta, e2 = _day_steps(dt_minutes, infusion_hours)
    u_on = np.asarray(dose_u, dtype=float) * (24.0 / infusion_hours)  # U/day while infusing
    x = np.array(x, dtype=float, copy=True)
    i_s, i_p, i_e, g = x  # views into x, updated in place
    cl, inv_cl = p.clearance, 1.0 / p.clearance
    noisy = rng is not None and bool(np.any(p.sigma > 0))
    # Noise: the exact variance of each state's own Ornstein–Uhlenbeck relaxation over one step, σ²(1 − e^(−2λdt))/(2λ),
    # which tends to Euler–Maruyama's σ²·dt as dt → 0 but does not inflate the variance of fast states (G relaxes at
    # λ = GEZI + SI·Ie ≈ 30–500 /day) at larger steps.
    ou = np.array([_ou_scale(1.0 / TAU1_DAYS, dt), _ou_scale(1.0 / TAU1_DAYS, dt), _ou_scale(P2_PER_DAY, dt)])
    sig_insulin = ou[:, None] * p.sigma[None, :]
    g_sum = np.zeros_like(g)
    g_min = np.full_like(g, np.inf)
    n = g.shape[0]
    kk = np.empty_like(g)
    decay = np.empty_like(g)
    for k in range(steps):
        u = u_on if k < n_inf else 0.0
        # Is, Ip: exact solution of the linear chain with u constant over the step.
        d_s = i_s - u
        ip_old = i_p.copy()
        i_p *= cl
        i_p -= u
        i_p *= a
        i_p += u + d_s * ta
        i_p *= inv_cl
        np.multiply(d_s, a, out=i_s)
        i_s += u
        # Ie: exponential step towards Ip + B·G (Ip at mid-step, G frozen).
        target = 0.5 * (ip_old + i_p) + p.b * g
        i_e -= target
        i_e *= e2
        i_e += target
        # G: exponential step towards EGP/k with k = GEZI + SI·Ie frozen.
        np.multiply(si, i_e, out=kk)
        kk += GEZI_PER_DAY
        g_eq = p.egp / kk
        np.multiply(kk, -dt, out=decay)
        np.exp(decay, out=decay)
        g -= g_eq
        g *= decay
        g += g_eq
        if noisy:
            assert rng is not None
            z = rng.standard_normal((4, n), dtype=np.float32)
            x[:3] += z[:3] * sig_insulin
            # exact OU scale for G with its current rate: σ·sqrt((1 − decay²)/(2k))
            g += z[3] * p.sigma * np.sqrt((1.0 - decay * decay) / (2.0 * kk))
            np.maximum(i_e, 0.0, out=i_e)
            np.maximum(g, G_FLOOR_MMOL_L, out=g)
        g_sum += g
        np.minimum(g_min, g, out=g_min)
    return DayResult(x=x, mean_glucose_mmol_l=g_sum / steps, min_glucose_mmol_l=g_min)


def fasting_paths(si: FloatArray, egp: FloatArray, b: FloatArray, clearance: FloatArray, start_dose: FloatArray,
                  doses: FloatArray, dt_minutes: float = 6.0, infusion_hours: float = INFUSION_HOURS) -> FloatArray:
    """Noise-free ``advance_day`` over every day of known doses at once, for m dose paths × G twins each (a forecast's
    sensitivity grid): glucose (mmol/L) at the end of each day, the next fasting sample, (m, G, L).

    ``si`` (m, G); ``egp``, ``b``, ``clearance``, ``start_dose`` (m,); ``doses`` (m, L) U/day. Each row starts in
    ``equilibrium`` under its start dose (0: insulin-naive). Is and Ip do not depend on glucose, so they are computed once
    per dose path instead of once per twin, and in closed form after the injection (u = 0: Is_j = aʲ·Is₀ and
    Ip_j·CL = aʲ·Ip₀·CL + j·(dt/τ1)·aʲ·Is₀, the exact solution ``advance_day`` steps through); only Ie and G are stepped.
    Equal to ``advance_day`` day after day to rounding (tests/unit/test_insulin_twin.py)."""
    steps, dt, n_inf, a, ta, e2 = _day_steps(dt_minutes, infusion_hours)
    j = np.arange(steps - n_inf + 1)
    a_j, lin_j = a ** j, j * ta * a ** np.maximum(j - 1, 0)  # Ip's closed form after the injection, per step j
    cl = np.asarray(clearance, dtype=float)
    i_s = np.array(start_dose, dtype=float)
    i_p = i_s / cl
    b_col, egp_col = np.asarray(b, dtype=float)[:, None], np.asarray(egp, dtype=float)[:, None]
    si = np.asarray(si, dtype=float)
    g = untreated_glucose_mmol_l(si, b=b_col, egp=egp_col, ip=i_p[:, None])  # (m, G) as ``equilibrium``
    i_e = i_p[:, None] + b_col * g
    doses = np.asarray(doses, dtype=float)
    out = np.empty((*si.shape, doses.shape[1]))
    kk, decay = np.empty_like(g), np.empty_like(g)
    ip_mid = np.empty((cl.shape[0], steps))
    for day in range(doses.shape[1]):
        u = doses[:, day] * (24.0 / infusion_hours)
        for k in range(n_inf):  # during the injection: ``advance_day``'s update as it is
            d_s = i_s - u
            ip_new = ((i_p * cl - u) * a + u + d_s * ta) / cl
            ip_mid[:, k] = 0.5 * (i_p + ip_new)
            i_p, i_s = ip_new, d_s * a + u
        ip_bounds = (i_p * cl)[:, None] * a_j + i_s[:, None] * lin_j  # Ip·CL at each later step boundary
        ip_bounds /= cl[:, None]
        ip_mid[:, n_inf:] = 0.5 * (ip_bounds[:, :-1] + ip_bounds[:, 1:])
        i_p, i_s = ip_bounds[:, -1], i_s * a_j[-1]
        for k in range(steps):
            target = ip_mid[:, k, None] + b_col * g
            i_e -= target
            i_e *= e2
            i_e += target
            np.multiply(si, i_e, out=kk)
            kk += GEZI_PER_DAY
            g_eq = egp_col / kk
            np.multiply(kk, -dt, out=decay)
            np.exp(decay, out=decay)
            g -= g_eq
            g *= decay
            g += g_eq
        out[:, :, day] = g
    return out


def _ou_scale(rate_per_day: float, dt_days: float) -> float:
    """Standard deviation per unit σ of an Ornstein–Uhlenbeck increment over dt: sqrt((1 − e^(−2·rate·dt)) / (2·rate))."""
    return float(np.sqrt(-np.expm1(-2.0 * rate_per_day * dt_days) / (2.0 * rate_per_day)))
