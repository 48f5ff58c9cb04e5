"""The Stengel et al. 2002 innate-immune model, vectorized over N patients (fixed-step RK4, no Python loop over patients).

Source: R. F. Stengel, R. Ghigliazza, N. Kulkarni, O. Laplace, "Optimal control of innate immune response", Optim. Control
Appl. Meth. 2002;23:91–104 (DOI 10.1002/oca.704). Equations and parameters as in ../shared/clinical.md §3:

    ẋ1 = (a11 − a12·x3)·x1 + b1·u1                       pathogen concentration
    ẋ2 = a21(x4)·a22·x1·x3 − a23·(x2 − x2*) + b2·u2       plasma-cell concentration
    ẋ3 = a31·x2 − (a32 + a33·x1)·x3 + b3·u3              antibody concentration
    ẋ4 = a41·x1 − a42·x4 + b4·u4                         organ damage (0 healthy; x4 ≥ 1 is death)
    a21(x4) = cos(π·x4) for x4 ≤ 0.5, else 0             a damaged organ stops supporting plasma-cell production

    a11 1, a12 1, a22 3, a23 1, x2* 2, a31 1, a32 1.5, a33 0.5, a41 0.5, a42 1; b = (−1, 1, 1, −1).

What we could verify (``search`` over public literature and code, this issue): the paper's summary (OCAM 23:91, transcript on
studyres.com) and the companion abstract (Stengel, Ghigliazza, Kulkarni, Bioinformatics 2002;18:1227) confirm the four
states (pathogen, plasma cells, antibodies, organ health), the four agents (pathogen killer, plasma-cell and antibody
stimulators, organ-health agent) and the four uncontrolled behaviours ("sub-clinical or clinical decay, chronic stabilization,
or unrestrained lethal growth of the pathogen ... depending on the initial conditions"). We found no public copy of the
equations or the parameter table, so those remain **[unverified]** (recalled in clinical.md). Their structure is Marchuk's
"simplest model of an infectious disease" (G. I. Marchuk, Mathematical Modelling of Immune Response in Infectious Diseases,
Kluwer 1997, ch. 1) without its time delay: V̇ = (β − γF)V, Ċ = ξ(m)αVF − μc(C − C*), Ḟ = ρC − (μf + ηγV)F, ṁ = σV − μm·m,
with ξ(m) a decreasing organ-damage factor — each term of the equations above maps onto one of these. The tests reproduce
the four courses clinical.md describes (tests/unit/test_immune_twin.py).

Units: all states, parameters and time are **nondimensional** in the paper. Dosewise reads one model time unit as one day
(``TIME_UNIT_DAYS``) — our convention, not the paper's: it makes the untreated lethal course kill within 1–9 days and the
clinical course resolve in about 9–14, the time scale of an acute bacterial infection.

The "chronic" case — our finding (../shared/clinical.md §3 left it open)
    With the nominal values there is **no stable chronic state**; "chronic" is a long transient near a saddle point.
    An infected equilibrium needs x3 = a11/a12, x4 = (a41/a42)·x1 and x2 = (a32 + a33·x1)·x3/a31, and then
    f(x1) = a21(x4)·a22·x3·x1 − a23·(x2 − x2*) = 0. At the nominal values the only root is E* = (x1, x2, x3, x4) =
    (1, 2, 1, 0.5), exactly at the kink of a21. On its a21 = 0 side the Jacobian has eigenvalues −1 (x2), −1 (x4) and
    −1 ± √1.5 from the (x1, x3) block, i.e. one unstable direction with λ = √1.5 − 1 ≈ 0.225: E* is a saddle. Loads near the
    separatrix x1(0) ≈ 2.5612 (from x2 = 2, x3 = 4/3, x4 = 0; found by bisection with solve_ivp) ride its stable manifold
    into E* and linger there for about ln(1/|x1(0) − 2.5612|)/0.225 time units before clearing (below) or dying (above);
    ≈ 10.2 more time units per decade closer, without bound. x1(0) = 2.6 is such a course: pathogen ≈ 1.1–1.35 and
    damage ≈ 0.56–0.66 from t ≈ 3 to 10, death at t ≈ 14.4. (clinical.md's "lingers near x1 ≈ 2.4" is the load at death,
    x1 ≈ 2.37; the plateau is near E*.)
    Other parameter values do not help: det J at an infected equilibrium equals a12·a31·a42·x1·f′(x1). Whenever the
    healthy state is stable (a11 < a12·a31·x2*/a32, needed for any sub-clinical clearance) f(0) > 0, and f is concave
    while x4 ≤ 0.5 (x·cos(πkx) is concave there) and decreasing linearly beyond, so its only root has f′ < 0, det J < 0 and
    at least one positive real eigenvalue: a saddle again, for every positive parameter set. Without the x4 → a21 feedback
    (a21 ≡ 1) f is linear and the same argument holds. A numerical sweep agrees: 6,000 random parameter sets (every value
    × 1/3–3 or × 1/10–10, log-uniform), 3,390 of them with a stable healthy state, gave 926 infected equilibria with the
    feedback and 131 without — none stable (tests/unit/test_immune_twin.py repeats a smaller sweep). A stable
    chronic infection exists only when the healthy state is unstable (a11·a32 > a12·a31·x2*) — then even a tiny inoculum
    grows instead of clearing, and the sub-clinical course disappears. So the paper's "chronic stabilization" can only be
    this near-saddle plateau (or needs a mechanism this ODE lacks, e.g. Marchuk's delay). We test the plateau and its
    log-law duration.

Numerics: classic RK4 with a fixed step (``DT``). Two projections keep the states meaningful when a drug acts: the kill term
b1·u1 is a constant rate in the paper, which would drive x1 below zero, so x1 (and x4 under u4) is clipped at 0 after every
step — a pathogen at 0 is eradicated and stays so. A patient whose x4 reaches 1 dies; her state freezes from that step on.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy.optimize import brentq

from dosewise.therapies.base import BoolArray, FloatArray

TIME_UNIT_DAYS = 1.0  # one nondimensional model time unit read as one day (our convention; the paper has no units)
DT = 0.02  # RK4 step, model time units (50 per day); tests compare with solve_ivp
DEATH_DAMAGE = 1.0  # x4 ≥ 1 is death (Stengel 2002; clinical.md §3)
A21_CUTOFF = 0.5  # a21(x4) = cos(π·x4) up to x4 = 0.5, then 0 (Stengel 2002; clinical.md §3)

# Nominal parameters, Stengel 2002 as recalled in ../shared/clinical.md §3 [unverified: no public copy of the table found].
NOMINAL: dict[str, float] = {
    "a11": 1.0, "a12": 1.0, "a22": 3.0, "a23": 1.0, "x2_star": 2.0,
    "a31": 1.0, "a32": 1.5, "a33": 0.5, "a41": 0.5, "a42": 1.0,
    "b1": -1.0, "b4": -1.0,  # b2 = b3 = 1 act on the plasma-cell and antibody agents, which no Dosewise action doses
}


@dataclass(frozen=True)
class ImmuneParams:
    """Per-patient parameters, each an array of shape (n,)."""

    a11: FloatArray
    a12: FloatArray
    a22: FloatArray
    a23: FloatArray
    x2_star: FloatArray
    a31: FloatArray
    a32: FloatArray
    a33: FloatArray
    a41: FloatArray
    a42: FloatArray
    b1: FloatArray
    b4: FloatArray

    @classmethod
    def nominal(cls, n: int, **override: FloatArray | float) -> ImmuneParams:
        """The nominal patient repeated n times; keyword arguments replace single parameters."""
        vals = {**NOMINAL, **override}
        return cls(**{f.name: np.broadcast_to(np.asarray(vals[f.name], dtype=float), (n,)).copy() for f in fields(cls)})

    @property
    def n(self) -> int:
        return int(self.a11.shape[0])

    def take(self, idx: np.ndarray) -> ImmuneParams:
        """A sub-batch of patients."""
        return ImmuneParams(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def healthy_state(self) -> FloatArray:
        """(4, n): no pathogen, x2 = x2*, x3 = a31·x2*/a32 (= 4/3 nominal), no damage — the uninfected equilibrium."""
        z = np.zeros(self.n)
        return np.stack([z, self.x2_star.copy(), self.a31 * self.x2_star / self.a32, z.copy()])


def a21(x4: FloatArray) -> FloatArray:
    """Organ-health factor of plasma-cell production: cos(π·x4) for x4 ≤ 0.5, else 0 (Stengel 2002)."""
    return np.where(x4 <= A21_CUTOFF, np.cos(np.pi * x4), 0.0)


def derivatives(x: FloatArray, u1: FloatArray, u4: FloatArray, p: ImmuneParams) -> FloatArray:
    """ẋ for states x (4, n) under pathogen-killer rate u1 and organ-health agent rate u4 (each (n,))."""
    x1, x2, x3, x4 = x
    out = np.empty_like(x)
    out[0] = (p.a11 - p.a12 * x3) * x1 + p.b1 * u1
    out[1] = a21(x4) * p.a22 * x1 * x3 - p.a23 * (x2 - p.x2_star)
    out[2] = p.a31 * x2 - (p.a32 + p.a33 * x1) * x3
    out[3] = p.a41 * x1 - p.a42 * x4 + p.b4 * u4
    return out


@dataclass
class IntervalResult:
    """State after one interval plus what happened inside it (all per patient)."""

    x: FloatArray  # (4, n) at the end (frozen at death for those who died)
    died: BoolArray  # (n,) reached x4 ≥ 1 during this interval
    death_time: FloatArray  # (n,) time since the interval start at which x4 reached 1 (NaN if not; linear within a step)
    max_damage: FloatArray  # (n,) largest x4 within the interval (at the RK4 steps)
    min_pathogen: FloatArray  # (n,) smallest x1 within the interval (at the RK4 steps)


def advance(
    x: FloatArray, u1: FloatArray, u4: FloatArray, p: ImmuneParams, duration: float, alive: BoolArray | None = None,
    dt: float = DT,
) -> IntervalResult:
    """Integrate ``duration`` time units with RK4 under constant controls; patients dead (or not ``alive``) stay frozen.

    Only the patients still active are integrated (a gathered sub-batch), so finished courses cost nothing.
    """
    n = x.shape[1]
    x = np.array(x, dtype=float)
    active = np.ones(n, dtype=bool) if alive is None else np.array(alive, dtype=bool)
    active &= x[3] < DEATH_DAMAGE
    died = np.zeros(n, dtype=bool)
    death_time = np.full(n, np.nan)
    max_damage, min_pathogen = x[3].copy(), x[0].copy()
    idx = np.nonzero(active)[0]
    if idx.size == 0:
        return IntervalResult(x=x, died=died, death_time=death_time, max_damage=max_damage, min_pathogen=min_pathogen)
    q = p.take(idx)
    v1 = np.broadcast_to(np.asarray(u1, dtype=float), (n,))[idx]
    v4 = np.broadcast_to(np.asarray(u4, dtype=float), (n,))[idx]
    y = x[:, idx]
    on = np.ones(idx.size, dtype=bool)
    y_died = np.zeros(idx.size, dtype=bool)
    y_tdeath = np.full(idx.size, np.nan)
    y_max, y_min = y[3].copy(), y[0].copy()
    steps = max(1, round(duration / dt))
    h = duration / steps
    for k in range(steps):
        k1 = derivatives(y, v1, v4, q)
        k2 = derivatives(y + (0.5 * h) * k1, v1, v4, q)
        k3 = derivatives(y + (0.5 * h) * k2, v1, v4, q)
        k4 = derivatives(y + h * k3, v1, v4, q)
        new = y + (h / 6.0) * (k1 + 2.0 * (k2 + k3) + k4)
        np.maximum(new[0], 0.0, out=new[0])  # the constant-rate kill term cannot make pathogen negative
        np.maximum(new[3], 0.0, out=new[3])  # nor can the organ-health agent make damage negative
        now_dead = on & (new[3] >= DEATH_DAMAGE)
        if now_dead.any():
            frac = (DEATH_DAMAGE - y[3]) / np.maximum(new[3] - y[3], 1e-300)
            y_tdeath = np.where(now_dead, (k + np.clip(frac, 0.0, 1.0)) * h, y_tdeath)
            y_died |= now_dead
        if on.all():
            y = new
        else:
            y = np.where(on, new, y)
        np.maximum(y_max, y[3], out=y_max)
        np.minimum(y_min, y[0], out=y_min)
        on &= ~now_dead
        if not on.any():
            break
    x[:, idx] = y
    died[idx], death_time[idx], max_damage[idx], min_pathogen[idx] = y_died, y_tdeath, y_max, y_min
    return IntervalResult(x=x, died=died, death_time=death_time, max_damage=max_damage, min_pathogen=min_pathogen)


# --- analysis helpers (scalar parameters, for tests and documentation; not on the simulation path) --------------------------
def jacobian(x: FloatArray, p: dict[str, float], a21_side: str = "auto", feedback: bool = True) -> np.ndarray:
    """Jacobian (4, 4) of the uncontrolled model at state x for scalar parameters ``p`` (NOMINAL keys).

    a21 has a kink at x4 = 0.5: ``a21_side`` "above" uses a21 = 0 there (the x4 > 0.5 side), "below" the cosine branch.
    ``feedback=False``: a21 ≡ 1 (organ damage does not feed back on plasma-cell production).
    """
    x1, _x2, x3, x4 = (float(v) for v in x)
    below = x4 < A21_CUTOFF if a21_side == "auto" else a21_side == "below"
    if not feedback:
        g, dg = 1.0, 0.0
    elif below:
        g, dg = float(np.cos(np.pi * x4)), float(-np.pi * np.sin(np.pi * x4))
    else:
        g, dg = 0.0, 0.0
    return np.array([
        [p["a11"] - p["a12"] * x3, 0.0, -p["a12"] * x1, 0.0],
        [g * p["a22"] * x3, -p["a23"], g * p["a22"] * x1, dg * p["a22"] * x1 * x3],
        [-p["a33"] * x3, p["a31"], -(p["a32"] + p["a33"] * x1), 0.0],
        [p["a41"], 0.0, 0.0, -p["a42"]],
    ])


def infected_equilibria(
    p: dict[str, float], feedback: bool = True, x1_max: float = 50.0, grid_points: int = 20001,
) -> list[np.ndarray]:
    """Equilibria with x1 > 0 and x4 < 1 for scalar parameters: the roots of f(x1) (module docstring), as states (4,).

    ``feedback=False`` replaces a21(x4) by 1 (organ damage does not feed back on plasma-cell production).
    """
    x3 = p["a11"] / p["a12"]
    k = p["a41"] / p["a42"]

    def f(x1: FloatArray) -> FloatArray:
        g = a21(k * x1) if feedback else 1.0
        return g * p["a22"] * x3 * x1 - p["a23"] * ((p["a32"] + p["a33"] * x1) * x3 / p["a31"] - p["x2_star"])

    grid = np.linspace(1e-9, x1_max, grid_points)
    vals = f(grid)
    roots = [float(r) for r in grid[np.abs(vals) < 1e-12]]
    for i in np.nonzero(np.sign(vals[:-1]) * np.sign(vals[1:]) < 0)[0]:
        roots.append(brentq(lambda v: float(f(np.asarray(v))), grid[i], grid[i + 1], xtol=1e-14))
    eqs = [np.array([r, (p["a32"] + p["a33"] * r) * x3 / p["a31"], x3, k * r]) for r in sorted(set(roots))]
    return [e for e in eqs if e[3] < DEATH_DAMAGE]
